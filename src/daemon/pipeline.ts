import { RingBuffer } from '../acquisition/ring-buffer.js';
import type { EmgSource, GapEvent, SampleSink } from '../acquisition/source.js';
import type { Logger } from '../common/logger.js';
import type { RunEvent } from '../domain/events.js';
import { threadCpuClock } from '../common/thread-cpu.js';
import { LEFT_CONTEXT, NUM_CHANNELS, POSE_DIM, STEP_SAMPLES } from '../domain/geometry.js';
import type { PoseEvent } from '../domain/pose.js';
import type { Predictor } from '../inference/predictor.js';

export type PipelineEvent = RunEvent;

export interface PipelineHooks {
  /** Called once per computed unit, after its poses were emitted; cpuMs is NaN where unknown. */
  onUnit?(computeMs: number, lastStep: number, ringWritten: number, cpuMs: number): void;
  /** The predictor (re)started: at the stream start, after a gap, overrun, reset or swap. */
  onRestart?(atSample: number): void;
  /** Called for every pose once the sinks have it. */
  onPose?(e: PoseEvent): void;
  /** A gap, overrun or other event worth recording. */
  onEvent?(e: PipelineEvent): void;
  /** May swap the predictor between units (the watchdog's fallback). */
  nextPredictor?(current: Predictor): Predictor;
  /** After a unit: a sample to restart the predictor at, with why (e.g. state blow-up), or undefined. */
  restartRequested?(): { atSample: number; reason: string } | undefined;
}

export interface PipelineOptions {
  source: EmgSource;
  predictor: Predictor;
  ringSeconds: number;
  /** Rings made by the caller (when supervision needs them before the run), else made here. */
  rings?: { emg: RingBuffer; truth: RingBuffer | undefined };
  log: Logger;
  hooks?: PipelineHooks;
  signal?: AbortSignal;
  /** At most one log line per event kind in this many ms (default 1000); every event still reaches the hooks. */
  logIntervalMs?: number;
}

export interface PipelineResult {
  samples: number;
  poses: number;
  units: number;
  overwritten: number;
  events: PipelineEvent[];
  wallMs: number;
  ring: RingBuffer;
  truth: RingBuffer | undefined;
}

/**
 * Where the reader cursor sits: a session's worth of history (1830 samples) behind what the
 * predictor still needs, so a session can always be restarted in place from held samples.
 */
export const RESTART_HISTORY = LEFT_CONTEXT + STEP_SAMPLES;

function keepFrom(p: Predictor): number {
  return Math.max(0, p.oldestNeeded - RESTART_HISTORY);
}

export function createRings(source: EmgSource, seconds: number): { emg: RingBuffer; truth: RingBuffer | undefined } {
  const capacity = Math.round(seconds * source.info.sampleRate);
  return {
    emg: RingBuffer.create(capacity, NUM_CHANNELS, { stampArrivals: true }),
    truth: source.info.hasJointAngles ? RingBuffer.create(capacity, POSE_DIM) : undefined,
  };
}

/**
 * The log's view of the run's events: each kind's first event at once, then at most one line
 * per interval, saying how many of that kind it stands for. A band that keeps losing samples
 * would otherwise write a WARN line per gap into the journal; every event still goes to the
 * hooks (events.jsonl) one by one.
 */
