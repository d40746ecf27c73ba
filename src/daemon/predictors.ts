import type { CoreConfig } from '../config/schema.js';
import { RECEPTIVE_FIELD } from '../domain/geometry.js';
import { ExactMode } from '../inference/exact-mode.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { WindowFrameEncoder, type FrameEncoder } from '../inference/frame-encoder.js';
import { incrementalEncoderFrom } from '../inference/incremental-encoder.js';
import { precisionKey, precisionSession, type LoadedModels } from '../inference/models.js';
import { PairedStreamingPredictor, type ShadowHooks } from '../inference/paired-streaming.js';
import { ShadowRollout } from '../inference/shadow-rollout.js';
import { StreamingPredictor } from '../inference/streaming-predictor.js';
import type { BlockFigures } from '../domain/events.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';

export { SHADOW_PART } from '../inference/paired-streaming.js';

/**
 * The frame source a streaming policy needs. incremental: one cached encoder step per 40
 * samples. sliding_window runs the 1830-sample window
 * (window_samples, 1830); exact_grid needs native frames as early as they exist, so it runs the
 * encoder over exactly one receptive field (1791), which gives the same frames.
 */
export function buildFrameEncoder(cfg: CoreConfig, models: LoadedModels): FrameEncoder {
  const s = cfg.runtime.streaming;
  // The cached step gives the same frames for both policies (frame q for every q).
  if (s.encoder === 'incremental') return incrementalEncoderFrom(models, { precision: cfg.model.precision });
  return new WindowFrameEncoder(
    models.encoder,
    s.feature_policy === 'sliding_window' ? s.window_samples : RECEPTIVE_FIELD,
  );
}

export function buildStreaming(cfg: CoreConfig, models: LoadedModels): StreamingPredictor {
  const precision = cfg.model.precision;
  return new StreamingPredictor(buildFrameEncoder(cfg, models), precisionSession(models, 'decoder_step', precision), {
    policy: cfg.runtime.streaming.feature_policy,
    blockSamples: cfg.runtime.exact.block_samples,
    // Loaded only for the incremental encoder with runtime.streaming.fused_step on.
    fusedStep: cfg.runtime.streaming.fused_step
      ? models.sessions[precisionKey(STREAM_STEP_MODEL_KEY, precision)]
      : undefined,
    // The live shadow is fp32 exact (buildExact): it runs its own steps beside int8 ones.
    companionOwnRuns: precision !== 'fp32',
  });
}

export function buildExact(
  cfg: CoreConfig,
  models: LoadedModels,
  upsample = cfg.runtime.exact.upsample_to_input_rate,
): ExactPredictor {
  // The whole 250-step rollout in one run where the model set has the Loop graph.
  return new ExactPredictor(models.encoder, models.decoder, cfg.runtime.exact.block_samples, upsample, models.rollout);
}

/** A stream's predictors: exact always (the fallback), streaming when the run can stream. */
export interface Predictors {
  readonly exact: ExactMode;
  /** The streaming steps with the live shadow beside them when eval.streaming_alignment_check is on. */
  readonly streaming: PairedStreamingPredictor | undefined;
  /** The streaming decoder's largest |h| or |c| (NaN without streaming). */
  stateMaxAbs(): number;
}

/** Where the predictors report besides their poses. */
export interface PredictorHooks extends ShadowHooks {
  /** Exact's poses at the input rate (runtime.exact.upsample_to_input_rate). */
  upsampled(sample: number, angles: Float32Array): void;
  /** A shadow block compared with the streaming poses (perStep is a view, valid during the call). */
  onBlock(c: BlockFigures): void;
}

export function buildPredictors(cfg: CoreConfig, models: LoadedModels, hooks: PredictorHooks): Predictors {
  const exact = new ExactMode(
    buildExact(cfg, models),
    cfg.runtime.exact.upsample_to_input_rate ? (p) => hooks.upsampled(p.sample, p.angles) : undefined,
  );
  // Streaming models (the cached encoder) are loaded only for a run configured to stream.
  const canStream = cfg.model.mode === 'streaming' && cfg.runtime.streaming.enabled;
  if (!canStream) return { exact, streaming: undefined, stateMaxAbs: () => NaN };
  const bare = buildStreaming(cfg, models);
  // The shadow takes its frames from the streaming encoder: its own exact rollout needs no encoder run, no upsampling.
  const shadow = cfg.eval.streaming_alignment_check
    ? new ShadowRollout(buildExact(cfg, models, false), { onBlock: (c) => hooks.onBlock(c) })
    : undefined;
  const streaming = new PairedStreamingPredictor(bare, shadow, hooks);
  return { exact, streaming, stateMaxAbs: () => bare.stateMaxAbs() };
}
