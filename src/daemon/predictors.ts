import type { Config } from '../config/schema.js';
import { RECEPTIVE_FIELD } from '../domain/geometry.js';
import { ExactMode } from '../inference/exact-mode.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { WindowFrameEncoder, type FrameEncoder } from '../inference/frame-encoder.js';
import { incrementalEncoderFrom } from '../inference/incremental-encoder.js';
import { precisionKey, type LoadedModels } from '../inference/models.js';
import { UserError } from '../common/errors.js';
import { StreamingPredictor } from '../inference/streaming-predictor.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';

/**
 * The frame source a streaming policy needs. incremental: one cached encoder step per 40
 * samples. sliding_window runs the 1830-sample window
 * (window_samples, 1830); exact_grid needs native frames as early as they exist, so it runs the
 * encoder over exactly one receptive field (1791), which gives the same frames.
 */
export function buildFrameEncoder(cfg: Config, models: LoadedModels): FrameEncoder {
  const s = cfg.runtime.streaming;
  // The cached step gives the same frames for both policies (frame q for every q).
  if (s.encoder === 'incremental') return incrementalEncoderFrom(models, { precision: cfg.model.precision });
  return new WindowFrameEncoder(models.encoder, s.feature_policy === 'sliding_window' ? s.window_samples : RECEPTIVE_FIELD);
}

export function buildStreaming(cfg: Config, models: LoadedModels): StreamingPredictor {
  const precision = cfg.model.precision;
  const decoder = models.sessions[precisionKey('decoder_step', precision)];
  if (!decoder) throw new UserError(`${precisionKey('decoder_step', precision)} graph not loaded (model.precision ${precision})`);
  return new StreamingPredictor(buildFrameEncoder(cfg, models), decoder, {
    policy: cfg.runtime.streaming.feature_policy,
    blockSamples: cfg.runtime.exact.block_samples,
    // Loaded only for the incremental encoder with runtime.streaming.fused_step on.
    fusedStep: cfg.runtime.streaming.fused_step ? models.sessions[precisionKey(STREAM_STEP_MODEL_KEY, precision)] : undefined,
    // The live shadow is fp32 exact (buildExact): it runs its own steps beside int8 ones.
    companionOwnRuns: precision !== 'fp32',
  });
}

export function buildExact(cfg: Config, models: LoadedModels, upsample = cfg.runtime.exact.upsample_to_input_rate): ExactPredictor {
  // The whole 250-step rollout in one run where the model set has the Loop graph.
  return new ExactPredictor(models.encoder, models.decoder, cfg.runtime.exact.block_samples, upsample, models.rollout);
}

/** A stream's predictors: exact always (the fallback), streaming when the run can stream. */
export interface Predictors {
  readonly exact: ExactMode;
  readonly streaming: StreamingPredictor | undefined;
  /** The streaming decoder's largest |h| or |c| (NaN without streaming). */
  stateMaxAbs(): number;
}

/** `upsampled` receives exact's poses at the input rate (runtime.exact.upsample_to_input_rate). */
export function buildPredictors(cfg: Config, models: LoadedModels, upsampled: (sample: number, angles: Float32Array) => void): Predictors {
  const exact = new ExactMode(buildExact(cfg, models), cfg.runtime.exact.upsample_to_input_rate ? (p) => upsampled(p.sample, p.angles) : undefined);
  // Streaming models (the cached encoder) are loaded only for a run configured to stream.
  const canStream = cfg.model.mode === 'streaming' && cfg.runtime.streaming.enabled;
  const streaming = canStream ? buildStreaming(cfg, models) : undefined;
  return { exact, streaming, stateMaxAbs: () => streaming?.stateMaxAbs() ?? NaN };
}
