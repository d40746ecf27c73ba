import ort from 'onnxruntime-node';
import {
  DECODER_INPUT_DIM,
  FEATURE_DIM,
  LSTM_HIDDEN,
  LSTM_LAYERS,
  POSE_DIM,
  POSITION_STEPS,
} from '../domain/geometry.js';

const STATE_SIZE = LSTM_LAYERS * LSTM_HIDDEN;

/**
 * One LSTM decoder step with hidden/cell state kept between calls. The state lives in two
 * preallocated buffer pairs that swap roles each step (the graph reads one pair and writes the
 * other), so nothing is allocated or copied per step.
 */
export class DecoderStep {
  /** [84]: 64 features then the 20-value previous pose. */
  readonly input = new Float32Array(DECODER_INPUT_DIM);
  /** [40], scaled: 20 positions then 20 velocities. */
  readonly output = new Float32Array(2 * POSE_DIM);
  private readonly h = [new Float32Array(STATE_SIZE), new Float32Array(STATE_SIZE)] as const;
  private readonly c = [new Float32Array(STATE_SIZE), new Float32Array(STATE_SIZE)] as const;
  private readonly feeds: [Record<string, ort.Tensor>, Record<string, ort.Tensor>];
  private readonly fetches: [Record<string, ort.Tensor>, Record<string, ort.Tensor>];
  private cur = 0;

  constructor(private readonly session: ort.InferenceSession) {
    const inT = new ort.Tensor('float32', this.input, [1, DECODER_INPUT_DIM]);
    const outT = new ort.Tensor('float32', this.output, [1, 2 * POSE_DIM]);
    const dims = [LSTM_LAYERS, 1, LSTM_HIDDEN];
    const hT = this.h.map((b) => new ort.Tensor('float32', b, dims));
    const cT = this.c.map((b) => new ort.Tensor('float32', b, dims));
    this.feeds = [
      { input: inT, h0: hT[0]!, c0: cT[0]! },
      { input: inT, h0: hT[1]!, c0: cT[1]! },
    ];
    this.fetches = [
      { pos_vel: outT, h1: hT[1]!, c1: cT[1]! },
      { pos_vel: outT, h1: hT[0]!, c1: cT[0]! },
    ];
  }

  /** Zeroes hidden and cell state (session start, each exact block, after an error or gap). */
  resetState(): void {
    this.h[this.cur]!.fill(0);
    this.c[this.cur]!.fill(0);
  }

  async step(): Promise<Float32Array> {
    await this.session.run(this.feeds[this.cur]!, this.fetches[this.cur]!);
    this.cur ^= 1;
    return this.output;
  }

  /**
   * Runs this decoder's step and `other`'s (a second rollout on the same graph, e.g. the shadow
   * exact block) as one batch-2 run: the step reads its 13 MB of weights once for both rollouts
   * instead of twice. Each row's result is that of its own batch-1 run (refer/export.py's
   * cross-check). Both decoders' outputs and states advance as after step().
   */
  async stepWith(other: DecoderStep, pair: DecoderPair): Promise<Float32Array> {
    pair.load(this, 0);
    pair.load(other, 1);
    try {
      await this.session.run(pair.feeds, pair.fetches);
    } catch (e) {
      throw new SharedRunError(e);
    }
    pair.store(this, 0);
    pair.store(other, 1);
    return this.output;
  }

  /**
   * For a graph that contains the decoder step (stream_step): points `feeds` / `fetches` at
   * this decoder's state and output tensors (h0, c0 → h1, c1; pos_vel). commitStep() after the run.
   */
  bindStep(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>): void {
    const now = this.feeds[this.cur]!;
    const next = this.fetches[this.cur]!;
    feeds['h0'] = now['h0']!;
    feeds['c0'] = now['c0']!;
    fetches['pos_vel'] = next['pos_vel']!;
    fetches['h1'] = next['h1']!;
    fetches['c1'] = next['c1']!;
  }

  /** The bound step has run: its state becomes the one the next step reads. */
  commitStep(): Float32Array {
    this.cur ^= 1;
    return this.output;
  }

  /** @internal DecoderPair's view of the state the next step reads. */
  currentState(): { h: Float32Array; c: Float32Array } {
    return { h: this.h[this.cur]!, c: this.c[this.cur]! };
  }

  /** @internal DecoderPair writes the state after a shared step into the set the next step reads. */
  advanceState(): { h: Float32Array; c: Float32Array } {
    this.cur ^= 1;
    return { h: this.h[this.cur]!, c: this.c[this.cur]! };
  }

