/**
 * The acquisition worker: runs an ADC driver (the ADS1299 on SPI, or the I2C ADC) on its own
 * thread (inference blocks the thread it runs on, and a DRDY edge must never wait for it) and
 * appends straight into the shared ring. Started by AdcWorkerSource; talks to it by messages and
 * the control block.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isUserError, errorMessage } from '../common/errors.js';
import type { ConfigureReport, FrameSink, SimPlayer, WorkerDevice } from './device.js';
import { CTRL_STOP, GapGate, type GapMessage, type NoteMessage } from './gap-gate.js';
import { RateLimitedNote } from './rate-limit.js';
import { Preprocessor } from './preprocess.js';
import { RingBuffer, type RingBufferLayout } from './ring-buffer.js';
import { SignalQualityMonitor, qualityNote } from './signal-quality.js';
import type { SignalQualityReport } from './source.js';
import type { WorkerCommonConfig } from './worker-config.js';
import type { AdcDevice } from './adc-device.js';
import { ADC_DEVICES } from './adc-devices.js';

/**
 * An ADC's worker configuration: the common part, and whatever its row's `prepare` added.
 * `device` names the row of ADC_DEVICES that opens it.
 */
export type AdcWorkerConfig = WorkerCommonConfig;

export interface WorkerInput {
  readonly ring: RingBufferLayout;
  readonly control: SharedArrayBuffer;
  readonly config: AdcWorkerConfig;
}

export type WorkerMessage =
  | {
      readonly type: 'ready';
      readonly report: ConfigureReport;
      readonly description: string;
      readonly channels: readonly string[];
    }
  | GapMessage
  | NoteMessage
  | { readonly type: 'stats'; readonly stats: Record<string, number> }
  | { readonly type: 'quality'; readonly report: SignalQualityReport; readonly atSample: number }
  | { readonly type: 'error'; readonly message: string; readonly user: boolean }
  | { readonly type: 'ended'; readonly stats: Record<string, number> };

const port = parentPort!;
const input = workerData as WorkerInput;
const cfg = input.config;
const devices: readonly AdcDevice[] = ADC_DEVICES;
const adc = devices.find((d) => d.key === cfg.device);
const ring = RingBuffer.attach(input.ring);
const ctrl = new Int32Array(input.control);
const post = (m: WorkerMessage): void => port.postMessage(m);
const note = (kind: NoteMessage['kind'], atSample: number, detail: string, data?: NoteMessage['data']): void =>
  post({ type: 'note', kind, atSample, detail, ...(data ? { data } : {}) });

let device: WorkerDevice | undefined;
let pre: Preprocessor | undefined;
let finished = false;
let timer: NodeJS.Timeout | undefined;
const bridged = new RateLimitedNote(
  'bridged_gap',
  (count, samples, first) =>
    `${count} short gap${count === 1 ? '' : 's'} (${samples} samples) bridged by interpolation${first ? ` (at most ${cfg.bridgeMax} samples each; the session goes on)` : ' since the last report'}`,
  note,
  cfg.noteIntervalMs,
);
const gate = new GapGate(ring, ctrl, post, cfg.stagingFrames, cfg.bridgeMax, (n, at) => bridged.hit(n, at));
const conditioned = new Float32Array(cfg.channels);
const maxSamples = cfg.maxSamples;

/** Each loss counter's value at the last frame: a stall note says what changed since. */
const lossMark = new Float64Array(16);

function markLossCounters(): void {
  const lc = device?.lossCounters;
  if (lc) for (let i = 0; i < lc.length; i++) lossMark[i] = lc[i]!.read();
}

/** Per-channel quality of the raw signal (before conditioning); made once the first device gives its scale. */
let quality: SignalQualityMonitor | undefined;

