import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { ROOT } from './helpers.js';

/**
 * `npm run lint` lints with the repository's eslint.config.js. Here that configuration runs over a
 * small project of its own (a temp folder with a tsconfig.json of the same strictness), so the
 * check needs type information and sees faults that only types reveal.
 */
test('eslint.config.js: type-aware rules find a floating promise, a non-exhaustive switch, an await of a non-promise, a needless assertion', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-lint-'));
  try {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          types: [],
        },
        include: ['*.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'faulty.ts'),
      [
        'async function load(): Promise<number> { return 1; }',
        'export function start(): void { load(); }',
        "type Mode = 'exact' | 'streaming';",
        'export function rate(m: Mode): number {',
        '  switch (m) {',
        "    case 'exact': return 1;",
        '  }',
        '  return 0;',
        '}',
        'export async function twice(n: number): Promise<number> { return (await n) * 2; }',
        'export function first(a: readonly number[]): number { const n: number = a.length; return n as number; }',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'clean.ts'),
      "export function rate(m: 'exact' | 'streaming'): number {\n  return m === 'exact' ? 1 : 50;\n}\n",
    );
    const eslint = new ESLint({ cwd: dir, overrideConfigFile: join(ROOT, 'eslint.config.js') });
    const [faulty, clean] = await eslint.lintFiles([join(dir, 'faulty.ts'), join(dir, 'clean.ts')]);
    const rules = new Set(faulty!.messages.map((m) => m.ruleId));
    for (const r of [
      'no-floating-promises',
      'switch-exhaustiveness-check',
      'await-thenable',
      'no-unnecessary-type-assertion',
    ]) {
      assert.ok(
        rules.has(`@typescript-eslint/${r}`),
        `${r}: ${JSON.stringify(faulty!.messages.map((m) => `${m.line} ${m.ruleId} ${m.message}`))}`,
      );
    }
    assert.deepEqual(clean!.messages, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
