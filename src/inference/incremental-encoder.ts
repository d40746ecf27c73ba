import ort from 'onnxruntime-node';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { FrameEncoder, FrameListener } from './frame-encoder.js';
import { FEATURE_DIM, NUM_CHANNELS, RECEPTIVE_FIELD, STEP_SAMPLES } from '../domain/geometry.js';
import { UserError } from '../common/errors.js';
import { precisionKey, type LoadedModels, type ModelInfo, type Precision } from './models.js';

/** Key of the cached-step graph in model_info.json (refer/export.py writes it). */
export const INCREMENTAL_MODEL_KEY = 'encoder_incremental';
/** Key of the warm-up graph: the session's first 1791 samples → frame 0 + the state after step 0. */
export const INCREMENTAL_INIT_MODEL_KEY = 'encoder_incremental_init';

/** New samples per cached step (= the encoder's stride up to the end of stage 1). */
export const CHUNK_SAMPLES = STEP_SAMPLES;

/**
 * Steps before frame 0 that only build state. Frame 0 of a session depends on samples
 * [origin, origin + 1791) alone; the earliest step that computes a value inside that cone is
 * step −44, so a session starts from all-zero state there, reading samples before the origin
 * as zeros (refer/incremental.py; checked in refer/tests and test/incremental-*.test.ts).
 */
export const WARMUP_STEPS = 44;

/** The graph's state tensors, time-major [1, frames, channels] each, in step order (refer/incremental.py). */
export const INCREMENTAL_STATE: readonly {
  readonly input: string;
  readonly output: string;
  readonly channels: number;
  readonly frames: number;
}[] = [
  { input: 'state_emg', output: 'next_state_emg', channels: NUM_CHANNELS, frames: 6 },
  { input: 'state_l0', output: 'next_state_l0', channels: 256, frames: 3 },
  { input: 'state_l1', output: 'next_state_l1', channels: 256, frames: 13 },
  { input: 'state_s1a', output: 'next_state_s1a', channels: 256, frames: 8 },
  { input: 'state_s1b', output: 'next_state_s1b', channels: 256, frames: 8 },
  { input: 'state_s1', output: 'next_state_s1', channels: 256, frames: 8 },
  { input: 'state_s2a', output: 'next_state_s2a', channels: 256, frames: 8 },
  { input: 'state_s2b', output: 'next_state_s2b', channels: 256, frames: 8 },
];

/** Recent frames kept for repeated or slightly older requests (exact_grid reads each native frame twice). */
const KEEP = 4;

/**
 * Frames by cached evaluation: the encoder_incremental graph takes the newest 40 samples plus
 * every layer's state and returns the new frame plus the new state, ≈ 7 MFLOP instead of the
 * ≈ 274 MFLOP of a whole 1830-sample window. Frame q is the encoder output for the receptive
 * field [origin + 40q, origin + 40q + 1791), the same frame WindowFrameEncoder gives, and it is
 * ready as soon as that field is complete (39 samples before the 1830-sample window ends).
 *
 * Frames must be asked in non-decreasing order (the last few are kept, so repeats are free);
 * asking for q runs one cached step per 40-sample chunk up to q. A session's warm-up runs
 * when frame 0 is first asked for: with the init graph, one run over samples
 * [origin, origin + 1791) (about one window-encoder run); without it, 45 steps from zero state
 * (steps −44 … 0, samples before the origin read as zeros). Everything is preallocated:
 * the state lives in two buffer sets that swap roles each step (the graph reads one set and
 * writes the other), so a step allocates nothing beyond what onnxruntime-node's run() does.
 */
export class IncrementalFrameEncoder implements FrameEncoder {
  readonly kind = 'incremental' as const;
  /** Time-major [40, 16] (the ring's layout): the chunk of the step being run. */
  private readonly input = new Float32Array(CHUNK_SAMPLES * NUM_CHANNELS);
  /** Scratch for a chunk that starts before the origin (warm-up only). */
  private readonly scratch = new Float32Array(CHUNK_SAMPLES * NUM_CHANNELS);
  private readonly feature = new Float32Array(FEATURE_DIM);
  private readonly state: readonly [readonly Float32Array[], readonly Float32Array[]];
  private readonly feeds: [Record<string, ort.Tensor>, Record<string, ort.Tensor>];
  private readonly fetches: [Record<string, ort.Tensor>, Record<string, ort.Tensor>];
  /** State tensors of set 0 and set 1, in INCREMENTAL_STATE order. */
  private readonly stateTensors: readonly (readonly ort.Tensor[])[];
  private readonly emgTensor: ort.Tensor;
  private readonly featureTensor: ort.Tensor;
  /** Time-major [1791, 16] window of the warm-up graph (only with an init session). */
  private readonly initInput: Float32Array | undefined;
  private readonly initFeeds: Record<string, ort.Tensor> | undefined;
  /** Init fetches writing the state into set 0 or set 1. */
  private readonly initFetches: [Record<string, ort.Tensor>, Record<string, ort.Tensor>] | undefined;
  private cur = 0;
  private origin = 0;
  /** Next step to run (negative during warm-up). */
  private next = -WARMUP_STEPS;
  private readonly keptQ = new Float64Array(KEEP).fill(-1);
  private readonly kept = new Float32Array(KEEP * FEATURE_DIM);
  /** Cached steps run since construction, warm-up steps included. */
  stepsRun = 0;
  /** Warm-ups run since construction (one per session that reached frame 0). */
  warmups = 0;
  /** Milliseconds of the last warm-up (init graph or 45 steps). */
  lastWarmupMs = 0;
  private listener: FrameListener | undefined;
  /** Scratch of the twin's catch-up (its frames go to the listener, not here). */
  private readonly twinFrame = new Float32Array(FEATURE_DIM);

