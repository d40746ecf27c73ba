import type { ChannelQuality, EmgSource, SampleSink, SampleWriter, SignalQualityReport } from './source.js';
import type { QualitySettings } from './worker-config.js';

/**
 * Live signal quality per channel, computed as samples arrive at O(1) work per sample in
 * preallocated arrays (never on the 50 Hz step): RMS, clipped samples, flat line, the share of
 * the signal's power at the mains frequency, and the ADC's lead-off flags where there are any.
 * Figures cover a sliding window of `blocks` hops; every hop the window is judged and a channel
 * that goes bad or comes back is reported once.
 */

export interface SignalQualityOptions {
  readonly channels: number;
  readonly sampleRate: number;
  /** Samples per evaluation (the window slides by this much). */
  readonly hopSamples: number;
  /** Hops per window. */
  readonly blocks: number;
  readonly mainsHz: number;
  /** |x| at or above this (input units; one for all channels or one each) counts as clipped; Infinity = never. */
  readonly clipLevel: number | ArrayLike<number>;
  /** A channel whose range over the window is at most this is flat (stuck, or held by a policy). */
  readonly flatRange: number | ArrayLike<number>;
  /** Share of clipped samples in the window that makes a channel bad. */
  readonly maxClipFraction: number;
  /** Share of the power at the mains frequency that makes a channel bad. */
  readonly maxMainsShare: number;
}

/** A channel went bad (ok false) or came back (ok true), at input sample `atSample`. */
export type QualityChange = (c: ChannelQuality, atSample: number) => void;

const REASON_BITS = ['lead_off', 'clipping', 'flat', 'mains'] as const;

export class SignalQualityMonitor {
  /** Channels bad as of the last evaluation (bit per channel). */
  badMask = 0;
  wentBad = 0;
  private readonly ch: number;
  /** Per block, per channel accumulators: [block * ch + c]. */
  private readonly sum: Float64Array;
  private readonly sumSq: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly clip: Float64Array;
  private readonly loff: Float64Array;
  /** Finite values summed (non-finite ones are counted as clipped only). */
  private readonly used: Float64Array;
  private readonly clippedTotal: Float64Array;
  private readonly clipLevel: Float64Array;
  private readonly flatRange: Float64Array;
  /** Last judgement per channel. */
  private readonly rms: Float64Array;
  private readonly mains: Float64Array;
  private readonly clippedNow: Float64Array;
  private readonly reasons: Uint8Array;
  private readonly leadOffNow: Uint8Array;
  private block = 0;
  private inBlock = 0;
  private blocksFilled = 0;
  private samples = 0;
  /** The mains phasor e^{-jωn}, rotated one sample at a time and renormalised each block. */
  private cr = 1;
  private ci = 0;
  private readonly wr: number;
  private readonly wi: number;

  constructor(
    readonly o: SignalQualityOptions,
    private readonly onChange?: QualityChange,
  ) {
    if (o.channels > 31) throw new RangeError('signal quality: at most 31 channels fit the bad-channel mask');
    const ch = (this.ch = o.channels);
    const n = o.blocks * ch;
    this.sum = new Float64Array(n);
    this.sumSq = new Float64Array(n);
    this.re = new Float64Array(n);
    this.im = new Float64Array(n);
    this.min = new Float64Array(n).fill(Infinity);
    this.max = new Float64Array(n).fill(-Infinity);
    this.clip = new Float64Array(n);
    this.loff = new Float64Array(n);
    this.used = new Float64Array(n);
    this.clippedTotal = new Float64Array(ch);
    const perChannel = (v: number | ArrayLike<number>): Float64Array =>
      typeof v === 'number' ? new Float64Array(ch).fill(v) : Float64Array.from(v);
    this.clipLevel = perChannel(o.clipLevel);
    this.flatRange = perChannel(o.flatRange);
    this.rms = new Float64Array(ch);
    this.mains = new Float64Array(ch);
    this.clippedNow = new Float64Array(ch);
    this.reasons = new Uint8Array(ch);
    this.leadOffNow = new Uint8Array(ch);
    const w = (2 * Math.PI * o.mainsHz) / o.sampleRate;
    this.wr = Math.cos(w);
    this.wi = -Math.sin(w);
  }

