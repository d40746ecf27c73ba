/** One Euro filter settings (Casiez, Roussel & Vogel, CHI 2012): cutoffs in Hz. */
export interface OneEuroSettings {
  /** Cutoff at rest: lower = steadier when the hand is still, more lag. */
  min_cutoff: number;
  /** How fast the cutoff rises with speed (per rad/s): higher = less lag in fast moves, more jitter. */
  beta: number;
  /** Cutoff of the speed estimate that drives the adaptation. */
  d_cutoff: number;
}

/**
 * A causal One Euro filter over a vector of channels sampled at a fixed rate: a first-order
 * low-pass whose cutoff grows with the (itself low-passed) speed, so still poses are steadied and
 * fast ones follow closely. State lives in preallocated arrays; apply() allocates nothing.
 * A non-finite input passes through and restarts that channel.
 */
export class OneEuroFilter {
  private readonly prev: Float64Array;
  private readonly dPrev: Float64Array;
  private readonly primed: Uint8Array;
  private readonly te: number;
  private readonly alphaD: number;

  constructor(
    readonly channels: number,
    private readonly s: OneEuroSettings,
    rateHz: number,
  ) {
    this.prev = new Float64Array(channels);
    this.dPrev = new Float64Array(channels);
    this.primed = new Uint8Array(channels);
    this.te = 1 / rateHz;
    this.alphaD = alpha(s.d_cutoff, this.te);
  }

  /** Forgets the past: the next input is passed through and starts a new trajectory. */
  reset(): void {
    this.primed.fill(0);
  }

  apply(input: Float32Array, out: Float32Array): void {
    const { prev, dPrev, primed, te, alphaD } = this;
    for (let i = 0; i < this.channels; i++) {
      const x = input[i]!;
      if (!Number.isFinite(x)) {
        out[i] = x;
        primed[i] = 0;
        continue;
      }
      if (primed[i] === 0) {
        prev[i] = x;
        dPrev[i] = 0;
        primed[i] = 1;
        out[i] = x;
        continue;
      }
      const dx = alphaD * ((x - prev[i]!) / te) + (1 - alphaD) * dPrev[i]!;
      const a = alpha(this.s.min_cutoff + this.s.beta * Math.abs(dx), te);
      const y = a * x + (1 - a) * prev[i]!;
      prev[i] = y;
      dPrev[i] = dx;
      out[i] = y;
    }
  }
}

/** Smoothing factor of a first-order low-pass with cutoff `fc` Hz at sample period `te` s. */
function alpha(fc: number, te: number): number {
  const tau = 1 / (2 * Math.PI * fc);
  return 1 / (1 + tau / te);
}