  /**
   * @param session the cached-step graph (encoder_incremental, or its int8 variant)
   * @param initSession the warm-up graph (encoder_incremental_init); without it the warm-up
   *   steps from zero state, same frames, ≈ 45 step runs instead of one window-sized run
   * @param twin an fp32 encoder that serves onFrame instead of this one (model.precision int8):
   *   the live shadow is fp32 exact, so it must not see this encoder's int8 frames. It steps
   *   over the same chunks, and only while a listener is attached.
   */
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly initSession?: ort.InferenceSession,
    private readonly twin?: IncrementalFrameEncoder,
  ) {
    checkGraph(session, ['emg', ...INCREMENTAL_STATE.map((s) => s.input)]);
    if (initSession) checkGraph(initSession, ['emg']);
    const mk = (): Float32Array[] => INCREMENTAL_STATE.map((s) => new Float32Array(s.channels * s.frames));
    this.state = [mk(), mk()];
    const tensors = this.state.map((set) =>
      set.map(
        (b, i) => new ort.Tensor('float32', b, [1, INCREMENTAL_STATE[i]!.frames, INCREMENTAL_STATE[i]!.channels]),
      ),
    );
    const emg = new ort.Tensor('float32', this.input, [1, CHUNK_SAMPLES, NUM_CHANNELS]);
    const feat = new ort.Tensor('float32', this.feature, [1, FEATURE_DIM]);
    this.stateTensors = tensors;
    this.emgTensor = emg;
    this.featureTensor = feat;
    const feedOf = (from: number): Record<string, ort.Tensor> => {
      const r: Record<string, ort.Tensor> = { emg };
      INCREMENTAL_STATE.forEach((s, i) => (r[s.input] = tensors[from]![i]!));
      return r;
    };
    const fetchOf = (to: number): Record<string, ort.Tensor> => {
      const r: Record<string, ort.Tensor> = { feature: feat };
      INCREMENTAL_STATE.forEach((s, i) => (r[s.output] = tensors[to]![i]!));
      return r;
    };
    this.feeds = [feedOf(0), feedOf(1)];
    this.fetches = [fetchOf(1), fetchOf(0)];
    if (initSession) {
      this.initInput = new Float32Array(RECEPTIVE_FIELD * NUM_CHANNELS);
      this.initFeeds = { emg: new ort.Tensor('float32', this.initInput, [1, RECEPTIVE_FIELD, NUM_CHANNELS]) };
      this.initFetches = [fetchOf(0), fetchOf(1)];
    }
  }

  /** Receives every frame computed (with a twin: the twin's fp32 frames, computed for it). */
  get onFrame(): FrameListener | undefined {
    return this.listener;
  }

  set onFrame(l: FrameListener | undefined) {
    this.listener = l;
    if (this.twin) this.twin.onFrame = l;
  }

  /** True when an fp32 twin serves the frame listener (this encoder runs another precision). */
  get hasTwin(): boolean {
    return this.twin !== undefined;
  }

  /**
   * Brings the twin to this encoder's newest frame (a cached step or the warm-up per frame
   * behind), so the listener gets every frame this session computes. A twin that would have
   * to start behind frame 0 (a listener attached mid-session) waits for the next session:
   * the shadow passes over blocks whose frames it never saw.
   */
  async catchUpTwin(ring: RingBuffer): Promise<void> {
    const twin = this.twin;
    if (!twin?.onFrame) return;
    const last = this.next - 1;
    if (last < 0 || twin.nextChunk > last) return;
    if (twin.warmupPending && last > 0) return;
    await twin.frame(ring, last, this.twinFrame, 0);
  }

  /** True when frame 0 comes from the one-run warm-up graph. */
  get hasInitGraph(): boolean {
    return this.initSession !== undefined;
  }

  /** Starts a session at `origin`: zero state, warm-up pending. Costs a 57 kB fill. */
  reset(origin: number): void {
    this.twin?.reset(origin);
    this.origin = origin;
    this.next = -WARMUP_STEPS;
    for (const b of this.state[this.cur]!) b.fill(0);
    this.keptQ.fill(-1);
  }

  readyAt(q: number): number {
    return this.origin + STEP_SAMPLES * q + RECEPTIVE_FIELD;
  }

  /**
   * The first sample of the next chunk still to run (the origin while the warm-up is pending:
   * samples before it are read as zeros). Everything older is already folded into the state.
   */
  oldestNeeded(_q: number): number {
    return Math.max(this.origin, this.chunkEnd(this.next) - CHUNK_SAMPLES);
  }

  async frame(ring: RingBuffer, q: number, out: Float32Array, outOffset: number): Promise<void> {
    if (!Number.isInteger(q) || q < 0) throw new RangeError(`frame ${q}: frames are numbered 0, 1, 2, …`);
    if (this.next === -WARMUP_STEPS) await this.warmUp(ring);
    while (this.next <= q) await this.runStep(ring);
    const slot = q % KEEP;
    if (this.keptQ[slot] !== q) {
      throw new RangeError(
        `frame ${q} is no longer kept (the encoder is at frame ${this.next - 1}); frames must be asked in non-decreasing order`,
      );
    }
    const base = slot * FEATURE_DIM;
    for (let c = 0; c < FEATURE_DIM; c++) out[outOffset + c] = this.kept[base + c]!;
    if (this.twin) await this.catchUpTwin(ring);
  }

  /** Frame 0 and the state after step 0, by the init graph or by stepping from zero state. */
  private async warmUp(ring: RingBuffer): Promise<void> {
    const t0 = performance.now();
    if (this.initSession && this.initInput && this.initFeeds && this.initFetches) {
      ring.sliceEndingAt(this.origin + RECEPTIVE_FIELD, RECEPTIVE_FIELD, this.initInput);
      // The init graph writes the state into the set the next step reads.
      await this.initSession.run(this.initFeeds, this.initFetches[this.cur]);
      this.keep(0);
      this.next = 1;
    } else {
      while (this.next <= 0) await this.runStep(ring);
    }
    this.warmups++;
    this.lastWarmupMs = performance.now() - t0;
  }

  private keep(q: number): void {
    const slot = q % KEEP;
    this.kept.set(this.feature, slot * FEATURE_DIM);
    this.keptQ[slot] = q;
    if (!this.twin) this.listener?.(q, this.feature, 0);
  }

  private chunkEnd(step: number): number {
    return this.origin + STEP_SAMPLES * step + RECEPTIVE_FIELD;
  }

  /** True until the session's warm-up (frame 0) has run. */
  get warmupPending(): boolean {
    return this.next === -WARMUP_STEPS;
  }

  /** The frame the next cached step computes (its chunk ends at readyAt(nextChunk)). */
  get nextChunk(): number {
    return this.next;
  }

  /**
   * For a graph that contains the cached step (stream_step): copies the next chunk's samples
   * into the step's input and points `feeds` / `fetches` at the step's tensors (emg, state_*,
   * feature, next_state_*). Property writes on records the caller keeps: nothing is allocated.
   * After that graph has run, commitStep() takes its outputs as this encoder's own step.
   */
  bindStep(ring: RingBuffer, feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>): void {
    if (this.next < 0) throw new RangeError('the warm-up runs on its own graph; bindStep() is for steps after frame 0');
    this.loadChunk(ring);
    feeds['emg'] = this.emgTensor;
    fetches['feature'] = this.featureTensor;
    const from = this.stateTensors[this.cur]!;
    const to = this.stateTensors[this.cur ^ 1]!;
    for (let i = 0; i < INCREMENTAL_STATE.length; i++) {
      const s = INCREMENTAL_STATE[i]!;
      feeds[s.input] = from[i]!;
      fetches[s.output] = to[i]!;
    }
  }

  /** The bound step has run (its outputs are in this encoder's tensors): frame nextChunk is done. */
  commitStep(): void {
    this.cur ^= 1;
    this.stepsRun++;
    this.keep(this.next++);
  }

  private async runStep(ring: RingBuffer): Promise<void> {
    this.loadChunk(ring);
    await this.session.run(this.feeds[this.cur]!, this.fetches[this.cur]!);
    this.cur ^= 1;
    this.stepsRun++;
    const q = this.next++;
    if (q >= 0) this.keep(q);
  }

  /** The 40 samples of the next step's chunk into the step's input (zeros before the origin). */
  private loadChunk(ring: RingBuffer): void {
    const end = this.chunkEnd(this.next);
    const start = end - CHUNK_SAMPLES;
    if (start >= this.origin) {
      ring.sliceEndingAt(end, CHUNK_SAMPLES, this.input);
    } else {
      // Warm-up chunk reaching before the origin: those samples are zeros (they lie outside
      // frame 0's receptive field, so any value would do; zeros keep it reproducible).
      this.input.fill(0);
      const valid = Math.max(0, end - this.origin);
      if (valid > 0) {
        ring.sliceEndingAt(end, valid, this.scratch);
        const lead = (CHUNK_SAMPLES - valid) * NUM_CHANNELS;
        for (let i = 0; i < valid * NUM_CHANNELS; i++) this.input[lead + i] = this.scratch[i]!;
      }
    }
  }
}

