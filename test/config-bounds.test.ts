import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify as stringifyYaml } from 'yaml';
import type { z } from 'zod';
import { isUserError } from '../src/common/errors.js';
import { loadConfig } from '../src/daemon/config.js';
import { configSchema } from '../src/daemon/config.js';
import { configJsonSchema } from '../src/daemon/config.js';
import { runCli } from './helpers.js';

type AnySchema = z.core.$ZodType;
type Def = { type: string; innerType?: AnySchema; in?: AnySchema; shape?: Record<string, AnySchema> };

function unwrap(s: AnySchema): AnySchema {
  for (let cur = s; ;) {
    const d = cur._zod.def as Def;
    if (['default', 'prefault', 'optional', 'nullable'].includes(d.type) && d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else return cur;
  }
}

/** Every leaf key of the configuration, with its zod type name. */
function leaves(s: AnySchema = configSchema, prefix = ''): { key: string; type: string }[] {
  const d = unwrap(s)._zod.def as Def;
  if (d.type !== 'object' || !d.shape) return [{ key: prefix, type: d.type }];
  return Object.entries(d.shape).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

const KEYS = leaves();

/** Nasty values, as the text after `=`. */
const nasty = fc.oneof(
  fc.constantFrom(
    '1e12',
    '-1',
    '1e-9',
    '0',
    '1e10',
    '2e9',
    '100000',
    '.inf',
    '-.inf',
    '.nan',
    'true',
    'null',
    '~',
    '[]',
    '[1, 2]',
    '{a: 1}',
    '',
    '"',
    'a\nb',
    '/proc/nope/p.jsonl',
    '/sys/kernel/x',
    '/dev/null',
    '/nonexistent/dir/f',
    '../../../../etc',
    'x'.repeat(5000),
  ),
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ maxLength: 20 }),
);

const override = fc
  .tuple(fc.constantFrom(...KEYS.map((k) => k.key), 'model.nope', 'nope', 'outputs..x'), nasty)
  .map(([k, v]) => `${k}=${v}`);

function checkRefusal(e: unknown, file?: string): void {
  assert.ok(isUserError(e), `a UserError, not ${String((e as Error)?.stack ?? e)}`);
  const m = (e as Error).message;
  assert.ok(!m.includes('\n'), `one line: ${m}`);
  assert.ok(
    m.startsWith('--set ') || m.startsWith('config') || (file !== undefined && m.startsWith(`config file ${file}`)),
    `names its source: ${m}`,
  );
}

test('every numeric key has a minimum and a maximum', () => {
  const unbounded: string[] = [];
  const huge = Number.MAX_SAFE_INTEGER;
  const bounded = (lo: unknown, hi: unknown): boolean =>
    typeof lo === 'number' && typeof hi === 'number' && Math.abs(lo) < huge && Math.abs(hi) < huge;
  const walk = (n: Record<string, unknown>, key: string): void => {
    if (n['type'] === 'number' || n['type'] === 'integer') {
      // A literal list (the ADS1299's gains) is its own bound.
      if (Array.isArray(n['enum']) || 'const' in n) return;
      if (!bounded(n['minimum'] ?? n['exclusiveMinimum'], n['maximum'] ?? n['exclusiveMaximum'])) unbounded.push(key);
      return;
    }
    for (const [k, v] of Object.entries((n['properties'] ?? {}) as Record<string, Record<string, unknown>>))
      walk(v, key ? `${key}.${k}` : k);
    if (n['items'] && typeof n['items'] === 'object') walk(n['items'] as Record<string, unknown>, `${key}[]`);
    for (const alt of ['anyOf', 'oneOf', 'allOf'])
      for (const a of (n[alt] ?? []) as Record<string, unknown>[]) walk(a, key);
  };
  walk(configJsonSchema(), '');
  assert.ok(KEYS.length > 60, `${KEYS.length} keys walked`);
  // The MQTT section has its own owner and bounds; see src/outputs/mqtt-settings.ts.
  assert.deepEqual(
    unbounded.filter((k) => !k.startsWith('outputs.mqtt.')),
    [],
  );
});

test('the values that used to hang or misbehave are refused with one line naming the --set', () => {
  const cases: [string, RegExp][] = [
    [
      'runtime.intra_op_threads=100000',
      /^--set runtime\.intra_op_threads=100000: runtime\.intra_op_threads = 100000: .*<=64/,
    ],
    ['watchdog.status_interval_s=1e12', /<=3600/],
    ['watchdog.status_interval_s=1e-9', />=0\.1/],
    ['eval.streaming_latency.warmup_steps=1e10', /<=1000000/],
    ['watchdog.latency.window_units=2e9', /<=5000/],
    [
      'outputs.poses_out=/proc/nope/p.jsonl',
      /^--set outputs\.poses_out=\/proc\/nope\/p\.jsonl: outputs\.poses_out = "\/proc\/nope\/p\.jsonl": is under \/proc/,
    ],
    ['outputs.artifacts_root=/sys/x', /is under \/sys/],
    ['model.dir=/nonexistent', /model\.dir = "\/nonexistent": cannot open \(ENOENT\)/],
    ['input.speed=0.001', /must be 0 \(as fast as possible\) or between 0\.1 and 1000/],
  ];
  for (const [set, re] of cases) {
    assert.throws(
      () => loadConfig(undefined, [set]),
      (e: unknown) => isUserError(e) && re.test(e.message),
      set,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'myo-bounds-'));
  const f = join(dir, 'c.yaml');
  writeFileSync(f, 'runtime:\n  intra_op_threads: 100000\n');
  assert.throws(
    () => loadConfig(f, ['model.mode=exact']),
    (e: unknown) => isUserError(e) && e.message.startsWith(`config file ${f}: runtime.intra_op_threads = 100000`),
    'a bad value from the file is blamed on the file, not the --set',
  );
  assert.throws(
    () => loadConfig(f, ['runtime.intra_op_threads=200']),
    (e: unknown) => isUserError(e) && e.message.startsWith('--set runtime.intra_op_threads=200:'),
    'and a --set over it on the --set',
  );
  assert.equal(
    loadConfig(undefined, ['outputs.poses_out=/dev/null']).outputs.poses_out,
    '/dev/null',
    'a device is a fine poses sink',
  );
});

