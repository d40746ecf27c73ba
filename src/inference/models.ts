import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type ort from 'onnxruntime-node';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { resolveDataPath } from '../common/paths.js';
import * as G from '../domain/geometry.js';
import {
  openSession,
  type ExecutionProviderName,
  type LoadedSession,
  type ProviderAttempt,
  type SessionOptions,
} from './ort-session.js';

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
  /**
   * Set when a GPU provider was configured ahead of the one that runs (e.g. `tensorrt` asked
   * for, `cpu` running because this onnxruntime-node build has no CUDA/TensorRT): for health
   * and meta. Undefined when the first configured provider runs every graph.
   */
  providerMismatch?: ProviderMismatch;
  /** How each graph's sha256 was checked: hashed now, or taken from the digest cache. */
  digests: Record<string, 'hashed' | 'cached'>;
  /**
   * Settles when every cached digest has been re-hashed in the background; rejects with a
   * UserError naming the file when one no longer matches model_info.json (the caller decides:
   * the daemon should stop). Resolves at once when nothing came from the cache.
   */
  backgroundVerification: Promise<void>;
}

export interface ProviderMismatch {
  /** The first provider of runtime.execution_providers. */
  configured: ExecutionProviderName;
  /** Provider per graph as obtained. */
  running: Record<string, ExecutionProviderName>;
  /** Why the configured provider did not load (first failing graph's reason). */
  reason: string;
}

/** runtime.* of the configuration as onnxruntime session options (the one mapping run and bench share). */
export function sessionOptionsFrom(runtime: {
  execution_providers: readonly ExecutionProviderName[];
  device_id: number;
  intra_op_threads: number;
  inter_op_threads: number;
  intra_op_spinning?: boolean;
}): SessionOptions {
  return {
    executionProviders: runtime.execution_providers,
    deviceId: runtime.device_id,
    intraOpThreads: runtime.intra_op_threads,
    interOpThreads: runtime.inter_op_threads,
    intraOpSpinning: runtime.intra_op_spinning === true,
  };
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
    throw new UserError(
      `${infoPath}: ${code ? `cannot read (${code})` : `not valid JSON (${(e as Error).message})`}; set model.dir to a folder made by refer/export.py`,
    );
  }
  if (!info.models || !info.geometry) throw new UserError(`${infoPath}: missing "models" or "geometry"`);
  for (const [k, v] of Object.entries(EXPECTED_GEOMETRY)) {
    if (info.geometry[k] !== v) {
      throw new UserError(
        `${infoPath}: geometry.${k} is ${JSON.stringify(info.geometry[k])}, this runtime is built for ${v}`,
      );
    }
  }
  return { dir, info };
}

/**
 * Where model digests are cached (keyed by path, size and mtime): $XDG_CACHE_HOME/myostream or
 * ~/.cache/myostream, never inside the model folder or the repository. MYOSTREAM_DIGEST_CACHE
 * names the file itself (tests); "off" disables the cache.
 */
export function digestCachePath(): string | undefined {
  const explicit = process.env['MYOSTREAM_DIGEST_CACHE'];
  if (explicit === 'off') return undefined;
  if (explicit) return resolve(explicit);
  const xdg = process.env['XDG_CACHE_HOME'];
  const base = xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache');
  return join(base, 'myostream', 'model-digests.json');
}

interface DigestEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

function readDigestCache(file: string | undefined): Record<string, DigestEntry> {
  if (!file) return {};
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, DigestEntry>) : {};
  } catch {
    return {};
  }
}

/** Best effort: a read-only home (systemd ProtectHome) just means no cache. */
function writeDigestCache(file: string | undefined, entries: Record<string, DigestEntry>): void {
  if (!file) return;
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(entries, null, 1) + '\n');
    renameSync(tmp, file);
  } catch {
    // no cache this time
  }
}

