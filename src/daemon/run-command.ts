import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createSource } from '../acquisition/sources.js';
import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { loadModels, type LoadedModels } from '../inference/models.js';
import { anglesToJson, type PoseSink } from '../outputs/pose-event.js';
import { PosesFile } from '../outputs/poses-file.js';
import { SAMPLE_RATE } from '../inference/geometry.js';
import { ExactMode } from '../inference/exact-mode.js';
import { runPipeline } from './pipeline.js';

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

export async function openModels(cfg: Config, log: Logger): Promise<LoadedModels> {
  return loadModels(cfg.model.dir, {
    executionProviders: cfg.runtime.execution_providers,
    deviceId: cfg.runtime.device_id,
    intraOpThreads: cfg.runtime.intra_op_threads,
    interOpThreads: cfg.runtime.inter_op_threads,
  }, log);
}

export async function runCommand(o: RunCliOptions): Promise<number> {
  const cfg = configFromCli(o);
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  if (cfg.model.mode !== 'exact') throw new UserError(`model.mode = ${cfg.model.mode}: not available in this build`);
  const source = await createSource(cfg);
  log.info({ source: source.info.description, mode: cfg.model.mode }, 'starting');
  const models = await openModels(cfg, log);
  const sinks: PoseSink[] = [];
  const posesFile = cfg.outputs.poses_out ? new PosesFile(cfg.outputs.poses_out) : undefined;
  if (posesFile) sinks.push(posesFile);
  const exact = new ExactPredictor(models.encoder, models.decoder, cfg.runtime.exact.block_samples, cfg.runtime.exact.upsample_to_input_rate);
  const predictor = new ExactMode(exact, posesFile
    ? (p) => posesFile.writeRecord({ t: Number(((p.sample + 1) / SAMPLE_RATE).toFixed(6)), sample: p.sample, mode: 'exact', angles: anglesToJson(p.angles) })
    : undefined);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const r = await runPipeline({
      source, predictor, sinks, log, signal: stop.signal,
      ringSeconds: cfg.runtime.streaming.max_buffer_seconds,
      hooks: {
        onUnit: ({ computeMs, lastStep }) => log.info({ step: lastStep, computeMs: Number(computeMs.toFixed(1)) }, 'exact block done'),
      },
    });
    log.info({ samples: r.samples, poses: r.poses, blocks: r.units, wallMs: Math.round(r.wallMs) }, 'finished');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const s of sinks) await s.close();
  }
  return 0;
}
