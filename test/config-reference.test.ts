import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configReferenceMarkdown, referenceKeys } from '../src/daemon/config-reference.js';
import { SIGHUP_APPLIES, loadConfig } from '../src/daemon/config.js';
import { ROOT } from './helpers.js';

test('docs/config.md is what the configuration schema gives (npm run config-docs refreshes it)', () => {
  const committed = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8');
  assert.ok(
    committed === configReferenceMarkdown(),
    'docs/config.md is stale: run `npm run config-docs` and commit the result',
  );
});

test('every key of the configuration has its sentence, its type and its default in the reference', () => {
  const keys = referenceKeys();
  const leaves = keys.filter((k) => !k.section);
  assert.ok(leaves.length >= 190, `${leaves.length} keys`);
  const undescribed = keys.filter((k) => !k.description).map((k) => k.key);
  assert.deepEqual(undescribed, [], 'every key says what it does');
  const doc = configReferenceMarkdown(keys);
  for (const k of leaves) assert.ok(doc.includes(`| \`${k.key}\` |`), `${k.key} is named in full`);
  const row = (key: string): string => doc.split('\n').find((l) => l.startsWith(`| \`${key}\` |`))!;
  assert.match(row('runtime.inter_op_threads'), /\| integer \| ≥ 0, ≤ 64 \| `1` \| no \|/);
  assert.match(row('input.speed'), /\| number \| ≥ 0, ≤ 1000 \| `0` \| no \|/);
  assert.match(row('logging.level'), /\| yes \|/);
});

test("the SIGHUP column is the reloader's list, and each key in it exists", () => {
  const cfg = loadConfig(undefined) as unknown as Record<string, unknown>;
  for (const key of SIGHUP_APPLIES) {
    const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], cfg);
    assert.notEqual(value, undefined, `${key} is a configuration key`);
  }
  const marked = referenceKeys()
    .filter((k) => k.sighup && !k.section)
    .map((k) => k.key);
  assert.deepEqual(marked, [...SIGHUP_APPLIES]);
});
