/**
 * The acquisition worker: runs the ADS1299 driver on its own thread (inference blocks the thread
 * it runs on, and a DRDY edge must never wait for it) and appends straight into the shared ring.
 * Started by Ads1299Source; talks to it by messages and the control block.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isUserError, errorMessage } from '../../common/errors.js';
import { monotonicClock, VirtualClock, type Clock } from '../clock.js';
import type { DataReadyLine, SpiBus } from '../bindings/types.js';
import { CTRL_STOP, GapGate, type GapMessage, type NoteMessage } from '../gap-gate.js';
import { RateLimitedNote } from '../rate-limit.js';
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
  | NoteMessage
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
const note = (kind: NoteMessage['kind'], atSample: number, detail: string, data?: NoteMessage['data']): void =>
  post({ type: 'note', kind, atSample, detail, ...(data ? { data } : {}) });

let driver: Ads1299Driver | undefined;
let runtime: Runtime | undefined;
let pre: Preprocessor | undefined;
let finished = false;
let timer: NodeJS.Timeout | undefined;
const bridged = new RateLimitedNote(
  'bridged_gap',
  (count, samples, first) => `${count} short gap${count === 1 ? '' : 's'} (${samples} samples) bridged by interpolation${first ? ` (at most ${cfg.bridgeMax} samples each; the session goes on)` : ' since the last report'}`,
  note,
  cfg.noteIntervalMs,
);
const gate = new GapGate(ring, ctrl, post, cfg.stagingFrames, cfg.bridgeMax, (n, at) => bridged.hit(n, at));
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

/** Stall supervision: wall time of the last frame, and the re-initialisations since. */
const sup = {
  produced: 0,
  lastProgress: performance.now(),
  /** Stream time already reported lost for the current stall (ms of wall time). */
  accountedUntil: 0,
  stalled: false,
  stallStart: 0,
  /** When the last stall ended (frames came again). */
  resumedAt: 0,
  stalls: 0,
  reinits: 0,
  reinitFailures: 0,
  failuresInARow: 0,
  attemptsThisStall: 0,
  backoff: cfg.reinitBackoffMs,
  nextReinitAt: 0,
  /** When the last re-initialisation started, and the wait it set before the next. */
  lastReinitAt: -Infinity,
  lastWait: 0,
  reinitInFlight: false,
  driverFatal: '',
  /** Driver counters at the last frame, to say what the stall consisted of. */
  mark: { edges: 0, missedDrdy: 0, lateReads: 0, badStatus: 0, spiErrors: 0 },
};
/** Counters of drivers replaced by a re-initialisation. */
const retired: Record<string, number> = {};

function stats(): Record<string, number> {
  const s: Record<string, number> = { ...retired };
  for (const [k, v] of Object.entries(driver?.stats ?? {})) s[k] = k === 'maxReadUs' ? Math.max(v, s[k] ?? 0) : (s[k] ?? 0) + v;
  s['ringFrames'] = gate.delivered;
  s['gapsReported'] = gate.gapsReported;
  s['bridgedGaps'] = gate.bridgedGaps;
  s['bridgedSamples'] = gate.bridgedSamples;
  s['stalls'] = sup.stalls;
  s['reinits'] = sup.reinits;
  s['reinitFailures'] = sup.reinitFailures;
  if (pre) for (const [k, v] of Object.entries(pre.stats)) s[`preprocess_${k}`] = v;
  if (runtime?.sim) s['simConversions'] = runtime.sim.conversions;
  return s;
}

/** A reproducible uniform [0, 1) per (seed, epoch, conversion): which DRDY pulses random loss takes. */
function unitHash(seed: number, epoch: number, k: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35) ^ Math.imul(k, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
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
  const everyMissed = every(s.missedDrdyEvery);
  const epoch = sup.reinits;
  const drop = s.dropFraction > 0 ? (k: number) => unitHash(s.dropSeed, epoch, k) < s.dropFraction : undefined;
  const missed = everyMissed && drop ? (k: number) => everyMissed(k) || drop(k) : everyMissed ?? drop;
  const late = every(s.lateReadEvery);
  const bad = every(s.badStatusEvery);
  const spiError = every(s.spiErrorEvery);
  const stuckEvery = s.stuckBusEvery;
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
      ...(spiError ? { spiError } : {}),
      ...(stuckEvery > 0 ? { stuckBus: (k: number) => (k >= stuckEvery && k % stuckEvery < s.stuckBusFrames ? s.stuckBusLevel : undefined) } : {}),
    },
  });
  sim.quiet();
  return { buses: sim.buses, drdy: sim.drdy, clock, sim, description: `ADS1299 simulator (${cfg.driver.topology}, synthetic seed ${s.seed})` };
}

