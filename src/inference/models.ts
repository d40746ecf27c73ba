import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { resolveDataPath } from '../common/paths.js';
import * as G from '../domain/geometry.js';
import { openSession, type ExecutionProviderName, type LoadedSession, type ProviderAttempt, type SessionOptions } from './ort-session.js';

export interface ModelFileInfo {
  path: string;
  sha256: string;
  opset?: number;
  inputs?: unknown;
  outputs?: unknown;
}

/** models/model_info.json as written by refer/export.py. */
export interface ModelInfo {
  models: Record<string, ModelFileInfo>;
  geometry: Record<string, unknown>;
  weights?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface LoadedModels {
  dir: string;
  info: ModelInfo;
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  /** decoder_rollout (exact's whole block rollout in one run), when model_info.json lists it. */
  rollout?: ort.InferenceSession;
  /** Every loaded graph by model_info.json key (extra keys, e.g. encoder_incremental, only here). */
  sessions: Record<string, ort.InferenceSession>;
  /** Execution provider per graph, as really obtained. */
  providers: Record<string, ExecutionProviderName>;
  attempts: Record<string, ProviderAttempt[]>;
  loadMs: Record<string, number>;
}

const EXPECTED_GEOMETRY: Record<string, number> = {
  sample_rate: G.SAMPLE_RATE,
  num_channels: G.NUM_CHANNELS,
  left_context: G.LEFT_CONTEXT,
  right_context: G.RIGHT_CONTEXT,
  stride: G.ENCODER_STRIDE,
  feature_dim: G.FEATURE_DIM,
  rollout_freq: G.ROLLOUT_FREQ,
  position_steps: G.POSITION_STEPS,
  pose_dim: G.POSE_DIM,
  lstm_layers: G.LSTM_LAYERS,
  lstm_hidden: G.LSTM_HIDDEN,
};

export function readModelInfo(dirOrConfig: string): { dir: string; info: ModelInfo } {
  const dir = resolveDataPath(dirOrConfig);
  const infoPath = join(dir, 'model_info.json');
  let info: ModelInfo;
  try {
    info = JSON.parse(readFileSync(infoPath, 'utf8')) as ModelInfo;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${infoPath}: ${code ? `cannot read (${code})` : `not valid JSON (${(e as Error).message})`}; set model.dir to a folder made by refer/export.py`);
  }
  if (!info.models || !info.geometry) throw new UserError(`${infoPath}: missing "models" or "geometry"`);
  for (const [k, v] of Object.entries(EXPECTED_GEOMETRY)) {
    if (info.geometry[k] !== v) {
      throw new UserError(`${infoPath}: geometry.${k} is ${JSON.stringify(info.geometry[k])}, this runtime is built for ${v}`);
    }
  }
  return { dir, info };
}

/** Checks a model file against the sha256 recorded for it, so a stale or damaged graph is refused. */
export function verifiedModelPath(dir: string, info: ModelInfo, key: string): string {
  const entry = info.models[key];
  if (!entry) throw new UserError(`${join(dir, 'model_info.json')}: no entry for model "${key}"`);
  const path = join(dir, entry.path.replace(/^models\//, ''));
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read model (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== entry.sha256) {
    throw new UserError(`${path}: sha256 ${sha.slice(0, 12)}… does not match model_info.json (${entry.sha256.slice(0, 12)}…); regenerate with refer/export.py`);
  }
  return path;
}

/** Graphs loaded whenever model_info.json lists them (older model folders lack them). */
export const OPTIONAL_MODEL_KEYS: readonly string[] = ['decoder_rollout'];

export async function loadModels(modelDir: string, opts: SessionOptions, log: Logger, keys: readonly string[] = ['encoder', 'decoder_step']): Promise<LoadedModels> {
  const { dir, info } = readModelInfo(modelDir);
  const sessions: Record<string, LoadedSession> = {};
  const all = [...keys, ...OPTIONAL_MODEL_KEYS.filter((k) => !keys.includes(k) && info.models[k] !== undefined)];
  for (const key of all) sessions[key] = await openSession(verifiedModelPath(dir, info, key), opts, log);
  const enc = sessions['encoder'];
  const dec = sessions['decoder_step'];
  if (!enc || !dec) throw new Error('encoder and decoder_step must be loaded');
  const pick = <T>(f: (s: LoadedSession) => T): Record<string, T> => Object.fromEntries(Object.entries(sessions).map(([k, s]) => [k, f(s)]));
  return {
    dir,
    info,
    encoder: enc.session,
    decoder: dec.session,
    ...(sessions['decoder_rollout'] ? { rollout: sessions['decoder_rollout'].session } : {}),
    sessions: pick((s) => s.session),
    providers: pick((s) => s.provider),
    attempts: pick((s) => s.attempts),
    loadMs: pick((s) => Math.round(s.loadMs)),
  };
}
