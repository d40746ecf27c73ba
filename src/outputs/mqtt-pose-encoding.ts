import type { PoseEvent } from '../domain/pose.js';

/**
 * The pose as JSON text, built directly: no intermediate object or array, the string is the
 * only thing a publish allocates here. Angles use the poses file's float32 text (9 significant
 * digits round-trip a float32); JSON has no NaN, so a non-finite angle is null.
 */
export function encodePose(seq: number, e: PoseEvent, ts: number): string {
  let s = '{"seq":' + seq + ',"t":' + Number(e.t.toFixed(6)) + ',"step":' + e.step + ',"mode":"' + e.mode + '","ts":' + ts + ',"angles":[';
  const a = e.angles;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (i > 0) s += ',';
    s += Number.isFinite(v) ? Number(v.toPrecision(9)) : 'null';
  }
  return s + ']}';
}
