/**
 * The acquisition worker: runs the ADS1299 driver on its own thread (inference blocks the thread
 * it runs on, and a DRDY edge must never wait for it) and appends straight into the shared ring.
 * Started by Ads1299Source; talks to it by messages and the control block.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isUserError, errorMessage } from '../../common/errors.js';
import { monotonicClock, VirtualClock, type Clock } from '../clock.js';
import type { DataReadyLine, SpiBus } from '../bindings/types.js';
import { CTRL_STOP, GapGate, type GapMessage } from '../gap-gate.js';
import { Preprocessor } from '../preprocess.js';
import { RingBuffer, type RingBufferLayout } from '../ring-buffer.js';
import { SyntheticGenerator } from '../synthetic.js';
import { ADS1299_CHANNELS, Ads1299Driver, type ConfigureReport, type FrameSink } from './driver.js';
import type { Ads1299WorkerConfig } from './options.js';
import { COUNT_MAX } from './registers.js';
import { Ads1299Simulator } from './simulator.js';

export interface WorkerInput {
  readonly ring: RingBufferLayout;
  readonly control: SharedArrayBuffer;
  readonly config: Ads1299WorkerConfig;
}

export type WorkerMessage =
  | { readonly type: 'ready'; readonly report: ConfigureReport; readonly description: string; readonly channels: readonly string[] }
  | GapMessage
  | { readonly type: 'stats'; readonly stats: Record<string, number> }
  | { readonly type: 'error'; readonly message: string; readonly user: boolean }
  | { readonly type: 'ended'; readonly stats: Record<string, number> };

interface Runtime {
  buses: SpiBus[];
  drdy: DataReadyLine;
  clock: Clock;
  sim?: Ads1299Simulator;
  description: string;
}

const port = parentPort!;
const input = workerData as WorkerInput;
const cfg = input.config;
const ring = RingBuffer.attach(input.ring);
const ctrl = new Int32Array(input.control);
const post = (m: WorkerMessage): void => port.postMessage(m);

let driver: Ads1299Driver | undefined;
let runtime: Runtime | undefined;
let pre: Preprocessor | undefined;
let finished = false;
let timer: NodeJS.Timeout | undefined;
const gate = new GapGate(ring, ctrl, post, cfg.stagingFrames);
const conditioned = new Float32Array(ADS1299_CHANNELS);
const maxSamples = cfg.maxSamples;

const sink: FrameSink = {
  frame(volts) {
    if (maxSamples > 0 && gate.delivered + gate.held >= maxSamples) return;
    if (pre) {
      if (!pre.processFrame(volts, 0, conditioned, 0)) {
        gate.lost(1, 'bad_sample');
        return;
      }
      gate.push(conditioned);
    } else {
      gate.push(volts);
    }
  },
  lost(n, reason) {
    gate.lost(n, reason);
  },
};

function stats(): Record<string, number> {
  const s: Record<string, number> = { ...(driver?.stats ?? {}), ringFrames: gate.delivered, gapsReported: gate.gapsReported };
  if (pre) for (const [k, v] of Object.entries(pre.stats)) s[`preprocess_${k}`] = v;
  if (runtime?.sim) s['simConversions'] = runtime.sim.conversions;
  return s;
}

async function openRuntime(): Promise<Runtime> {
  const hw = cfg.hardware;
  if (hw) {
    // Native bindings load here, on this thread, and only for real hardware.
    const { openSpiDevice } = await import('../bindings/spi-device.js');
    const clock = monotonicClock;
    const buses: SpiBus[] = [];
    try {
      for (const cs of hw.chipSelects) buses.push(await openSpiDevice(hw.spiBus, cs, hw.spiClockHz, hw.spiMode));
      const drdy =
        hw.gpioBinding === 'sysfs'
          ? await (await import('../bindings/gpio-sysfs.js')).openSysfsDrdy(hw.drdyLine, clock)
          : await (await import('../bindings/gpio-chardev.js')).openChardevDrdy({ gpiomon: hw.gpiomon, chip: hw.drdyChip, line: hw.drdyLine }, clock);
      return { buses, drdy, clock, description: `${buses.map((b) => b.name).join(' + ')}, DRDY ${drdy.name}` };
    } catch (e) {
      for (const b of buses) b.close();
      throw e;
    }
  }
  const s = cfg.sim!;
  const clock = new VirtualClock(0);
  const gen = new SyntheticGenerator({ seed: s.seed, sampleRate: cfg.driver.sampleRate, mode: 'raw', unitsPerVolt: s.unitsPerVolt });
  const volts = new Float32Array(ADS1299_CHANNELS);
  let genK = -1;
  const every = (n: number) => (n > 0 ? (k: number) => k > 0 && k % n === 0 : undefined);
  const missed = every(s.missedDrdyEvery);
  const late = every(s.lateReadEvery);
  const bad = every(s.badStatusEvery);
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
      for (let c = 0; c < ADS1299_CHANNELS; c++) counts[c] = sim.voltsToCounts(c, volts[c]!, cfg.driver.vref);
    },
    faults: {
      ...(missed ? { missedDrdy: missed } : {}),
      ...(late ? { lateDeliveryMs: (k: number) => (late(k) ? 1.5 * (1000 / cfg.driver.sampleRate) : 0) } : {}),
      ...(bad ? { badStatus: (k: number, chip: number) => chip === 0 && bad(k) } : {}),
    },
  });
  sim.quiet();
  return { buses: sim.buses, drdy: sim.drdy, clock, sim, description: `ADS1299 simulator (${cfg.driver.topology}, synthetic seed ${s.seed})` };
}

function finish(error?: unknown): void {
  if (finished) return;
  finished = true;
  if (timer) clearTimeout(timer);
  driver?.stop();
  for (const b of runtime?.buses ?? []) b.close();
  if (error !== undefined) {
    post({ type: 'error', message: errorMessage(error), user: isUserError(error) });
    port.close();
    return;
  }
  // Let the main thread acknowledge a last gap so held frames still reach the ring.
  const until = performance.now() + 500;
  const drain = (): void => {
    gate.release();
    if (gate.held > 0 && performance.now() < until) {
      setTimeout(drain, 2);
      return;
    }
    post({ type: 'ended', stats: stats() });
    port.close();
  };
  drain();
}

function reachedEnd(): boolean {
  return maxSamples > 0 && gate.delivered >= maxSamples;
}

/** Real hardware: edges drive everything; this only releases held frames and reports. */
function hardwareLoop(): void {
  let lastStats = performance.now();
  const tick = (): void => {
    if (finished) return;
    gate.release();
    if (Atomics.load(ctrl, CTRL_STOP) || reachedEnd()) return finish();
    if (performance.now() - lastStats >= cfg.statsEveryMs) {
      lastStats = performance.now();
      post({ type: 'stats', stats: stats() });
    }
    timer = setTimeout(tick, 5);
  };
  tick();
}

