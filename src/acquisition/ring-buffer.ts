/**
 * Fixed-capacity [time, channel] float32 ring over one SharedArrayBuffer, so an acquisition
 * worker can append while the inference thread reads. One writer, one reader.
 *
 * Counters live in an Int32Array control block beside the samples. The total written is a
 * 53-bit count kept as two 32-bit halves under a sequence lock (Atomics has no 64-bit float and
 * BigInt would allocate on every read). Overflow policy: the writer never waits; when the reader
 * falls more than `capacity` behind, the oldest unread samples are overwritten and counted.
 */

// Two sequence locks, one per owner thread: the writer owns `written` and `overwritten`, the
// reader owns its cursor. Each 53-bit count is two 32-bit halves read under its owner's lock.
const CTRL_SEQ_W = 0; // even = stable, odd = writer mid-update
const CTRL_WRITTEN_LO = 1;
const CTRL_WRITTEN_HI = 2;
const CTRL_OVERWRITTEN_LO = 3;
const CTRL_OVERWRITTEN_HI = 4;
const CTRL_SEQ_R = 8;
const CTRL_READ_LO = 9;
const CTRL_READ_HI = 10;
const CTRL_STAMP = 6; // 1 = record arrival times (set at creation, read by any writer)
const CTRL_WORDS = 16; // padded to 64 bytes
// When each held sample arrived: one epoch-ms stamp per ring slot, written with the sample under
// the writer's lock, so the reader can time a step from the arrival of its last sample however
// far behind it runs (end-to-end latency) and whatever the writer's append size (the ADC worker
// appends frame by frame, a replay in 40-sample chunks). Kept by sample, the log covers exactly
// what the ring holds: a loop that falls seconds behind, or a process frozen and then catching
// up, still measures its true, long latency rather than none. Epoch time, because a worker's
// performance.now() has another origin than the main thread's.
const ARRIVALS_OFFSET = CTRL_WORDS * 4;
const dataOffset = (capacity: number): number => ARRIVALS_OFFSET + capacity * 8;
// Read once: the getter returns a fresh heap number on every call. Reading the clock itself
// costs one 16-byte heap number per append (Node 20 has no allocation-free clock), which is why
// arrival stamps are opt-in: the pipeline's EMG ring has them, other rings append allocation-free.
const TIME_ORIGIN = performance.timeOrigin;
const TWO32 = 0x1_0000_0000;
const noop = (): void => undefined;

export interface RingBufferLayout {
  readonly capacity: number;
  readonly channels: number;
  readonly buffer: SharedArrayBuffer;
}

export class RingBuffer {
  readonly capacity: number;
  readonly channels: number;
  readonly buffer: SharedArrayBuffer;
  private readonly ctrl: Int32Array;
  private readonly data: Float32Array;
  private readonly arrivals: Float64Array;

  private constructor(layout: RingBufferLayout) {
    this.capacity = layout.capacity;
    this.channels = layout.channels;
    this.buffer = layout.buffer;
    this.ctrl = new Int32Array(layout.buffer, 0, CTRL_WORDS);
    this.arrivals = new Float64Array(layout.buffer, ARRIVALS_OFFSET, layout.capacity);
    this.data = new Float32Array(layout.buffer, dataOffset(layout.capacity), layout.capacity * layout.channels);
  }

  /** `stampArrivals`: remember when each held sample arrived (for end-to-end latency). */
  static create(capacity: number, channels: number, opts: { stampArrivals?: boolean } = {}): RingBuffer {
    if (!Number.isInteger(capacity) || capacity <= 0)
      throw new RangeError(`ring capacity ${capacity} must be a positive integer`);
    if (!Number.isInteger(channels) || channels <= 0)
      throw new RangeError(`ring channels ${channels} must be a positive integer`);
    const buffer = new SharedArrayBuffer(dataOffset(capacity) + capacity * channels * 4);
    const ring = new RingBuffer({ capacity, channels, buffer });
    if (opts.stampArrivals) Atomics.store(ring.ctrl, CTRL_STAMP, 1);
    return ring;
  }

  /** Attaches to a ring created elsewhere (e.g. in another worker), from its layout. */
  static attach(layout: RingBufferLayout): RingBuffer {
    if (layout.buffer.byteLength !== dataOffset(layout.capacity) + layout.capacity * layout.channels * 4) {
      throw new RangeError('shared buffer size does not match the ring layout');
    }
    return new RingBuffer(layout);
  }

  layout(): RingBufferLayout {
    return { capacity: this.capacity, channels: this.channels, buffer: this.buffer };
  }

  /** Samples ever appended (monotonic). */
  get written(): number {
    return this.readPair(CTRL_SEQ_W, CTRL_WRITTEN_LO, CTRL_WRITTEN_HI);
  }

