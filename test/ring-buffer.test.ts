import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { RingBuffer, type RingBufferLayout } from '../src/acquisition/ring-buffer.js';

/** Every sample's values encode its absolute index and channel, exactly representable in float32. */
const valueOf = (sample: number, ch: number, channels: number): number => (sample * channels + ch) % 16777216;

function frames(start: number, n: number, channels: number): Float32Array {
  const a = new Float32Array(n * channels);
  for (let t = 0; t < n; t++) for (let c = 0; c < channels; c++) a[t * channels + c] = valueOf(start + t, c, channels);
  return a;
}

// ---- the writer thread of the cross-thread test (this same file, run as a worker) ----
if (!isMainThread) {
  const { layout, total, chunks, flowControl } = workerData as {
    layout: RingBufferLayout;
    total: number;
    chunks: number[];
    flowControl: boolean;
  };
  const ring = RingBuffer.attach(layout);
  const ch = ring.channels;
  const buf = new Float32Array(Math.max(...chunks) * ch);
  const spin = new Int32Array(new SharedArrayBuffer(4));
  let i = 0;
  for (let w = 0; w < total;) {
    const n = Math.min(chunks[i++ % chunks.length]!, total - w);
    if (flowControl) while (ring.written + n - ring.readCursor > ring.capacity) Atomics.wait(spin, 0, 0, 0.05);
    for (let t = 0; t < n; t++) for (let c = 0; c < ch; c++) buf[t * ch + c] = valueOf(w + t, c, ch);
    ring.append(buf, n, 0);
    w += n;
  }
  parentPort!.postMessage('done');
} else {
  test('create and attach validate their arguments', () => {
    assert.throws(() => RingBuffer.create(0, 16), RangeError);
    assert.throws(() => RingBuffer.create(10, 0), RangeError);
    assert.throws(() => RingBuffer.create(1.5, 16), RangeError);
    const r = RingBuffer.create(8, 2);
    assert.throws(() => RingBuffer.attach({ capacity: 9, channels: 2, buffer: r.buffer }), /does not match/);
    const twin = RingBuffer.attach(r.layout());
    r.append(frames(0, 3, 2));
    assert.equal(twin.written, 3, 'an attached ring sees the same counters');
  });

  test('append then slice, with wrap-around, keeps every value in place', () => {
    const r = RingBuffer.create(5, 3);
    const out = new Float32Array(5 * 3);
    r.append(frames(0, 4, 3));
    r.sliceTail(4, out);
    assert.deepEqual([...out.subarray(0, 12)], [...frames(0, 4, 3)]);
    r.append(frames(4, 3, 3)); // wraps: positions 4, 0, 1
    assert.equal(r.written, 7);
    assert.equal(r.oldest, 2);
    r.sliceTail(5, out);
    assert.deepEqual([...out], [...frames(2, 5, 3)]);
    const cm = new Float32Array(4 * 3);
    r.sliceChannelMajorEndingAt(6, 4, cm);
    for (let c = 0; c < 3; c++) for (let t = 0; t < 4; t++) assert.equal(cm[c * 4 + t], valueOf(2 + t, c, 3));
  });

  test('slices refuse samples not yet written or already overwritten, and short outputs', () => {
    const r = RingBuffer.create(4, 2);
    r.append(frames(0, 6, 2));
    const out = new Float32Array(8);
    assert.throws(() => r.sliceEndingAt(7, 1, out), /not written yet/);
    assert.throws(() => r.sliceEndingAt(6, 5, new Float32Array(10)), /already overwritten/);
    assert.throws(() => r.sliceEndingAt(5, 4, out), /already overwritten/);
    assert.throws(() => r.sliceTail(4, new Float32Array(7)), /needs 8/);
    assert.throws(() => r.sliceEndingAt(6, -1, out), /whole numbers/);
    assert.doesNotThrow(() => r.sliceEndingAt(6, 4, out));
    assert.throws(() => r.append(new Float32Array(3), 2), /source holds 3 values/);
    assert.throws(() => r.append(new Float32Array(4), 1.5), /whole number/);
  });

  test('overflow overwrites the oldest unread samples and counts them', () => {
    const r = RingBuffer.create(4, 1);
    r.append(frames(0, 3, 1));
    assert.equal(r.overwritten, 0);
    r.append(frames(3, 3, 1)); // samples 0 and 1 were unread and are gone
    assert.equal(r.overwritten, 2);
    assert.ok(r.readerOverrun());
    r.seekReader(0); // clamps to the oldest held
    assert.equal(r.readCursor, 2);
    r.consume(3);
    assert.equal(r.readCursor, 5);
    r.append(frames(6, 1, 1)); // sample 2 and 3 consumed: overwriting them loses nothing
    assert.equal(r.overwritten, 2);
    r.append(frames(7, 2, 1)); // pushes out 3 and 4, both consumed
    assert.equal(r.overwritten, 2);
    r.append(frames(9, 1, 1)); // pushes out 5, unread
    assert.equal(r.overwritten, 3);
  });

  test('an append larger than the capacity keeps the newest samples and counts the rest as lost', () => {
    const r = RingBuffer.create(4, 2);
    r.append(frames(0, 2, 2));
    r.consume(1);
    r.append(frames(2, 10, 2));
    assert.equal(r.written, 12);
    assert.equal(r.oldest, 8);
    assert.equal(r.overwritten, 7, 'samples 1..7 were unread and never readable again');
    const out = new Float32Array(8);
    r.sliceTail(4, out);
    assert.deepEqual([...out], [...frames(8, 4, 2)]);
  });

  test('reader cursor: canStep, consume and seek stay within what is held', () => {
    const r = RingBuffer.create(10, 1);
    assert.equal(r.canStep(1), false);
    r.append(frames(0, 7, 1));
    assert.ok(r.canStep(7));
    assert.ok(!r.canStep(8));
    r.consume(5);
    assert.ok(r.canStep(2) && !r.canStep(3));
    r.consume(100);
    assert.equal(r.readCursor, 7, 'consume stops at written');
    r.seekReader(3);
    assert.equal(r.readCursor, 3);
    r.seekReader(50);
    assert.equal(r.readCursor, 7);
  });

  test('waitForAppend resolves on an append and on wakeWaiters, and times out otherwise', async () => {
    const r = RingBuffer.create(4, 1);
    const t0 = performance.now();
    await r.waitForAppend(30);
    assert.ok(performance.now() - t0 >= 25, 'times out when nothing happens');
    const p = r.waitForAppend(5000);
    setTimeout(() => r.append(frames(0, 1, 1)), 5);
    await p;
    const q = r.waitForAppend(5000);
    setTimeout(() => r.wakeWaiters(), 5);
    await q;
  });

  type Op =
    | { kind: 'append'; n: number }
    | { kind: 'consume'; n: number }
    | { kind: 'seek'; back: number }
    | { kind: 'slice'; back: number; n: number; layout: 'time' | 'channel' };

  const opArb = (cap: number): fc.Arbitrary<Op> =>
    fc.oneof(
      fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 0, max: 3 * cap }) }),
      fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 2 * cap }) }),
      fc.record({ kind: fc.constant('seek' as const), back: fc.integer({ min: -2, max: 2 * cap }) }),
      fc.record({
        kind: fc.constant('slice' as const),
        back: fc.integer({ min: -1, max: 2 * cap }),
        n: fc.integer({ min: 0, max: cap + 2 }),
        layout: fc.constantFrom('time' as const, 'channel' as const),
      }),
    );

  test('property: the ring behaves like a naive array of every sample ever appended', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 12 })
          .chain((cap) =>
            fc.tuple(fc.constant(cap), fc.integer({ min: 1, max: 4 }), fc.array(opArb(cap), { maxLength: 60 })),
          ),
        ([cap, ch, ops]) => {
          const r = RingBuffer.create(cap, ch);
          const model: number[][] = []; // every frame ever appended
          let read = 0;
          let lost = 0;
          const oldest = (): number => Math.max(0, model.length - cap);
          for (const op of ops) {
            if (op.kind === 'append') {
              const w = model.length;
              const newOldest = Math.max(0, w + op.n - cap);
              lost += Math.max(0, newOldest - Math.max(read, oldest()));
              r.append(frames(w, op.n, ch), op.n);
              for (let t = 0; t < op.n; t++) model.push(Array.from({ length: ch }, (_, c) => valueOf(w + t, c, ch)));
            } else if (op.kind === 'consume') {
              r.consume(op.n);
              read = Math.min(read + op.n, model.length);
            } else if (op.kind === 'seek') {
              const target = model.length - op.back;
              r.seekReader(target);
              read = Math.min(Math.max(target, oldest()), model.length);
            } else {
              const end = model.length - op.back;
              const out = new Float32Array(op.n * ch);
              const ok = end <= model.length && end - op.n >= oldest() && end >= op.n;
              const doSlice = (): void =>
                op.layout === 'time' ? r.sliceEndingAt(end, op.n, out) : r.sliceChannelMajorEndingAt(end, op.n, out);
              if (!ok) {
                assert.throws(doSlice, RangeError);
              } else {
                doSlice();
                for (let t = 0; t < op.n; t++) {
                  for (let c = 0; c < ch; c++) {
                    const got: number | undefined = op.layout === 'time' ? out[t * ch + c] : out[c * op.n + t];
                    assert.equal(got, model[end - op.n + t]![c]);
                  }
                }
              }
            }
            assert.equal(r.written, model.length);
            assert.equal(r.oldest, oldest());
            assert.equal(r.readCursor, read);
            assert.equal(r.overwritten, lost);
            assert.equal(r.readerOverrun(), read < oldest());
            assert.equal(r.canStep(1), model.length - read >= 1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('append and slices allocate nothing per call (no garbage collections over 200k calls)', () => {
    const r = RingBuffer.create(20000, 16);
    const chunk = frames(0, 40, 16);
    const out = new Float32Array(1830 * 16);
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        r.append(chunk, 40, 0);
        if (i % 10 === 0 && r.written >= 1830) {
          r.sliceTail(1830, out);
          r.sliceChannelMajorEndingAt(r.written, 1830, out);
        }
        r.seekReader(r.written - 100);
        r.canStep(40);
      }
    };
    run(20000); // let the optimiser settle first
    let gcs = 0;
    const obs = new PerformanceObserver((list) => {
      gcs += list.getEntries().length;
    });
    obs.observe({ entryTypes: ['gc'] });
    run(200000);
    return new Promise<void>((resolve) => {
      // GC entries reach observers asynchronously, some time after the collection.
      setTimeout(() => {
        obs.disconnect();
        // Allocating even one small view per call would be 200k objects: several scavenges.
        assert.ok(gcs <= 1, `${gcs} garbage collections during the loop`);
        resolve();
      }, 150);
    });
  });

  async function crossThread(opts: {
    capacity: number;
    total: number;
    chunks: number[];
    flowControl: boolean;
  }): Promise<{ checked: number; overruns: number; ring: RingBuffer }> {
    const ring = RingBuffer.create(opts.capacity, 16);
    const worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { layout: ring.layout(), total: opts.total, chunks: opts.chunks, flowControl: opts.flowControl },
    });
    let done = false;
    worker.once('message', () => {
      done = true;
    });
    const n = 64;
    const out = new Float32Array(n * 16);
    let checked = 0;
    let overruns = 0;
    let next = 0; // first sample not yet checked
    const verify = (from: number, count: number, buf: Float32Array): void => {
      for (let t = 0; t < count; t++)
        for (let c = 0; c < 16; c++) {
          const want = valueOf(from + t, c, 16);
          if (buf[t * 16 + c] !== want) assert.fail(`sample ${from + t} channel ${c}: ${buf[t * 16 + c]} ≠ ${want}`);
        }
    };
    for (;;) {
      const w = ring.written;
      if (w - next >= 1) {
        const count = Math.min(n, w - next);
        try {
          ring.sliceEndingAt(next + count, count, out);
          verify(next, count, out);
          checked += count;
          next += count;
          ring.seekReader(next);
        } catch (e) {
          if (!(e instanceof RangeError) || !/overwritten/.test(e.message)) throw e;
          overruns++;
          next = ring.oldest + opts.capacity / 2; // fall behind: skip ahead, as the pipeline does
          next = Math.min(next, ring.written);
          ring.seekReader(next);
        }
        continue;
      }
      if (done && ring.written === opts.total) break;
      await ring.waitForAppend(5);
    }
    await worker.terminate();
    return { checked, overruns, ring };
  }

  test('cross-thread: a worker appends through attach(), the main thread reads every sample intact', async () => {
    const r = await crossThread({ capacity: 4096, total: 200_000, chunks: [1, 40, 3, 500, 17], flowControl: true });
    assert.equal(r.checked, 200_000, 'with flow control the reader sees every sample, in order');
    assert.equal(r.overruns, 0);
    assert.equal(r.ring.overwritten, 0);
  });

  test('cross-thread without flow control: whatever the reader gets is intact, and losses are counted', async () => {
    const r = await crossThread({ capacity: 256, total: 300_000, chunks: [40, 1, 300], flowControl: false });
    // verify() has already failed the test on any value that was not the one written.
    assert.ok(r.checked > 0);
    assert.ok(r.overruns > 0 || r.checked === 300_000, `checked ${r.checked}, overruns ${r.overruns}`);
    assert.equal(r.ring.written, 300_000);
  });

  // Found behind a cross-thread test reported "cancelled" (not ok, 0 failures) under CPU load:
  // a keep-alive timed to the wait's timeout could expire before V8 starts its own (unreferenced)
  // timer for the Atomics.waitAsync timeout, which happens only when the platform next flushes
  // its tasks; with nothing else holding the loop the process exited with the wait pending.
  // Run in a child process so that such an exit cannot cancel this file.
  test('waitForAppend keeps the process alive until the wait settles, even if the thread stalls right after calling it', () => {
    const ringUrl = new URL('../src/acquisition/ring-buffer.js', import.meta.url).href;
    const script = `
        const { RingBuffer } = await import(${JSON.stringify(ringUrl)});
        const ring = RingBuffer.create(16, 1);
        let settled = false;
        process.on('exit', () => process.stdout.write(settled ? 'settled' : 'exited with the wait pending'));
        await new Promise((r) => setTimeout(r, 1)); // from a timer callback, as a reader loop would
        const wait = ring.waitForAppend(5);
        const t = performance.now();
        while (performance.now() - t < 30) {} // preempted or busy for 30 ms right after the call
        await wait;
        settled = true;`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.stdout, 'settled', r.stderr);
  });
}
