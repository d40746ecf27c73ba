import type { ArtifactStore, MergedReport } from '../domain/plugin.js';
import { ARTIFACT_FILES, writerLiveness, type Liveness } from '../outputs/artifacts.js';
import { summaryOf } from '../outputs/artifacts-writer.js';
import { textOf } from '../common/text.js';

export type RunStateName = 'running' | 'stale' | 'died' | 'crashed' | 'exited' | 'finished' | 'unknown';

/** The state in three (the report's colour and its `run …` word): ended, going, or not ended well. */
export type RunStateKind = 'finished' | 'running' | 'crashed';

export type VerdictWord = 'PASSED' | 'NOT PASSED' | 'NO VERDICT';

/** How a run stands and whether it passed, with why: what status, the report and the end-of-run line say. */
export interface RunVerdict {
  state: RunStateName;
  /** finished (finished, exited), running (running, unknown) or crashed (died, stale, crashed). */
  kind: RunStateKind;
  /** One line for a person, e.g. "died (pid 123 gone, last heartbeat 2026-… , 41 s ago)". */
  text: string;
  heartbeat_age_s: number | null;
  /** The verdict: true PASSED, false NOT PASSED, undefined when the summary holds none. */
  passed: boolean | undefined;
  verdict: VerdictWord;
  /** Why the verdict is what it is, one line: the first thing that fails it, or what held. */
  reason: string;
  /** The run has not ended: the verdict is so far. */
  provisional: boolean;
}

/** The verdict as one line: "PASSED", "NOT PASSED so far: …". */
export function verdictLine(v: RunVerdict): string {
  return `${v.verdict}${v.provisional ? ' so far' : ''}: ${v.reason}`;
}

type Summary = Record<string, unknown>;

/**
 * The one judge of a run, for `status`, `collect`, the report and the daemon's own end-of-run
 * line: from what summary.json says and whether its writer still runs (`liveness`: same host,
 * same pid, same start time).
 *
 * State: an end the run recorded wins: `exited N: reason` when it stopped itself with exit
 * code N, `crashed` when it recorded an internal error. `died` only when nothing recorded an end
 * and the writer is gone (`ended unrecorded` when its disk had refused writes). A heartbeat is
 * late once it is three intervals old (at least 10 s): the writer rewrites the summary every
 * interval, so that is two missed in a row plus slack for a busy disk.
 *
 * Verdict: PASSED needs an end that is clean (or a run still going), no plug-in disabled, at
 * least one pose and every enabled acceptance criterion held. A run that died, was killed,
 * ended unrecorded, stopped answering, crashed or exited non-zero is never PASSED.
 */
export function judgeRun(
  s: Summary | null,
  now = Date.now(),
  defaultHeartbeatS = 5,
  liveness: (s: Summary) => Liveness = writerLiveness,
): RunVerdict {
  const st = stateOf(s, now, defaultHeartbeatS, liveness);
  return { ...st, kind: kindOf(st.state), ...verdictOf(s, st.state, st.text) };
}

function kindOf(state: RunStateName): RunStateKind {
  if (state === 'finished' || state === 'exited') return 'finished';
  return state === 'running' || state === 'unknown' ? 'running' : 'crashed';
}

function stateOf(
  s: Summary | null,
  now: number,
  defaultHeartbeatS: number,
  liveness: (s: Summary) => Liveness,
): { state: RunStateName; text: string; heartbeat_age_s: number | null } {
  if (!s) return { state: 'died', text: 'died before its first summary.json (no end recorded)', heartbeat_age_s: null };
  const updated = typeof s['updated_at'] === 'string' ? Date.parse(s['updated_at']) : NaN;
  const age = Number.isFinite(updated) ? Math.max(0, Math.round((now - updated) / 100) / 10) : null;
  const last = `last heartbeat ${textOf(s['updated_at'] ?? '?')}${age !== null ? `, ${age} s ago` : ''}`;
  const at = (
    state: RunStateName,
    text: string,
  ): { state: RunStateName; text: string; heartbeat_age_s: number | null } => ({ state, text, heartbeat_age_s: age });
  if (s['finished'] === true) {
    const reason = textOf(s['error'] ?? 'no reason recorded');
    const code = s['exit_code'];
    if (s['exit'] === 'exited') return at('exited', `exited ${typeof code === 'number' ? code : '?'}: ${reason}`);
    if (s['exit'] === 'error')
      return at('crashed', `crashed${typeof code === 'number' ? ` (exit ${code})` : ''}: ${reason}`);
    return at('finished', `finished (${textOf(s['exit'] ?? '?')}), ${last}`);
  }
  const interval =
    typeof s['heartbeat_interval_s'] === 'number' && s['heartbeat_interval_s'] > 0
      ? s['heartbeat_interval_s']
      : defaultHeartbeatS;
  const late = age === null || age > Math.max(3 * interval, 10);
  const pid = s['pid'];
  const failures = Array.isArray(s['artifacts_failures'])
    ? (s['artifacts_failures'] as { message?: string; time?: string }[])
    : [];
  const diskFailed = failures.find((f) => / (ENOSPC|EDQUOT|EIO|EROFS) /.test(String(f.message)));
  switch (liveness(s)) {
    case 'gone':
      // The artifacts disk failed: the run may have gone on (publishing) and ended where it
      // could no longer write, so its end is unknown rather than a crash.
      if (diskFailed)
        return at(
          'died',
          `ended unrecorded (pid ${String(pid)} gone, ${last}; the run folder stopped taking writes at ${String(diskFailed.time)}: ${String(diskFailed.message)})`,
        );
      return at('died', `died (pid ${String(pid)} gone, ${last})`);
    case 'alive':
      return late
        ? at(
            'stale',
            `stale (last heartbeat ${age ?? '?'} s ago; pid ${String(pid)} still runs but has stopped writing)`,
          )
        : at('running', `running (pid ${String(pid)}, ${last})`);
    case 'other-host':
      return late
        ? at('stale', `stale (last heartbeat ${age ?? '?'} s ago, written on host ${String(s['host'])})`)
        : at('running', `running on host ${String(s['host'])} (pid ${String(pid)}, ${last})`);
    default:
      return late
        ? at('stale', `stale (last heartbeat ${age ?? '?'} s ago; the summary records no pid)`)
        : at('unknown', `unknown: not finished, the summary records no pid (${last})`);
  }
}

