import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { newPoseEvent, type PoseEvent } from '../domain/pose.js';
import type { StepRecord } from '../domain/events.js';
import { newStepRecord } from '../domain/step-record.js';
import type ort from 'onnxruntime-node';
import { DecoderPair, DecoderStep, PoseIntegrator, SharedRunError } from './decoder.js';
import type { FrameEncoder } from './frame-encoder.js';
import { IncrementalFrameEncoder } from './incremental-encoder.js';
import { FusedStreamStep } from './stream-step.js';
import {
  FEATURE_DIM,
  LEFT_CONTEXT,
  SAMPLE_RATE,
  STEP_SAMPLES,
  framesFor,
  rolloutPointsFor,
} from '../domain/geometry.js';
import { alignCornersSource, interpolateChannelMajorAt, lerpPoint, type LerpPoint } from './interpolate.js';
import type { Predictor } from './predictor.js';

export type FeaturePolicy = 'sliding_window' | 'exact_grid';

export interface StreamingOptions {
  policy: FeaturePolicy;
  /** Exact's block length in new samples (its grid repeats every block). */
  blockSamples: number;
  /**
   * stream_step.onnx: with the incremental encoder, each step is one run of this graph (encoder
   * step + decoder step) instead of two runs. Without it, or with the window encoder, two.
   */
  fusedStep?: ort.InferenceSession | undefined;
  /**
   * The companion's decoder steps run on their own graph, never in this predictor's batch:
   * set when this predictor's graphs are not the companion's (model.precision int8 against the
   * fp32 shadow), which must not see int8 weights.
   */
  companionOwnRuns?: boolean;
}

const CACHE = 4;

/**
 * A second rollout whose decoder step rides along with one streaming step (the live shadow
 * exact block): both run as one batch-2 decoder run, which reads the decoder's weights once.
 * It is handed to advance() for that one step, so nothing can take it away while the step
 * awaits its run; the rest of the companion's life is its owner's (paired-streaming.ts).
 */
export interface StepCompanion {
  /** The companion's decoder with its next input filled in, or undefined when it has no step to run. */
  prepareStep(): DecoderStep | undefined;
  /** Takes the output of the shared step. */
  completeStep(): void;
  /** The shared run failed: the companion gives up the step it prepared; the streaming step then runs alone. */
  abandonStep(error: unknown): void;
}

/**
 * 50 Hz streaming: one decoder step per 40 new samples after warm-up, LSTM state kept across
 * steps for the whole session. Step j belongs to the window ending at origin + 1830 + 40j.
 *
 * sliding_window: the decoder gets frame j, the single point of that window (n_time = 1,
 * align_corners = true → the window's frame).
 * exact_grid: the decoder gets the feature exact mode would use at that moment: native frames
 * (even q) interpolated at exact's own grid position i·(F−1)/(n−1) within the current block.
 * An odd step then needs the next native frame, complete one sample after its window.
 *
 * With the incremental encoder, exact_grid spreads the encoder over the steps: step j runs the
 * cached step of frame j + 1 (one sample after its window), so every step runs one encoder step
 * instead of every odd step running two (frames j and j + 1) and every even step none. The
 * work per pose is the same; the longest step is one encoder step shorter. At the end of the
 * input (or before a gap) a step whose look-ahead sample never comes runs without it.
 */
export class StreamingPredictor implements Predictor {
  readonly mode = 'streaming' as const;
  readonly policy: FeaturePolicy;
  private readonly decoder: DecoderStep;
  private readonly integrator = new PoseIntegrator();
  private readonly pointsPerBlock: number;
  private readonly framesPerBlock: number;
  private readonly nativeStride: number;
  private origin = 0;
  private step = 0;
  /** Small cache of computed frames, keyed by q (exact_grid reads each native frame twice). */
  private readonly cacheQ = new Int32Array(CACHE).fill(-1);
  private readonly cacheData = new Float32Array(CACHE * FEATURE_DIM);
  private cacheNext = 0;
  private readonly feature = new Float32Array(FEATURE_DIM);
  private readonly pair = new Float32Array(2 * FEATURE_DIM);
  private readonly lerp: LerpPoint = { lo: 0, hi: 0, w: 0 };
  private readonly event: PoseEvent;
  private readonly record: StepRecord;
  /** Milliseconds of the last step: encoder + interpolation + LSTM step. */
  lastComputeMs = 0;
  /**
   * Receives every step's record right after its pose was emitted (the session puts it on
   * its bus). Bound once by its owner; the record object is reused.
   */
  onStep: ((r: StepRecord) => void) | undefined;
  private pairBuffers: DecoderPair | undefined;
  private readonly incremental: IncrementalFrameEncoder | undefined;
  private readonly fused: FusedStreamStep | undefined;
  private readonly companionOwnRuns: boolean;
  /** Scratch for frames run ahead (exact_grid's spread encoder steps). */
  private readonly ahead = new Float32Array(FEATURE_DIM);
  /** No sample beyond this comes for the current session (Infinity while the input goes on). */
  private inputLimit = Infinity;
  /** Steps run as one stream_step run. */
  fusedSteps = 0;
  /** Steps that carried a companion step. */
  sharedSteps = 0;

