import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { UserError } from '../common/errors.js';
import { resolveDataPath } from '../common/paths.js';
import { waitForSpaceOrAbort, type EmgSource, type SampleSink, type SourceInfo } from './source.js';
import { sourceRow } from './source-row.js';
import { checkRecordingScale, SCALE_CHECK_S, loadRecording, type Recording } from './recording.js';
import { mainThreadStages, withPreprocessing } from './stages.js';
import { preprocessOn } from './worker-config.js';

/** `--source replay:FILE`: its keys in the acquisition section. */
export const replaySettings = {
  replay_full_scale: z.number().min(0).max(1e12).default(1000).meta({
    description:
      "Largest |value| a replayed recording can hold, in the file's units: beyond it a sample is impossible (a corrupt file, a wrong unit) and handled by preprocess.bad_sample_policy like NaN (0 = no limit; the ADCs derive theirs from gain and reference).",
  }),
};

export const replaySource = sourceRow(
  'replay:',
  replaySettings,
  async (own, { shared, arg, maxSamples, speed, log }) => {
    if (!arg) throw new UserError('input.source = "replay:": name a file, e.g. replay:models/golden/input.mtb');
    const rec = await loadRecording(resolveDataPath(arg));
    // Dataset files are already filtered: preprocessing only when asked for explicitly. The
    // sanitizer is always there: a file may hold NaN, Inf or values no electrode can give.
    const preprocess = preprocessOn(shared.preprocess, false);
    const upv = shared.preprocess.units_per_volt;
    const scale = checkRecordingScale(rec, upv, preprocess);
    // Said once, as the run's first event (which is also its one log line).
    let scaleNote: ScaleNote | undefined;
    if (scale?.looksLike) {
      const expected = preprocess ? `volts (preprocessing on, ×${upv} per volt)` : "the model's units";
      const detail = `${rec.path}: the first ${SCALE_CHECK_S} s have RMS ${scale.rms.toPrecision(3)}, ${scale.ratio >= 1 ? `${scale.ratio.toPrecision(3)}× larger` : `${(1 / scale.ratio).toPrecision(3)}× smaller`} than expected in ${expected} (RMS ${scale.expectedRms.toPrecision(3)}): it looks like ${scale.looksLike}; the run goes on, but poses from it mean little (see docs/acquisition.md, "Units")`;
      scaleNote = {
        detail,
        data: {
          file: rec.path,
          rms: scale.rms,
          expected_rms: scale.expectedRms,
          ratio: scale.ratio,
          looks_like: scale.looksLike,
        },
      };
    }
    const replay = new ReplaySource(rec, { speed, chunkSamples: 40, maxSamples, ...(scaleNote ? { scaleNote } : {}) });
    const inner = preprocess ? withPreprocessing(replay, shared.preprocess, log) : replay;
    return mainThreadStages(inner, shared, log, own.replay_full_scale);
  },
);

export interface ReplayOptions {
  /** 1 = real time, N = N× real time, 0 = as fast as the consumer takes it. */
  speed: number;
  /** Samples per append (the ADC would deliver 1; a USB band delivers blocks). */
  chunkSamples: number;
  /** Stop after this many samples (0 = all). */
  maxSamples: number;
  /** The file's amplitude is far off the expected scale: recorded once, as the run starts. */
  scaleNote?: ScaleNote;
}

export interface ScaleNote {
  detail: string;
  data: Readonly<Record<string, string | number>>;
}

/** Feeds a recording into the ring, paced against the wall clock, with its joint angles. */
export class ReplaySource implements EmgSource {
  readonly info: SourceInfo;

  constructor(
    private readonly rec: Recording,
    private readonly opts: ReplayOptions,
  ) {
    const total = opts.maxSamples > 0 ? Math.min(opts.maxSamples, rec.samples) : rec.samples;
    this.info = {
      kind: 'replay',
      description: `replay:${rec.path} (${rec.format}, ${rec.samples} samples${rec.jointAngles ? ', joint angles' : ''})`,
      sampleRate: rec.sampleRate,
      channels: rec.emg.length / rec.samples,
      hasJointAngles: rec.jointAngles !== undefined,
      totalSamples: total,
      ...(rec.meta['side'] === 'left' || rec.meta['side'] === 'right' ? { hand: rec.meta['side'] } : {}),
    };
  }

  async run(sink: SampleSink, signal: AbortSignal): Promise<void> {
    const { rec, opts } = this;
    const total = this.info.totalSamples!;
    const ch = this.info.channels;
    const chunk = Math.max(1, opts.chunkSamples);
    if (opts.scaleNote) sink.note('signal_scale', 0, opts.scaleNote.detail, opts.scaleNote.data);
    const t0 = performance.now();
    for (let start = 0; start < total && !signal.aborted; start += chunk) {
      const n = Math.min(chunk, total - start);
      await waitForSpaceOrAbort(sink, n, signal);
      if (signal.aborted) break;
      if (opts.speed > 0) {
        const due = t0 + ((start + n) / rec.sampleRate / opts.speed) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
      }
      if (sink.truth && rec.jointAngles) sink.truth.append(rec.jointAngles, n, start * sink.truth.channels);
      sink.emg.append(rec.emg, n, start * ch);
    }
  }
}