/** Simulator: plays conversions against the wall clock (speed > 0) or as fast as the ring drains. */
function simLoop(sim: Ads1299Simulator): void {
  const speed = cfg.sim!.speed;
  const period = 1000 / cfg.driver.sampleRate;
  const wall0 = performance.now();
  const sim0 = sim.conversionTime(0) - period;
  let lastStats = wall0;
  const tick = (): void => {
    if (finished) return;
    gate.release();
    if (Atomics.load(ctrl, CTRL_STOP) || reachedEnd()) return finish();
    let wait = 2;
    if (speed > 0) {
      sim.runUntil(sim0 + (performance.now() - wall0) * speed);
    } else {
      // Flow control through the reader's cursor: never overwrite what the reader still needs.
      let budget = 4000;
      while (budget > 0 && !reachedEnd() && !gate.awaitingAck()) {
        const room = ring.capacity - (ring.written + gate.held - ring.readCursor);
        if (room < 80) break;
        const n = Math.min(40, room - 40, budget);
        sim.runConversions(n);
        budget -= n;
      }
      wait = budget === 4000 ? 1 : 0;
    }
    if (performance.now() - lastStats >= cfg.statsEveryMs) {
      lastStats = performance.now();
      post({ type: 'stats', stats: stats() });
    }
    timer = setTimeout(tick, wait);
  };
  tick();
}

async function main(): Promise<void> {
  runtime = await openRuntime();
  const rt = runtime;
  driver = new Ads1299Driver(rt.buses, rt.drdy, rt.clock, cfg.driver, sink);
  const report = driver.configure();
  if (cfg.preprocess) {
    const d = driver;
    // Within 2 counts of either rail counts as saturated (float32 volts cannot tell closer).
    const saturation = cfg.preprocess.detectSaturation ? Array.from(d.lsb, (l) => l * (COUNT_MAX - 2)) : undefined;
    pre = new Preprocessor({ ...cfg.preprocess, ...(saturation ? { saturation } : {}) });
  }
  post({ type: 'ready', report, description: rt.description, channels: Array.from({ length: ADS1299_CHANNELS }, (_, i) => driver!.describeChannel(i)) });
  await driver.start((e) => finish(e));
  if (rt.sim) simLoop(rt.sim);
  else hardwareLoop();
}

port.on('message', (m: { type?: string }) => {
  if (m.type === 'stop') Atomics.store(ctrl, CTRL_STOP, 1);
});

main().catch((e: unknown) => finish(e));