test('the CLI refuses an output under /proc at once (it used to hang in mkdir)', () => {
  for (const args of [
    ['--poses-out', '/proc/nope/p.jsonl'],
    ['--set', 'outputs.artifacts_root=/proc/nope'],
    ['--artifacts', '/proc/nope/run'],
  ]) {
    const r = runCli(['run', '--duration', '0.1', '--set', 'outputs.mqtt.enabled=false', '--quiet', ...args], {
      timeoutMs: 60_000,
    });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('myostream: '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /under \/proc/);
  }
});

test('fuzz, in process: random --set values and random config files never escape as anything but one line naming the source', () => {
  fc.assert(
    fc.property(fc.array(override, { minLength: 1, maxLength: 4 }), (sets) => {
      try {
        loadConfig(undefined, sets);
      } catch (e) {
        checkRefusal(e);
      }
    }),
    { numRuns: 600, seed: 9 },
  );
  const dir = mkdtempSync(join(tmpdir(), 'myo-fuzzcfg-'));
  const file = join(dir, 'fuzz.yaml');
  const valueArb = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.string({ maxLength: 10 }),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.constantFrom(1e12, -1, 1e-9, '/proc/x'),
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...KEYS.map((k) => k.key)), valueArb), { minLength: 1, maxLength: 4 }),
      (pairs) => {
        const raw: Record<string, unknown> = {};
        for (const [k, v] of pairs) {
          const parts = k.split('.');
          let cur = raw;
          for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
          cur[parts[parts.length - 1]!] = v;
        }
        writeFileSync(file, stringifyYaml(raw));
        try {
          loadConfig(file);
        } catch (e) {
          checkRefusal(e, file);
        }
      },
    ),
    { numRuns: 300, seed: 10 },
  );
});

test('fuzz, through the real CLI: a few random --set runs exit 0 or 2 with no stack trace and no hang', () => {
  // Keys a spawned run may take: everything but the MQTT section (its broker ports are shared).
  const keys = KEYS.map((k) => k.key).filter((k) => !k.startsWith('outputs.mqtt.'));
  // Values at the edges of what is allowed, so that some runs go all the way and exit 0.
  const edge = fc.constantFrom(
    'model.mode=exact',
    'runtime.streaming.encoder=window',
    'watchdog.status_interval_s=0.1',
    'input.source=synthetic',
    'acquisition.synthetic_mode=raw',
    'runtime.intra_op_threads=64',
    'eval.streaming_latency.warmup_steps=1000000',
    'outputs.rotate_mb=0.001',
    'outputs.rotate_keep=1',
    'input.speed=1000',
    'outputs.poses_out=poses.jsonl',
    'outputs.retention.max_runs=1',
    'logging.format=json',
  );
  const anySet = fc.tuple(fc.constantFrom(...keys), nasty).map(([k, v]) => `${k}=${v}`);
  const sample = fc.sample(
    fc
      .tuple(fc.array(edge, { minLength: 1, maxLength: 3 }), fc.array(anySet, { maxLength: 1 }))
      .map(([a, b]) => [...a, ...b]),
    { numRuns: 12, seed: 11 },
  );
  const exits: number[] = [];
  const cwd = mkdtempSync(join(tmpdir(), 'myo-fuzzrun-'));
  for (const sets of sample) {
    const args = [
      'run',
      '--quiet',
      '--speed',
      '0',
      '--artifacts',
      join(cwd, 'run'),
      ...sets.flatMap((s) => ['--set', s]),
      '--set',
      'outputs.mqtt.enabled=false',
      '--duration',
      '0.1',
    ];
    const r = runCli(args, { cwd, timeoutMs: 90_000 });
    const what = `myostream ${args.join(' ')}\n${r.stderr}`;
    assert.notEqual(r.status, null, `hung (killed after 90 s): ${what}`);
    assert.ok(r.status === 0 || r.status === 2, `exit ${r.status}: ${what}`);
    assert.doesNotMatch(r.stderr, /^\s+at .*\(.*:\d+:\d+\)$/m, `a stack trace: ${what}`);
    if (r.status === 2)
      assert.equal(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('myostream: ')).length,
        1,
        what,
      );
    exits.push(r.status);
  }
  assert.ok(exits.includes(0) && exits.includes(2), `both outcomes exercised: ${exits.join(' ')}`);
});