/** Refuses a graph whose interface is not the cached step this class drives. */
function checkGraph(session: ort.InferenceSession, ins: readonly string[]): void {
  const outs = ['feature', ...INCREMENTAL_STATE.map((s) => s.output)];
  const same = (a: readonly string[], b: readonly string[]): boolean =>
    a.length === b.length && a.every((x) => b.includes(x));
  if (!same(session.inputNames, ins) || !same(session.outputNames, outs)) {
    throw new Error(
      `${INCREMENTAL_MODEL_KEY}: graph inputs [${session.inputNames.join(', ')}] / outputs [${session.outputNames.join(', ')}] ` +
        'are not those of the cached encoder step; regenerate models/ with refer/export.py',
    );
  }
}

/**
 * Checks the model_info.json entry of the cached step against the state layout above (so a
 * graph exported with another layout is refused before it runs). Returns a reason or null.
 */
export function incrementalInfoMismatch(info: ModelInfo): string | null {
  const entry = info.models[INCREMENTAL_MODEL_KEY] as
    | {
        incremental?: {
          chunk_samples?: number;
          warmup_steps?: number;
          state?: { input: string; output: string; shape: number[] }[];
        };
      }
    | undefined;
  if (!entry) return `model_info.json has no "${INCREMENTAL_MODEL_KEY}" entry; regenerate models/ with refer/export.py`;
  const inc = entry.incremental;
  if (!inc || inc.chunk_samples !== CHUNK_SAMPLES || inc.warmup_steps !== WARMUP_STEPS || !Array.isArray(inc.state)) {
    return `${INCREMENTAL_MODEL_KEY}: model_info.json does not describe a ${CHUNK_SAMPLES}-sample step with ${WARMUP_STEPS} warm-up steps`;
  }
  const want = INCREMENTAL_STATE.map((s) => `${s.input}>${s.output}:1x${s.frames}x${s.channels}`).join(',');
  const got = inc.state.map((s) => `${s.input}>${s.output}:${s.shape.join('x')}`).join(',');
  return want === got ? null : `${INCREMENTAL_MODEL_KEY}: state layout ${got} differs from this runtime's ${want}`;
}

