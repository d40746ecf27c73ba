import { monotonicClock, VirtualClock, type Clock } from '../clock.js';
import type { DataReadyLine, I2cBus } from '../bindings/types.js';
import { openDrdyLine } from '../bindings/drdy.js';
import { everyNth, workerDevice, type FrameSink, type WorkerDevice } from '../device.js';
import { I2cAdcTransport } from '../i2c-transport.js';
import { SyntheticGenerator } from '../synthetic.js';
import { I2cAdcDriver } from './driver.js';
import type { I2cWorkerConfig } from './options.js';
import { I2cAdcSimulator } from './simulator.js';

/** A run of `frames` conversions from every `every`-th one on (k ≥ every), or undefined. */
function runsOf(every: number, frames: number): ((k: number) => boolean) | undefined {
  return every > 0 ? (k: number) => k >= every && k % every < frames : undefined;
}

/**
 * The I2C ADC as the worker's device: /dev/i2c-N through i2c-bus and the DRDY line (or the
 * transaction-level simulator on a virtual clock), with the driver on top.
 */
export async function openI2cDevice(cfg: I2cWorkerConfig, _epoch: number, sink: FrameSink): Promise<WorkerDevice> {
  let bus: I2cBus;
  let drdy: DataReadyLine;
  let clock: Clock;
  let sim: I2cAdcSimulator | undefined;
  let description: string;
  if (cfg.hardware) {
    clock = monotonicClock;
    bus = await (await import('../bindings/i2c-bus.js')).openI2cBus(cfg.bus);
    try {
      drdy = await openDrdyLine(cfg.hardware, clock);
    } catch (e) {
      bus.close();
      throw e;
    }
    description = `${bus.name} at 0x${cfg.driver.address.toString(16)}, DRDY ${drdy.name}`;
  } else {
    sim = simulator(cfg);
    clock = sim.clock;
    bus = sim.bus;
    drdy = sim.drdy;
    description = `I2C ADC simulator (0x${cfg.sim!.deviceAddress.toString(16)}, synthetic seed ${cfg.sim!.seed})`;
  }
  const transport = new I2cAdcTransport(bus, cfg.driver);
  const d = new I2cAdcDriver(transport, drdy, clock, cfg.driver, sink);
  return workerDevice(d, {
    description,
    countMax: d.countMax,
    sim,
    lossCounters: [
      { words: 'DRDY edges', read: () => d.stats.edges },
      { words: 'missed', read: () => d.stats.missedDrdy },
      { words: 'late reads', read: () => d.stats.lateReads + d.stats.tornReads },
      { words: 'NACKs', read: () => d.stats.nacks },
      { words: 'bus timeouts', read: () => d.stats.busTimeouts },
      { words: 'bus errors', read: () => d.stats.busErrors },
    ],
    close: () => d.close(),
  });
}

function simulator(cfg: I2cWorkerConfig): I2cAdcSimulator {
  const s = cfg.sim!;
  const o = cfg.driver;
  const clock = new VirtualClock(0);
  const gen = new SyntheticGenerator({
    seed: s.seed,
    sampleRate: cfg.sampleRate,
    mode: 'raw',
    unitsPerVolt: s.unitsPerVolt,
  });
  const volts = new Float32Array(16);
  const lsb = (2 * o.vref) / o.gain / 2 ** o.bitsPerSample;
  const max = 2 ** (o.bitsPerSample - 1) - 1;
  let genK = -1;
  const stretchEvery = everyNth(s.clockStretchEvery);
  const missed = everyNth(s.missedDrdyEvery);
  const stuck = runsOf(s.stuckBusEvery, s.stuckBusFrames);
  const nack = runsOf(s.nackEvery, s.nackFrames);
  return new I2cAdcSimulator({
    clock,
    address: s.deviceAddress,
    busHz: o.busHz,
    channels: o.channels,
    bitsPerSample: o.bitsPerSample,
    dataRegister: o.dataRegister,
    signal: (k, counts) => {
      // The converter runs every period whether or not it is read: advance the generator to k.
      while (genK < k) {
        gen.next(1, volts, 0);
        genK++;
      }
      for (let c = 0; c < counts.length; c++) {
        const v = Math.round(volts[c % 16]! / lsb);
        counts[c] = v > max ? max : v < -max - 1 ? -max - 1 : v;
      }
    },
    faults: {
      ...(missed ? { missedDrdy: missed } : {}),
      ...(s.drdyLostAt > 0 ? { drdyLostAt: s.drdyLostAt } : {}),
      ...(stuck ? { stuckBus: stuck } : {}),
      ...(nack ? { nack } : {}),
      ...(stretchEvery && s.clockStretchUs > 0
        ? { stretchUs: (k: number) => (stretchEvery(k) ? s.clockStretchUs : 0) }
        : {}),
    },
  });
}
