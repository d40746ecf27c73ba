export type Mode = 'exact' | 'streaming';

/** One pose as handed to the outputs. `angles` is reused by the producer: copy it to keep it. */
export interface PoseEvent {
  /** Stream time in seconds: samples consumed through the newest one this pose depends on / rate. */
  readonly t: number;
  /** 50 Hz step index since the stream (session) start. */
  readonly step: number;
  readonly mode: Mode;
  /** 20 joint angles, radians, in the order of geometry.JOINT_NAMES. */
  readonly angles: Float32Array;
  /** performance.now() when the step's newest input sample reached the ring (end-to-end latency). */
  readonly inputArrivedAt?: number;
}

export interface PoseSink {
  write(e: PoseEvent): void;
  close(): Promise<void>;
}

/** Float32 values survive a text round trip with 9 significant digits. */
export function anglesToJson(a: Float32Array): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]!.toPrecision(9));
  return out;
}
