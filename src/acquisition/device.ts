/**
 * What the acquisition worker drives: an ADC with a data-ready line behind a driver, real or
 * simulated. The worker's ring, gap gate, stall supervision and re-initialisation are the same
 * for every ADC; each ADC brings one module that opens it as a WorkerDevice.
 */

export type LossReason = 'missed_drdy' | 'late_read' | 'bad_status' | 'spi_error' | 'bus_error';

/** Where a driver delivers. Both run on the DRDY path: no allocation, no waiting. */
export interface FrameSink {
  /**
   * One good frame: `volts` and `counts` in output channel order. Both arrays are reused: copy.
   * `leadOff` has bit c set when the ADC flags output channel c's electrode as off.
   */
  frame(volts: Float32Array, counts: Int32Array, leadOff: number): void;
  /** `n` conversions were lost before the next frame delivered. */
  lost(n: number, reason: LossReason): void;
}

export interface ConfigureReport {
  /**
   * ID register of each chip, one entry per chip; null for a chip whose registers the bus cannot
   * reach (the second chip of an ADS1299 daisy chain: register reads come from the first alone).
   */
  readonly ids: readonly (number | null)[];
  /** Registers written and verified, per bus device. */
  readonly registers: readonly Readonly<Record<string, number>>[];
}

/** A simulator's conversion player: the worker moves it against the wall clock or the reader. */
export interface SimPlayer {
  /** Conversions played so far. */
  readonly conversions: number;
  /** Plays every conversion due by `tMs` (virtual time). */
  runUntil(tMs: number): number;
  runConversions(n: number): void;
  /** Virtual time of conversion k. */
  conversionTime(k: number): number;
}

export interface LossCounter {
  readonly words: string;
  read(): number;
}

export interface WorkerDevice {
  /** For logs: the buses and lines opened. */
  readonly description: string;
  /** The driver's counters (frames, edges, losses by cause, …). */
  readonly stats: Readonly<Record<string, number>>;
  /**
   * Counters a stall note reports the change of since the last frame, with their wording. The
   * worker reads them after every frame: `read` must not allocate.
   */
  readonly lossCounters: readonly LossCounter[];
  /** Volts per count, output channel order (saturation levels derive from it). */
  readonly lsb: ArrayLike<number>;
  /** Largest count magnitude the converter gives. */
  readonly countMax: number;
  readonly sim?: SimPlayer;
  /** Resets, configures and verifies the chip(s); throws a UserError naming what is wrong. */
  configure(): ConfigureReport;
  describeChannel(i: number): string;
  /** Starts conversions and the data-ready path. `onFatal` gets a stuck bus or a dead line later. */
  start(onFatal: (e: Error) => void): Promise<void>;
  /** Stops the driver and closes the buses. Safe to call twice. */
  close(): void;
}

/**
 * A reproducible uniform [0, 1) per (seed, epoch, conversion): which DRDY pulses a simulator's
 * random loss takes. The epoch (re-initialisations so far) changes the draw after each re-init.
 */
export function unitHash(seed: number, epoch: number, k: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35) ^ Math.imul(k, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

/** `k => k > 0 && k % n === 0` for n > 0, else undefined: the simulators' every-N-th fault. */
export function everyNth(n: number): ((k: number) => boolean) | undefined {
  return n > 0 ? (k: number) => k > 0 && k % n === 0 : undefined;
}

/** The counters the data-ready timing keeps, common to both drivers' stats. */
export interface EdgeStats {
  edges: number;
  spuriousEdges: number;
  missedDrdy: number;
  lateReads: number;
  tornReads: number;
  framesRead: number;
  lostFrames: number;
  maxReadUs: number;
}

/**
 * The data-ready timing both drivers share: the ADCs have no FIFO and no sample counter, so
 * conversions that are missed or read too late are detected from the edge timestamps.
 */
export class EdgeTiming {
  private lastEdge = -1;

  constructor(
    readonly periodMs: number,
    private readonly lateMarginMs: number,
    readonly readMs: number,
  ) {}

  reset(): void {
    this.lastEdge = -1;
  }

  /**
   * Classifies the edge at `t`: −1 for a spurious edge (closer than half a period to the last:
   * ignore it), else the conversions missed since the previous edge (0 when none).
   */
  edge(t: number): number {
    let missed = 0;
    if (this.lastEdge >= 0) {
      const dt = t - this.lastEdge;
      if (dt < 0.5 * this.periodMs) return -1;
      const k = Math.round(dt / this.periodMs);
      if (k >= 2) missed = k - 1;
    }
    this.lastEdge = t;
    return missed;
  }

  /** A read must end by this time or the next conversion may overwrite the data. */
  deadline(t: number): number {
    return t + this.periodMs - this.lateMarginMs;
  }

  /**
   * Counts the edge at `t` and what it says, the read starting at `now`: returns the read's
   * deadline, or NaN when there is nothing to read (a spurious edge, or too late to finish).
   */
  admit(t: number, now: number, st: EdgeStats, sink: FrameSink): number {
    st.edges++;
    const missed = this.edge(t);
    if (missed < 0) {
      st.spuriousEdges++;
      return NaN;
    }
    if (missed > 0) {
      st.missedDrdy += missed;
      st.lostFrames += missed;
      sink.lost(missed, 'missed_drdy');
    }
    const deadline = this.deadline(t);
    if (now + this.readMs > deadline) {
      // The next conversion will replace the output register before a read could finish.
      st.lateReads++;
      st.lostFrames++;
      sink.lost(1, 'late_read');
      return NaN;
    }
    return deadline;
  }

  /** Counts a read from `t0` to `t1`; false when it ended past `deadline` (torn: dropped). */
  readDone(t0: number, t1: number, deadline: number, st: EdgeStats, sink: FrameSink): boolean {
    st.framesRead++;
    const us = (t1 - t0) * 1000;
    if (us > st.maxReadUs) st.maxReadUs = us;
    if (t1 <= deadline) return true;
    st.tornReads++;
    st.lostFrames++;
    sink.lost(1, 'late_read');
    return false;
  }
}

/** The driver side of a WorkerDevice: what both drivers offer. */
export interface AdcDriver {
  readonly stats: object;
  readonly lsb: ArrayLike<number>;
  configure(): ConfigureReport;
  describeChannel(i: number): string;
  start(onFatal: (e: Error) => void): Promise<void>;
}

/** A driver (and its simulator, if any) as the worker's device. */
export function workerDevice(
  d: AdcDriver,
  o: {
    description: string;
    countMax: number;
    sim: SimPlayer | undefined;
    lossCounters: readonly LossCounter[];
    close: () => void;
  },
): WorkerDevice {
  const sim = o.sim;
  return {
    description: o.description,
    get stats() {
      const st: Record<string, number> = { ...(d.stats as Record<string, number>) };
      if (sim) st['simConversions'] = sim.conversions;
      return st;
    },
    lossCounters: o.lossCounters,
    lsb: d.lsb,
    countMax: o.countMax,
    ...(sim ? { sim } : {}),
    configure: () => d.configure(),
    describeChannel: (i) => d.describeChannel(i),
    start: (onFatal) => d.start(onFatal),
    close: o.close,
  };
}
