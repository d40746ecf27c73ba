import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareBlock } from '../src/domain/error-figures.js';
import { POSE_DIM } from '../src/domain/geometry.js';
import { AlignmentReport, MAX_KEPT_BLOCKS } from '../src/supervision/alignment-report.js';

const POINTS = 250;

/** One block's comparison: streaming off exact by `off` rad at every angle. */
function block(b: number, aligned: boolean, off: number): ReturnType<typeof compareBlock> {
  const exact = new Float32Array(POINTS * POSE_DIM);
  const streamed = new Float32Array(POINTS * POSE_DIM).fill(off);
  return compareBlock(b, b * POINTS, b * 10000, aligned, streamed, (i) => i, exact, POINTS);
}

test('streaming_alignment.json stays bounded over a long run and keeps every failed aligned block', () => {
  const r = new AlignmentReport({ mse: 1e-5, max_diff: 5e-5 }, { kind: 'live' });
  const failing = new Set([3, 501, 1703]);
  for (let b = 0; b < 2000; b++) r.addBlock(block(b, b % 10 === 0 || failing.has(b), failing.has(b) ? 0.01 : 0));
  const j = r.toJSON() as {
    blocks: { block: number; passed: boolean | null }[];
    blocks_compared: number;
    aligned_blocks: number;
    passed: boolean;
  };
  assert.equal(j.blocks_compared, 2000);
  assert.equal(j.aligned_blocks, 200 + 3);
  assert.equal(r.alignedBlocks, 203);
  assert.ok(j.blocks.length <= MAX_KEPT_BLOCKS + failing.size, `${j.blocks.length} blocks kept`);
  assert.equal(j.blocks[j.blocks.length - 1]!.block, 1999, 'the newest block is kept');
  for (const b of failing)
    assert.ok(
      j.blocks.some((x) => x.block === b && x.passed === false),
      `failed block ${b} kept`,
    );
  assert.equal(j.passed, false, 'the overall figures still include every block');
  assert.equal(r.changed, false, 'written');
  r.addBlock(block(2000, false, 0));
  assert.equal(r.changed, true);
});
