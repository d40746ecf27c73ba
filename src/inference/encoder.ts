import ort from 'onnxruntime-node';
import { FEATURE_DIM, NUM_CHANNELS, framesFor } from '../domain/geometry.js';

/**
 * Runs the encoder graph on windows of one fixed length. The input and output tensors are
 * allocated once and reused, so a step only copies samples in and reads features out.
 */
export class WindowEncoder {
  readonly windowSamples: number;
  readonly frames: number;
  /** Channel-major [16, windowSamples]; fill it, then call run(). */
  readonly input: Float32Array;
  /** Channel-major [64, frames], valid after run(). */
  readonly features: Float32Array;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor>;

  constructor(
    private readonly session: ort.InferenceSession,
    windowSamples: number,
  ) {
    this.windowSamples = windowSamples;
    this.frames = framesFor(windowSamples);
    if (this.frames < 1) throw new RangeError(`encoder window of ${windowSamples} samples yields no frame`);
    this.input = new Float32Array(NUM_CHANNELS * windowSamples);
    this.features = new Float32Array(FEATURE_DIM * this.frames);
    this.feeds = { emg: new ort.Tensor('float32', this.input, [1, NUM_CHANNELS, windowSamples]) };
    this.fetches = { features: new ort.Tensor('float32', this.features, [1, FEATURE_DIM, this.frames]) };
  }

  async run(): Promise<Float32Array> {
    await this.session.run(this.feeds, this.fetches);
    return this.features;
  }
}
