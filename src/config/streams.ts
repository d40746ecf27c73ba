import { UserError } from '../common/errors.js';
import type { Config } from './schema.js';

export interface ResolvedStream {
  id: string;
  cfg: Config;
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
export function resolveStreams(cfg: Config, validate: (raw: unknown, where: string) => Config): ResolvedStream[] {
  if (cfg.streams.length === 0) return [{ id: 'main', cfg }];
  const { streams, ...base } = cfg;
  return streams.map((entry, i) => {
    const { stream_id, ...over } = entry;
    const merged = deepMerge(base, over) as Record<string, unknown>;
    const resolved = validate({ ...merged, streams: [] }, `streams[${i}] (${stream_id})`);
    return { id: stream_id, cfg: resolved };
  });
}

/** Settings that cannot differ between the streams of one process. */
export function checkSharedSettings(streams: readonly ResolvedStream[]): void {
  const first = streams[0];
  if (!first) return;
  for (const s of streams.slice(1)) {
    const a = first.cfg.outputs.mqtt;
    const b = s.cfg.outputs.mqtt;
    if (a.enabled && b.enabled && a.broker === 'embedded' && b.broker === 'embedded' && a.embedded_port !== b.embedded_port) {
      throw new UserError(`streams: ${first.id} and ${s.id} ask for embedded brokers on ports ${a.embedded_port} and ${b.embedded_port}; one process runs one embedded broker`);
    }
  }
}
