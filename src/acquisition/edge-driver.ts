import type { DataReadyLine } from './bindings/types.js';
import type { Clock } from './clock.js';
import type { EdgeStats, EdgeTiming, FrameSink, LossReason } from './device.js';

/** The counters every ADC driver keeps: the edge timing's, and the frames it handed on. */
export interface DriverStats extends EdgeStats {
  framesDelivered: number;
}

/**
 * What both ADC drivers do on each data-ready edge and how they give up. An edge is admitted by
 * the edge timing (missed and late conversions counted and reported), the frame is read, a read
 * that ended past the next conversion is dropped as torn, and a good frame goes to the sink. A
 * failed read or a bad frame is lost; too many in a row stop the driver and hand the error to
 * the worker, whose stall path re-initialises it. Each driver brings its bus: how a frame is
 * read, checked and decoded, and what its failures are called. The edge path allocates nothing.
 */
export abstract class EdgeDrivenAdc {
  abstract readonly stats: DriverStats;
  protected abstract readonly timing: EdgeTiming;
  /** The frame handed to the sink, output channel order: decodeFrame fills them. */
  protected abstract readonly frameVolts: Float32Array;
  protected abstract readonly frameCounts: Int32Array;
  protected running = false;
  /** Failed reads and bad frames in a row. */
  protected consecutiveBad = 0;
  private onFatal: (e: Error) => void = () => undefined;

  constructor(
    protected readonly drdy: DataReadyLine,
    protected readonly clock: Clock,
    protected readonly sink: FrameSink,
    private readonly maxConsecutiveBad: number,
  ) {}

  /** Reads the current conversion's frame into the driver's buffers; throws when the bus fails. */
  protected abstract readFrame(): void;
  /** Counts a read the bus refused by its cause, then calls badFrame. */
  protected abstract readFailed(e: unknown): void;
  /** Checks and decodes the frame read into frameVolts/frameCounts: its lead-off mask, or −1 after badFrame. */
  protected abstract decodeFrame(): number;
  /** The error that stops the driver after too many bad frames in a row. */
  protected abstract giveUpError(): Error;

  /** Starts the data-ready path; `onFatal` gets a dead line, or giveUpError. */
  protected async startEdges(onFatal: (e: Error) => void): Promise<void> {
    this.onFatal = onFatal;
    this.timing.reset();
    this.running = true;
    await this.drdy.start(this.onEdge, (e) => this.fail(e));
  }

  /** The data-ready path. An arrow property so that it can be handed to the line without binding. */
  readonly onEdge = (t: number): void => {
    if (!this.running) return;
    const st = this.stats;
    const t0 = this.clock.now();
    const deadline = this.timing.admit(t, t0, st, this.sink);
    if (deadline !== deadline) return;
    try {
      this.readFrame();
    } catch (e) {
      this.readFailed(e);
      return;
    }
    if (!this.timing.readDone(t0, this.clock.now(), deadline, st, this.sink)) return;
    const leadOff = this.decodeFrame();
    if (leadOff < 0) return;
    this.consecutiveBad = 0;
    st.framesDelivered++;
    this.sink.frame(this.frameVolts, this.frameCounts, leadOff);
  };

  /** One frame lost to a failed read or a bad frame; too many in a row stop the driver. */
  protected badFrame(reason: LossReason): void {
    this.stats.lostFrames++;
    this.sink.lost(1, reason);
    if (++this.consecutiveBad >= this.maxConsecutiveBad) this.fail(this.giveUpError());
  }

  /** Stops the data-ready path; drivers that must also quiet the chip extend it. */
  protected halt(): void {
    this.running = false;
    this.drdy.stop();
  }

  private fail(e: Error): void {
    if (!this.running) return;
    this.halt();
    this.onFatal(e);
  }
}

/** A register or byte value as the drivers' messages print it: two upper-case hex digits. */
export function hex(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, '0');
}