  /** One frame of `channels` values from src[off]; `leadOff` has bit c set when the ADC flags channel c. */
  push(src: ArrayLike<number>, off: number, leadOff = 0): void {
    const ch = this.ch;
    const b = this.block * ch;
    const clipLevel = this.clipLevel;
    const cr = this.cr;
    const ci = this.ci;
    for (let c = 0; c < ch; c++) {
      const x = src[off + c]!;
      const i = b + c;
      if (leadOff & (1 << c)) this.loff[i]!++;
      const lim = clipLevel[c]!;
      if (!(x - x === 0) || x >= lim || x <= -lim) {
        // Non-finite values count as clipped and stay out of the sums.
        this.clip[i]!++;
        this.clippedTotal[c]!++;
        if (!(x - x === 0)) continue;
      }
      this.used[i]!++;
      this.sum[i]! += x;
      this.sumSq[i]! += x * x;
      this.re[i]! += x * cr;
      this.im[i]! += x * ci;
      if (x < this.min[i]!) this.min[i] = x;
      if (x > this.max[i]!) this.max[i] = x;
    }
    this.cr = cr * this.wr - ci * this.wi;
    this.ci = cr * this.wi + ci * this.wr;
    this.samples++;
    if (++this.inBlock >= this.o.hopSamples) this.endBlock();
  }

  /** Frames appended as one time-major chunk. */
  pushChunk(src: Float32Array, frames: number, off: number): void {
    for (let f = 0; f < frames; f++) this.push(src, off + f * this.ch);
  }

  private endBlock(): void {
    this.inBlock = 0;
    if (this.blocksFilled < this.o.blocks) this.blocksFilled++;
    // Exact phase from the sample count keeps the rotated phasor from drifting over hours.
    const w = (2 * Math.PI * this.o.mainsHz * (this.samples % this.o.sampleRate)) / this.o.sampleRate;
    this.cr = Math.cos(w);
    this.ci = -Math.sin(w);
    this.evaluate();
    this.block = (this.block + 1) % this.o.blocks;
    const b = this.block * this.ch;
    for (let c = 0; c < this.ch; c++) {
      const i = b + c;
      this.sum[i] = this.sumSq[i] = this.re[i] = this.im[i] = this.clip[i] = this.loff[i] = this.used[i] = 0;
      this.min[i] = Infinity;
      this.max[i] = -Infinity;
    }
  }

  private evaluate(): void {
    const { ch, o } = this;
    const nb = this.blocksFilled;
    let mask = 0;
    for (let c = 0; c < ch; c++) {
      let s = 0,
        ss = 0,
        re = 0,
        im = 0,
        clip = 0,
        loff = 0,
        used = 0,
        lo = Infinity,
        hi = -Infinity;
      for (let k = 0; k < nb; k++) {
        const i = k * ch + c;
        s += this.sum[i]!;
        ss += this.sumSq[i]!;
        re += this.re[i]!;
        im += this.im[i]!;
        clip += this.clip[i]!;
        loff += this.loff[i]!;
        used += this.used[i]!;
        if (this.min[i]! < lo) lo = this.min[i]!;
        if (this.max[i]! > hi) hi = this.max[i]!;
      }
      const n = nb * o.hopSamples;
      const mean = used > 0 ? s / used : 0;
      const variance = used > 0 ? Math.max(0, ss / used - mean * mean) : 0;
      this.rms[c] = used > 0 ? Math.sqrt(ss / used) : 0;
      // A sinusoid of amplitude A over a whole number of cycles gives |X| = A·n/2 and power A²/2.
      const tone = used > 0 ? (2 * (re * re + im * im)) / (used * used) : 0;
      this.mains[c] = variance > 0 ? Math.min(1, tone / variance) : 0;
      this.clippedNow[c] = clip;
      // Lead-off: flagged on a quarter of the window (shows within a hop; the comparator can chatter).
      const leadOff = loff * 4 > n;
      this.leadOffNow[c] = leadOff ? 1 : 0;
      let r = 0;
      if (leadOff) r |= 1;
      if (clip > o.maxClipFraction * n) r |= 2;
      if (used > 0 && hi - lo <= this.flatRange[c]!) r |= 4;
      if (this.mains[c]! > o.maxMainsShare) r |= 8;
      this.reasons[c] = r;
      if (r) mask |= 1 << c;
    }
    const changed = mask ^ this.badMask;
    const prev = this.badMask;
    this.badMask = mask;
    if (!changed) return;
    for (let c = 0; c < ch; c++) {
      if (!(changed & (1 << c))) continue;
      if (!(prev & (1 << c))) this.wentBad++;
      this.onChange?.(this.channel(c), this.samples);
    }
  }