/** Model keys to pass to loadModels() when the incremental encoder is wanted. */
export const MODEL_KEYS_WITH_INCREMENTAL: readonly string[] = [
  'encoder',
  'decoder_step',
  INCREMENTAL_MODEL_KEY,
  INCREMENTAL_INIT_MODEL_KEY,
];

/**
 * The incremental encoder over models loaded with MODEL_KEYS_WITH_INCREMENTAL (the init graph
 * is used when loaded; `useInit: false` forces the stepped warm-up).
 */
export function incrementalEncoderFrom(
  models: LoadedModels,
  opts: { useInit?: boolean; precision?: Precision } = {},
): IncrementalFrameEncoder {
  const fp32 = models.sessions[INCREMENTAL_MODEL_KEY];
  if (!fp32)
    throw new UserError(`${INCREMENTAL_MODEL_KEY} graph not loaded: load models with MODEL_KEYS_WITH_INCREMENTAL`);
  const bad = incrementalInfoMismatch(models.info);
  if (bad) throw new UserError(bad);
  const init = opts.useInit === false ? undefined : models.sessions[INCREMENTAL_INIT_MODEL_KEY];
  const precision = opts.precision ?? 'fp32';
  if (precision === 'fp32') return new IncrementalFrameEncoder(fp32, init);
  const key = precisionKey(INCREMENTAL_MODEL_KEY, precision);
  const session = models.sessions[key];
  if (!session) throw new UserError(`${key} graph not loaded (model.precision ${precision})`);
  // The same fp32 warm-up starts both; the twin serves the frame listener (the live shadow).
  return new IncrementalFrameEncoder(session, init, new IncrementalFrameEncoder(fp32, init));
}
