import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import type { GapEvent, SampleSink } from '../src/acquisition/source.js';
import type { RunEvent } from '../src/domain/events.js';

export interface DrivenRun {
  ring: RingBuffer;
  gaps: GapEvent[];
  notes: { kind: string; atSample: number; detail: string; data?: RunEvent['data'] }[];
}

/** Runs a source into a fresh ring (to its end, or until abortAfterMs), with a reader that keeps up as the pipeline's cursor does. */
export async function driveSource(
  src: { run(s: SampleSink, a: AbortSignal): Promise<void> },
  capacity: number,
  abortAfterMs?: number,
  channels = 16,
): Promise<DrivenRun> {
  const ring = RingBuffer.create(capacity, channels);
  const gaps: GapEvent[] = [];
  const notes: DrivenRun['notes'] = [];
  const sink: SampleSink = {
    emg: ring,
    note: (kind, atSample, detail, data) => notes.push({ kind, atSample, detail, ...(data ? { data } : {}) }),
    gap: (g) => gaps.push(g),
    waitForSpace: async () => undefined,
  };
  const reader = setInterval(() => ring.seekReader(Math.max(0, ring.written - 100)), 1);
  const ac = new AbortController();
  const timer = abortAfterMs !== undefined ? setTimeout(() => ac.abort(), abortAfterMs) : undefined;
  try {
    await src.run(sink, ac.signal);
  } finally {
    clearInterval(reader);
    if (timer) clearTimeout(timer);
  }
  return { ring, gaps, notes };
}
