import type { GapEvent, SampleSink, SampleWriter } from './source.js';

export type BadSamplePolicy = 'hold_last' | 'zero' | 'gap';

export interface PreprocessOptions {
  readonly channels: number;
  readonly sampleRate: number;
  /** Butterworth high-pass corner in Hz; 0 = no filter. */
  readonly highpassHz: number;
  readonly order: 2 | 4;
  /** Output units per input unit (volts → the model's units). */
  readonly scale: number;
  readonly badSamplePolicy: BadSamplePolicy;
  /** |x| ≥ saturation[c] marks channel c's sample as saturated (input units); omit to skip. */
  readonly saturation?: ArrayLike<number>;
}

export interface PreprocessStats {
  frames: number;
  /** Frames with at least one bad sample. */
  badFrames: number;
  nan: number;
  inf: number;
  saturated: number;
  /** Frames dropped under the gap policy. */
  droppedFrames: number;
}

/** One second-order section, transposed direct form II coefficients (a0 = 1). */
interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

/**
 * Butterworth high-pass as cascaded biquads, bilinear transform with pre-warping. Order 2N
 * uses N sections with Q_k = 1 / (2 cos((2k − 1)π / 4N)).
 */
export function butterworthHighpass(cornerHz: number, sampleRate: number, order: 2 | 4): Biquad[] {
  const sections = order / 2;
  const w0 = (2 * Math.PI * cornerHz) / sampleRate;
  const cw = Math.cos(w0);
  const sw = Math.sin(w0);
  const out: Biquad[] = [];
  for (let k = 1; k <= sections; k++) {
    const q = 1 / (2 * Math.cos(((2 * k - 1) * Math.PI) / (4 * sections)));
    const alpha = sw / (2 * q);
    const a0 = 1 + alpha;
    out.push({
      b0: (1 + cw) / 2 / a0,
      b1: -(1 + cw) / a0,
      b2: (1 + cw) / 2 / a0,
      a1: (-2 * cw) / a0,
      a2: (1 - alpha) / a0,
    });
  }
  return out;
}

/**
 * Streaming conditioning of live samples: high-pass, unit scaling, and NaN/Inf/saturation
 * handling. Per-sample state only, so the output does not depend on how the stream is chunked.
 *
 * A bad sample never enters the filter: the filter is fed the channel's last good input instead,
 * so one glitch cannot ring through the following samples. hold_last then emits the filter's
 * output (the held value, filtered); zero emits 0; gap drops the whole frame.
 */
export class Preprocessor {
  readonly stats: PreprocessStats = { frames: 0, badFrames: 0, nan: 0, inf: 0, saturated: 0, droppedFrames: 0 };
  private readonly sections: Biquad[];
  /** [channel][section][2] filter state. */
  private readonly state: Float64Array;
  private readonly lastGood: Float64Array;
  private readonly seen: Uint8Array;
  private readonly bad: Uint8Array;
  private readonly sat: Float64Array | undefined;

  constructor(readonly opts: PreprocessOptions) {
    const ch = opts.channels;
    this.sections = opts.highpassHz > 0 ? butterworthHighpass(opts.highpassHz, opts.sampleRate, opts.order) : [];
    this.state = new Float64Array(ch * this.sections.length * 2);
    this.lastGood = new Float64Array(ch);
    this.seen = new Uint8Array(ch);
    this.bad = new Uint8Array(ch);
    this.sat = opts.saturation ? Float64Array.from(opts.saturation) : undefined;
    if (this.sat && this.sat.length !== ch)
      throw new RangeError(`preprocess: ${this.sat.length} saturation levels for ${ch} channels`);
  }

