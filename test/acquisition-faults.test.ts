import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { readTensorBundle, requireArray, writeTensorBundle } from '../src/common/tensor-bundle.js';
import { loadConfig } from '../src/daemon/config.js';
import { CTRL_ACK, CTRL_WORDS, GapGate, type GapMessage } from '../src/acquisition/gap-gate.js';
import { RateLimitedNote } from '../src/acquisition/rate-limit.js';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import { sanitizeSink } from '../src/acquisition/sanitize.js';
import type { GapEvent } from '../src/acquisition/source.js';
import { createSource } from '../src/acquisition/sources.js';
import type { RunEvent } from '../src/domain/events.js';
import { driveSource } from './acquisition-helpers.js';
import { GOLDEN_INPUT, ROOT } from './helpers.js';

interface Note {
  kind: string;
  atSample: number;
  detail: string;
  data?: RunEvent['data'];
}

test('rate-limited notes: the first at once, then one summary per interval with the counts', () => {
  let now = 0;
  const out: Note[] = [];
  const n = new RateLimitedNote(
    'bridged_gap',
    (c, a, first) => `${first ? 'first' : 'more'} ${c}/${a}`,
    (kind, atSample, detail, data) => out.push({ kind, atSample, detail, ...(data ? { data } : {}) }),
    1000,
    () => now,
  );
  for (let i = 0; i < 40_000; i++) {
    n.hit(1, i);
    now += 0.5; // 2 kHz for 20 s
  }
  n.flush(true);
  assert.ok(out.length >= 20 && out.length <= 22, `${out.length} notes`);
  assert.equal(out[0]!.detail, 'first 1/1');
  assert.equal(
    out.reduce((s, x) => s + Number(x.data!['count']), 0),
    40_000,
  );
  assert.equal(out.at(-1)!.data!['total'], 40_000);
});

test('gap gate bridges short losses by interpolation and reports long ones; a stall is never bridged', () => {
  const ring = RingBuffer.create(1000, 2);
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
  const posted: GapMessage[] = [];
  const bridged: number[] = [];
  const gate = new GapGate(
    ring,
    ctrl,
    (m) => {
      posted.push(m);
      Atomics.store(ctrl, CTRL_ACK, m.seq);
    },
    16,
    8,
    (n) => bridged.push(n),
  );
  const f = (v: number) => Float32Array.of(v, -v);
  gate.push(f(0));
  gate.push(f(10));
  gate.lost(4, 'missed_drdy');
  gate.push(f(60));
  assert.deepEqual(bridged, [4]);
  assert.equal(posted.length, 0);
  const got = new Float32Array(7 * 2);
  ring.sliceEndingAt(7, 7, got);
  assert.deepEqual(Array.from(got.filter((_, i) => i % 2 === 0)), [0, 10, 20, 30, 40, 50, 60]);
  gate.lost(9, 'late_read');
  gate.push(f(70));
  assert.equal(posted.length, 1);
  assert.equal(posted[0]!.lostSamples, 9);
  gate.lost(1, 'stall');
  gate.push(f(80));
  assert.equal(posted.length, 2, 'a one-sample stall gap still restarts');
  assert.match(posted[1]!.reason, /stalled/);
  assert.equal(gate.bridgedGaps, 1);
  assert.equal(gate.bridgedSamples, 4);
});

test('sanitizer: NaN and Inf never reach the ring; hold_last, zero and gap as documented, counted and noted', () => {
  for (const policy of ['hold_last', 'zero', 'gap'] as const) {
    const ring = RingBuffer.create(100, 2);
    const gaps: GapEvent[] = [];
    const notes: Note[] = [];
    const s = sanitizeSink(
      {
        emg: ring,
        gap: (g) => gaps.push(g),
        note: (kind, atSample, detail, data) => notes.push({ kind, atSample, detail, ...(data ? { data } : {}) }),
        waitForSpace: async () => undefined,
      },
      { policy, noteIntervalMs: 1000, now: () => 0 },
    );
    s.sink.emg.append(Float32Array.of(1, 2, 3, 4));
    s.sink.emg.append(Float32Array.of(NaN, 5, 6, Infinity, 7, 8));
    s.sink.emg.append(Float32Array.of(9, 10));
    s.flush();
    const n = ring.written;
    const got = new Float32Array(n * 2);
    ring.sliceEndingAt(n, n, got);
    assert.ok(
      got.every((v) => Number.isFinite(v)),
      policy,
    );
    assert.equal(s.stats.badValues, 2);
    assert.equal(s.stats.badFrames, 2);
    assert.equal(notes[0]!.kind, 'bad_samples');
    assert.equal(
      notes.reduce((a, x) => a + Number(x.data!['amount']), 0),
      2,
    );
    if (policy === 'hold_last') assert.deepEqual(Array.from(got), [1, 2, 3, 4, 3, 5, 6, 5, 7, 8, 9, 10]);
    if (policy === 'zero') assert.deepEqual(Array.from(got), [1, 2, 3, 4, 0, 5, 6, 0, 7, 8, 9, 10]);
    if (policy === 'gap') {
      assert.deepEqual(Array.from(got), [1, 2, 3, 4, 7, 8, 9, 10]);
      assert.deepEqual(gaps, [{ atSample: 2, lostSamples: 2, reason: 'bad samples dropped' }]);
      assert.equal(s.stats.droppedFrames, 2);
    }
  }
});

