import type { Acceptance, MergedReport, PluginReport } from './plugin.js';

const NOT_JUDGED: Acceptance = { enabled: false, evaluated: false, passed: null };

/**
 * Several reports as one, the way summary.json and health see a run: sections by key (a later
 * report's key wins), acceptance criteria of one name merged field by field (a judge gives
 * enabled/evaluated/passed, others add detail), counts of one name added up, gauges by name (a later report's value wins).
 */
export function mergeReports(reports: Iterable<PluginReport | undefined>, disabled: MergedReport['disabled'] = []): MergedReport {
  const gauges: Record<string, number> = {};
  const out: MergedReport = { sections: {}, acceptance: {}, counts: {}, gauges, disabled: [...disabled] };
  for (const r of reports) {
    if (!r) continue;
    Object.assign(out.sections, r.sections);
    for (const [k, v] of Object.entries(r.acceptance ?? {})) out.acceptance[k] = { ...NOT_JUDGED, ...out.acceptance[k], ...v };
    for (const [k, v] of Object.entries(r.counts ?? {})) out.counts[k] = (out.counts[k] ?? 0) + v;
    Object.assign(gauges, r.gauges);
  }
  return out;
}
