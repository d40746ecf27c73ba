import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/common/errors.js';
import {
  encodeTensorBundle,
  parseTensorBundle,
  readTensorBundle,
  writeTensorBundle,
} from '../src/common/tensor-bundle.js';
import { loadRecording } from '../src/acquisition/recording.js';
import { GOLDEN_INPUT, ROOT } from './helpers.js';

test('MTB round trip keeps arrays, shapes and meta', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-mtb-'));
  const p = join(dir, 'x.mtb');
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([Math.PI]);
  writeTensorBundle(
    p,
    [
      { name: 'a', shape: [2, 3], data: a },
      { name: 'b', shape: [1], data: b },
    ],
    { sample_rate: 2000, note: 'x' },
  );
  const r = readTensorBundle(p);
  assert.deepEqual(r.arrays.get('a')!.shape, [2, 3]);
  assert.deepEqual([...r.arrays.get('a')!.data], [...a]);
  assert.equal(r.arrays.get('b')!.data[0], Math.fround(Math.PI));
  assert.deepEqual(r.meta, { sample_rate: 2000, note: 'x' });
  const header = JSON.parse(readFileSync(p).toString('utf8', 12, 12 + readFileSync(p).readUInt32LE(8))) as {
    arrays: { offset: number }[];
  };
  for (const e of header.arrays) assert.equal(e.offset % 64, 0);
});

test('damaged MTB files are refused with the byte offset', () => {
  const good = encodeTensorBundle([{ name: 'emg', shape: [2, 16], data: new Float32Array(32) }], { sample_rate: 2000 });
  const bad = Buffer.from(good);
  bad.write('XXXX', 0, 'latin1');
  assert.throws(
    () => parseTensorBundle(bad, 'f.mtb'),
    (e: unknown) => e instanceof UserError && /f\.mtb: byte 0: magic/.test(e.message),
  );
  const truncated = good.subarray(0, good.length - 8);
  assert.throws(
    () => parseTensorBundle(truncated, 't.mtb'),
    /t\.mtb: array "emg": byte \d+: data \(128 bytes\) lies outside the file/,
  );
  const longHeader = Buffer.from(good);
  longHeader.writeUInt32LE(1 << 30, 8);
  assert.throws(() => parseTensorBundle(longHeader, 'h.mtb'), /h\.mtb: byte 8: header length/);
});

test('recordings: the golden MTB input and the upstream HDF5 layout read the same samples', async () => {
  const mtb = await loadRecording(GOLDEN_INPUT);
  assert.equal(mtb.samples, 41790);
  assert.equal(mtb.sampleRate, 2000);
  const h5 = await loadRecording(join(ROOT, 'test', 'fixtures', 'upstream_small.hdf5'));
  assert.equal(h5.format, 'hdf5');
  assert.equal(h5.samples, 4000);
  assert.ok(h5.jointAngles, 'joint angles carried through');
  assert.deepEqual([...h5.emg], [...mtb.emg.subarray(0, 4000 * 16)]);
  assert.equal(h5.meta['sample_rate'], 2000);
});

test('a recording that is neither format is refused clearly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-rec-'));
  const p = join(dir, 'junk.bin');
  writeFileSync(p, 'not a recording');
  await assert.rejects(loadRecording(p), /junk\.bin: byte 0: neither an MTB file/);
  const wrongShape = join(dir, 'shape.mtb');
  writeTensorBundle(wrongShape, [{ name: 'emg', shape: [4, 8], data: new Float32Array(32) }], { sample_rate: 2000 });
  await assert.rejects(loadRecording(wrongShape), /array "emg" has shape \[4,8\]; expected \[samples, 16\]/);
});
