import type { Acceptance, MergedReport, PluginReport } from './plugin.js';

const NOT_JUDGED: Acceptance = { enabled: false, evaluated: false, passed: null };

/**
 * Several reports as one, the way summary.json and health see a run: sections by key (a later
 * report's key wins), acceptance criteria of one name merged field by field (a judge gives
 * enabled/evaluated/passed, others add detail), counts of one name added up, gauges by name (a later report's value wins).
 */
export function mergeReports(
  reports: Iterable<PluginReport | undefined>,
  disabled: MergedReport['disabled'] = [],
): MergedReport {
  const gauges: Record<string, number> = {};
  const out: MergedReport = { sections: {}, acceptance: {}, counts: {}, gauges, disabled: [...disabled] };
  for (const r of reports) {
    if (!r) continue;
    Object.assign(out.sections, r.sections);
    for (const [k, v] of Object.entries(r.acceptance ?? {}))
      out.acceptance[k] = { ...NOT_JUDGED, ...out.acceptance[k], ...v };
    for (const [k, v] of Object.entries(r.counts ?? {})) out.counts[k] = (out.counts[k] ?? 0) + v;
    Object.assign(gauges, r.gauges);
  }
  return out;
}

/**
 * A report section whose name and shape are declared once, here: the plug-in that writes it and
 * one that reads it (a status line showing a supervisor's figure) share the declaration, not a
 * string each repeats.
 */
export interface SectionKey<T> {
  readonly name: string;
  /** Never set: carries T. */
  readonly shape?: T;
}

export function sectionKey<T>(name: string): SectionKey<T> {
  return { name };
}

/** `value` as the section `key` names, for a report's `sections`. */
export function section<T>(key: SectionKey<T>, value: T): Record<string, T> {
  return { [key.name]: value };
}

export function readSection<T>(r: MergedReport, key: SectionKey<T>): T | undefined {
  return r.sections[key.name] as T | undefined;
}

/** The latency monitor's figures of the run so far (summary.json's `latency`). */
export interface LatencyFigures {
  t_compute_p95_ms: number | null;
  t_compute_p50_ms: number | null;
  end_to_end_p95_ms: number | null;
}

export const LATENCY_SECTION = sectionKey<LatencyFigures>('latency');