  constructor(
    readonly encoder: FrameEncoder,
    decoder: ort.InferenceSession,
    opts: StreamingOptions,
  ) {
    this.policy = opts.policy;
    this.decoder = new DecoderStep(decoder);
    this.event = newPoseEvent('streaming', this.integrator.pose);
    this.record = newStepRecord(this.integrator.pose);
    this.incremental = encoder instanceof IncrementalFrameEncoder ? encoder : undefined;
    this.companionOwnRuns = opts.companionOwnRuns === true;
    if (this.incremental && opts.fusedStep) {
      this.fused = new FusedStreamStep(opts.fusedStep, this.incremental, this.decoder, this.integrator.pose);
    }
    this.pointsPerBlock = rolloutPointsFor(LEFT_CONTEXT + opts.blockSamples);
    this.framesPerBlock = framesFor(LEFT_CONTEXT + opts.blockSamples);
    this.nativeStride = opts.blockSamples / (2 * STEP_SAMPLES);
    if (this.policy === 'exact_grid' && !Number.isInteger(this.nativeStride)) {
      throw new RangeError(`exact_grid needs block_samples to be a multiple of ${2 * STEP_SAMPLES}`);
    }
  }

  restartAt(sample: number): void {
    this.origin = sample;
    this.step = 0;
    this.encoder.reset(sample);
    this.decoder.resetState();
    this.integrator.reset();
    this.cacheQ.fill(-1);
    this.inputLimit = Infinity;
  }

  /** True when steps run as one stream_step run each. */
  get isFused(): boolean {
    return this.fused !== undefined;
  }

  /**
   * No sample after `sample` will come for this session (the input ended, or a gap starts
   * there): steps stop waiting for look-ahead samples beyond it.
   */
  endInputAt(sample: number): void {
    this.inputLimit = sample;
  }

  /** Frame the incremental encoder runs at step j besides what the step needs (-1: none). */
  private aheadChunk(j: number): number {
    if (!this.incremental || this.policy !== 'exact_grid') return -1;
    const q = j + 1;
    return this.incremental.readyAt(q) <= this.inputLimit ? q : -1;
  }

  /** Session steps so far. */
  get stepsDone(): number {
    return this.step;
  }

  get sessionOrigin(): number {
    return this.origin;
  }

  /** Absolute window end (exclusive) of step j: the step's nominal time × rate. */
  stepBoundary(j: number): number {
    return this.origin + LEFT_CONTEXT + STEP_SAMPLES * (j + 1);
  }

  get nextReadyAt(): number {
    const j = this.step;
    const boundary = this.stepBoundary(j);
    if (this.policy === 'sliding_window') return Math.max(boundary, this.encoder.readyAt(j));
    this.gridPoint(j);
    const need = this.encoder.readyAt(this.lerp.w > 0 ? this.qOf(j, this.lerp.hi) : this.qOf(j, this.lerp.lo));
    const ahead = this.aheadChunk(j);
    return Math.max(boundary, need, ahead >= 0 ? this.encoder.readyAt(ahead) : 0);
  }

  get oldestNeeded(): number {
    const j = this.step;
    if (this.policy === 'sliding_window') return this.encoder.oldestNeeded(j);
    this.gridPoint(j);
    return this.encoder.oldestNeeded(this.qOf(j, this.lerp.lo));
  }

