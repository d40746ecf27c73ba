import type { Logger } from '../common/logger.js';
import { RateLimitedNote } from './rate-limit.js';
import type { AcquisitionStats, EmgSource, SampleSink, SampleWriter } from './source.js';

/**
 * What replaces a NaN, infinite or implausible (finite, but beyond the source's full scale) EMG
 * value before it reaches the ring (and so the model):
 * hold_last: the channel's last finite value (0 before any); zero: 0; gap: the whole frame is
 * dropped and reported as a gap (the session restarts after it). One non-finite value fed to
 * the encoder would spread through its convolutions and the decoder's state: a held channel is
 * a far smaller error than that.
 */
export type BadSamplePolicy = 'hold_last' | 'zero' | 'gap';

export interface SanitizerStats {
  /** Non-finite or out-of-range values seen. */
  badValues: number;
  /** Of those, finite values beyond the full scale. */
  outOfRange: number;
  /** Frames with at least one. */
  badFrames: number;
  /** Frames dropped (policy gap). */
  droppedFrames: number;
}

export interface SanitizeOptions {
  policy: BadSamplePolicy;
  /** |value| above this is impossible for the source (a corrupt file, a wrong unit): bad like NaN. */
  fullScale?: number;
  /** Bad-sample notes: the first at once, then at most one summary per interval. */
  noteIntervalMs?: number;
  now?: () => number;
  log?: Logger;
}

/**
 * A SampleSink in front of another whose EMG writer checks every value. Clean chunks pass
 * through untouched (one pass over the values, no copy); a chunk with a non-finite value is
 * copied into a kept buffer and repaired by the policy. Counted in `stats`, noted as
 * `bad_samples` (rate-limited).
 */
export function sanitizeSink(
  inner: SampleSink,
  opts: SanitizeOptions,
): { sink: SampleSink; stats: SanitizerStats; flush(): void } {
  const ch = inner.emg.channels;
  const stats: SanitizerStats = { badValues: 0, outOfRange: 0, badFrames: 0, droppedFrames: 0 };
  const fs = opts.fullScale ?? Infinity;
  const what = Number.isFinite(fs) ? `non-finite EMG or EMG beyond the full scale ±${fs}` : 'non-finite EMG';
  const last = new Float32Array(ch);
  let scratch = new Float32Array(ch * 64);
  let pendingDropped = 0;
  const notes = new RateLimitedNote(
    'bad_samples',
    (count, amount, first) =>
      `${first ? `${what} in the input` : `more ${what}`}: ${amount} values in ${count} frames ${opts.policy === 'gap' ? 'dropped (gap)' : `replaced (${opts.policy})`}${first ? '' : ' since the last report'}`,
    (kind, at, detail, data) => {
      inner.note(kind, at, detail, data);
      opts.log?.warn({ ...data, policy: opts.policy }, detail);
    },
    opts.noteIntervalMs ?? 1000,
    opts.now,
  );
  const out = inner.emg;
  /** Appends `frames` frames; a pending dropped run is reported as a gap before the first of them. */
  const write = (src: Float32Array, frames: number, off: number): void => {
    if (frames <= 0) return;
    if (pendingDropped > 0) {
      inner.gap({ atSample: out.written, lostSamples: pendingDropped, reason: 'bad samples dropped' });
      pendingDropped = 0;
    }
    out.append(src, frames, off);
  };
  const emg: SampleWriter = {
    channels: ch,
    get written() {
      return out.written;
    },
    append(src: Float32Array, frames = src.length / ch, srcOffset = 0): void {
      const n = frames * ch;
      let clean = true;
      for (let i = 0; i < n; i++) {
        const v = src[srcOffset + i]!;
        // NaN and ±Inf fail v - v === 0; the range test needs no separate finiteness check.
        if (!(v - v === 0 && v <= fs && v >= -fs)) {
          clean = false;
          break;
        }
      }
      if (clean) {
        write(src, frames, srcOffset);
        // Remember the chunk's last frame for hold_last.
        for (let c = 0; c < ch; c++) last[c] = src[srcOffset + n - ch + c]!;
        return;
      }
      if (scratch.length < n) scratch = new Float32Array(n);
      let w = 0;
      for (let f = 0; f < frames; f++) {
        const base = srcOffset + f * ch;
        let bad = 0;
        for (let c = 0; c < ch; c++) {
          const v = src[base + c]!;
          if (v - v !== 0) bad++;
          else if (v > fs || v < -fs) {
            bad++;
            stats.outOfRange++;
          }
        }
        if (bad === 0) {
          for (let c = 0; c < ch; c++) scratch[w * ch + c] = last[c] = src[base + c]!;
          w++;
          continue;
        }
        stats.badValues += bad;
        stats.badFrames++;
        notes.hit(bad, out.written + w);
        if (opts.policy === 'gap') {
          // Frames written so far go first; the gap is reported before the next good frame.
          write(scratch, w, 0);
          w = 0;
          stats.droppedFrames++;
          pendingDropped++;
          continue;
        }
        for (let c = 0; c < ch; c++) {
          const v = src[base + c]!;
          const r = v - v === 0 && v <= fs && v >= -fs ? v : opts.policy === 'zero' ? 0 : last[c]!;
          scratch[w * ch + c] = r;
          last[c] = r;
        }
        w++;
      }
      write(scratch, w, 0);
    },
  };
  const sink: SampleSink = {
    emg,
    ...(inner.truth ? { truth: inner.truth } : {}),
    gap: (g) => inner.gap(g),
    note: (k, a, d, x) => inner.note(k, a, d, x),
    waitForSpace: (frames) => inner.waitForSpace(frames),
  };
  return { sink, stats, flush: () => notes.flush(true) };
}

/**
 * Any source behind the sanitizer. Sources whose samples cannot be non-finite by construction
 * (the ADS1299's integer counts) do not need it, and cannot take it: their worker writes the
 * shared ring itself.
 */
export function withSanitizer(inner: EmgSource, opts: SanitizeOptions): EmgSource {
  let stats: SanitizerStats = { badValues: 0, outOfRange: 0, badFrames: 0, droppedFrames: 0 };
  return {
    info: inner.info,
    async run(sink: SampleSink, signal: AbortSignal): Promise<void> {
      const s = sanitizeSink(sink, opts);
      stats = s.stats;
      try {
        await inner.run(s.sink, signal);
      } finally {
        s.flush();
      }
    },
    ...(inner.quality ? { quality: () => inner.quality!() } : {}),
    ...(inner.qualityMask ? { qualityMask: (at: number) => inner.qualityMask!(at) } : {}),
    stats(): AcquisitionStats {
      return {
        ...(inner.stats?.() ?? {}),
        bad_values: stats.badValues,
        bad_values_out_of_range: stats.outOfRange,
        bad_frames: stats.badFrames,
        bad_frames_dropped: stats.droppedFrames,
      };
    },
  };
}
