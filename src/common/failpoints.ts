import { UserError } from './errors.js';

/**
 * Named failpoints: places in the code where a test harness can make a failure happen on demand
 * (a throw in a plug-in's hook, ENOSPC on one artifact), as etcd's gofail and TiKV's fail-rs do.
 *
 * They are armed only by the environment variable MYOSTREAM_FAILPOINTS, read once at start
 * (`loadFailpoints`), never by the configuration: a station's config cannot turn one on. Unarmed,
 * `failpoint(name)` is one test of a module-level `undefined` and returns; no allocation, so a
 * failpoint may sit on the 50 Hz path.
 *
 * Syntax: `name=action[;name=action…]` (`,` also separates), action `[COUNT*]KIND[(ARG)][@FROM]`:
 * - KIND `throw` (an Error naming the failpoint), `enospc` / `eio` (an errno error, as a failing
 *   write gives), `delay(MS)` (blocks the calling thread MS milliseconds: a slow hook), `off`;
 * - `@FROM`: act from the FROM-th hit on (1-based; default 1), earlier hits pass;
 * - `COUNT*`: act on COUNT hits at most, then pass (default: every hit from FROM on).
 * Example: `MYOSTREAM_FAILPOINTS='shadow.after_step=throw@200;artifact.summary.json=2*enospc@3'`.
 */

export type FailpointKind = 'throw' | 'enospc' | 'eio' | 'delay' | 'off';

export interface FailpointAction {
  readonly kind: FailpointKind;
  /** First hit (1-based) that acts. */
  readonly from: number;
  /** Hits that act at most (Infinity: all from `from` on). */
  readonly count: number;
  /** delay: milliseconds. */
  readonly ms: number;
}

class Point {
  hits = 0;
  acted = 0;
  constructor(
    readonly name: string,
    readonly action: FailpointAction,
  ) {}
}

let armed: Map<string, Point> | undefined;

const ACTION = /^(?:(\d+)\*)?(throw|enospc|eio|delay|off)(?:\((\d+)\))?(?:@(\d+))?$/;

/** Parses a MYOSTREAM_FAILPOINTS value; a malformed entry is a UserError naming it. */
export function parseFailpoints(spec: string): Map<string, FailpointAction> {
  const out = new Map<string, FailpointAction>();
  for (const raw of spec.split(/[;,]/)) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim() : '';
    const m = eq > 0 ? ACTION.exec(entry.slice(eq + 1).trim()) : null;
    if (!m || name === '' || /\s/.test(name)) {
      throw new UserError(`MYOSTREAM_FAILPOINTS: "${entry}" is not name=[COUNT*]throw|enospc|eio|delay(MS)|off[@FROM]`);
    }
    const kind = m[2] as FailpointKind;
    if (kind === 'delay' && m[3] === undefined)
      throw new UserError(`MYOSTREAM_FAILPOINTS: "${entry}": delay needs its milliseconds, delay(MS)`);
    if (kind !== 'delay' && m[3] !== undefined)
      throw new UserError(`MYOSTREAM_FAILPOINTS: "${entry}": only delay takes an argument`);
    const from = m[4] === undefined ? 1 : Number(m[4]);
    if (from < 1) throw new UserError(`MYOSTREAM_FAILPOINTS: "${entry}": @FROM counts hits from 1`);
    out.set(name, {
      kind,
      from,
      count: m[1] === undefined ? Infinity : Number(m[1]),
      ms: m[3] === undefined ? 0 : Number(m[3]),
    });
  }
  return out;
}

/**
 * Arms the failpoints a MYOSTREAM_FAILPOINTS value names (undefined or empty: none). Called once
 * at start; a second call replaces the set (tests).
 */
export function loadFailpoints(spec: string | undefined): void {
  if (spec === undefined || spec.trim() === '') {
    armed = undefined;
    return;
  }
  const parsed = parseFailpoints(spec);
  armed = parsed.size === 0 ? undefined : new Map([...parsed].map(([n, a]) => [n, new Point(n, a)]));
}

/** True when any failpoint is armed (a caller may skip building a failpoint's name otherwise). */
export function failpointsArmed(): boolean {
  return armed !== undefined;
}

/** Whether `name` is armed (a host decides once whether to wrap a hook). */
export function failpointArmed(name: string): boolean {
  return armed !== undefined && armed.has(name);
}

/** The armed failpoints' names, for one log line at start. */
export function armedFailpoints(): string[] {
  return armed ? [...armed.keys()] : [];
}

/** The failpoint `name`: does nothing unless armed; armed, it counts the hit and acts as told. */
export function failpoint(name: string): void {
  if (armed === undefined) return;
  const p = armed.get(name);
  if (p === undefined) return;
  p.hits++;
  const a = p.action;
  if (a.kind === 'off' || p.hits < a.from || p.acted >= a.count) return;
  p.acted++;
  switch (a.kind) {
    case 'throw':
      throw new Error(`failpoint ${name} (hit ${p.hits})`);
    case 'enospc':
    case 'eio': {
      const code = a.kind === 'enospc' ? 'ENOSPC' : 'EIO';
      const e = new Error(`${code}: failpoint ${name} (hit ${p.hits})`) as NodeJS.ErrnoException;
      e.code = code;
      e.errno = code === 'ENOSPC' ? -28 : -5;
      throw e;
    }
    case 'delay':
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, a.ms);
      return;
  }
}
