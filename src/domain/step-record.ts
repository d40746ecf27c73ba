import type { StepRecord } from './events.js';

export function newStepRecord(angles: Float32Array): StepRecord {
  return {
    sessionStep: 0,
    step: 0,
    t: 0,
    sessionOrigin: 0,
    readyAt: 0,
    computeMs: 0,
    frameLo: 0,
    frameHi: 0,
    frameWeight: 0,
    angles,
    inputArrivedAt: NaN,
    handledAt: NaN,
  };
}

/**
 * The run's one end-to-end latency: from the arrival of a step's last input sample to the
 * moment every output had its pose (all `pose` listeners returned). NaN when the arrival is
 * not known (a source that does not time its samples).
 */
export function endToEndMs(r: StepRecord): number {
  return r.handledAt - r.inputArrivedAt;
}