  /** The reader's position: samples consumed so far (monotonic). */
  get readCursor(): number {
    return this.readPair(CTRL_SEQ_R, CTRL_READ_LO, CTRL_READ_HI);
  }

  /** Unread samples lost to overwriting since creation. */
  get overwritten(): number {
    return this.readPair(CTRL_SEQ_W, CTRL_OVERWRITTEN_LO, CTRL_OVERWRITTEN_HI);
  }

  /** Oldest absolute sample index still held. */
  get oldest(): number {
    return Math.max(0, this.written - this.capacity);
  }

  /**
   * Appends `frames` time-major samples (frames × channels values from `src[srcOffset]`).
   * Writing more than the capacity at once keeps only the newest `capacity` samples; the ones
   * skipped count as overwritten when the reader had not consumed them.
   */
  append(src: Float32Array, frames = src.length / this.channels, srcOffset = 0): void {
    const ch = this.channels;
    const cap = this.capacity;
    if (!Number.isInteger(frames) || frames < 0)
      throw new RangeError(`append: ${frames} is not a whole number of frames`);
    if (!Number.isInteger(srcOffset) || srcOffset < 0 || srcOffset + frames * ch > src.length) {
      throw new RangeError(`append: source holds ${src.length} values, needs ${srcOffset} + ${frames} × ${ch}`);
    }
    if (frames === 0) return;
    const written = this.written;
    const skip = frames > cap ? frames - cap : 0;
    const newWritten = written + frames;
    // Unread samples that fall out of the window are the overflow: [max(read, oldest), newOldest).
    const oldOldest = written > cap ? written - cap : 0;
    const newOldest = newWritten > cap ? newWritten - cap : 0;
    const read = this.readCursor;
    const lost = Math.max(0, newOldest - (read > oldOldest ? read : oldOldest));
    const overwritten = this.overwritten;
    const data = this.data;
    Atomics.add(this.ctrl, CTRL_SEQ_W, 1);
    // Plain loops rather than set(subarray()): a subarray is a new object on every call, and
    // this runs 2000 times a second for the life of the process.
    let d = ((written + skip) % cap) * ch;
    const end = cap * ch;
    let s = srcOffset + skip * ch;
    const sEnd = srcOffset + frames * ch;
    while (s < sEnd) {
      const run = Math.min(sEnd - s, end - d);
      for (let i = 0; i < run; i++) data[d + i] = src[s + i]!;
      s += run;
      d = 0;
    }
    if (this.ctrl[CTRL_STAMP] === 1) {
      const at = TIME_ORIGIN + performance.now();
      const arrivals = this.arrivals;
      let a = (written + skip) % cap;
      for (let k = skip; k < frames; k++) {
        arrivals[a] = at;
        a = a + 1 === cap ? 0 : a + 1;
      }
    }
    this.storePair(CTRL_WRITTEN_LO, CTRL_WRITTEN_HI, newWritten);
    if (lost > 0) this.storePair(CTRL_OVERWRITTEN_LO, CTRL_OVERWRITTEN_HI, overwritten + lost);
    Atomics.add(this.ctrl, CTRL_SEQ_W, 1);
    Atomics.notify(this.ctrl, CTRL_SEQ_W);
  }

  /**
   * Epoch milliseconds at which absolute sample `sample` was appended, or NaN when the ring no
   * longer (or not yet) holds it, or does not stamp arrivals.
   */
  arrivalTimeOf(sample: number): number {
    if (this.ctrl[CTRL_STAMP] !== 1 || !Number.isInteger(sample) || sample < 0) return NaN;
    for (;;) {
      const s0 = Atomics.load(this.ctrl, CTRL_SEQ_W);
      const written = this.written;
      const held = sample < written && sample >= written - this.capacity;
      const at = held ? this.arrivals[sample % this.capacity]! : NaN;
      const s1 = Atomics.load(this.ctrl, CTRL_SEQ_W);
      if (s0 === s1 && (s0 & 1) === 0) return at;
    }
  }

  /** Wakes waitForAppend() callers without appending (e.g. when the source has ended). */
  wakeWaiters(): void {
    Atomics.notify(this.ctrl, CTRL_SEQ_W);
  }