  /** Largest |value| in the hidden and cell state: the watchdog's state blow-up signal. */
  stateMaxAbs(): number {
    const h = this.h[this.cur]!;
    const c = this.c[this.cur]!;
    let m = 0;
    for (let i = 0; i < h.length; i++) {
      const a = Math.abs(h[i]!);
      const b = Math.abs(c[i]!);
      // NaN compares false: count it as unbounded.
      if (!(a <= m)) m = Number.isNaN(a) ? Infinity : a;
      if (!(b <= m)) m = Number.isNaN(b) ? Infinity : b;
    }
    return m;
  }
}

/**
 * A batch-2 run (a step with its companion's row) failed: neither rollout's state moved, so the
 * step can run again alone. Kept apart from a failure of the step's own input (a window
 * overwritten while being read), which is the step's.
 */
export class SharedRunError extends Error {
  constructor(override readonly cause: unknown) {
    super(`shared decoder run failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'SharedRunError';
  }
}

/**
 * Batch-2 buffers of DecoderStep.stepWith: row 0 and row 1 of input, pos_vel and the
 * [layers, 2, hidden] state. Allocated once per pair of rollouts; each shared step copies
 * 2 × 84 inputs, 2 × 40 outputs and 4 × 4 kB of state, small beside the weights it saves.
 */
export class DecoderPair {
  private readonly input = new Float32Array(2 * DECODER_INPUT_DIM);
  private readonly output = new Float32Array(4 * POSE_DIM);
  private readonly h0 = new Float32Array(2 * STATE_SIZE);
  private readonly c0 = new Float32Array(2 * STATE_SIZE);
  private readonly h1 = new Float32Array(2 * STATE_SIZE);
  private readonly c1 = new Float32Array(2 * STATE_SIZE);
  readonly feeds: Record<string, ort.Tensor>;
  readonly fetches: Record<string, ort.Tensor>;

  constructor() {
    const dims = [LSTM_LAYERS, 2, LSTM_HIDDEN];
    this.feeds = {
      input: new ort.Tensor('float32', this.input, [2, DECODER_INPUT_DIM]),
      h0: new ort.Tensor('float32', this.h0, dims),
      c0: new ort.Tensor('float32', this.c0, dims),
    };
    this.fetches = {
      pos_vel: new ort.Tensor('float32', this.output, [2, 2 * POSE_DIM]),
      h1: new ort.Tensor('float32', this.h1, dims),
      c1: new ort.Tensor('float32', this.c1, dims),
    };
  }

  load(d: DecoderStep, row: number): void {
    this.input.set(d.input, row * DECODER_INPUT_DIM);
    const { h, c } = d.currentState();
    for (let l = 0; l < LSTM_LAYERS; l++) {
      const from = l * LSTM_HIDDEN;
      const to = (2 * l + row) * LSTM_HIDDEN;
      this.h0.set(h.subarray(from, from + LSTM_HIDDEN), to);
      this.c0.set(c.subarray(from, from + LSTM_HIDDEN), to);
    }
  }

  store(d: DecoderStep, row: number): void {
    d.output.set(this.output.subarray(row * 2 * POSE_DIM, (row + 1) * 2 * POSE_DIM));
    const { h, c } = d.advanceState();
    for (let l = 0; l < LSTM_LAYERS; l++) {
      const from = (2 * l + row) * LSTM_HIDDEN;
      h.set(this.h1.subarray(from, from + LSTM_HIDDEN), l * LSTM_HIDDEN);
      c.set(this.c1.subarray(from, from + LSTM_HIDDEN), l * LSTM_HIDDEN);
    }
  }
}

/**
 * The rollout's pose state: the first POSITION_STEPS (12) steps of a session or block take the
 * decoder's position output, later steps integrate its velocity.
 */
export class PoseIntegrator {
  readonly pose = new Float32Array(POSE_DIM);
  private steps = 0;

  reset(initial?: Float32Array): void {
    if (initial) this.pose.set(initial);
    else this.pose.fill(0);
    this.steps = 0;
  }

  get stepCount(): number {
    return this.steps;
  }

  /** Writes features (64) and the previous pose (20) into the decoder input. */
  fillDecoderInput(features: Float32Array, featureOffset: number, input: Float32Array): void {
    for (let i = 0; i < FEATURE_DIM; i++) input[i] = features[featureOffset + i]!;
    input.set(this.pose, FEATURE_DIM);
  }

  /** Applies one decoder output and returns the new pose. */
  update(posVel: Float32Array): Float32Array {
    const pose = this.pose;
    if (this.steps < POSITION_STEPS) {
      for (let i = 0; i < POSE_DIM; i++) pose[i] = posVel[i]!;
    } else {
      for (let i = 0; i < POSE_DIM; i++) pose[i] = Math.fround(pose[i]! + posVel[POSE_DIM + i]!);
    }
    this.steps++;
    return pose;
  }
}
