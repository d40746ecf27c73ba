import type { RingBuffer } from './ring-buffer.js';

/** Control words shared between a writer thread and the main thread (Int32Array indices). */
export const CTRL_ACK = 0;
export const CTRL_STOP = 1;
export const CTRL_WORDS = 4;

export interface GapMessage {
  readonly type: 'gap';
  readonly seq: number;
  readonly atSample: number;
  readonly lostSamples: number;
  readonly reason: string;
}

const REASON_TEXT: Readonly<Record<string, string>> = {
  missed_drdy: 'missed DRDY',
  late_read: 'late read',
  bad_status: 'bad status marker',
  bad_sample: 'bad samples dropped',
  staging_full: 'main thread slow to acknowledge a gap',
};

/**
 * Writes frames into the shared ring from the acquisition thread, and makes sure a gap is known
 * on the main thread before any sample after it is visible there.
 *
 * The main thread learns of a gap by message (SampleSink.gap); samples travel through shared
 * memory at once. If the frame after a gap went straight into the ring, the pipeline could run a
 * step across the hole before the message arrived. So after posting a gap the gate holds new
 * frames in a staging buffer until the main thread stores the gap's sequence number in the
 * control block (it does so right after calling sink.gap), then releases them. Frames that
 * arrive while staging is full are dropped and reported as the next gap. Nothing here allocates
 * on the frame path.
 */
export class GapGate {
  /** Frames written into the ring (staged ones included once released). */
  delivered = 0;
  gapsReported = 0;
  private readonly staging: Float32Array;
  private readonly stagingFrames: number;
  private staged = 0;
  private pendingLost = 0;
  private pendingReasons = 0;
  private readonly reasonBits = new Map<string, number>();
  private seq = 0;

  constructor(
    private readonly ring: RingBuffer,
    private readonly ctrl: Int32Array,
    private readonly post: (m: GapMessage) => void,
    stagingFrames: number,
  ) {
    this.stagingFrames = Math.max(1, Math.min(stagingFrames, Math.floor(ring.capacity / 2)));
    this.staging = new Float32Array(this.stagingFrames * ring.channels);
    let bit = 1;
    for (const k of Object.keys(REASON_TEXT)) {
      this.reasonBits.set(k, bit);
      bit <<= 1;
    }
  }

  /** Frames waiting for an acknowledgement. */
  get held(): number {
    return this.staged;
  }

  /** `n` frames were lost before the next one. */
  lost(n: number, reason: string): void {
    this.pendingLost += n;
    this.pendingReasons |= this.reasonBits.get(reason) ?? 0;
  }

  /** One frame of `ring.channels` values from frame[offset]. */
  push(frame: Float32Array, offset = 0): void {
    // Read the acknowledgement once and act on that one answer. The main thread may store it at
    // any instant; reading it twice (once to release the held frames, once to decide where this
    // frame goes) lets an ack that lands in between send this frame into the ring ahead of the
    // frames still held, which would then follow it out of order.
    let waiting = this.awaitingAck();
    if (!waiting && this.staged > 0) this.appendStaged();
    if (waiting && this.staged >= this.stagingFrames) {
      // Nowhere to put it: one more lost frame, reported (once) when the held ones are out.
      this.lost(1, 'staging_full');
      return;
    }
    if (this.pendingLost > 0) {
      this.reportGap();
      waiting = true;
    }
    if (waiting) {
      const ch = this.ring.channels;
      const d = this.staged * ch;
      for (let c = 0; c < ch; c++) this.staging[d + c] = frame[offset + c]!;
      this.staged++;
      return;
    }
    this.ring.append(frame, 1, offset);
    this.delivered++;
  }

  /** Releases staged frames once the main thread has acknowledged every gap posted. */
  release(): void {
    if (this.staged === 0 || this.awaitingAck()) return;
    this.appendStaged();
  }

  /** Held frames into the ring; only once every gap posted is acknowledged. */
  private appendStaged(): void {
    this.ring.append(this.staging, this.staged, 0);
    this.delivered += this.staged;
    this.staged = 0;
  }

  /**
   * The rare path, kept out of push() so that the first gap does not deoptimise the frame path
   * (an optimised push() meeting this branch for the first time falls back to slower code).
   */
  private reportGap(): void {
    this.seq++;
    this.gapsReported++;
    this.post({ type: 'gap', seq: this.seq, atSample: this.ring.written + this.staged, lostSamples: this.pendingLost, reason: this.reasonText() });
    this.pendingLost = 0;
    this.pendingReasons = 0;
  }

  awaitingAck(): boolean {
    return Atomics.load(this.ctrl, CTRL_ACK) < this.seq;
  }

  private reasonText(): string {
    const parts: string[] = [];
    for (const [k, bit] of this.reasonBits) if (this.pendingReasons & bit) parts.push(REASON_TEXT[k]!);
    return parts.join(', ') || 'frames lost';
  }
}
