import assert from 'node:assert/strict';
import test from 'node:test';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import type { EmgSource, SampleSink } from '../src/acquisition/source.js';
import { waitForSpaceOrAbort } from '../src/acquisition/source.js';
import { silentLogger } from '../src/common/logger.js';
import type { RunEvent } from '../src/domain/events.js';
import { newPoseEvent, type Mode, type PoseEvent } from '../src/domain/pose.js';
import type { Predictor } from '../src/inference/predictor.js';
import { EventLogLimiter, runPipeline, type PipelineHooks } from '../src/daemon/pipeline.js';
import { Writable } from 'node:stream';
import { createLogger } from '../src/common/logger.js';

const CH = 16;
const STEP = 40;
const WINDOW = 100;

/**
 * A predictor without a model: each unit needs WINDOW samples ending STEP after the last, reads
 * them from the ring (so an overwritten window shows), and emits one pose whose first angle is
 * the last sample's value. Sample values are their index, so the test can tell which samples a
 * unit saw.
 */
class CountingPredictor implements Predictor {
  origin = 0;
  k = 0;
  restarts: number[] = [];
  private readonly buf = new Float32Array(WINDOW * CH);
  protected readonly pose: PoseEvent;
  constructor(readonly mode: Mode) {
    this.pose = newPoseEvent(mode, new Float32Array(20));
  }
  get nextReadyAt(): number {
    return this.origin + WINDOW + STEP * this.k;
  }
  get oldestNeeded(): number {
    return this.nextReadyAt - WINDOW;
  }
  get resumeAt(): number {
    return this.origin + STEP * this.k;
  }
  restartAt(sample: number): void {
    this.origin = sample;
    this.k = 0;
    this.restarts.push(sample);
  }
  async advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    const end = this.nextReadyAt;
    ring.sliceEndingAt(end, WINDOW, this.buf);
    this.pose.t = end / 2000;
    this.pose.angles[0] = this.buf[(WINDOW - 1) * CH]!;
    this.k++;
    emit(this.pose);
    return 1;
  }
}

/** Appends `plan` chunks in order: a number of samples, or a gap to report before the next chunk. */
class PlannedSource implements EmgSource {
  readonly info = { kind: 'test', description: 'planned', sampleRate: 2000, channels: CH, hasJointAngles: false };
  constructor(private readonly plan: ({ samples: number; wait?: boolean } | { gapLost: number })[]) {}
  async run(sink: SampleSink, signal: AbortSignal): Promise<void> {
    let n = 0;
    for (const p of this.plan) {
      if ('gapLost' in p) {
        sink.gap({ atSample: sink.emg.written, lostSamples: p.gapLost, reason: 'test gap' });
        continue;
      }
      for (let done = 0; done < p.samples; done += STEP) {
        if (p.wait !== false) await waitForSpaceOrAbort(sink, STEP, signal);
        const chunk = new Float32Array(STEP * CH);
        for (let i = 0; i < STEP; i++) chunk.fill(n + i, i * CH, (i + 1) * CH);
        sink.emg.append(chunk, STEP);
        n += STEP;
      }
      await new Promise((r) => setImmediate(r));
    }
  }
}

async function drive(
  source: EmgSource,
  predictor: Predictor,
  capacity: number,
  hooks: PipelineHooks = {},
): Promise<{ events: RunEvent[]; poses: { step: number; t: number; v: number; mode: Mode }[]; restarts: number[] }> {
  const events: RunEvent[] = [];
  const poses: { step: number; t: number; v: number; mode: Mode }[] = [];
  const restarts: number[] = [];
  await runPipeline({
    source,
    predictor,
    log: silentLogger(),
    ringSeconds: 1,
    rings: { emg: RingBuffer.create(capacity, CH), truth: undefined },
    hooks: {
      ...hooks,
      onEvent: (e) => events.push(e),
      onPose: (e) => poses.push({ step: e.step, t: e.t, v: e.angles[0]!, mode: e.mode }),
      onRestart: (at) => restarts.push(at),
    },
  });
  return { events, poses, restarts };
}

test('a gap: steps before it still run, then the predictor restarts after it; the step count runs on', async () => {
  const p = new CountingPredictor('streaming');
  const r = await drive(new PlannedSource([{ samples: 400 }, { gapLost: 120 }, { samples: 400 }]), p, 4000);
  // Before the gap: units ending at 100, 140, …, 380 (8 of them); after: 400 + 100, … 780 (8).
  assert.deepEqual(
    r.events.map((e) => e.kind),
    ['gap', 'source_end'],
  );
  assert.equal(r.events[0]!.atSample, 400);
  assert.deepEqual(r.restarts, [0, 400]);
  assert.equal(r.poses.length, 16);
  r.poses.forEach((x, i) => assert.equal(x.step, i));
  assert.deepEqual(
    r.poses.slice(7, 9).map((x) => x.v),
    [379, 499],
  );
});

test('an overrun: a writer that laps the reader restarts at the oldest held sample and says by how much', async () => {
  const p = new CountingPredictor('streaming');
  // 2000 samples land in a 400-sample ring before the loop reads anything.
  const r = await drive(new PlannedSource([{ samples: 2000, wait: false }]), p, 400);
  const over = r.events.filter((e) => e.kind === 'overrun');
  assert.ok(over.length >= 1, JSON.stringify(r.events));
  assert.match(over[0]!.detail, /fell \d+ samples behind/);
  assert.ok(r.restarts.length >= 2 && r.restarts[1]! >= 1600, `restarts ${r.restarts.join(' ')}`);
  // Every pose that came out read samples the ring really held: its last value is its window end − 1.
  for (const x of r.poses) assert.equal(x.v, Math.round(x.t * 2000) - 1);
});

