import type { BlockFigures } from '../domain/events.js';
import { alignedPassed, type Tolerance } from '../domain/error-figures.js';
import { r6, type WatchdogAction, type Verdict } from './verdict.js';

export interface NumericalSettings {
  tolerance: Tolerance;
  alignmentCheck: boolean;
  driftMse: number;
  driftMaxDiff: number;
  persistenceBlocks: number;
  offsetBlocks: number;
  offsetLimit: number;
  onAlignmentFail: WatchdogAction;
  onDrift: WatchdogAction;
  onNonFinite: WatchdogAction;
}

/**
 * Every shadow-checked block: a session's first (aligned) block against eval.streaming_tolerance,
 * later blocks against the drift bounds, and the low-frequency offset (mean signed difference
 * streaming − exact) averaged over the last `offsetBlocks` blocks. Non-finite poses are counted
 * from the pose stream itself.
 */
export class NumericalDrift {
  private readonly offsets: Float64Array;
  private offN = 0;
  private driftRun = 0;
  private driftArmed = true;
  private offsetArmed = true;
  private nonFiniteArmed = true;
  readonly counts = {
    blocks: 0,
    aligned_blocks: 0,
    aligned_failed: 0,
    drift_blocks: 0,
    non_finite_poses: 0,
    alarms: 0,
  };
  lastBlock: { block: number; aligned: boolean; mse: number; max_diff: number; mean_offset: number } | null = null;
  meanOffset = NaN;

  constructor(readonly s: NumericalSettings) {
    this.offsets = new Float64Array(s.offsetBlocks);
  }

  /** A new session (reset, gap, return to streaming): its first block is an alignment block again. */
  restart(): void {
    this.offN = 0;
    this.driftRun = 0;
    this.meanOffset = NaN;
    this.nonFiniteArmed = true;
  }

  block(b: BlockFigures): Verdict[] | null {
    const s = this.s;
    const c = this.counts;
    c.blocks++;
    this.lastBlock = {
      block: b.block,
      aligned: b.aligned,
      mse: b.main.mse,
      max_diff: b.main.max_diff,
      mean_offset: b.meanOffset,
    };
    const out: Verdict[] = [];
    const figs = {
      block: b.block,
      start_sample: b.startSample,
      aligned: b.aligned,
      mse: b.main.mse,
      max_diff: b.main.max_diff,
      mean_offset: b.meanOffset,
    };
    const finite = Number.isFinite(b.main.mse) && Number.isFinite(b.main.max_diff) && Number.isFinite(b.meanOffset);
    if (!finite && b.main.steps > 0) {
      c.alarms++;
      out.push({
        kind: 'alarm',
        cause: 'non_finite',
        action: s.onNonFinite,
        detail: `block ${b.block} at sample ${b.startSample}: non-finite difference to exact (MSE ${b.main.mse}, max|diff| ${b.main.max_diff})`,
        data: { ...figs, mse: null, max_diff: null, mean_offset: null },
      });
      return out;
    }
    if (b.aligned) {
      c.aligned_blocks++;
      const ok = alignedPassed(b.main, b.boundary, s.tolerance);
      if (!ok && s.alignmentCheck) {
        c.aligned_failed++;
        c.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'alignment',
          action: s.onAlignmentFail,
          detail: `alignment with exact failed: block ${b.block} at sample ${b.startSample}: MSE ${b.main.mse.toExponential(2)} (bound ${s.tolerance.mse}), max|diff| ${b.main.max_diff.toExponential(2)} (bound ${s.tolerance.max_diff}); first output MSE ${b.boundary.mse.toExponential(2)}, max|diff| ${b.boundary.max_diff.toExponential(2)} (2× bounds)`,
          data: figs,
        });
      }
    } else {
      const drifting = b.main.mse > s.driftMse || b.main.max_diff > s.driftMaxDiff;
      if (drifting) {
        c.drift_blocks++;
        this.driftRun++;
      } else {
        this.driftRun = 0;
        this.driftArmed = true;
      }
      if (this.driftRun >= s.persistenceBlocks && this.driftArmed) {
        this.driftArmed = false;
        c.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'numerical_drift',
          action: s.onDrift,
          detail: `streaming drifted from exact in ${this.driftRun} blocks in a row: block ${b.block} MSE ${b.main.mse.toExponential(2)} (bound ${s.driftMse}), max|diff| ${b.main.max_diff.toExponential(2)} (bound ${s.driftMaxDiff})`,
          data: figs,
        });
      }
    }
    this.offsets[this.offN % s.offsetBlocks] = b.meanOffset;
    this.offN++;
    const k = Math.min(this.offN, s.offsetBlocks);
    let sum = 0;
    for (let i = 0; i < k; i++) sum += this.offsets[i]!;
    this.meanOffset = sum / k;
    const offsetOver = k >= s.offsetBlocks && Math.abs(this.meanOffset) > s.offsetLimit;
    if (offsetOver && this.offsetArmed) {
      this.offsetArmed = false;
      c.alarms++;
      out.push({
        kind: 'alarm',
        cause: 'offset',
        action: s.onDrift,
        detail: `low-frequency offset streaming − exact ${this.meanOffset.toExponential(2)} rad averaged over the last ${k} blocks (limit ${s.offsetLimit})`,
        data: { ...figs, mean_offset_blocks: r6(this.meanOffset) },
      });
    } else if (!offsetOver) {
      this.offsetArmed = true;
    }
    return out.length ? out : null;
  }

  /** One pose's angles; allocates nothing. The first non-finite pose of a session is a verdict, the rest are counted. */
  pose(angles: Float32Array, step: number): Verdict | null {
    for (let i = 0; i < angles.length; i++) {
      const a = angles[i]!;
      if (a - a !== 0) {
        this.counts.non_finite_poses++;
        if (!this.nonFiniteArmed) return null;
        this.nonFiniteArmed = false;
        this.counts.alarms++;
        return {
          kind: 'alarm',
          cause: 'non_finite',
          action: this.s.onNonFinite,
          detail: `pose ${step} has a non-finite joint angle (${a}) at index ${i}`,
          data: { step, index: i },
        };
      }
    }
    return null;
  }
}