const sink: FrameSink = {
  frame(volts, _counts, leadOff) {
    markLossCounters();
    quality?.push(volts, 0, leadOff);
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
};
/** Counters of drivers replaced by a re-initialisation. */
const retired: Record<string, number> = {};

function stats(): Record<string, number> {
  const s: Record<string, number> = { ...retired };
  for (const [k, v] of Object.entries(device?.stats ?? {}))
    s[k] = k === 'maxReadUs' ? Math.max(v, s[k] ?? 0) : k === 'simConversions' ? v : (s[k] ?? 0) + v;
  s['ringFrames'] = gate.delivered;
  s['gapsReported'] = gate.gapsReported;
  s['bridgedGaps'] = gate.bridgedGaps;
  s['bridgedSamples'] = gate.bridgedSamples;
  s['stalls'] = sup.stalls;
  s['reinits'] = sup.reinits;
  s['reinitFailures'] = sup.reinitFailures;
  if (pre) for (const [k, v] of Object.entries(pre.stats) as [string, number][]) s[`preprocess_${k}`] = v;
  return s;
}

async function openDevice(): Promise<WorkerDevice> {
  // Each ADC's module loads here, on this thread; native bindings only for real hardware.
  if (!adc)
    throw new Error(
      `acquisition worker: no ADC named ${JSON.stringify(cfg.device)} (expected ${devices.map((d) => d.key).join(', ')})`,
    );
  return adc.open(cfg, sup.reinits, sink);
}

function closeRuntime(): void {
  const d = device;
  device = undefined;
  if (!d) return;
  d.close();
  for (const [k, v] of Object.entries(d.stats)) {
    if (k !== 'simConversions') retired[k] = k === 'maxReadUs' ? Math.max(v, retired[k] ?? 0) : (retired[k] ?? 0) + v;
  }
}

/** Opens the bus, configures and verifies the chips, starts conversions. */
async function bringUp(first: boolean): Promise<void> {
  const d = await openDevice();
  device = d;
  lossMark.fill(0);
  let report: ConfigureReport;
  try {
    report = d.configure();
  } catch (e) {
    closeRuntime();
    throw e;
  }
  if (cfg.preprocess && !pre) {
    // Within 2 counts of either rail counts as saturated (float32 volts cannot tell closer).
    const saturation = cfg.preprocess.detectSaturation ? Array.from(d.lsb, (l) => l * (d.countMax - 2)) : undefined;
    pre = new Preprocessor({ ...cfg.preprocess, ...(saturation ? { saturation } : {}) });
  }
  if (!quality) {
    const lsb = Array.from(d.lsb);
    quality = new SignalQualityMonitor(
      {
        ...cfg.quality,
        channels: cfg.channels,
        sampleRate: cfg.sampleRate,
        clipLevel: lsb.map((l) => l * (d.countMax - 2)),
        flatRange: lsb.map((l) => 2 * l),
      },
      (c) => {
        const n = qualityNote(c);
        const at = ring.written + gate.held;
        note('signal_quality', at, n.detail, n.data);
        post({ type: 'quality', report: quality!.report(), atSample: at });
      },
    );
  }
  if (first)
    post({
      type: 'ready',
      report,
      description: d.description,
      channels: Array.from({ length: cfg.channels }, (_, i) => d.describeChannel(i)),
    });
  await d.start((e) => {
    // A stuck bus or a dead DRDY line mid-run: the same path as a stall, at once.
    sup.driverFatal = e.message;
    sup.lastProgress = -Infinity;
  });
  if (d.sim) startSimClock(d.sim);
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
  const d = device;
  if (!d) return 'no driver running';
  return `${d.lossCounters.map((c, i) => `${c.read() - lossMark[i]!} ${c.words}`).join(', ')} since the last sample`;
}

function markProgress(now: number): void {
  if (sup.stalled) {
    sup.stalled = false;
    sup.resumedAt = now;
    note(
      'stall_end',
      ring.written + gate.held,
      `acquisition resumed after ${(now - sup.stallStart).toFixed(0)} ms without samples (${sup.attemptsThisStall} re-initialisations)`,
      { resumed: true, stall_ms: Math.round(now - sup.stallStart), reinits: sup.attemptsThisStall },
    );
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
    // A driver that gave up in the same tick as its last frames stalls now.
    if (!sup.driverFatal) {
      markProgress(now);
      return;
    }
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
    const why = sup.driverFatal
      ? `driver stopped: ${sup.driverFatal}`
      : `no sample for ${(now - sup.stallStart).toFixed(0)} ms (acquisition.stall_ms ${cfg.stallMs})`;
    note('stall', at, `acquisition stalled: ${why}; ${lossSinceMark()}; re-initialising the driver`, {
      stall: sup.stalls,
      stall_ms: Math.round(now - sup.stallStart),
    });
  }
  if (now < sup.nextReinitAt) return;
  void reinit(now);
}

async function reinit(now: number): Promise<void> {
  sup.reinitInFlight = true;
  const lostMs =
    now - (Number.isFinite(sup.accountedUntil) && sup.accountedUntil > 0 ? sup.accountedUntil : sup.stallStart);
  gate.lost(Math.max(1, Math.round((lostMs * cfg.sampleRate) / 1000)), 'stall');
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
    note(
      'reinit',
      at,
      `driver re-initialised in ${took} ms (${sup.reinits} in all, attempt ${sup.attemptsThisStall} for this stall); next attempt, if no sample comes, in ${wait} ms`,
      { reinits: sup.reinits, attempt: sup.attemptsThisStall, next_ms: wait, took_ms: took, ok: true },
    );
  } catch (e) {
    sup.reinitFailures++;
    sup.failuresInARow++;
    closeRuntime();
    note(
      'reinit',
      at,
      `driver re-initialisation failed (${sup.failuresInARow} in a row): ${errorMessage(e)}; next attempt in ${wait} ms`,
      { reinits: sup.reinits, attempt: sup.attemptsThisStall, next_ms: wait, ok: false },
    );
    if (cfg.reinitMaxAttempts > 0 && sup.failuresInARow >= cfg.reinitMaxAttempts) {
      finish(
        new Error(
          `${adc?.label ?? cfg.device}: ${sup.failuresInARow} re-initialisations in a row failed after a stall (acquisition.reinit_max_attempts); last: ${errorMessage(e)}`,
        ),
      );
    }
  } finally {
    sup.nextReinitAt = performance.now() + wait;
    sup.lastProgress = Math.min(sup.lastProgress, performance.now());
    sup.reinitInFlight = false;
  }
}