function closeRuntime(): void {
  driver?.stop();
  if (driver) {
    for (const [k, v] of Object.entries(driver.stats)) retired[k] = k === 'maxReadUs' ? Math.max(v, retired[k] ?? 0) : (retired[k] ?? 0) + v;
  }
  driver = undefined;
  for (const b of runtime?.buses ?? []) b.close();
  runtime = undefined;
}

/** Opens the bus, configures and verifies the chips, starts conversions. */
async function bringUp(first: boolean): Promise<void> {
  runtime = await openRuntime();
  const rt = runtime;
  const d = new Ads1299Driver(rt.buses, rt.drdy, rt.clock, cfg.driver, sink);
  driver = d;
  const report = d.configure();
  if (cfg.preprocess && !pre) {
    // Within 2 counts of either rail counts as saturated (float32 volts cannot tell closer).
    const saturation = cfg.preprocess.detectSaturation ? Array.from(d.lsb, (l) => l * (COUNT_MAX - 2)) : undefined;
    pre = new Preprocessor({ ...cfg.preprocess, ...(saturation ? { saturation } : {}) });
  }
  if (first) post({ type: 'ready', report, description: rt.description, channels: Array.from({ length: ADS1299_CHANNELS }, (_, i) => d.describeChannel(i)) });
  await d.start((e) => {
    // A stuck bus or a dead DRDY line mid-run: the same path as a stall, at once.
    sup.driverFatal = e.message;
    sup.lastProgress = -Infinity;
  });
  if (rt.sim) startSimClock(rt.sim);
}