function modelPathOf(dir: string, info: ModelInfo, key: string): string {
  const entry = info.models[key];
  if (!entry) throw new UserError(`${join(dir, 'model_info.json')}: no entry for model "${key}"`);
  return join(dir, entry.path.replace(/^models\//, ''));
}

function mismatchError(path: string, sha: string, want: string): UserError {
  return new UserError(
    `${path}: sha256 ${sha.slice(0, 12)}… does not match model_info.json (${want.slice(0, 12)}…); regenerate with refer/export.py`,
  );
}

/** Checks a model file against the sha256 recorded for it, so a stale or damaged graph is refused. */
export function verifiedModelPath(dir: string, info: ModelInfo, key: string): string {
  const path = modelPathOf(dir, info, key);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read model (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== info.models[key]!.sha256) throw mismatchError(path, sha, info.models[key]!.sha256);
  return path;
}

/** sha256 of a file read in chunks on the event loop (the background check). */
function hashFileAsync(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
}

/**
 * The model files of `keys`, checked against model_info.json. A file whose size and mtime match
 * the digest cache's entry for the same expected sha256 is not hashed before loading (hashing
 * the four graphs took ≈ 250 ms of every start); it is re-hashed in the background instead.
 */
function checkedModelPaths(
  dir: string,
  info: ModelInfo,
  keys: readonly string[],
): { paths: Record<string, string>; how: Record<string, 'hashed' | 'cached'>; background: Promise<void> } {
  const cacheFile = digestCachePath();
  const cache = readDigestCache(cacheFile);
  const paths: Record<string, string> = {};
  const how: Record<string, 'hashed' | 'cached'> = {};
  const later: { path: string; want: string }[] = [];
  let changed = false;
  for (const key of keys) {
    const path = modelPathOf(dir, info, key);
    const want = info.models[key]!.sha256;
    let st: { size: number; mtimeMs: number };
    try {
      st = statSync(path);
    } catch (e) {
      throw new UserError(`${path}: cannot read model (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    const hit = cache[path];
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.sha256 === want) {
      how[key] = 'cached';
      later.push({ path, want });
    } else {
      verifiedModelPath(dir, info, key);
      how[key] = 'hashed';
      cache[path] = { size: st.size, mtimeMs: st.mtimeMs, sha256: want };
      changed = true;
    }
    paths[key] = path;
  }
  if (changed) writeDigestCache(cacheFile, cache);
  const background = (async () => {
    for (const { path, want } of later) {
      const sha = await hashFileAsync(path);
      if (sha !== want) {
        const fresh = readDigestCache(cacheFile);
        delete fresh[path];
        writeDigestCache(cacheFile, fresh);
        throw mismatchError(path, sha, want);
      }
    }
  })();
  // Nobody may be listening yet; the rejection is still delivered to whoever awaits it.
  background.catch(() => undefined);
  return { paths, how, background };
}

/**
 * Where an NVIDIA GPU shows itself: the desktop driver's device and proc entries, a Jetson's
 * integrated GPU (nvgpu). The first that exists, or null: no GPU for CUDA or TensorRT to use.
 */
const GPU_MARKERS = ['/dev/nvidia0', '/proc/driver/nvidia/gpus', '/dev/nvhost-ctrl-gpu', '/sys/module/nvgpu'];
export function findGpu(exists: (p: string) => boolean = existsSync): string | null {
  return GPU_MARKERS.find((p) => exists(p)) ?? null;
}

/**
 * The one start-up line about execution providers: which one runs (per graph when they differ)
 * and why. A GPU provider that is absent where there is no GPU is the expected case (a laptop,
 * CI): INFO. A GPU on the machine that its provider could not use means the node runs slower
 * than it could: WARN, with what to do about it.
 */
export function providerVerdict(
  preference: readonly ExecutionProviderName[],
  providers: Readonly<Record<string, ExecutionProviderName>>,
  attempts: Readonly<Record<string, readonly ProviderAttempt[]>>,
  gpu: string | null,
): { level: 'info' | 'warn'; msg: string } {
  const running = [...new Set(Object.values(providers))];
  const graphs = Object.keys(providers).length;
  const what =
    running.length === 1
      ? `${running[0]} for all ${graphs} graphs`
      : Object.entries(providers)
          .map(([k, p]) => `${k} ${p}`)
          .join(', ');
  const skipped = preference.slice(
    0,
    preference.indexOf(running[0]!) < 0 ? preference.length : preference.indexOf(running[0]!),
  );
  if (skipped.length === 0)
    return { level: 'info', msg: `execution provider: ${what} (first of runtime.execution_providers)` };
  const reasons = skipped.map(
    (p) =>
      `${p}: ${
        Object.values(attempts)
          .flat()
          .find((a) => a.provider === p && !a.ok)?.reason ?? 'not obtained'
      }`,
  );
  if (gpu === null) {
    return {
      level: 'info',
      msg: `execution provider: ${what}; no NVIDIA GPU on this machine, so ${skipped.join(' and ')} (first in runtime.execution_providers) cannot run here`,
    };
  }
  return {
    level: 'warn',
    msg: `execution provider: ${what}, although this machine has a GPU (${gpu}) that ${skipped.join(' and ')} could not use (${reasons.join('; ')}); see USAGE.md "GPU on a Jetson" (scripts/build-onnxruntime-jetson.sh)`,
  };
}

/** model.precision: which weights the streaming step reads. */
export type Precision = 'fp32' | 'int8';

/**
 * model_info.json key of a streaming-step graph at `precision`: refer/quantize.py writes the
 * int8 twin of decoder_step, encoder_incremental and stream_step under `<key>_int8`, same
 * interface. The exact graphs (encoder, decoder_rollout, the warm-up) have fp32 only.
 */
export function precisionKey(key: string, precision: Precision): string {
  return precision === 'int8' ? `${key}_int8` : key;
}

/** The loaded graph `key` at `precision`; a set loaded without it is a configuration error. */
export function precisionSession(models: LoadedModels, key: string, precision: Precision): ort.InferenceSession {
  const k = precisionKey(key, precision);
  const session = models.sessions[k];
  if (!session) throw new UserError(`${k} graph not loaded (model.precision ${precision})`);
  return session;
}

/** Refuses a model folder without the variant `precision` needs (before anything loads). */
export function checkPrecisionKeys(modelDir: string, precision: Precision, keys: readonly string[]): void {
  if (precision === 'fp32') return;
  const { dir, info } = readModelInfo(modelDir);
  const missing = keys.filter((k) => info.models[k] === undefined);
  if (missing.length > 0) {
    throw new UserError(
      `model.precision is ${precision} but ${join(dir, 'model_info.json')} has no ${missing.join(', ')}; write the variant with: python refer/quantize.py --models ${dir}`,
    );
  }
}

/** Graphs loaded whenever model_info.json lists them (older model folders lack them). */
export const OPTIONAL_MODEL_KEYS: readonly string[] = ['decoder_rollout'];

/**
 * Opens `keys` (each must be listed) and those of `optional` that model_info.json lists.
 */
export async function loadModels(
  modelDir: string,
  opts: SessionOptions,
  log: Logger,
  keys: readonly string[] = ['encoder', 'decoder_step'],
  optional: readonly string[] = OPTIONAL_MODEL_KEYS,
  gpu: string | null = findGpu(),
): Promise<LoadedModels> {
  const { dir, info } = readModelInfo(modelDir);
  const sessions: Record<string, LoadedSession> = {};
  const all = [...keys, ...optional.filter((k) => !keys.includes(k) && info.models[k] !== undefined)];
  const checked = checkedModelPaths(dir, info, all);
  // Created side by side: onnxruntime-node builds each session off the main thread.
  const opened = await Promise.all(all.map((key) => openSession(checked.paths[key]!, opts, log)));
  all.forEach((key, i) => (sessions[key] = opened[i]!));
  const enc = sessions['encoder'];
  const dec = sessions['decoder_step'];
  if (!enc || !dec) throw new Error('encoder and decoder_step must be loaded');
  const pick = <T>(f: (s: LoadedSession) => T): Record<string, T> =>
    Object.fromEntries(Object.entries(sessions).map(([k, s]) => [k, f(s)]));
  const providers = pick((s) => s.provider);
  const attempts = pick((s) => s.attempts);
  const configured = opts.executionProviders[0]!;
  let providerMismatch: ProviderMismatch | undefined;
  if (configured !== 'cpu' && Object.values(providers).some((p) => p !== configured)) {
    const failed = Object.values(attempts)
      .flat()
      .find((a) => a.provider === configured && !a.ok);
    providerMismatch = { configured, running: providers, reason: failed?.reason ?? 'not obtained' };
  }
  const verdict = providerVerdict(opts.executionProviders, providers, attempts, gpu);
  log[verdict.level]({ providers, gpu, load_ms: Math.round(Math.max(...opened.map((s) => s.loadMs))) }, verdict.msg);
  return {
    dir,
    info,
    encoder: enc.session,
    decoder: dec.session,
    ...(sessions['decoder_rollout'] ? { rollout: sessions['decoder_rollout'].session } : {}),
    sessions: pick((s) => s.session),
    providers,
    attempts,
    loadMs: pick((s) => Math.round(s.loadMs)),
    ...(providerMismatch ? { providerMismatch } : {}),
    digests: checked.how,
    backgroundVerification: checked.background,
  };
}