  channel(c: number): ChannelQuality {
    const r = this.reasons[c]!;
    return {
      channel: c,
      ok: r === 0,
      reasons: REASON_BITS.filter((_, i) => r & (1 << i)),
      rms: Number(this.rms[c]!.toPrecision(4)),
      mains_share: Number(this.mains[c]!.toFixed(3)),
      clipped: this.clippedNow[c]!,
      clipped_total: this.clippedTotal[c]!,
      lead_off: this.leadOffNow[c] === 1,
    };
  }

  report(): SignalQualityReport {
    const channels = Array.from({ length: this.ch }, (_, c) => this.channel(c));
    return {
      window_ms: (this.o.hopSamples * this.o.blocks * 1000) / this.o.sampleRate,
      mains_hz: this.o.mainsHz,
      bad_mask: this.badMask,
      bad_channels: channels.filter((x) => !x.ok).map((x) => x.channel),
      went_bad: this.wentBad,
      channels,
    };
  }
}

/**
 * The bad-channel mask as it changed along the input, so that a pose made while the source runs
 * ahead (a replay at full speed, a backlog) carries the mask judged for its own samples. Bounded:
 * the oldest changes are forgotten, which only matters for poses far behind the source.
 */
export class MaskHistory {
  private readonly at = new Float64Array(64);
  private readonly mask = new Int32Array(64);
  private n = 0;

  /** The mask became `mask` from input sample `atSample` on (calls in increasing sample order). */
  set(atSample: number, mask: number): void {
    if (this.n > 0 && this.mask[(this.n - 1) % 64] === mask) return;
    const i = this.n % 64;
    this.at[i] = atSample;
    this.mask[i] = mask;
    this.n++;
  }

  /** The mask in force at input sample `atSample` (the newest known when that is ahead of every change). */
  maskAt(atSample: number): number {
    for (let k = this.n - 1; k >= Math.max(0, this.n - 64); k--) {
      const i = k % 64;
      if (this.at[i]! <= atSample) return this.mask[i]!;
    }
    return 0;
  }
}

/** What a channel's change is recorded as: an event detail and its data. */
export function qualityNote(c: ChannelQuality): { detail: string; data: Record<string, string | number | boolean> } {
  const detail = c.ok
    ? `channel ${c.channel} is good again (RMS ${c.rms}, mains share ${c.mains_share})`
    : `channel ${c.channel} went bad: ${c.reasons.join(', ')} (RMS ${c.rms}, mains share ${c.mains_share}, ${c.clipped} clipped in the window)`;
  return {
    detail,
    data: {
      channel: c.channel,
      ok: c.ok,
      reasons: c.reasons.join(','),
      rms: c.rms,
      mains_share: c.mains_share,
      clipped: c.clipped,
    },
  };
}

/**
 * Any source that writes through the sink on this thread, with its quality judged on what it
 * delivers (before the sanitizer: a value it refuses still counts as clipped here). The same
 * monitor the ADC worker runs; changes are noted as `signal_quality` events.
 */
export function withQuality(
  inner: EmgSource,
  settings: QualitySettings,
  levels: { clipLevel: number; flatRange: number },
): EmgSource {
  let monitor: SignalQualityMonitor | undefined;
  const history = new MaskHistory();
  return {
    info: inner.info,
    run(sink: SampleSink, signal: AbortSignal): Promise<void> {
      const out = sink.emg;
      let at = 0;
      const m = new SignalQualityMonitor(
        { ...settings, ...levels, channels: out.channels, sampleRate: inner.info.sampleRate },
        (c) => {
          const n = qualityNote(c);
          sink.note('signal_quality', at, n.detail, n.data);
          history.set(at, m.badMask);
        },
      );
      monitor = m;
      const ch = out.channels;
      const emg: SampleWriter = {
        channels: ch,
        get written() {
          return out.written;
        },
        append(src: Float32Array, frames = src.length / ch, srcOffset = 0): void {
          for (let f = 0; f < frames; f++) {
            at = out.written + f;
            m.push(src, srcOffset + f * ch);
          }
          out.append(src, frames, srcOffset);
        },
      };
      return inner.run(
        {
          emg,
          ...(sink.truth ? { truth: sink.truth } : {}),
          gap: (g) => sink.gap(g),
          note: (k, a, d, x) => sink.note(k, a, d, x),
          waitForSpace: (f) => sink.waitForSpace(f),
        },
        signal,
      );
    },
    ...(inner.stats ? { stats: () => inner.stats!() } : {}),
    quality: () => monitor?.report(),
    qualityMask: (atSample) => history.maskAt(atSample),
  };
}
