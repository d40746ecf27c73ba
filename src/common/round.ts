/**
 * Three decimals: milliseconds to the microsecond, seconds to the millisecond, shares to a
 * tenth of a percent. What summary.json, the latency and alignment files, the report and the
 * live view print, so that one figure reads the same in each. A non-finite value is returned
 * as it is (JSON writes it as null).
 */
export function round3(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}
