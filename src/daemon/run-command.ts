import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createSource } from '../acquisition/sources.js';
import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadModels, type LoadedModels } from '../inference/models.js';
import { MODEL_KEYS_WITH_INCREMENTAL } from '../inference/incremental-encoder.js';
import { RunArtifacts } from '../outputs/artifacts.js';
import { RunSession } from './session.js';

export interface CommonCliOptions {
  config?: string;
  set: string[];
  source?: string;
  duration?: string;
  speed?: string;
  artifacts?: string;
  posesOut?: string;
}

export interface RunCliOptions extends CommonCliOptions {
  quiet?: boolean;
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

/** Opens the graphs the configuration needs (the cached encoder step only when it is used). */
export async function openModels(cfg: Config, log: Logger, streaming = cfg.model.mode === 'streaming'): Promise<LoadedModels> {
  const incremental = streaming && cfg.runtime.streaming.encoder === 'incremental';
  return loadModels(cfg.model.dir, {
    executionProviders: cfg.runtime.execution_providers,
    deviceId: cfg.runtime.device_id,
    intraOpThreads: cfg.runtime.intra_op_threads,
    interOpThreads: cfg.runtime.inter_op_threads,
  }, log, incremental ? MODEL_KEYS_WITH_INCREMENTAL : undefined);
}

export async function runCommand(o: RunCliOptions): Promise<number> {
  const cfg = configFromCli(o);
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const source = await createSource(cfg);
  const models = await openModels(cfg, log);
  const artifacts = RunArtifacts.create(cfg.outputs.artifacts_root, o.artifacts);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await new RunSession(cfg, log, models, source, artifacts, { quiet: o.quiet === true, signal: stop.signal }).run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