  /**
   * Conditions one frame from src[srcOff…+channels] into dst[dstOff…]. Returns false when the
   * frame is dropped (gap policy); then dst is untouched.
   */
  processFrame(src: ArrayLike<number>, srcOff: number, dst: Float32Array, dstOff: number): boolean {
    const ch = this.opts.channels;
    const st = this.stats;
    const sat = this.sat;
    st.frames++;
    let anyBad = false;
    for (let c = 0; c < ch; c++) {
      const x = src[srcOff + c]!;
      let b = 0;
      if (x !== x) {
        st.nan++;
        b = 1;
      } else if (x === Infinity || x === -Infinity) {
        st.inf++;
        b = 1;
      } else if (sat !== undefined && (x >= sat[c]! || x <= -sat[c]!)) {
        st.saturated++;
        b = 1;
      }
      this.bad[c] = b;
      if (b) anyBad = true;
    }
    if (anyBad) {
      st.badFrames++;
      if (this.opts.badSamplePolicy === 'gap') {
        st.droppedFrames++;
        return false;
      }
    }
    const zero = this.opts.badSamplePolicy === 'zero';
    const scale = this.opts.scale;
    for (let c = 0; c < ch; c++) {
      let x: number;
      if (this.bad[c]) {
        x = this.lastGood[c]!;
      } else {
        x = src[srcOff + c]!;
        this.lastGood[c] = x;
        if (!this.seen[c]) this.prime(c, x);
      }
      const y = this.filter(c, x);
      dst[dstOff + c] = zero && this.bad[c] ? 0 : y * scale;
    }
    return true;
  }

  /**
   * Conditions `frames` frames; kept frames are written contiguously from dst[dstOff]. Calls
   * `onDrop(i)` for each dropped input frame i. Returns the number of frames written.
   */
  process(
    src: ArrayLike<number>,
    frames: number,
    srcOff: number,
    dst: Float32Array,
    dstOff: number,
    onDrop?: (i: number) => void,
  ): number {
    const ch = this.opts.channels;
    let w = 0;
    for (let i = 0; i < frames; i++) {
      if (this.processFrame(src, srcOff + i * ch, dst, dstOff + w * ch)) w++;
      else onDrop?.(i);
    }
    return w;
  }

  /** Starts the filter as if the first value had always been there: no step transient from an electrode offset. */
  private prime(c: number, x: number): void {
    this.seen[c] = 1;
    if (this.sections.length === 0) return;
    const s = this.sections[0]!;
    const base = c * this.sections.length * 2;
    // Steady state of a constant input through a zero-DC-gain section: output 0.
    this.state[base] = -s.b0 * x;
    this.state[base + 1] = s.b2 * x;
  }

  private filter(c: number, x: number): number {
    const secs = this.sections;
    const n = secs.length;
    const st = this.state;
    let base = c * n * 2;
    let v = x;
    for (let k = 0; k < n; k++, base += 2) {
      const s = secs[k]!;
      const y = s.b0 * v + st[base]!;
      st[base] = s.b1 * v - s.a1 * y + st[base + 1]!;
      st[base + 1] = s.b2 * v - s.a2 * y;
      v = y;
    }
    return v;
  }
}

export interface PreprocessSinkOptions {
  /** Called at the first bad sample and then at most once per `reportEverySamples` with the totals. */
  onBadSamples?(stats: Readonly<PreprocessStats>): void;
  reportEverySamples?: number;
}

/**
 * Puts a Preprocessor in front of a sink: sources append raw samples and the ring receives
 * conditioned ones. Under the gap policy, dropped frames are reported through `sink.gap` and the
 * matching joint-angle frames are dropped too, so both rings keep one sample numbering. A
 * source must append a chunk's joint angles before its EMG (replay and synthetic do).
 */
export function preprocessSink(sink: SampleSink, pre: Preprocessor, o: PreprocessSinkOptions = {}): SampleSink {
  const emg = new PreprocessingWriter(sink, pre, o);
  return {
    emg,
    ...(sink.truth ? { truth: emg.truthWriter } : {}),
    gap: (e: GapEvent) => sink.gap(e),
    note: (kind, at, detail, data) => sink.note(kind, at, detail, data),
    waitForSpace: (frames: number) => sink.waitForSpace(frames),
  };
}