export class EventLogLimiter {
  private readonly kinds = new Map<string, { lastMs: number; skipped: number; atSample: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  warn(kind: string, atSample: number, detail: string): void {
    const t = this.now();
    const k = this.kinds.get(kind);
    if (k && t - k.lastMs < this.intervalMs) {
      k.skipped++;
      k.atSample = atSample;
      return;
    }
    const skipped = k?.skipped ?? 0;
    this.log.warn(
      { atSample, kind, ...(skipped ? { not_logged: skipped } : {}) },
      skipped
        ? `${detail} (and ${skipped} more ${kind} event(s) since the last such line, not logged; events.jsonl has each)`
        : detail,
    );
    this.kinds.set(kind, { lastMs: t, skipped: 0, atSample });
  }

  /** Says how many events of each kind were left out since their last line (at the end of the run). */
  flush(): void {
    for (const [kind, k] of this.kinds) {
      if (k.skipped === 0) continue;
      this.log.warn(
        { atSample: k.atSample, kind, not_logged: k.skipped },
        `${k.skipped} more ${kind} event(s) since the last such line, not logged; events.jsonl has each`,
      );
      k.skipped = 0;
    }
  }
}

/**
 * Wires a source to a predictor through the ring buffer: the source appends (on this thread
 * or from a worker), the loop runs every unit whose samples have arrived, in order, and hands
 * the poses to the sinks. Gaps and overruns restart the predictor after the hole rather than
 * splicing signal from either side of it.
 */
export async function runPipeline(opts: PipelineOptions): Promise<PipelineResult> {
  const { source, log } = opts;
  const hooks = opts.hooks ?? {};
  let predictor = opts.predictor;
  const { emg: ring, truth } = opts.rings ?? createRings(source, opts.ringSeconds);
  const events: PipelineEvent[] = [];
  const logLines = new EventLogLimiter(log, opts.logIntervalMs ?? 1000);
  const record = (
    kind: PipelineEvent['kind'],
    atSample: number,
    detail: string,
    data?: PipelineEvent['data'],
  ): void => {
    const e: PipelineEvent = { time: new Date().toISOString(), kind, atSample, detail, ...(data ? { data } : {}) };
    events.push(e);
    hooks.onEvent?.(e);
    if (kind === 'source_end') {
      logLines.flush();
      log.info({ atSample, kind }, detail);
    } else {
      logLines.warn(kind, atSample, detail);
    }
  };

  const pendingGaps: GapEvent[] = [];
  let spaceWaiters: (() => void)[] = [];
  const wakeProducer = (): void => {
    const w = spaceWaiters;
    spaceWaiters = [];
    for (const f of w) f();
  };
  const sink: SampleSink = {
    emg: ring,
    ...(truth ? { truth } : {}),
    gap: (g) => pendingGaps.push(g),
    note: (kind, at, detail, data) => record(kind, at, detail, data),
    waitForSpace: (frames) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (ring.written + frames - ring.readCursor <= ring.capacity || producerDone) resolve();
          else spaceWaiters.push(check);
        };
        check();
      }),
  };

  const abort = new AbortController();
  opts.signal?.addEventListener('abort', () => abort.abort(), { once: true });
  let producerDone = false;
  let producerError: unknown;
  const producer = source
    .run(sink, abort.signal)
    .catch((e: unknown) => {
      producerError = e;
    })
    .finally(() => {
      producerDone = true;
      ring.wakeWaiters();
    });

  const t0 = performance.now();
  let poses = 0;
  let units = 0;
  let lastStep = -1;
  let inputEnded = false;
  const emit = (e: PoseEvent): void => {
    // One increasing step count for the whole run, across restarts and mode switches.
    e.step = poses++;
    lastStep = e.step;
    hooks.onPose?.(e);
  };

  const cpu = threadCpuClock();
  const restart = (p: Predictor, at: number): void => {
    p.restartAt(at);
    hooks.onRestart?.(at);
  };
  restart(predictor, 0);
  ring.seekReader(0);
  try {
    for (;;) {
      const gap = pendingGaps[0];
      // Nothing after the gap belongs to this session: no step waits for look-ahead beyond it.
      if (gap) predictor.endInputAt?.(gap.atSample);
      // Steps whose samples all precede the gap still run; then the predictor restarts after it.
      if (gap && !(ring.written >= predictor.nextReadyAt && predictor.nextReadyAt <= gap.atSample)) {
        pendingGaps.shift();
        record('gap', gap.atSample, `${gap.lostSamples} samples lost (${gap.reason}); restarting after the gap`);
        restart(predictor, gap.atSample);
        ring.seekReader(gap.atSample);
        wakeProducer();
        continue;
      }
      if (ring.written >= predictor.nextReadyAt) {
        if (predictor.oldestNeeded < ring.oldest) {
          const at = ring.oldest;
          record(
            'overrun',
            at,
            `inference fell ${at - predictor.oldestNeeded} samples behind the ring (capacity ${ring.capacity}); restarting at the oldest held sample`,
          );
          restart(predictor, at);
          ring.seekReader(at);
          wakeProducer();
          continue;
        }
        let computeMs: number;
        // CPU time beside wall time: the watchdog tells preemption (contention) from compute.
        const cpu0 = cpu.nowMs();
        try {
          computeMs = await predictor.advance(ring, emit);
        } catch (e) {
          // The writer lapped the reader while it copied a window: the same as an overrun.
          if (!(e instanceof RangeError && /overwritten/.test(e.message))) throw e;
          const at = ring.oldest;
          record(
            'overrun',
            at,
            `the window being read was overwritten (${e.message}); restarting at the oldest held sample`,
          );
          restart(predictor, at);
          ring.seekReader(at);
          wakeProducer();
          continue;
        }
        units++;
        ring.seekReader(keepFrom(predictor));
        wakeProducer();
        hooks.onUnit?.(computeMs, lastStep, ring.written, cpu.nowMs() - cpu0);
        const reset = hooks.restartRequested?.();
        if (reset) {
          record('reset', reset.atSample, reset.reason);
          restart(predictor, reset.atSample);
          ring.seekReader(keepFrom(predictor));
        }
        if (hooks.nextPredictor) {
          const next = hooks.nextPredictor(predictor);
          if (next !== predictor) {
            predictor.suspend?.();
            restart(next, predictor.resumeAt);
            predictor = next;
            ring.seekReader(keepFrom(predictor));
          }
        }
        continue;
      }
      if (producerDone) {
        // The input is complete: a step that waited for a look-ahead sample runs without it.
        if (!inputEnded) {
          inputEnded = true;
          predictor.endInputAt?.(ring.written);
          continue;
        }
        break;
      }
      await ring.waitForAppend(200);
    }
    await predictor.finish?.(ring, emit);
  } finally {
    abort.abort();
    await producer;
    logLines.flush();
  }
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the source's own error, rethrown as it threw it
  if (producerError !== undefined) throw producerError;
  record('source_end', ring.written, `source ended after ${ring.written} samples`);
  return {
    samples: ring.written,
    poses,
    units,
    overwritten: ring.overwritten,
    events,
    wallMs: performance.now() - t0,
    ring,
    truth,
  };
}
