import type { CoreConfig } from './schema.js';

/** One stream's id and its whole configuration (`T`: the composed configuration). */
export interface ResolvedStream<T extends CoreConfig = CoreConfig> {
  id: string;
  cfg: T;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/**
 * The streams a configuration runs: the top level alone ("main") when `streams` is empty, else
 * one configuration per entry, each the top level with the entry merged over it and validated
 * whole, so every cross-key rule holds per stream. `validate` is the full configuration check.
 */
export function resolveStreams<T extends CoreConfig>(
  cfg: T,
  validate: (raw: unknown, where: string) => T,
): ResolvedStream<T>[] {
  if (cfg.streams.length === 0) return [{ id: 'main', cfg }];
  const { streams, ...base } = cfg;
  return streams.map((entry, i) => {
    const { stream_id, ...over } = entry;
    const merged = deepMerge(base, over) as Record<string, unknown>;
    const resolved = validate({ ...merged, streams: [] }, `streams[${i}] (${stream_id})`);
    return { id: stream_id, cfg: resolved };
  });
}