test('a replay with NaN on one channel: counted in stats, noted as bad_samples, held before the ring', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-nan-'));
  try {
    const bundle = readTensorBundle(GOLDEN_INPUT);
    const emg = requireArray(bundle, 'emg', GOLDEN_INPUT);
    const data = Float32Array.from(emg.data);
    for (let t = 1000; t < 1500; t++) data[t * 16 + 3] = NaN;
    const file = join(dir, 'nan.mtb');
    writeTensorBundle(
      file,
      [...bundle.arrays.values()].map((a) => (a.name === 'emg' ? { ...a, data } : a)),
      bundle.meta,
    );
    const src = await createSource(
      loadConfig(undefined, [`input.source=replay:${file}`, 'input.duration_s=1']),
      silentLogger(),
    );
    const r = await driveSource(src, 4000);
    assert.equal(r.ring.written, 2000);
    const got = new Float32Array(2000 * 16);
    r.ring.sliceEndingAt(2000, 2000, got);
    assert.ok(got.every((v) => Number.isFinite(v)));
    for (let t = 1000; t < 1500; t++) assert.equal(got[t * 16 + 3], data[999 * 16 + 3]);
    const st = src.stats!();
    assert.equal(st['bad_values'], 500);
    assert.equal(st['bad_frames'], 500);
    const bad = r.notes.filter((n) => n.kind === 'bad_samples');
    assert.ok(bad.length >= 1 && bad.length <= 3, `${bad.length} notes`);
    assert.equal(bad[0]!.atSample, 1000);
    assert.equal(
      bad.reduce((a, x) => a + Number(x.data!['count']), 0),
      500,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The HDF5 fixture with 3e38 (finite, far beyond any electrode) written into some EMG values: the
 * dataset is contiguous and uncompressed, records of {time f8, joint_angles f8[20], emg f4[16]},
 * so the first record is found by its timestamp and each value patched in place.
 */
function hdf5WithHugeValues(dir: string, samples: readonly number[], channel: number): string {
  const bytes = readFileSync(join(ROOT, 'test', 'fixtures', 'upstream_small.hdf5'));
  const t0 = Buffer.alloc(8);
  t0.writeDoubleLE(1_650_000_000);
  const first = bytes.indexOf(t0);
  assert.ok(first > 0, 'first record found by its time');
  const record = 8 + 20 * 8 + 16 * 4;
  for (const j of samples) bytes.writeFloatLE(3e38, first + j * record + 8 + 20 * 8 + channel * 4);
  const file = join(dir, 'huge.hdf5');
  writeFileSync(file, bytes);
  return file;
}

test('an HDF5 replay with 3e38 samples: refused as beyond full scale, replaced by the policy, counted and noted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-huge-'));
  try {
    const bad = [100, 101, 102, 1500];
    const file = hdf5WithHugeValues(dir, bad, 5);
    for (const policy of ['hold_last', 'gap'] as const) {
      const src = await createSource(
        loadConfig(undefined, [
          `input.source=replay:${file}`,
          'input.duration_s=1',
          `acquisition.preprocess.bad_sample_policy=${policy}`,
        ]),
        silentLogger(),
      );
      const r = await driveSource(src, 4000);
      const n = r.ring.written;
      const got = new Float32Array(n * 16);
      r.ring.sliceEndingAt(n, n, got);
      assert.ok(
        got.every((v) => Math.abs(v) < 1000),
        `${policy}: nothing beyond the full scale reached the ring`,
      );
      const st = src.stats!();
      assert.equal(st['bad_values_out_of_range'], 4, JSON.stringify(st));
      assert.equal(st['bad_values'], 4);
      const notes = r.notes.filter((x) => x.kind === 'bad_samples');
      assert.ok(notes.length >= 1);
      assert.match(notes[0]!.detail, /beyond the full scale ±1000/);
      assert.equal(notes[0]!.atSample, 100);
      if (policy === 'hold_last') {
        assert.equal(n, 2000);
        assert.equal(got[100 * 16 + 5], got[99 * 16 + 5]);
      } else {
        assert.equal(n, 2000 - 4);
        assert.ok(
          r.gaps.length >= 2 && r.gaps.every((g) => g.reason === 'bad samples dropped'),
          JSON.stringify(r.gaps),
        );
      }
    }
    // A file in other units: the limit is configurable (and 0 turns it off).
    const off = await createSource(
      loadConfig(undefined, [`input.source=replay:${file}`, 'input.duration_s=1', 'acquisition.replay_full_scale=0']),
      silentLogger(),
    );
    await driveSource(off, 4000);
    assert.equal(off.stats!()['bad_values'], 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const sim = (...sets: string[]) =>
  createSource(loadConfig(undefined, ['input.source=ads1299-sim', ...sets]), silentLogger());

test('ads1299-sim with every DRDY lost: a stall event and driver re-initialisations with backoff, never silence', async () => {
  const src = await sim('acquisition.ads1299.sim.missed_drdy_every=1');
  const r = await driveSource(src, 20_000, 2500);
  const stalls = r.notes.filter((n) => n.kind === 'stall');
  const reinits = r.notes.filter((n) => n.kind === 'reinit');
  assert.ok(stalls.length >= 1, JSON.stringify(r.notes));
  assert.match(stalls[0]!.detail, /no sample for \d+ ms \(acquisition\.stall_ms 100\)/);
  assert.ok(reinits.length >= 2, `${reinits.length} re-inits`);
  // Backoff: each attempt announces a longer wait than the one before.
  const waits = reinits.map((n) => Number(n.data!['next_ms']));
  assert.deepEqual(waits.slice(0, 3), [100, 200, 400].slice(0, Math.min(3, waits.length)));
  const st = src.stats!();
  assert.ok(st['stalls']! >= 1 && st['reinits']! >= 2, JSON.stringify(st));
  // The samples around each re-init are separated by a gap the session restarts across.
  assert.ok(r.gaps.every((g) => /stalled/.test(g.reason)));
});

test('ads1299-sim with every read late: a stall, not silence', async () => {
  const src = await sim('acquisition.ads1299.sim.late_read_every=1');
  const r = await driveSource(src, 20_000, 1500);
  assert.ok(
    r.notes.some((n) => n.kind === 'stall' && /late reads/.test(n.detail)),
    JSON.stringify(r.notes.slice(0, 3)),
  );
  assert.ok(src.stats!()['reinits']! >= 1);
  assert.ok(src.stats!()['lateReads']! > 100);
});

test('ads1299-sim with every other status word bad: bridged, a handful of summary notes, no gap restarts', async () => {
  const src = await sim('acquisition.ads1299.sim.bad_status_every=2', 'input.duration_s=5');
  const t0 = performance.now();
  const r = await driveSource(src, 20_000);
  const wallS = (performance.now() - t0) / 1000;
  assert.equal(r.gaps.length, 0);
  assert.equal(r.ring.written, 10_000);
  const st = src.stats!();
  assert.ok(st['bridgedGaps']! > 4000, JSON.stringify(st));
  const notes = r.notes.filter((n) => n.kind === 'bridged_gap');
  assert.ok(
    notes.length >= 1 && notes.length <= Math.ceil(wallS) + 2,
    `${notes.length} notes in ${wallS.toFixed(1)} s`,
  );
  assert.equal(
    notes.reduce((a, n) => a + Number(n.data!['count']), 0),
    st['bridgedGaps'],
  );
});

test('ads1299-sim with 1 % random frame loss: short gaps bridged, at least 90 % of the poses still come out', async () => {
  const src = await sim(
    'acquisition.ads1299.sim.drop_fraction=0.01',
    'acquisition.ads1299.sim.drop_seed=3',
    'input.duration_s=20',
  );
  const r = await driveSource(src, 40_000);
  const st = src.stats!();
  assert.equal(r.ring.written, 40_000);
  assert.ok(st['missedDrdy']! > 250 && st['missedDrdy']! < 550, `missed ${st['missedDrdy']}`);
  const restarts = r.gaps.length;
  // Poses: one per 40 samples, less the warm-up (1830 samples) each restart costs.
  const ideal = Math.floor((40_000 - 1830) / 40) + 1;
  const poses = ideal - restarts * Math.ceil(1830 / 40);
  assert.ok(poses / ideal >= 0.9, `bridged ${st['bridgedGaps']}, restarted ${restarts}: ${poses} of ${ideal} poses`);
  assert.ok(st['bridgedGaps']! > 200);
});

test('ads1299-sim with a bus stuck past the limit: the driver stops, is re-initialised, and samples come again', async () => {
  const src = await sim(
    'acquisition.ads1299.sim.stuck_bus_every=3000',
    'acquisition.ads1299.sim.stuck_bus_frames=600',
    'acquisition.ads1299.sim.stuck_bus_level=low',
    'acquisition.ads1299.max_consecutive_bad_frames=500',
    'input.duration_s=3',
  );
  const r = await driveSource(src, 20_000, 20_000);
  const st = src.stats!();
  assert.equal(r.ring.written, 6000);
  assert.ok(st['stuckFrames']! >= 500, JSON.stringify(st));
  assert.ok(st['reinits']! >= 1);
  assert.ok(
    r.notes.some(
      (n) => n.kind === 'stall' && /driver stopped: ADS1299: 500 frames in a row .* MISO stuck low/.test(n.detail),
    ),
    JSON.stringify(r.notes.slice(0, 4)),
  );
});

test('ads1299-sim with SPI errors: each failed read is one lost frame, bridged, counted', async () => {
  const src = await sim('acquisition.ads1299.sim.spi_error_every=500', 'input.duration_s=2');
  const r = await driveSource(src, 20_000);
  const st = src.stats!();
  assert.equal(r.ring.written, 4000);
  assert.ok(st['spiErrors']! >= 7, JSON.stringify(st));
  assert.equal(r.gaps.length, 0);
  assert.equal(st['bridgedGaps'], st['spiErrors']);
});
