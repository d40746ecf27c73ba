import type { Config } from '../config/schema.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { WindowFrameEncoder, type FrameEncoder } from '../inference/frame-encoder.js';
import { RECEPTIVE_FIELD } from '../domain/geometry.js';
import type { LoadedModels } from '../inference/models.js';
import { StreamingPredictor } from '../inference/streaming-predictor.js';
import { incrementalEncoderFrom } from '../inference/incremental-encoder.js';

/**
 * The frame source a streaming policy needs. incremental: one cached encoder step per 40
 * samples. sliding_window runs the plan's window
 * (window_samples, 1830); exact_grid needs native frames as early as they exist, so it runs the
 * encoder over exactly one receptive field (1791), which gives the same frames.
 */
export function buildFrameEncoder(cfg: Config, models: LoadedModels): FrameEncoder {
  const s = cfg.runtime.streaming;
  // The cached step gives the same frames for both policies (frame q for every q).
  if (s.encoder === 'incremental') return incrementalEncoderFrom(models);
  return new WindowFrameEncoder(models.encoder, s.feature_policy === 'sliding_window' ? s.window_samples : RECEPTIVE_FIELD);
}

export function buildStreaming(cfg: Config, models: LoadedModels): StreamingPredictor {
  return new StreamingPredictor(buildFrameEncoder(cfg, models), models.decoder, {
    policy: cfg.runtime.streaming.feature_policy,
    blockSamples: cfg.runtime.exact.block_samples,
  });
}

export function buildExact(cfg: Config, models: LoadedModels, upsample = cfg.runtime.exact.upsample_to_input_rate): ExactPredictor {
  return new ExactPredictor(models.encoder, models.decoder, cfg.runtime.exact.block_samples, upsample);
}
