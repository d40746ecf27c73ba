import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { type z } from 'zod';
import { UserError } from '../common/errors.js';
import type { CoreConfig } from './schema.js';
import { inputDirProblem, outputPathProblem } from './path-check.js';
import { resolveDataPath } from '../common/paths.js';

export interface LoadOptions {
  /**
   * Check the configured paths (outputs.poses_out, outputs.artifacts_root, model.dir): not
   * under /proc or /sys, creatable and writable (or readable, for model.dir). Off for commands
   * that only read runs (status, collect), which a technician may run as another user.
   */
  checkPaths?: boolean;
}

/**
 * Reads the YAML file (if any), applies `key=value` overrides in order, validates against
 * `schema` (the composed configuration: daemon/config.ts binds it as loadConfig).
 */
export function loadConfigWith<T extends ConfigPaths>(
  schema: z.ZodType<T>,
  file: string | undefined,
  overrides: readonly string[] = [],
  opts: LoadOptions = {},
): T {
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UserError(`config file ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (e) {
      const err = e as { linePos?: { line: number; col: number }[]; message: string };
      const pos = err.linePos?.[0];
      throw new UserError(
        `config file ${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML (${err.message.split('\n')[0]})`,
      );
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new UserError(`config file ${file}: the top level must be a mapping of keys`);
    }
  }
  const fileRaw = raw;
  for (const o of overrides) raw = applyOverrideWith(schema, raw as Record<string, unknown>, o);
  const origin: ValueOrigin = { file, fileRaw, overrides };
  const cfg = validateConfigWith(schema, raw, file, origin);
  if (opts.checkPaths !== false) checkConfigPaths(cfg, origin);
  return cfg;
}

/** Where the values being validated came from, so an error can name the one that is wrong. */
export interface ValueOrigin {
  file: string | undefined;
  /** The file's own mapping, before any --set. */
  fileRaw: unknown;
  overrides: readonly string[];
}

/**
 * Which setting gave the value at `path`: the last `--set` of that key (or of a key above or
 * below it), else the config file when it holds the key, else the schema's default.
 */
export function originOf(path: readonly PropertyKey[], origin: ValueOrigin | undefined): string {
  const dotted = path.map(String).join('.');
  for (let i = (origin?.overrides.length ?? 0) - 1; i >= 0; i--) {
    const o = origin!.overrides[i]!;
    const key = o.slice(0, Math.max(0, o.indexOf('='))).trim();
    if (key && (key === dotted || dotted.startsWith(key + '.') || key.startsWith(dotted + '.'))) return `--set ${o}`;
  }
  if (origin?.file !== undefined && (getPath(origin.fileRaw, path) !== undefined || path.length === 0))
    return `config file ${origin.file}`;
  // The key kept its default: the culprit is a key it must agree with, set in one of these.
  const from = [
    ...(origin?.file !== undefined ? [`file ${origin.file}`] : []),
    ...(origin?.overrides.length ? [`--set ${origin.overrides.join(', --set ')}`] : []),
  ];
  return `config (${dotted || 'top level'} has its default${from.length ? `; the other values came from ${from.join('; ')}` : ''})`;
}

export function validateConfigWith<T>(schema: z.ZodType<T>, raw: unknown, source?: string, origin?: ValueOrigin): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  let from = origin ? originOf(first.path, origin) : source !== undefined ? `config file ${source}` : 'config';
  // A rule that ties keys together (custom issue) may be broken by a --set of the other key.
  if (origin && first.code === 'custom' && from.startsWith('config file') && origin.overrides.length > 0)
    from += ` (with --set ${origin.overrides.join(', --set ')})`;
  throw new UserError(`${from}: ${describeIssue(first, raw)}`);
}

/** The keys of the configuration that name paths a run writes or reads. */
export interface ConfigPaths {
  model: Pick<CoreConfig['model'], 'dir'>;
  outputs: { poses_out: string; artifacts_root: string };
}

/** The path keys of the configuration, checked before a run touches them (see LoadOptions). */
export function checkConfigPaths(cfg: ConfigPaths, origin?: ValueOrigin): void {
  const checks: [string[], string, string | undefined][] = [
    [
      ['outputs', 'poses_out'],
      cfg.outputs.poses_out,
      cfg.outputs.poses_out ? outputPathProblem(cfg.outputs.poses_out, 'file') : undefined,
    ],
    [
      ['outputs', 'artifacts_root'],
      cfg.outputs.artifacts_root,
      cfg.outputs.artifacts_root ? outputPathProblem(cfg.outputs.artifacts_root, 'dir') : undefined,
    ],
    [['model', 'dir'], cfg.model.dir, inputDirProblem(resolveDataPath(cfg.model.dir))],
  ];
  for (const [path, value, problem] of checks) {
    if (problem)
      throw new UserError(`${originOf(path, origin)}: ${path.join('.')} = ${JSON.stringify(value)}: ${problem}`);
  }
}

/** Keys that moved, old → new: an old configuration is told where, rather than "unknown key". */
const MOVED_KEYS: Readonly<Record<string, string>> = {
  // One smoothed stream for every output that shows it, no longer MQTT's own.
  'outputs.mqtt.smoothing': 'outputs.smoothing',
};

/** Where `key` (dotted; a stream's key under streams.N, or a key below the moved one) is now; undefined if it did not move. */
function movedKey(key: string): string | undefined {
  const parts = key.split('.');
  for (const [from, to] of Object.entries(MOVED_KEYS)) {
    const f = from.split('.');
    for (let i = 0; i + f.length <= parts.length; i++) {
      if (f.every((p, j) => parts[i + j] === p))
        return [...parts.slice(0, i), to, ...parts.slice(i + f.length)].join('.');
    }
  }
  return undefined;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    const base = issue.path.join('.');
    const keys = issue.keys.map((k) => (base ? `${base}.${k}` : k));
    const moved = keys.find((k) => movedKey(k) !== undefined);
    if (moved !== undefined) return `${moved} moved to ${movedKey(moved)}`;
    return `unknown key ${keys.join(', ')}`;
  }
  const key = issue.path.join('.');
  const value = getPath(raw, issue.path);
  const shown = value === undefined ? '(missing)' : JSON.stringify(value);
  return `${key || '(top level)'} = ${shown}: ${issue.message}`;
}

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/**
 * `a.b.c=value`: the value is read as YAML (numbers, booleans, lists), except where the schema
 * wants a string at that key, where the text is kept as written (`--set input.source=replay:1.mtb`).
 */
export function applyOverrideWith(
  schema: z.ZodType,
  raw: Record<string, unknown>,
  override: string,
): Record<string, unknown> {
  const eq = override.indexOf('=');
  if (eq <= 0) throw new UserError(`--set ${override}: expected key=value`);
  const key = override.slice(0, eq).trim();
  const text = override.slice(eq + 1);
  const path = key.split('.');
  if (path.some((p) => p.length === 0)) throw new UserError(`--set ${override}: "${key}" is not a dotted key`);
  const leaf = schemaAt(schema, path);
  const moved = leaf === undefined ? movedKey(key) : undefined;
  if (moved !== undefined) throw new UserError(`--set ${override}: ${key} moved to ${moved}`);
  if (leaf === undefined) throw new UserError(`--set ${override}: unknown key ${key}`);
  let value: unknown;
  if (wantsString(leaf)) {
    value = text;
  } else {
    try {
      value = parseYaml(text);
    } catch {
      throw new UserError(`--set ${override}: value "${text}" is not valid YAML`);
    }
  }
  const out = structuredClone(raw);
  let cur: Record<string, unknown> = out;
  for (const p of path.slice(0, -1)) {
    const next = cur[p];
    if (next === undefined || next === null) cur[p] = {};
    else if (typeof next !== 'object' || Array.isArray(next))
      throw new UserError(`--set ${override}: ${p} is not a mapping`);
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
  return out;
}

type AnySchema = z.core.$ZodType;

function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: AnySchema; in?: AnySchema };
    if (
      (def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') &&
      def.innerType
    )
      cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else return cur;
  }
}

function schemaAt(schema: AnySchema, path: readonly string[]): AnySchema | undefined {
  let cur: AnySchema = schema;
  for (const p of path) {
    const s = unwrap(cur);
    const def = s._zod.def as { type: string; shape?: Record<string, AnySchema> };
    if (def.type !== 'object' || !def.shape || !(p in def.shape)) return undefined;
    cur = def.shape[p]!;
  }
  return cur;
}

function wantsString(s: AnySchema): boolean {
  const t = (unwrap(s)._zod.def as { type: string }).type;
  return t === 'string';
}

/** The effective configuration as YAML, for config_snapshot.yaml. */
export function configToYaml(c: object): string {
  return stringifyYaml(c, { lineWidth: 0 });
}