function finish(error?: unknown): void {
  if (finished) return;
  finished = true;
  if (timer) clearTimeout(timer);
  bridged.flush(true);
  closeRuntime();
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

function lossSinceMark(): string {
  const st = driver?.stats;
  if (!st) return 'no driver running';
  const m = sup.mark;
  return `${st.edges - m.edges} DRDY edges, ${st.missedDrdy - m.missedDrdy} missed, ${st.lateReads - m.lateReads} late reads, ${st.badStatus - m.badStatus} bad status, ${st.spiErrors - m.spiErrors} SPI errors since the last sample`;
}

function markProgress(now: number): void {
  const st = driver?.stats;
  if (st) sup.mark = { edges: st.edges, missedDrdy: st.missedDrdy, lateReads: st.lateReads, badStatus: st.badStatus, spiErrors: st.spiErrors };
  if (sup.stalled) {
    sup.stalled = false;
    sup.resumedAt = now;
    note('stall', ring.written + gate.held, `acquisition resumed after ${(now - sup.stallStart).toFixed(0)} ms without samples (${sup.attemptsThisStall} re-initialisations)`, { resumed: true, stall_ms: Math.round(now - sup.stallStart), reinits: sup.attemptsThisStall });
  }
  sup.lastProgress = now;
  sup.accountedUntil = now;
  sup.failuresInARow = 0;
  // A source that has delivered for a while since its last stall has earned a fresh backoff.
  if (now - sup.resumedAt > 10 * cfg.stallMs) sup.backoff = cfg.reinitBackoffMs;
}

/**
 * Watches for frames that stop coming: no new frame for stall_ms while the driver should be
 * delivering (not while the reader holds it back) is a stall. It is noted at once with what the
 * driver saw, and the driver is re-initialised (bus, chip configuration, conversions), at once
 * and then with a doubling backoff while no frame comes. The samples lost meanwhile are
 * reported as one gap before the first frame after it, which is never bridged.
 */
function supervise(now: number): void {
  const produced = gate.delivered + gate.held;
  if (produced !== sup.produced) {
    sup.produced = produced;
    markProgress(now);
    return;
  }
  if (sup.reinitInFlight || now - sup.lastProgress < cfg.stallMs) return;
  const at = ring.written + gate.held;
  if (!sup.stalled) {
    sup.stalled = true;
    sup.stallStart = Number.isFinite(sup.lastProgress) ? sup.lastProgress : now;
    sup.stalls++;
    sup.attemptsThisStall = 0;
    // A stall soon after one that a re-init only briefly cured (one sample, then silence again)
    // is the same trouble: it keeps the backoff instead of re-initialising at once again.
    sup.nextReinitAt = now - sup.resumedAt < 10 * cfg.stallMs ? Math.max(now, sup.lastReinitAt + sup.lastWait) : now;
    const why = sup.driverFatal ? `driver stopped: ${sup.driverFatal}` : `no sample for ${(now - sup.stallStart).toFixed(0)} ms (acquisition.stall_ms ${cfg.stallMs})`;
    note('stall', at, `acquisition stalled: ${why}; ${lossSinceMark()}; re-initialising the driver`, { stall: sup.stalls, stall_ms: Math.round(now - sup.stallStart) });
  }
  if (now < sup.nextReinitAt) return;
  void reinit(now);
}

async function reinit(now: number): Promise<void> {
  sup.reinitInFlight = true;
  const lostMs = now - (Number.isFinite(sup.accountedUntil) && sup.accountedUntil > 0 ? sup.accountedUntil : sup.stallStart);
  gate.lost(Math.max(1, Math.round((lostMs * cfg.driver.sampleRate) / 1000)), 'stall');
  sup.accountedUntil = now;
  closeRuntime();
  sup.reinits++;
  sup.attemptsThisStall++;
  sup.driverFatal = '';
  const at = ring.written + gate.held;
  const wait = sup.backoff;
  sup.backoff = Math.min(cfg.reinitBackoffMaxMs, sup.backoff * 2);
  sup.lastReinitAt = now;
  sup.lastWait = wait;
  const t0 = performance.now();
  try {
    await bringUp(false);
    sup.failuresInARow = 0;
    const took = Math.round(performance.now() - t0);
    note('reinit', at, `driver re-initialised in ${took} ms (${sup.reinits} in all, attempt ${sup.attemptsThisStall} for this stall); next attempt, if no sample comes, in ${wait} ms`, { reinits: sup.reinits, attempt: sup.attemptsThisStall, next_ms: wait, took_ms: took, ok: true });
  } catch (e) {
    sup.reinitFailures++;
    sup.failuresInARow++;
    closeRuntime();
    note('reinit', at, `driver re-initialisation failed (${sup.failuresInARow} in a row): ${errorMessage(e)}; next attempt in ${wait} ms`, { reinits: sup.reinits, attempt: sup.attemptsThisStall, next_ms: wait, ok: false });
    if (cfg.reinitMaxAttempts > 0 && sup.failuresInARow >= cfg.reinitMaxAttempts) {
      finish(new Error(`ADS1299: ${sup.failuresInARow} re-initialisations in a row failed after a stall (acquisition.reinit_max_attempts); last: ${errorMessage(e)}`));
    }
  } finally {
    sup.nextReinitAt = performance.now() + wait;
    sup.lastProgress = Math.min(sup.lastProgress, performance.now());
    sup.reinitInFlight = false;
  }
}

let simWall0 = 0;
let simT0 = 0;
function startSimClock(sim: Ads1299Simulator): void {
  simWall0 = performance.now();
  simT0 = sim.conversionTime(0) - 1000 / cfg.driver.sampleRate;
}

/**
 * One loop for both: real hardware is driven by its edges (this only releases held frames,
 * reports and supervises); the simulator plays conversions against the wall clock (speed > 0)
 * or as fast as the ring drains.
 */
function loop(): void {
  let lastStats = performance.now();
  const speed = cfg.sim?.speed ?? 0;
  const tick = (): void => {
    if (finished) return;
    gate.release();
    if (Atomics.load(ctrl, CTRL_STOP) || reachedEnd()) return finish();
    let wait = 5;
    const sim = runtime?.sim;
    const now = performance.now();
    if (sim && !sup.reinitInFlight) {
      if (speed > 0) {
        sim.runUntil(simT0 + (now - simWall0) * speed);
        wait = 2;
      } else {
        // Flow control through the reader's cursor: never overwrite what the reader still needs.
        let budget = 4000;
        let blocked = false;
        while (budget > 0 && !reachedEnd()) {
          if (gate.awaitingAck()) {
            blocked = true;
            break;
          }
          const room = ring.capacity - (ring.written + gate.held - ring.readCursor);
          if (room < 80) {
            blocked = true;
            break;
          }
          const n = Math.min(40, room - 40, budget);
          sim.runConversions(n);
          budget -= n;
        }
        // Held back by the reader is not a stall.
        if (blocked) sup.lastProgress = Math.max(sup.lastProgress, now);
        wait = budget === 4000 ? 1 : 0;
      }
    }
    supervise(performance.now());
    bridged.flush();
    if (performance.now() - lastStats >= cfg.statsEveryMs) {
      lastStats = performance.now();
      post({ type: 'stats', stats: stats() });
    }
    timer = setTimeout(tick, wait);
  };
  tick();
}

async function main(): Promise<void> {
  await bringUp(true);
  loop();
}

port.on('message', (m: { type?: string }) => {
  if (m.type === 'stop') Atomics.store(ctrl, CTRL_STOP, 1);
});

main().catch((e: unknown) => finish(e));
