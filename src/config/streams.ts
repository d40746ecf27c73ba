import { z } from 'zod';
import { UserError } from '../common/errors.js';
import type { Config } from './schema.js';

/** A stream id becomes a topic level and a folder name: keep it to safe characters. */
const STREAM_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * One entry of `streams`: its id and the sections it sets differently from the top level
 * (deep-merged over it; lists replace). What a stream may set is what belongs to a band: its
 * source, acquisition, model and the supervision of them. Logging is per process.
 */
export const streamEntrySchema = z
  .object({
    stream_id: z.string().regex(STREAM_ID, 'expected 1–32 characters of A-Z a-z 0-9 _ -'),
    model: z.record(z.string(), z.unknown()).optional(),
    runtime: z.record(z.string(), z.unknown()).optional(),
    input: z.record(z.string(), z.unknown()).optional(),
    acquisition: z.record(z.string(), z.unknown()).optional(),
    outputs: z.record(z.string(), z.unknown()).optional(),
    eval: z.record(z.string(), z.unknown()).optional(),
    watchdog: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const streamsSchema = z
  .array(streamEntrySchema)
  .max(8)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((s, i) => {
      if (seen.has(s.stream_id)) ctx.addIssue({ code: 'custom', path: [i, 'stream_id'], message: `stream_id "${s.stream_id}" is used twice` });
      seen.add(s.stream_id);
    });
  });

export type StreamEntry = z.output<typeof streamEntrySchema>;

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
