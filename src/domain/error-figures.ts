import { POSE_DIM } from './geometry.js';

/**
 * Error between two pose streams at aligned moments: MSE and max |diff| over every joint angle,
 * accumulated per block and overall, with the session's first output kept apart (its bounds
 * are twice eval.streaming_tolerance's).
 */
export interface ErrorFigures {
  steps: number;
  mse: number;
  mae: number;
  max_diff: number;
}

export class ErrorAccumulator {
  private n = 0;
  private steps = 0;
  private sq = 0;
  private abs = 0;
  private max = 0;

  add(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, len: number): void {
    for (let i = 0; i < len; i++) {
      const d = a[aOff + i]! - b[bOff + i]!;
      const ad = Math.abs(d);
      this.sq += d * d;
      this.abs += ad;
      if (ad > this.max || Number.isNaN(d)) this.max = Number.isNaN(d) ? Infinity : ad;
    }
    this.n += len;
    this.steps++;
  }

  merge(o: ErrorAccumulator): void {
    this.n += o.n;
    this.steps += o.steps;
    this.sq += o.sq;
    this.abs += o.abs;
    this.max = Math.max(this.max, o.max);
  }

  figures(): ErrorFigures {
    return {
      steps: this.steps,
      mse: this.n ? this.sq / this.n : NaN,
      mae: this.n ? this.abs / this.n : NaN,
      max_diff: this.n ? this.max : NaN,
    };
  }
}

export interface Tolerance {
  mse: number;
  max_diff: number;
}

export function within(f: ErrorFigures, tol: Tolerance, factor = 1): boolean {
  return f.steps > 0 && f.mse <= tol.mse * factor && f.max_diff <= tol.max_diff * factor;
}

/**
 * The alignment rule, for one aligned block or several together: the steps after the first
 * within the bounds, the first output after warm-up within twice them (judged where there is one).
 */
export function alignedPassed(main: ErrorFigures, boundary: ErrorFigures, tol: Tolerance): boolean {
  return within(main, tol) && (boundary.steps === 0 || within(boundary, tol, 2));
}

/** Per-step MSE and MAE of two pose vectors. */
export function stepErrors(
  a: ArrayLike<number>,
  aOff: number,
  b: ArrayLike<number>,
  bOff: number,
  len: number,
): { mse: number; mae: number } {
  let sq = 0;
  let ab = 0;
  for (let i = 0; i < len; i++) {
    const d = a[aOff + i]! - b[bOff + i]!;
    sq += d * d;
    ab += Math.abs(d);
  }
  return { mse: sq / len, mae: ab / len };
}

/** A shadow exact block compared with the streaming poses of the same moments. */
export interface BlockFigures {
  /** Block index within the current session. */
  block: number;
  /** Session step of the block's first point. */
  firstStep: number;
  startSample: number;
  /**
   * True for a session's first block: streaming was reset at its start exactly like exact, so
   * the comparison is the alignment regression (USAGE.md). Later blocks measure drift.
   */
  aligned: boolean;
  /** Steps after the first. */
  main: ErrorFigures;
  /** The session's first output after warm-up (held to 2× eval.streaming_tolerance). */
  boundary: ErrorFigures;
  /** Mean signed difference streaming − exact over the block's steps (low-frequency offset). */
  meanOffset: number;
  /** The sums behind the figures, for exact overall figures across blocks. */
  acc: { main: ErrorAccumulator; boundary: ErrorAccumulator };
  /** Each point's own [mae, mse] against exact, interleaved (a view, valid during the call). */
  perStep: Float64Array;
}

/**
 * The one comparison of a streamed block with exact's: the live shadow and `myostream align`
 * both use it. Streamed pose i of the block sits at `slotOf(i)` (rows of POSE_DIM) in
 * `streamed`; exact's at row i of `exact`. `perStep` sees each step's own errors.
 */
export function compareBlock(
  block: number,
  firstStep: number,
  startSample: number,
  aligned: boolean,
  streamed: Float32Array,
  slotOf: (i: number) => number,
  exact: Float32Array,
  points: number,
  perStep?: (i: number, err: { mae: number; mse: number }) => void,
): BlockFigures {
  const main = new ErrorAccumulator();
  const boundary = new ErrorAccumulator();
  let offset = 0;
  for (let i = 0; i < points; i++) {
    const k = slotOf(i);
    for (let d = 0; d < POSE_DIM; d++) offset += streamed[k * POSE_DIM + d]! - exact[i * POSE_DIM + d]!;
    (i === 0 ? boundary : main).add(streamed, k * POSE_DIM, exact, i * POSE_DIM, POSE_DIM);
    perStep?.(i, stepErrors(streamed, k * POSE_DIM, exact, i * POSE_DIM, POSE_DIM));
  }
  return {
    block,
    firstStep,
    startSample,
    aligned,
    main: main.figures(),
    boundary: boundary.figures(),
    meanOffset: offset / (points * POSE_DIM),
    acc: { main, boundary },
    perStep: new Float64Array(0),
  };
}
