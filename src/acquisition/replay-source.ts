import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../common/errors.js';
import { resolveDataPath } from '../common/paths.js';
import { waitForSpaceOrAbort, type EmgSource, type SampleSink, type SourceContext, type SourceInfo } from './source.js';
import { loadRecording, type Recording } from './recording.js';
import { mainThreadStages, withPreprocessing } from './stages.js';
import { preprocessOn } from './worker-config.js';

/** `--source replay:FILE`. */
export async function createReplaySource({ cfg, arg, maxSamples, log }: SourceContext): Promise<EmgSource> {
  if (!arg) throw new UserError('input.source = "replay:": name a file, e.g. replay:models/golden/input.mtb');
  const rec = await loadRecording(resolveDataPath(arg));
  const replay = new ReplaySource(rec, { speed: cfg.input.speed, chunkSamples: 40, maxSamples });
  // Dataset files are already filtered: preprocessing only when asked for explicitly. The
  // sanitizer is always there: a file may hold NaN, Inf or values no electrode can give.
  const inner = preprocessOn(cfg, false) ? withPreprocessing(replay, cfg, log) : replay;
  return mainThreadStages(inner, cfg, log, cfg.acquisition.replay_full_scale);
}

export interface ReplayOptions {
  /** 1 = real time, N = N× real time, 0 = as fast as the consumer takes it. */
  speed: number;
  /** Samples per append (the ADC would deliver 1; a USB band delivers blocks). */
  chunkSamples: number;
  /** Stop after this many samples (0 = all). */
  maxSamples: number;
}

/** Feeds a recording into the ring, paced against the wall clock, with its joint angles. */
export class ReplaySource implements EmgSource {
  readonly info: SourceInfo;

  constructor(private readonly rec: Recording, private readonly opts: ReplayOptions) {
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