function verdictOf(
  s: Summary | null,
  state: RunStateName,
  stateText: string,
): Pick<RunVerdict, 'passed' | 'verdict' | 'reason' | 'provisional'> {
  const provisional = state === 'running' || state === 'unknown' || state === 'stale';
  const fail = (reason: string): Pick<RunVerdict, 'passed' | 'verdict' | 'reason' | 'provisional'> => ({
    passed: false,
    verdict: 'NOT PASSED',
    reason,
    provisional,
  });
  if (!s) return fail('the run died before its first summary.json');
  switch (state) {
    case 'died':
      return fail(
        stateText.startsWith('ended unrecorded')
          ? 'the run ended unrecorded (its disk refused the final summary)'
          : 'the run died: its process is gone and no end was recorded (killed, out of memory, power cut)',
      );
    case 'stale':
      return fail('the run stopped writing its heartbeat while its process still runs (hung)');
    case 'crashed':
      return fail(`the run crashed: ${textOf(s['error'] ?? 'no reason recorded')}`);
    case 'exited':
      if (s['exit_code'] !== 0)
        return fail(
          `the run exited ${typeof s['exit_code'] === 'number' ? s['exit_code'] : 'with no code recorded'}: ${textOf(s['error'] ?? 'no reason recorded')}`,
        );
      break;
    default:
      break;
  }
  const disabled = disabledPlugins(s);
  if (disabled.length > 0) return fail(`plug-in${disabled.length > 1 ? 's' : ''} disabled: ${disabled.join('; ')}`);
  const poses = (s['counts'] as Summary | undefined)?.['poses'];
  if (typeof poses !== 'number' || poses <= 0) return fail('no poses');
  if (typeof s['passed'] !== 'boolean')
    return { passed: undefined, verdict: 'NO VERDICT', reason: 'the summary holds no verdict', provisional };
  const acceptance = (s['acceptance'] ?? {}) as Record<
    string,
    { enabled?: unknown; evaluated?: unknown; passed?: unknown } | undefined
  >;
  const enabled = Object.entries(acceptance).filter(([, a]) => a?.enabled === true);
  const failing = enabled
    .filter(([, a]) => a?.passed !== true)
    .map(([k, a]) => `${k} ${a?.evaluated === false || a?.passed === null ? 'not evaluated' : 'failed'}`);
  if (failing.length > 0) return fail(`acceptance not met: ${failing.join(', ')}`);
  if (!s['passed']) return fail('the run recorded passed=false');
  return {
    passed: true,
    verdict: 'PASSED',
    reason:
      enabled.length > 0
        ? `held: ${enabled.map(([k]) => k).join(', ')}`
        : 'no acceptance criterion enabled; poses delivered',
    provisional,
  };
}

/** `plugin (during what)` for each plug-in the run disabled after a failure. */
function disabledPlugins(s: Summary): string[] {
  const listed = (s['plugins'] as Summary | undefined)?.['disabled'];
  if (!Array.isArray(listed)) return [];
  return (listed as { plugin?: unknown; during?: unknown }[]).map(
    (d) => `${String(d.plugin)} (during ${String(d.during)})`,
  );
}

/** Times the store's disk refused summary.json so far. */
export function summaryRefusals(a: ArtifactStore): number {
  return a.failed.filter((f) => f.file === a.path(ARTIFACT_FILES.summary)).reduce((n, f) => n + f.count, 0);
}

/**
 * A run judging its own end, from the summary it just wrote: as `status` will judge it. When
 * the disk refused that final summary, the folder holds no end, so it is judged as status will
 * find it once the process is gone: ended unrecorded.
 */
export function judgeOwnEnd(
  report: MergedReport,
  artifacts: ArtifactStore,
  heartbeatS: number,
  finalRefused: boolean,
): RunVerdict {
  const summary = summaryOf(report, !finalRefused, heartbeatS, artifacts.dir);
  return finalRefused
    ? judgeRun({ ...summary, artifacts_failures: artifacts.failed }, Date.now(), heartbeatS, () => 'gone')
    : judgeRun(summary, Date.now(), heartbeatS, () => 'alive');
}