class PreprocessingWriter implements SampleWriter {
  readonly channels: number;
  readonly truthWriter: SampleWriter;
  private out = new Float32Array(0);
  private truthPending = new Float32Array(0);
  private truthCount = 0;
  private truthKept = new Float32Array(0);
  private dropRun = 0;
  private lastReportAt = -Infinity;
  private reportedBad = 0;

  constructor(
    private readonly sink: SampleSink,
    private readonly pre: Preprocessor,
    private readonly o: PreprocessSinkOptions,
  ) {
    this.channels = sink.emg.channels;
    const truth = sink.truth;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the object literal below needs a getter, which has its own `this`
    const self = this;
    this.truthWriter = {
      channels: truth?.channels ?? 0,
      get written(): number {
        return truth?.written ?? 0;
      },
      append(src: Float32Array, frames = src.length / (truth?.channels ?? 1), srcOffset = 0): void {
        self.queueTruth(src, frames, srcOffset);
      },
    };
  }

  get written(): number {
    return this.sink.emg.written;
  }

  append(src: Float32Array, frames = src.length / this.channels, srcOffset = 0): void {
    const ch = this.channels;
    if (this.out.length < frames * ch) this.out = new Float32Array(frames * ch);
    const truth = this.sink.truth;
    const tch = truth?.channels ?? 0;
    const withTruth = truth !== undefined && this.truthCount >= frames;
    if (withTruth && this.truthKept.length < frames * tch) this.truthKept = new Float32Array(frames * tch);
    let kept = 0;
    let emitted = 0;
    for (let i = 0; i < frames; i++) {
      if (this.pre.processFrame(src, srcOffset + i * ch, this.out, kept * ch)) {
        if (this.dropRun > 0) {
          // Everything before the hole goes in first, so the gap's index is exact.
          this.flush(kept, emitted, withTruth);
          emitted = kept;
          this.sink.gap({
            atSample: this.sink.emg.written,
            lostSamples: this.dropRun,
            reason: 'bad samples (NaN, Inf or saturated) dropped by the gap policy',
          });
          this.dropRun = 0;
        }
        if (withTruth) {
          const from = i * tch;
          const to = kept * tch;
          for (let j = 0; j < tch; j++) this.truthKept[to + j] = this.truthPending[from + j]!;
        }
        kept++;
      } else {
        this.dropRun++;
      }
    }
    this.flush(kept, emitted, withTruth);
    if (withTruth) this.shiftTruth(frames);
    this.report();
  }

  private flush(kept: number, from: number, withTruth: boolean): void {
    const n = kept - from;
    if (n <= 0) return;
    if (withTruth) this.sink.truth!.append(this.truthKept, n, from * this.sink.truth!.channels);
    this.sink.emg.append(this.out, n, from * this.channels);
  }

  private queueTruth(src: Float32Array, frames: number, off: number): void {
    const tch = this.sink.truth!.channels;
    const need = (this.truthCount + frames) * tch;
    if (this.truthPending.length < need) {
      const grown = new Float32Array(Math.max(need, this.truthPending.length * 2));
      grown.set(this.truthPending.subarray(0, this.truthCount * tch));
      this.truthPending = grown;
    }
    this.truthPending.set(src.subarray(off, off + frames * tch), this.truthCount * tch);
    this.truthCount += frames;
  }

  private shiftTruth(frames: number): void {
    const tch = this.sink.truth!.channels;
    this.truthPending.copyWithin(0, frames * tch, this.truthCount * tch);
    this.truthCount -= frames;
  }

  private report(): void {
    const st = this.pre.stats;
    if (!this.o.onBadSamples || st.badFrames === this.reportedBad) return;
    const every = this.o.reportEverySamples ?? this.pre.opts.sampleRate;
    if (this.reportedBad === 0 || st.frames - this.lastReportAt >= every) {
      this.o.onBadSamples(st);
      this.reportedBad = st.badFrames;
      this.lastReportAt = st.frames;
    }
  }
}
