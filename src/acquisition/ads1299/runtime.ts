import { monotonicClock, VirtualClock, type Clock } from '../clock.js';
import type { DataReadyLine, SpiBus } from '../bindings/types.js';
import { openDrdyLine } from '../bindings/drdy.js';
import { everyNth, unitHash, workerDevice, type FrameSink, type WorkerDevice } from '../device.js';
import { SyntheticGenerator } from '../synthetic.js';
import { ADS1299_CHANNELS, Ads1299Driver } from './driver.js';
import type { Ads1299WorkerConfig } from './options.js';
import { COUNT_MAX } from './registers.js';
import { Ads1299Simulator } from './simulator.js';

/**
 * The ADS1299 pair as the worker's device: the SPI buses and DRDY line (or the register-level
 * simulator on a virtual clock), with the driver on top. `epoch` (re-initialisations so far)
 * changes the simulator's random DRDY loss after each re-init.
 */
export async function openAds1299Device(
  cfg: Ads1299WorkerConfig,
  epoch: number,
  sink: FrameSink,
): Promise<WorkerDevice> {
  const hw = cfg.hardware;
  let buses: SpiBus[] = [];
  let drdy: DataReadyLine;
  let clock: Clock;
  let sim: Ads1299Simulator | undefined;
  let description: string;
  if (hw) {
    const { openSpiDevice } = await import('../bindings/spi-device.js');
    clock = monotonicClock;
    try {
      for (const cs of hw.chipSelects) buses.push(await openSpiDevice(hw.spiBus, cs, hw.spiClockHz, hw.spiMode));
      drdy = await openDrdyLine(hw, clock);
    } catch (e) {
      for (const b of buses) b.close();
      throw e;
    }
    description = `${buses.map((b) => b.name).join(' + ')}, DRDY ${drdy.name}`;
  } else {
    sim = simulator(cfg, epoch);
    clock = sim.clock;
    buses = sim.buses;
    drdy = sim.drdy;
    description = `ADS1299 simulator (${cfg.driver.topology}, synthetic seed ${cfg.sim!.seed})`;
  }
  const d = new Ads1299Driver(buses, drdy, clock, cfg.driver, sink);
  return workerDevice(d, {
    description,
    countMax: COUNT_MAX,
    sim,
    lossCounters: [
      { words: 'DRDY edges', read: () => d.stats.edges },
      { words: 'missed', read: () => d.stats.missedDrdy },
      { words: 'late reads', read: () => d.stats.lateReads },
      { words: 'bad status', read: () => d.stats.badStatus },
      { words: 'SPI errors', read: () => d.stats.spiErrors },
    ],
    close: () => {
      d.stop();
      for (const b of buses) b.close();
    },
  });
}

function simulator(cfg: Ads1299WorkerConfig, epoch: number): Ads1299Simulator {
  const s = cfg.sim!;
  const clock = new VirtualClock(0);
  const gen = new SyntheticGenerator({
    seed: s.seed,
    sampleRate: cfg.sampleRate,
    mode: 'raw',
    unitsPerVolt: s.unitsPerVolt,
  });
  const volts = new Float32Array(ADS1299_CHANNELS);
  let genK = -1;
  const everyMissed = everyNth(s.missedDrdyEvery);
  const drop = s.dropFraction > 0 ? (k: number) => unitHash(s.dropSeed, epoch, k) < s.dropFraction : undefined;
  const missed = everyMissed && drop ? (k: number) => everyMissed(k) || drop(k) : (everyMissed ?? drop);
  const late = everyNth(s.lateReadEvery);
  const bad = everyNth(s.badStatusEvery);
  const spiError = everyNth(s.spiErrorEvery);
  const stuckEvery = s.stuckBusEvery;
  // The generator and the fault keys speak ring channels; the chips, ADC channels.
  const ringOf = new Int32Array(ADS1299_CHANNELS);
  cfg.driver.channelMap.forEach((adc, ring) => (ringOf[adc] = ring));
  const off = new Uint8Array(ADS1299_CHANNELS);
  for (const c of s.detachChannels) off[cfg.driver.channelMap[c]!] = 1;
  const humOn = new Uint8Array(ADS1299_CHANNELS);
  for (const c of s.humChannels) humOn[c] = 1;
  const detached = (k: number, adc: number): boolean =>
    off[adc] === 1 && k >= s.detachAt && (s.detachFor === 0 || k < s.detachAt + s.detachFor);
  const sim: Ads1299Simulator = new Ads1299Simulator({
    topology: cfg.driver.topology,
    clock,
    spiClockHz: s.spiClockHz,
    signal: (k, counts) => {
      // The chip converts every period whether or not it is read: advance the generator to k.
      while (genK < k) {
        gen.next(1, volts, 0);
        genK++;
      }
      const hum = s.humVolts * Math.sin((2 * Math.PI * s.humHz * k) / cfg.sampleRate);
      for (let adc = 0; adc < ADS1299_CHANNELS; adc++) {
        const c = ringOf[adc]!;
        // An electrode that is off leaves its input to the lead-off current: it runs to the rail.
        if (detached(k, adc)) counts[adc] = COUNT_MAX;
        else counts[adc] = sim.voltsToCounts(adc, volts[c]! + (humOn[c] ? hum : 0), cfg.driver.vref);
      }
    },
    faults: {
      ...(s.detachChannels.length > 0 ? { detached } : {}),
      ...(missed ? { missedDrdy: missed } : {}),
      ...(late ? { lateDeliveryMs: (k: number) => (late(k) ? 1.5 * (1000 / cfg.sampleRate) : 0) } : {}),
      ...(bad ? { badStatus: (k: number, chip: number) => chip === 0 && bad(k) } : {}),
      ...(spiError ? { spiError } : {}),
      ...(stuckEvery > 0
        ? {
            stuckBus: (k: number) =>
              k >= stuckEvery && k % stuckEvery < s.stuckBusFrames ? s.stuckBusLevel : undefined,
          }
        : {}),
    },
  });
  sim.quiet();
  return sim;
}
