import { z } from 'zod';

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
      if (seen.has(s.stream_id))
        ctx.addIssue({ code: 'custom', path: [i, 'stream_id'], message: `stream_id "${s.stream_id}" is used twice` });
      seen.add(s.stream_id);
    });
  });

export type StreamEntry = z.output<typeof streamEntrySchema>;