  /**
   * One streaming step; with `companion`, its decoder step shares this step's decoder run.
   * The companion is this call's alone: what happens to it between steps is its owner's.
   */
  async advance(ring: RingBuffer, emit: (e: PoseEvent) => void, companion?: StepCompanion): Promise<number> {
    const j = this.step;
    const readyAt = this.nextReadyAt;
    // Read before the step: its last input sample is in the ring now, however long the step takes.
    const arrivedEpoch = ring.arrivalTimeOf(readyAt - 1);
    const t0 = performance.now();
    const out = this.fused ? await this.fusedStep(ring, j, companion) : await this.twoRunStep(ring, j, companion);
    this.integrator.update(out);
    const ms = performance.now() - t0;
    this.lastComputeMs = ms;
    this.step++;
    const e = this.event;
    e.t = this.stepBoundary(j) / SAMPLE_RATE;
    e.step = j;
    e.inputArrivedAt = Number.isNaN(arrivedEpoch) ? NaN : arrivedEpoch - performance.timeOrigin;
    emit(e);
    if (this.onStep) this.onStep(this.fillRecord(j, e, readyAt, ms));
    return ms;
  }

  /** The last step's pose (a view, overwritten by the next step). */
  get pose(): Float32Array {
    return this.integrator.pose;
  }

  /** The step record of session step j, whose pose `e` was just emitted. */
  private fillRecord(j: number, e: PoseEvent, readyAt: number, ms: number): StepRecord {
    const r = this.record;
    r.sessionStep = j;
    r.step = e.step;
    r.t = e.t;
    r.sessionOrigin = this.origin;
    r.readyAt = readyAt;
    r.computeMs = ms;
    if (this.policy === 'sliding_window') {
      r.frameLo = j;
      r.frameHi = j;
      r.frameWeight = 0;
    } else {
      this.gridPoint(j);
      r.frameLo = this.qOf(j, this.lerp.lo);
      r.frameHi = this.qOf(j, this.lerp.hi);
      r.frameWeight = this.lerp.w;
    }
    r.inputArrivedAt = e.inputArrivedAt;
    r.handledAt = NaN;
    return r;
  }

  /**
   * Where a fresh session must start so that its first step lands on this session's next step
   * (same time, no hole, no repeat): used to reset the state in place.
   */
  get nextWindowStart(): number {
    return this.stepBoundary(this.step) - LEFT_CONTEXT - STEP_SAMPLES;
  }

  get resumeAt(): number {
    return this.nextWindowStart;
  }

  /** Encoder run(s), then the decoder's run: the window encoder, or no stream_step graph. */
  private async twoRunStep(ring: RingBuffer, j: number, companion: StepCompanion | undefined): Promise<Float32Array> {
    if (this.policy === 'sliding_window') {
      await this.encoder.frame(ring, j, this.feature, 0);
    } else {
      await this.gridFeature(ring, j);
      const ahead = this.aheadChunk(j);
      if (ahead >= 0 && ring.written >= this.encoder.readyAt(ahead) && this.incremental!.nextChunk <= ahead) {
        await this.encoder.frame(ring, ahead, this.ahead, 0);
      }
    }
    this.integrator.fillDecoderInput(this.feature, 0, this.decoder.input);
    const other = companion?.prepareStep();
    if (!other) return this.decoder.step();
    if (this.companionOwnRuns) return this.afterOwnRun(await this.decoder.step(), other, companion!);
    let out: Float32Array;
    try {
      out = await this.decoder.stepWith(other, (this.pairBuffers ??= new DecoderPair()));
    } catch (e) {
      // Nothing was committed: the step runs again without its companion.
      if (!(e instanceof SharedRunError)) throw e;
      companion!.abandonStep(e.cause);
      return this.decoder.step();
    }
    companion!.completeStep();
    this.sharedSteps++;
    return out;
  }

