/**
 * Error between two pose streams at aligned moments: MSE and max |diff| over every joint angle,
 * accumulated per block and overall, with the session's first output kept apart (the plan
 * allows it twice the bounds).
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
    return { steps: this.steps, mse: this.n ? this.sq / this.n : NaN, mae: this.n ? this.abs / this.n : NaN, max_diff: this.n ? this.max : NaN };
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
export function stepErrors(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, len: number): { mse: number; mae: number } {
  let sq = 0;
  let ab = 0;
  for (let i = 0; i < len; i++) {
    const d = a[aOff + i]! - b[bOff + i]!;
    sq += d * d;
    ab += Math.abs(d);
  }
  return { mse: sq / len, mae: ab / len };
}
