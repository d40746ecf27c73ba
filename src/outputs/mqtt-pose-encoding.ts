import type { PoseEvent } from '../domain/pose.js';
import { captureTime, publishedAge } from './pose-age.js';

/**
 * The pose as JSON text, built directly: no intermediate object or array, the string is the
 * only thing a publish allocates here. Angles use the poses file's float32 text (9 significant
 * digits round-trip a float32); JSON has no NaN, so a non-finite angle is null.
 *
 * `ts` is the wall clock at publish (Unix ms) and `ageMs` the monotonic time since the newest
 * input sample arrived: `t_capture` is ts − age, the capture instant on the publisher's wall
 * clock, so t_capture ≤ ts holds even when the wall clock was stepped during the run. Both are
 * null when the arrival is unknown. `quality` is the source's bad-channel bitmask (bit i: channel
 * i), 0 when every channel is clean or the source does not measure it.
 */
export function encodePose(seq: number, e: PoseEvent, ts: number, ageMs: number): string {
  const age = publishedAge(ageMs);
  let s = '{"seq":' + seq + ',"t":' + Number(e.t.toFixed(6)) + ',"step":' + e.step + ',"mode":"' + e.mode + '","ts":' + ts;
  s += ',"t_capture":' + captureTime(ts, age) + ',"age_ms":' + age + ',"quality":' + (e.quality ?? 0) + ',"angles":[';
  const a = e.angles;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (i > 0) s += ',';
    s += Number.isFinite(v) ? Number(v.toPrecision(9)) : 'null';
  }
  return s + ']}';
}
