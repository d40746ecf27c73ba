import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockSlots } from '../src/domain/block-slots.js';

test('BlockSlots: two blocks of slots; a step taking an unsettled slot passes its owner over; a late block is refused', () => {
  const passed: [number, number][] = [];
  const s = new BlockSlots(4, (from, to) => void passed.push([from, to]));
  assert.deepEqual(
    [0, 3, 4, 7, 8, 13].map((j) => s.slotOf(j)),
    [0, 3, 4, 7, 0, 5],
  );
  for (let j = 0; j < 8; j++) s.record(j);
  assert.deepEqual(passed, [], 'two blocks fit');
  assert.equal(s.takeBlock(0), 4, 'block 0 compared: its 4 steps');
  assert.equal(s.settledTo, 4);
  // Block 1 is not compared in time: steps 12 and 13 take the slots of steps 4 and 5, which are passed over.
  for (let j = 8; j < 14; j++) s.record(j);
  assert.deepEqual(passed, [
    [4, 5],
    [5, 6],
  ]);
  assert.equal(s.takeBlock(4), -1, 'block 1 lost its first steps: not compared');
  assert.equal(s.takeBlock(8), 4, 'block 2 still held; the rest of block 1 is passed over first');
  assert.deepEqual(passed.at(-1), [6, 8]);
  // The end of the run: what is recorded and unsettled is passed over, once.
  s.settleAll();
  assert.deepEqual(passed.at(-1), [12, 14]);
  s.settleAll();
  assert.deepEqual(passed.at(-1), [12, 14]);
});

test('BlockSlots: step 0 again is a new session; the old one is passed over and numbering restarts', () => {
  const passed: [number, number][] = [];
  const s = new BlockSlots(3, (from, to) => void passed.push([from, to]));
  for (let j = 0; j < 5; j++) s.record(j);
  assert.equal(s.record(0), 0);
  assert.deepEqual(passed, [[0, 5]]);
  assert.equal(s.recordedTo, 1);
  assert.equal(s.takeBlock(0), 1, "only the new session's one recorded step");
  assert.throws(() => new BlockSlots(0), /positive integer/);
});
