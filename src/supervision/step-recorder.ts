import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { BlockSlots } from '../domain/block-slots.js';
import { stepErrors } from '../domain/error-figures.js';
import type { BlockFigures, StepMetrics, StepRecord } from '../domain/events.js';
import { LEFT_CONTEXT, POSE_DIM, STEP_SAMPLES, rolloutPointsFor } from '../domain/geometry.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { SHADOW_PART } from '../inference/paired-streaming.js';
import { endToEndMs } from '../domain/step-record.js';

export interface StepRecorderSettings {
  /**
   * Points of an exact block when the live shadow compares blocks: a step's line then waits
   * for its block's comparison (at most two blocks) to carry its error against exact. 0: no shadow.
   */
  blockPoints: number;
}

/** The step recorder's slice: the points of one exact block when the alignment check runs (their step lines carry the exact error). */
export function stepRecorderSettings(alignmentCheck: boolean, blockSamples: number): StepRecorderSettings {
  return { blockPoints: alignmentCheck ? rolloutPointsFor(LEFT_CONTEXT + blockSamples) : 0 };
}

/**
 * Ground truth of session step j at the centre of the step's 40-sample output interval, where
 * the exact rollout's 2 kHz upsampling places the point; false when the ring no longer (or not
 * yet) holds it.
 */
export function truthAt(truth: RingBuffer, sessionOrigin: number, j: number, out: Float32Array): boolean {
  const at = sessionOrigin + LEFT_CONTEXT + STEP_SAMPLES * j + STEP_SAMPLES / 2;
  if (at >= truth.written || at < truth.oldest) return false;
  truth.sliceEndingAt(at + 1, 1, out);
  return true;
}

/** One line of streaming_metrics.jsonl; NaN figures are left out. */
export function stepMetricsLine(
  step: number,
  t: number,
  computeMs: number,
  e2e: number,
  maeX: number,
  mseX: number,
  maeT: number,
  mseT: number,
): StepMetrics {
  const m: StepMetrics = {
    step,
    t: Number(t.toFixed(6)),
    mode: 'streaming',
    t_compute_ms: Number(computeMs.toFixed(4)),
  };
  if (Number.isFinite(e2e)) m.e2e_ms = Number(e2e.toFixed(4));
  if (Number.isFinite(mseX)) {
    m.mae_exact = maeX;
    m.mse_exact = mseX;
  }
  if (Number.isFinite(mseT)) {
    m.mae_truth = maeT;
    m.mse_truth = mseT;
  }
  return m;
}

// Per-slot figures kept while a step waits for its block's comparison.
const T = 0;
const COMPUTE = 1;
const E2E = 2;
const MAE_TRUTH = 3;
const MSE_TRUTH = 4;
const FIELDS = 5;

/**
 * Every streaming step's line of streaming_metrics.jsonl (`metrics` on the bus): T_compute, the
 * end-to-end latency, the error against the source's ground truth and, with the live shadow,
 * against exact. Without the shadow a line goes out with its step; with it, a step's line waits
 * for its block's comparison, and a step no comparison will cover (a restart, a fallback, a
 * skipped block, the end of the run) gets its line without exact figures.
 */
export class StepRecorder implements Plugin {
  readonly name = 'step_recorder';
  private readonly points: number;
  /** Which steps still wait for their block's comparison; steps passed over get their lines without exact figures. */
  private readonly waiting: BlockSlots | undefined;
  private readonly slots: Float64Array;
  private readonly truthRow = new Float32Array(POSE_DIM);
  private ctx: PluginContext | undefined;
  private lines = 0;
  /** The shadow was switched off after a failure: no comparison will come, lines go out with their steps. */
  private shadowOff = false;

  constructor(
    s: StepRecorderSettings,
    private readonly truth: RingBuffer | undefined,
  ) {
    this.points = s.blockPoints;
    this.waiting = this.points > 0 ? new BlockSlots(this.points, this.passOver) : undefined;
    this.slots = new Float64Array(2 * Math.max(1, this.points) * FIELDS);
  }

  start(ctx: PluginContext): void {
    this.ctx = ctx;
    ctx.bus.on(this, 'step', this.onStep);
    if (this.points > 0) {
      ctx.bus.on(this, 'block', (c) => this.onBlock(c));
      ctx.bus.on(this, 'mode', () => this.waiting!.settleAll());
      ctx.bus.on(this, 'error', (f) => {
        if (f.plugin !== SHADOW_PART) return;
        this.shadowOff = true;
        this.waiting!.settleAll();
      });
      ctx.bus.on(this, 'tick', (t) => {
        if (t.final) this.waiting!.settleAll();
      });
    }
  }

  stop(): void {
    this.ctx = undefined;
  }

  report(): PluginReport {
    return { counts: { step_lines: this.lines } };
  }

  private readonly onStep = (r: StepRecord): void => {
    const j = r.sessionStep;
    let maeT = NaN;
    let mseT = NaN;
    if (this.truth && truthAt(this.truth, r.sessionOrigin, j, this.truthRow)) {
      const err = stepErrors(r.angles, 0, this.truthRow, 0, POSE_DIM);
      maeT = err.mae;
      mseT = err.mse;
    }
    const e2e = endToEndMs(r);
    if (!this.waiting || this.shadowOff) {
      this.write(stepMetricsLine(j, r.t, r.computeMs, e2e, NaN, NaN, maeT, mseT));
      return;
    }
    // A new session, or a step taking an uncompared step's slot: those steps get their lines first.
    const o = this.waiting.record(j) * FIELDS;
    const s = this.slots;
    s[o + T] = r.t;
    s[o + COMPUTE] = r.computeMs;
    s[o + E2E] = e2e;
    s[o + MAE_TRUTH] = maeT;
    s[o + MSE_TRUTH] = mseT;
  };

  private onBlock(c: BlockFigures): void {
    const n = this.waiting!.takeBlock(c.firstStep);
    for (let i = 0; i < n; i++) this.line(c.firstStep + i, c.perStep[2 * i]!, c.perStep[2 * i + 1]!);
  }

  /** Lines without exact figures for steps [from, to) that no comparison will cover. */
  private readonly passOver = (from: number, to: number): void => {
    for (let step = from; step < to; step++) this.line(step, NaN, NaN);
  };

  private line(step: number, maeX: number, mseX: number): void {
    const o = this.waiting!.slotOf(step) * FIELDS;
    const s = this.slots;
    this.write(
      stepMetricsLine(step, s[o + T]!, s[o + COMPUTE]!, s[o + E2E]!, maeX, mseX, s[o + MAE_TRUTH]!, s[o + MSE_TRUTH]!),
    );
  }

  private write(m: StepMetrics): void {
    this.lines++;
    this.ctx?.bus.emit('metrics', m);
  }
}