  /**
   * One stream_step run: the encoder step of this step's newest frame (sliding window: frame j;
   * exact_grid: frame j + 1, run ahead) and the decoder step. When that frame was already
   * computed (the warm-up's frame 0) or its look-ahead sample is not coming, two runs.
   */
  private async fusedStep(ring: RingBuffer, j: number, companion: StepCompanion | undefined): Promise<Float32Array> {
    const enc = this.incremental!;
    const fused = this.fused!;
    const q = this.policy === 'sliding_window' ? j : this.aheadChunk(j);
    if (q < 0 || ring.written < enc.readyAt(q)) return this.twoRunStep(ring, j, companion);
    if (enc.warmupPending) await enc.frame(ring, 0, this.ahead, 0);
    if (enc.nextChunk > q) return this.twoRunStep(ring, j, companion);
    // Frames before q by their own runs (none in a steady session).
    if (enc.nextChunk < q) await enc.frame(ring, q - 1, this.ahead, 0);
    if (this.policy === 'sliding_window') {
      fused.takeNew();
    } else {
      this.gridPoint(j);
      const p = this.lerp;
      const qLo = this.qOf(j, p.lo);
      if (p.w > 0 && this.qOf(j, p.hi) === q) {
        const lo = await this.cachedFrame(ring, qLo);
        fused.between(this.cacheData, lo * FEATURE_DIM, p.w);
      } else if (p.w === 0 && qLo === q) {
        fused.takeNew();
      } else {
        await this.gridFeature(ring, j);
        fused.takeFinished(this.feature);
      }
    }
    const other = companion?.prepareStep();
    this.fusedSteps++;
    if (!other) return fused.run(ring);
    if (this.companionOwnRuns) return this.afterOwnRun(await fused.run(ring), other, companion!);
    let out: Float32Array;
    try {
      out = await fused.run(ring, other, (this.pairBuffers ??= new DecoderPair()));
    } catch (e) {
      if (!(e instanceof SharedRunError)) throw e;
      companion!.abandonStep(e.cause);
      return fused.run(ring);
    }
    companion!.completeStep();
    this.sharedSteps++;
    return out;
  }

  /** The companion's step on its own graph, after this step's run (companionOwnRuns). */
  private async afterOwnRun(out: Float32Array, other: DecoderStep, companion: StepCompanion): Promise<Float32Array> {
    try {
      await other.step();
    } catch (e) {
      // The companion's own run failed; this step's pose is already made and stands.
      companion.abandonStep(e);
      return out;
    }
    companion.completeStep();
    return out;
  }

  /** exact_grid's feature of step j (its grid point between two native frames) into this.feature. */
  private async gridFeature(ring: RingBuffer, j: number): Promise<void> {
    this.gridPoint(j);
    const p = this.lerp;
    const lo = await this.cachedFrame(ring, this.qOf(j, p.lo));
    this.pair.set(this.cacheData.subarray(lo * FEATURE_DIM, (lo + 1) * FEATURE_DIM), 0);
    // A point exactly on a frame needs only that frame (and may come before the next exists).
    if (p.w > 0) {
      const hi = await this.cachedFrame(ring, this.qOf(j, p.hi));
      this.pair.set(this.cacheData.subarray(hi * FEATURE_DIM, (hi + 1) * FEATURE_DIM), FEATURE_DIM);
    } else {
      this.pair.copyWithin(FEATURE_DIM, 0, FEATURE_DIM);
    }
    // pair is [2 frames × 64] time-major; view it as channel-major [64, 2] through the point.
    interpolatePair(this.pair, p.w, this.feature);
  }

  /** Largest |h|, |c| of the decoder: the watchdog's state blow-up signal. */
  stateMaxAbs(): number {
    return this.decoder.stateMaxAbs();
  }

  /** Exact's grid position of step j within its block, into this.lerp. */
  private gridPoint(j: number): void {
    const i = j % this.pointsPerBlock;
    lerpPoint(alignCornersSource(i, this.framesPerBlock, this.pointsPerBlock), this.framesPerBlock, this.lerp);
  }

  /** Frame index q (40-sample grid) of native frame k of step j's block. */
  private qOf(j: number, k: number): number {
    const block = Math.floor(j / this.pointsPerBlock);
    return 2 * (block * this.nativeStride + k);
  }

  private async cachedFrame(ring: RingBuffer, q: number): Promise<number> {
    for (let s = 0; s < CACHE; s++) if (this.cacheQ[s] === q) return s;
    const slot = this.cacheNext;
    this.cacheNext = (slot + 1) % CACHE;
    this.cacheQ[slot] = -1;
    await this.encoder.frame(ring, q, this.cacheData, slot * FEATURE_DIM);
    this.cacheQ[slot] = q;
    return slot;
  }
}

const pairPoint: LerpPoint = { lo: 0, hi: 1, w: 0 };
const pairChannelMajor = new Float32Array(2 * FEATURE_DIM);

function interpolatePair(pair: Float32Array, w: number, out: Float32Array): void {
  for (let c = 0; c < FEATURE_DIM; c++) {
    pairChannelMajor[2 * c] = pair[c]!;
    pairChannelMajor[2 * c + 1] = pair[FEATURE_DIM + c]!;
  }
  pairPoint.w = w;
  interpolateChannelMajorAt(pairChannelMajor, FEATURE_DIM, 2, pairPoint, out);
}
