import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { loadConfig, type Config } from './config.js';
import {
  checkPrecisionKeys,
  loadModels,
  OPTIONAL_MODEL_KEYS,
  precisionKey,
  sessionOptionsFrom,
  type LoadedModels,
} from '../inference/models.js';
import { INCREMENTAL_MODEL_KEY, MODEL_KEYS_WITH_INCREMENTAL } from '../inference/incremental-encoder.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';

/** The flags every command that runs the model shares. */
export interface CommonCliOptions {
  config?: string;
  set: string[];
  source?: string;
  duration?: string;
  speed?: string;
  artifacts?: string;
  posesOut?: string;
}

export const DEFAULT_CONFIG = join(PACKAGE_ROOT, 'configs', 'realtime_config.yaml');

/** Config file + `--set` + the shorthand flags, in that order of precedence (last wins). */
export function configFromCli(o: CommonCliOptions): Config {
  const file = o.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const sets = [...o.set];
  if (o.source !== undefined) sets.push(`input.source=${o.source}`);
  if (o.duration !== undefined) sets.push(`input.duration_s=${numberFlag('--duration', o.duration)}`);
  if (o.speed !== undefined) sets.push(`input.speed=${numberFlag('--speed', o.speed)}`);
  if (o.posesOut !== undefined) sets.push(`outputs.poses_out=${o.posesOut}`);
  return loadConfig(file, sets);
}

function numberFlag(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`${flag} ${v}: expected a number ≥ 0`);
  return n;
}

/**
 * Opens the graphs a configuration needs (the cached encoder step only when it streams with
 * it). run, align and bench all load their models here.
 */
export async function openModels(
  cfg: Config,
  log: Logger,
  streaming = cfg.model.mode === 'streaming',
  bothPrecisions = false,
): Promise<LoadedModels> {
  const incremental = streaming && cfg.runtime.streaming.encoder === 'incremental';
  // The one-run step where the model folder has it (older folders step in two runs).
  const precision = cfg.model.precision;
  const fused = incremental && cfg.runtime.streaming.fused_step;
  const optional = fused
    ? [...OPTIONAL_MODEL_KEYS, precisionKey(STREAM_STEP_MODEL_KEY, precision)]
    : [...OPTIONAL_MODEL_KEYS];
  // bench: the other precision's streaming graphs too, where the folder has them.
  if (bothPrecisions && incremental) {
    for (const p of ['fp32', 'int8'] as const) {
      optional.push(precisionKey('decoder_step', p), precisionKey(INCREMENTAL_MODEL_KEY, p));
      if (fused) optional.push(precisionKey(STREAM_STEP_MODEL_KEY, p));
    }
  }
  const keys = incremental ? [...MODEL_KEYS_WITH_INCREMENTAL] : ['encoder', 'decoder_step'];
  // int8: the streaming step's own graphs besides the fp32 ones exact and the shadow run.
  const int8 =
    streaming && precision === 'int8'
      ? [
          precisionKey('decoder_step', precision),
          ...(incremental ? [precisionKey(INCREMENTAL_MODEL_KEY, precision)] : []),
        ]
      : [];
  checkPrecisionKeys(cfg.model.dir, precision, int8);
  return loadModels(cfg.model.dir, sessionOptionsFrom(cfg.runtime), log, [...keys, ...int8], optional);
}
