import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './helpers.js';

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'artifacts', 'state', '__pycache__', '.pytest_cache']);
const BINARY = /\.(onnx|mtb|hdf5|h5|png|jpg|ckpt|pt)$/i;
// The upstream HDF5 group name may appear once: the constant in the one reader of that external
// format (the fixture writer in refer/ reads it from there).
const ALLOWED: Record<string, number> = { 'src/acquisition/recording.ts': 1 };
const NEEDLE = ['emg', '2pose'].join('');

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

test(`the reference's identifier does not appear in our code (docs may cite it)`, () => {
  const offenders: string[] = [];
  for (const f of files(ROOT)) {
    const rel = relative(ROOT, f);
    if (rel.endsWith('.md') || BINARY.test(rel)) continue;
    const hits = readFileSync(f, 'utf8').toLowerCase().split(NEEDLE).length - 1;
    if (hits > (ALLOWED[rel] ?? 0)) offenders.push(`${rel} (${hits})`);
  }
  assert.deepEqual(offenders, []);
});
