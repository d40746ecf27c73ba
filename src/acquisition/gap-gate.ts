import type { RunEvent, RunEventKind } from '../domain/events.js';
import type { RingBuffer } from './ring-buffer.js';

/** Control words shared between a writer thread and the main thread (Int32Array indices). */
export const CTRL_ACK = 0;
export const CTRL_STOP = 1;
export const CTRL_WORDS = 4;

/** Something to record that is not a hole in the numbering (stall, re-init, bridged gaps). */
export interface NoteMessage {
  readonly type: 'note';
  readonly kind: RunEventKind;
  readonly atSample: number;
  readonly detail: string;
  readonly data?: RunEvent['data'];
}

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
  spi_error: 'SPI transfer failed',
  bus_error: 'I2C read failed (NACK, bus timeout or error)',
  stall: 'acquisition stalled, driver re-initialised',
};

/** Losses that are never bridged: the signal on either side does not belong together. */
const NO_BRIDGE = new Set(['stall']);

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
  /** Short losses filled by interpolation instead of reported as gaps. */
  bridgedGaps = 0;
  bridgedSamples = 0;
  private readonly last: Float32Array;
  private readonly fill: Float32Array;
  private hasLast = false;
  private noBridge = false;
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
    /** Losses of at most this many samples are bridged (0 = never). */
    private readonly bridgeMax = 0,
    /** Told of each bridged loss (samples filled, ring index of the first): rate-limit the report there. */
    private readonly onBridged: (samples: number, atSample: number) => void = () => undefined,
  ) {
    this.last = new Float32Array(ring.channels);
    this.fill = new Float32Array(ring.channels);
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
    if (NO_BRIDGE.has(reason)) this.noBridge = true;
  }

  /**
   * Fills the pending loss with the straight line from the last delivered frame to `frame`:
   * a few samples at 2 kHz (≤ 4 ms) of a signal the model sees through a 40-sample step.
   */
  private bridge(frame: Float32Array, offset: number, waiting: boolean): void {
    const n = this.pendingLost;
    const ch = this.ring.channels;
    const at = this.ring.written + this.staged;
    this.pendingLost = 0;
    this.pendingReasons = 0;
    for (let j = 1; j <= n; j++) {
      const a = j / (n + 1);
      for (let c = 0; c < ch; c++) this.fill[c] = this.last[c]! + (frame[offset + c]! - this.last[c]!) * a;
      this.place(this.fill, 0, waiting);
    }
    this.bridgedGaps++;
    this.bridgedSamples += n;
    this.onBridged(n, at);
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
      if (
        this.pendingLost <= this.bridgeMax &&
        this.hasLast &&
        !this.noBridge &&
        (!waiting || this.staged + this.pendingLost < this.stagingFrames)
      ) {
        this.bridge(frame, offset, waiting);
      } else {
        this.reportGap();
        waiting = true;
      }
    }
    this.place(frame, offset, waiting);
    const ch = this.ring.channels;
    for (let c = 0; c < ch; c++) this.last[c] = frame[offset + c]!;
    this.hasLast = true;
  }

  /** Into the ring, or (`waiting`: the one reading of the acknowledgement push made) behind the held frames. */
  private place(frame: Float32Array, offset: number, waiting: boolean): void {
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
    this.post({
      type: 'gap',
      seq: this.seq,
      atSample: this.ring.written + this.staged,
      lostSamples: this.pendingLost,
      reason: this.reasonText(),
    });
    this.pendingLost = 0;
    this.pendingReasons = 0;
    this.noBridge = false;
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
