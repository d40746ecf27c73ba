import ort from 'onnxruntime-node';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { DECODER_INPUT_DIM, FEATURE_DIM, POSE_DIM } from '../domain/geometry.js';
import { SharedRunError, type DecoderPair, type DecoderStep } from './decoder.js';
import type { IncrementalFrameEncoder } from './incremental-encoder.js';
import { INCREMENTAL_STATE } from './incremental-encoder.js';

/** Key of the one-run streaming step in model_info.json (refer/export.py writes it). */
export const STREAM_STEP_MODEL_KEY = 'stream_step';

const f32 = Math.fround;

/**
 * One streaming step in one session.run: the cached encoder step and the decoder step of
 * stream_step.onnx, which is built from encoder_incremental's and decoder_step's own nodes and
 * weights (refer/export.py cross-checks it against the two runs: max difference 0). It saves
 * the second run per 20 ms step and the round trip of the feature through JavaScript.
 *
 * The decoder's feature is formed inside the graph as fround(base·w0 + fround(new·w1)), the
 * runtime's linear interpolation, from the frame this run computes (`new`) and one the caller
 * sets: the new frame itself (sliding window), a point between an older native frame and the
 * new one (exact_grid), or a feature finished from older frames (w0 = 1, w1 = 0). The decoder
 * batch is row 0 (that feature and the previous pose) plus, when a companion rollout rides
 * along (the live shadow), its row: one pass over the weights for both.
 */
export class FusedStreamStep {
  private readonly base = new Float32Array(FEATURE_DIM);
  private readonly mix = new Float32Array(2);
  private readonly row = new Float32Array(DECODER_INPUT_DIM);
  private readonly noRows = new ort.Tensor('float32', new Float32Array(0), [0, DECODER_INPUT_DIM]);
  private readonly oneRow = new ort.Tensor('float32', this.row, [1, DECODER_INPUT_DIM]);
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor> = {};
  /** Runs done (each one encoder step and one decoder step). */
  runs = 0;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly encoder: IncrementalFrameEncoder,
    private readonly decoder: DecoderStep,
    /** The rollout's previous pose (the integrator's pose): read at each run. */
    prev: Float32Array,
  ) {
    checkGraph(session);
    this.feeds = {
      base: new ort.Tensor('float32', this.base, [1, FEATURE_DIM]),
      mix: new ort.Tensor('float32', this.mix, [2]),
      prev: new ort.Tensor('float32', prev, [1, POSE_DIM]),
      rows: this.noRows,
    };
  }

  /** The decoder's feature is the new frame. */
  takeNew(): void {
    this.base.fill(0);
    this.mix[0] = 0;
    this.mix[1] = 1;
  }

  /** The decoder's feature lies between `older` (64 values at offset) and the new frame, at weight w of the new one. */
  between(older: Float32Array, offset: number, w: number): void {
    for (let c = 0; c < FEATURE_DIM; c++) this.base[c] = older[offset + c]!;
    this.mix[0] = f32(1 - w);
    this.mix[1] = w;
  }

  /** The decoder's feature is `feature`, finished from older frames. */
  takeFinished(feature: Float32Array): void {
    this.base.set(feature);
    this.mix[0] = 1;
    this.mix[1] = 0;
  }

  /**
   * Runs the encoder's next step (frame encoder.nextChunk) and the decoder step; with
   * `companion`, its step shares the run through `pair`. Returns the decoder's output.
   */
  async run(ring: RingBuffer, companion?: DecoderStep, pair?: DecoderPair): Promise<Float32Array> {
    const feeds = this.feeds;
    const fetches = this.fetches;
    this.encoder.bindStep(ring, feeds, fetches);
    if (companion && pair) {
      pair.load(this.decoder, 0);
      pair.load(companion, 1);
      this.row.set(companion.input);
      feeds['rows'] = this.oneRow;
      feeds['h0'] = pair.feeds['h0']!;
      feeds['c0'] = pair.feeds['c0']!;
      fetches['pos_vel'] = pair.fetches['pos_vel']!;
      fetches['h1'] = pair.fetches['h1']!;
      fetches['c1'] = pair.fetches['c1']!;
      try {
        await this.session.run(feeds, fetches);
      } catch (e) {
        throw new SharedRunError(e);
      }
      pair.store(this.decoder, 0);
      pair.store(companion, 1);
    } else {
      feeds['rows'] = this.noRows;
      this.decoder.bindStep(feeds, fetches);
      await this.session.run(feeds, fetches);
      this.decoder.commitStep();
    }
    this.encoder.commitStep();
    if (this.encoder.hasTwin) await this.encoder.catchUpTwin(ring);
    this.runs++;
    return this.decoder.output;
  }
}

/** Refuses a graph whose interface is not stream_step's. */
function checkGraph(session: ort.InferenceSession): void {
  const ins = ['emg', ...INCREMENTAL_STATE.map((s) => s.input), 'base', 'mix', 'prev', 'rows', 'h0', 'c0'];
  const outs = ['feature', ...INCREMENTAL_STATE.map((s) => s.output), 'pos_vel', 'h1', 'c1'];
  const same = (a: readonly string[], b: readonly string[]): boolean =>
    a.length === b.length && a.every((x) => b.includes(x));
  if (!same(session.inputNames, ins) || !same(session.outputNames, outs)) {
    throw new Error(
      `${STREAM_STEP_MODEL_KEY}: graph inputs [${session.inputNames.join(', ')}] / outputs [${session.outputNames.join(', ')}] ` +
        'are not those of the one-run streaming step; regenerate models/ with refer/export.py',
    );
  }
}