let simWall0 = 0;
let simT0 = 0;
function startSimClock(sim: SimPlayer): void {
  simWall0 = performance.now();
  simT0 = sim.conversionTime(0) - 1000 / cfg.sampleRate;
}

/**
 * One loop for both: real hardware is driven by its edges (this only releases held frames,
 * reports and supervises); the simulator plays conversions against the wall clock (speed > 0)
 * or as fast as the ring drains.
 */
function loop(): void {
  let lastStats = performance.now();
  const speed = cfg.speed;
  const tick = (): void => {
    if (finished) return;
    gate.release();
    if (Atomics.load(ctrl, CTRL_STOP) || reachedEnd()) return finish();
    let wait = 5;
    const sim = device?.sim;
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
      if (quality) post({ type: 'quality', report: quality.report(), atSample: ring.written + gate.held });
    }
    timer = setTimeout(tick, wait);
  };
  tick();
}

async function main(): Promise<void> {
  await bringUp(true);
  // The stall clock starts with conversions: a slow start-up (a loaded machine) is not a stall.
  sup.lastProgress = performance.now();
  loop();
}

port.on('message', (m: { type?: string }) => {
  if (m.type === 'stop') Atomics.store(ctrl, CTRL_STOP, 1);
});

main().catch((e: unknown) => finish(e));
