import type { Logger } from '../common/logger.js';
import type { RunEvent, RunEventKind } from '../domain/events.js';
import type { SharedAcquisitionSettings } from './shared-settings.js';

export interface SourceInfo {
  /** synthetic | replay | ads1299 | ads1299-sim | i2c | i2c-sim */
  readonly kind: string;
  /**
   * True for a source that delivers in real time whatever the reader does (ADCs and their
   * simulators): a stall leaves it short of its sample count, so wall time bounds the run too.
   */
  readonly live?: boolean;
  /** For logs and summary.json: what is being read. */
  readonly description: string;
  readonly sampleRate: number;
  readonly channels: number;
  /** True when the source carries ground-truth joint angles aligned with its samples. */
  readonly hasJointAngles: boolean;
  /** Total samples when known in advance (recordings), else undefined. */
  readonly totalSamples?: number;
  /** The hand the recording says it is of (an HDF5 file's `side` attribute), when it says. */
  readonly hand?: 'left' | 'right';
  /**
   * ADC chip ID registers (hex), one per chip (null: a chip whose ID the bus cannot reach),
   * filled in when the chips have been read at start.
   */
  readonly chipIds?: (string | null)[];
  /** Resolves once chipIds is final: the chips were read, or the source ended without. */
  readonly identified?: Promise<void>;
}

/** Samples the source could not deliver: the consumer resets streaming state across it. */
export interface GapEvent {
  /** Absolute index (in the ring's numbering) of the first sample after the gap. */
  readonly atSample: number;
  /** Samples lost (best estimate). */
  readonly lostSamples: number;
  readonly reason: string;
}

/**
 * What a source appends to: the ring buffer itself, or a wrapper in front of it (preprocessing).
 * `written` counts samples that reached the ring, in the ring's numbering.
 */
export interface SampleWriter {
  readonly channels: number;
  readonly written: number;
  /** Appends `frames` time-major samples (frames × channels values from `src[srcOffset]`). */
  append(src: Float32Array, frames?: number, srcOffset?: number): void;
}

/**
 * Where a source delivers. `emg` is [time, 16]; `truth`, when the source has joint angles, is
 * [time, 20] with the same sample numbering. Both are RingBuffers when the pipeline builds the
 * sink; sources that hand the ring to another thread (the ADC worker) need exactly that.
 */
export interface SampleSink {
  readonly emg: SampleWriter;
  readonly truth?: SampleWriter;
  gap(event: GapEvent): void;
  /**
   * Something the consumer should record that is not a hole in the numbering: a stall, a
   * driver re-initialisation, a bridged short gap, bad samples replaced. It reaches the bus as
   * an `event` (events.jsonl, MQTT). Sources rate-limit what they report here themselves.
   */
  note(kind: RunEventKind, atSample: number, detail: string, data?: RunEvent['data']): void;
  /**
   * Resolves once the consumer has room for `frames` more samples. Sources that can wait
   * (files, synthetic at full speed) call it before each append; live hardware cannot wait and
   * never calls it, so the ring's overflow policy applies.
   */
  waitForSpace(frames: number): Promise<void>;
}

/** Counters a source keeps (frames read, lost, bad samples, …), for logs and summary.json. */
export type AcquisitionStats = Readonly<Record<string, number>>;

/**
 * What every source gets besides its own settings: the stream it feeds (rate, length, pace), the
 * acquisition keys all sources share, the text after `name:` (if any) and its logger.
 */
export interface SourceContext {
  readonly arg: string;
  readonly sampleRate: number;
  /** Stop after this many samples (0 = endless). */
  readonly maxSamples: number;
  /** input.speed: 1 = real time, N = N×, 0 = as fast as the reader takes it. */
  readonly speed: number;
  readonly shared: SharedAcquisitionSettings;
  readonly log: Logger;
}

export interface EmgSource {
  readonly info: SourceInfo;
  /** Produces into `sink` until the source ends or `signal` aborts. */
  run(sink: SampleSink, signal: AbortSignal): Promise<void>;
  /** The source's counters so far (optional: sources without counters omit it). */
  stats?(): AcquisitionStats;
  /** Per-channel signal quality as last judged (undefined until the first window). */
  quality?(): SignalQualityReport | undefined;
  /** Bit c set: channel c was judged bad at input sample `atSample`. Cheap: read for every pose. */
  qualityMask?(atSample: number): number;
}

/**
 * `sink.waitForSpace(frames)`, cut short by `signal`: a consumer that stops reading must not
 * keep an aborted source waiting for ever. The abort listener is removed again each time, so a
 * source that waits 50 times a second for hours holds nothing from earlier waits.
 */
export function waitForSpaceOrAbort(sink: SampleSink, frames: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    sink.waitForSpace(frames).then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** One channel as last judged. */
export interface ChannelQuality {
  readonly channel: number;
  readonly ok: boolean;
  /** Why not: lead_off, clipping, flat, mains (empty when ok). */
  readonly reasons: readonly string[];
  readonly rms: number;
  readonly mains_share: number;
  /** Clipped samples in the current window, and since the start. */
  readonly clipped: number;
  readonly clipped_total: number;
  readonly lead_off: boolean;
}

/** A source's signal quality per channel (acquisition/signal-quality.ts judges it). */
export interface SignalQualityReport {
  readonly window_ms: number;
  readonly mains_hz: number;
  /** Bit c set: channel c is bad now (what each pose's `quality` carries). */
  readonly bad_mask: number;
  readonly bad_channels: readonly number[];
  /** Times a channel went bad since the start. */
  readonly went_bad: number;
  readonly channels: readonly ChannelQuality[];
}

/** The source as summary.json records it. */
export function sourceSummary(info: SourceInfo): Record<string, unknown> {
  return {
    kind: info.kind,
    description: info.description,
    sample_rate: info.sampleRate,
    channels: info.channels,
    has_joint_angles: info.hasJointAngles,
    total_samples: info.totalSamples ?? null,
  };
}