test('a restart request resets in place and a predictor swap continues the timeline', async () => {
  const a = new CountingPredictor('streaming');
  const b = new CountingPredictor('exact');
  let units = 0;
  const r = await drive(new PlannedSource([{ samples: 1200 }]), a, 4000, {
    onUnit: () => {
      units++;
    },
    restartRequested: () => (units === 3 ? { atSample: a.resumeAt, reason: 'test reset' } : undefined),
    nextPredictor: (cur) => (units === 10 ? b : cur),
  });
  const reset = r.events.find((e) => e.kind === 'reset');
  assert.ok(reset, 'reset recorded');
  assert.equal(reset.detail, 'test reset');
  assert.equal(reset.atSample, 3 * STEP);
  // The swapped-in predictor starts where the other would have gone on.
  assert.deepEqual(b.restarts, [a.resumeAt]);
  const k = r.poses.findIndex((x) => x.mode === 'exact');
  assert.equal(k, 10);
  for (let i = 1; i < r.poses.length; i++) {
    // A reset in place restarts warm-up (its next pose is a window later), a swap does the same:
    // the timeline never goes back and never repeats a pose time.
    assert.ok(r.poses[i]!.t > r.poses[i - 1]!.t, `pose ${i} goes back in time`);
  }
  r.poses.forEach((x, i) => assert.equal(x.step, i));
});

/** Like CountingPredictor, but each unit also waits for `ahead` samples past its window unless told the input ends sooner. */
class LookAheadPredictor extends CountingPredictor {
  limit = Infinity;
  limits: number[] = [];
  constructor(private readonly ahead: number) {
    super('streaming');
  }
  override get nextReadyAt(): number {
    const end = this.origin + WINDOW + STEP * this.k;
    return end + this.ahead <= this.limit ? end + this.ahead : end;
  }
  override get oldestNeeded(): number {
    return this.origin + STEP * this.k;
  }
  override restartAt(sample: number): void {
    super.restartAt(sample);
    this.limit = Infinity;
  }
  endInputAt(sample: number): void {
    this.limit = sample;
    this.limits.push(sample);
  }
  override async advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    const end = this.origin + WINDOW + STEP * this.k;
    ring.sliceEndingAt(end, WINDOW, new Float32Array(WINDOW * CH));
    this.pose.t = end / 2000;
    this.k++;
    emit(this.pose);
    return 1;
  }
}

test('a unit waiting for look-ahead samples still runs before a gap and at the end of the input', async () => {
  // 30 samples of look-ahead: the last unit before the gap (ends at 380) and the last of the input (780) lack theirs.
  const p = new LookAheadPredictor(30);
  // Units end at 100, 140, … 380 before the gap at 400 and 500 … 780 after it (the input ends at 800).
  const r = await drive(new PlannedSource([{ samples: 400 }, { gapLost: 120 }, { samples: 400 }]), p, 4000);
  assert.equal(r.poses.length, 16, 'no unit lost to its look-ahead');
  assert.deepEqual(r.restarts, [0, 400]);
  assert.ok(p.limits.includes(400), `told of the gap: ${p.limits.join(' ')}`);
  assert.equal(p.limits.at(-1), 800, 'told where the input ended');
  r.poses.forEach((x, i) => assert.equal(x.step, i));
});

/** A JSON logger whose lines the test reads. */
function capturingLogger(): {
  log: ReturnType<typeof createLogger>;
  lines: { level: number; kind?: string; msg: string; not_logged?: number }[];
} {
  const lines: { level: number; kind?: string; msg: string; not_logged?: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as (typeof lines)[number]);
      done();
    },
  });
  return { log: createLogger('info', 'json', stream), lines };
}

test('the log says a burst of gaps in a line or two; every gap is still an event', async () => {
  const { log, lines } = capturingLogger();
  const plan: ({ samples: number } | { gapLost: number })[] = [];
  for (let i = 0; i < 30; i++) plan.push({ samples: 200 }, { gapLost: 10 });
  const events: RunEvent[] = [];
  await runPipeline({
    source: new PlannedSource(plan),
    predictor: new CountingPredictor('streaming'),
    log,
    ringSeconds: 1,
    logIntervalMs: 3_600_000,
    rings: { emg: RingBuffer.create(20000, CH), truth: undefined },
    hooks: { onEvent: (e) => events.push(e) },
  });
  assert.equal(events.filter((e) => e.kind === 'gap').length, 30);
  const gapLines = lines.filter((l) => l.kind === 'gap');
  // The first gap at once; the other 29 in one line at the end, which counts them.
  assert.equal(gapLines.length, 2, JSON.stringify(gapLines));
  assert.equal(gapLines[1]!.not_logged, 29);
  assert.match(gapLines[1]!.msg, /29 more gap event\(s\).*events\.jsonl has each/);
});

test('EventLogLimiter: one line per kind per interval, counting the ones it left out', () => {
  const { log, lines } = capturingLogger();
  let now = 0;
  const lim = new EventLogLimiter(log, 1000, () => now);
  lim.warn('gap', 10, 'first');
  lim.warn('gap', 20, 'second');
  lim.warn('overrun', 25, 'other kind');
  now = 999;
  lim.warn('gap', 30, 'third');
  now = 1000;
  lim.warn('gap', 40, 'fourth');
  lim.flush();
  assert.deepEqual(
    lines.map((l) => [l.kind, l.msg, l.not_logged]),
    [
      ['gap', 'first', undefined],
      ['overrun', 'other kind', undefined],
      ['gap', 'fourth (and 2 more gap event(s) since the last such line, not logged; events.jsonl has each)', 2],
    ],
  );
});