  /**
   * Resolves when something is appended after this call, or after `timeoutMs`. Works across
   * threads (the writer notifies) and within one thread (it does not block the event loop).
   * A pending Atomics.waitAsync does not keep Node's event loop alive, so a timer does: a
   * process whose only work is waiting for a writer thread must not exit under it.
   */
  async waitForAppend(timeoutMs: number): Promise<void> {
    const seq = Atomics.load(this.ctrl, CTRL_SEQ_W);
    const w = Atomics.waitAsync(this.ctrl, CTRL_SEQ_W, seq, timeoutMs);
    if (!w.async) return;
    // waitAsync's own timeout timer does not keep Node alive and only starts at the next task
    // flush, so a keep-alive timed to it can expire first; hold one until the wait settles.
    const keepAlive = setInterval(noop, 1000);
    try {
      await w.value;
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** True when at least `step` unread samples are waiting. */
  canStep(step: number): boolean {
    return this.written - this.readCursor >= step;
  }

  /** True when unread samples were overwritten: the reader must treat it as a gap. */
  readerOverrun(): boolean {
    return this.readCursor < this.oldest;
  }

  /** Marks `n` more samples consumed by the reader. */
  consume(n: number): void {
    const read = this.readCursor;
    this.setReader(Math.min(read + n, this.written));
  }

  /** Moves the reader's cursor to an absolute sample index (e.g. after a gap reset). */
  seekReader(index: number): void {
    this.setReader(Math.min(Math.max(index, this.oldest), this.written));
  }

  /** Copies the newest `n` samples, time-major, into `out`. */
  sliceTail(n: number, out: Float32Array): void {
    this.sliceEndingAt(this.written, n, out);
  }

  /**
   * Copies samples [end − n, end) time-major ([n, channels]) into `out`. Throws if any of them is
   * no longer (or not yet) held, or was overwritten by the writer while being copied.
   */
  sliceEndingAt(end: number, n: number, out: Float32Array): void {
    const ch = this.channels;
    this.check(end, n, out.length, n * ch);
    const data = this.data;
    const dataEnd = this.capacity * ch;
    let d = ((end - n) % this.capacity) * ch;
    let o = 0;
    const oEnd = n * ch;
    while (o < oEnd) {
      const run = Math.min(oEnd - o, dataEnd - d);
      for (let i = 0; i < run; i++) out[o + i] = data[d + i]!;
      o += run;
      d = 0;
    }
    this.checkIntact(end, n);
  }

  /**
   * Copies samples [end − n, end) channel-major into `out` ([channels, n], the encoder's
   * layout), transposing on the way so the hot path makes one pass.
   */
  sliceChannelMajorEndingAt(end: number, n: number, out: Float32Array): void {
    this.check(end, n, out.length, n * this.channels);
    const ch = this.channels;
    const cap = this.capacity;
    const data = this.data;
    let pos = (end - n) % cap;
    for (let t = 0; t < n; t++) {
      const base = pos * ch;
      for (let c = 0; c < ch; c++) out[c * n + t] = data[base + c]!;
      pos = pos + 1 === cap ? 0 : pos + 1;
    }
    this.checkIntact(end, n);
  }

  private check(end: number, n: number, outLen: number, need: number): void {
    if (!Number.isInteger(end) || !Number.isInteger(n) || n < 0)
      throw new RangeError(`slice: end ${end} and n ${n} must be whole numbers, n ≥ 0`);
    if (outLen < need) throw new RangeError(`slice: output holds ${outLen} values, needs ${need}`);
    const written = this.written;
    if (end > written) throw new RangeError(`slice: sample ${end - 1} not written yet (written ${written})`);
    if (end - n < Math.max(0, written - this.capacity)) {
      throw new RangeError(
        `slice: sample ${end - n} already overwritten (oldest held ${Math.max(0, written - this.capacity)})`,
      );
    }
  }

  /**
   * A writer on another thread may have lapped the copy while it ran. `written` is published
   * after the data, so re-reading it after the copy tells whether any copied slot was reused.
   */
  private checkIntact(end: number, n: number): void {
    const oldest = this.written - this.capacity;
    if (n > 0 && end - n < oldest) {
      throw new RangeError(
        `slice: samples from ${end - n} were overwritten while being copied (oldest held now ${oldest})`,
      );
    }
  }

  private setReader(value: number): void {
    Atomics.add(this.ctrl, CTRL_SEQ_R, 1);
    this.storePair(CTRL_READ_LO, CTRL_READ_HI, value);
    Atomics.add(this.ctrl, CTRL_SEQ_R, 1);
  }

  private readPair(seq: number, lo: number, hi: number): number {
    for (;;) {
      const s0 = Atomics.load(this.ctrl, seq);
      const h = Atomics.load(this.ctrl, hi) >>> 0;
      const l = Atomics.load(this.ctrl, lo) >>> 0;
      const s1 = Atomics.load(this.ctrl, seq);
      // The owner never reads its own counters mid-update, so an odd or moving sequence means
      // the other thread is writing: retry (the window is a few stores long).
      if (s0 === s1 && (s0 & 1) === 0) return h * TWO32 + l;
    }
  }

  private storePair(lo: number, hi: number, value: number): void {
    Atomics.store(this.ctrl, hi, Math.floor(value / TWO32) | 0);
    Atomics.store(this.ctrl, lo, (value % TWO32) | 0);
  }
}
