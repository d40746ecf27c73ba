export type Mode = 'exact' | 'streaming';

/**
 * One pose as handed to the outputs. Producers reuse one event object and its `angles` array
 * for every pose (nothing is allocated per step): a consumer that keeps a pose copies it.
 */
export interface PoseEvent {
  /** Stream time in seconds of the pose's 50 Hz step: (window end sample) / rate. */
  t: number;
  /**
   * Predictors number steps within their session; the pipeline renumbers them into one
   * increasing count for the whole run before the outputs see them.
   */
  step: number;
  mode: Mode;
  /** 20 joint angles, radians, in the order of geometry.JOINT_NAMES. */
  angles: Float32Array;
  /** performance.now() when the step's last input sample reached the ring; NaN if unknown. */
  inputArrivedAt: number;
  /** Input channels judged bad for the pose's samples (bit c = channel c); 0 = all good. */
  quality?: number;
}

export function newPoseEvent(mode: Mode, angles: Float32Array): PoseEvent {
  return { t: 0, step: 0, mode, angles, inputArrivedAt: NaN };
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
