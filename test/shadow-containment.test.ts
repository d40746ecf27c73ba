import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { createSource } from '../src/acquisition/sources.js';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { DEFAULT_CONFIG, openModels } from '../src/daemon/bootstrap.js';
import { streamPlugins } from '../src/daemon/plugins.js';
import { StreamSession } from '../src/daemon/stream-session.js';
import { streamInfo } from '../src/daemon/stream-setup.js';
import type { Plugin, PluginContext } from '../src/domain/plugin.js';
import { ExactPredictor } from '../src/inference/exact-predictor.js';
import { incrementalEncoderFrom } from '../src/inference/incremental-encoder.js';
import type { LoadedModels } from '../src/inference/models.js';
import { PairedStreamingPredictor } from '../src/inference/paired-streaming.js';
import { ShadowRollout } from '../src/inference/shadow-rollout.js';
import { StreamingPredictor } from '../src/inference/streaming-predictor.js';
import { RunArtifacts } from '../src/outputs/artifacts.js';
import { AlignmentReport } from '../src/supervision/alignment-report.js';
import { GOLDEN_INPUT, goldenRing, incrementalCpuModels, maxAbsDiff, stepToEnd } from './helpers.js';

type Json = Record<string, unknown>;
const readJson = (dir: string, name: string): Json => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Json;
const readLines = (dir: string, name: string): Json[] =>
  readFileSync(join(dir, name), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Json);

/** Replaces `obj[key]` for the duration of one test; returns the original. */
function patch<T extends object, K extends keyof T>(
  t: { after(fn: () => void): void },
  obj: T,
  key: K,
  value: T[K],
): T[K] {
  const orig = obj[key];
  obj[key] = value;
  t.after(() => {
    obj[key] = orig;
  });
  return orig;
}

/** Counts what goes by on the bus: poses, compared blocks, the shadow's failure. */
class Tally implements Plugin {
  readonly name = 'tally';
  poses = 0;
  blocks = 0;
  blocksAfterFailure = 0;
  posesAfterFailure = 0;
  failures: string[] = [];
  onPose: ((n: number) => void) | undefined;

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'pose', () => {
      this.poses++;
      if (this.failures.length) this.posesAfterFailure++;
      this.onPose?.(this.poses);
    });
    ctx.bus.on(this, 'block', () => {
      this.blocks++;
      if (this.failures.length) this.blocksAfterFailure++;
    });
    ctx.bus.on(this, 'error', (f) => void this.failures.push(`${f.plugin}/${f.during}`));
  }

  stop(): void {}
}

/** One stream over the golden input, wired as the daemon wires it (alignment check on), plus `extra`. */
async function runSession(
  extra: Plugin[],
  models?: LoadedModels,
): Promise<{ dir: string; code: number; session: StreamSession }> {
  const log = silentLogger();
  const dir = mkdtempSync(join(tmpdir(), 'myostream-contain-'));
  const cfg = loadConfig(DEFAULT_CONFIG, [
    `input.source=replay:${GOLDEN_INPUT}`,
    'input.speed=0',
    'outputs.mqtt.enabled=false',
    'eval.streaming_alignment_check=true',
  ]);
  const source = await createSource(cfg, log);
  const m = models ?? (await openModels(cfg, log));
  const session = new StreamSession({
    cfg,
    log,
    models: m,
    source,
    info: streamInfo('main', false, source, m),
    artifacts: RunArtifacts.create('', dir),
    plugins: (env) => [...streamPlugins({ cfg, models: m, quiet: true }, env), ...extra],
  });
  return { dir, code: await session.run(), session };
}

test('a shadow that throws mid-run is switched off and recorded; the run ends normally and every pose still comes', async (t) => {
  // The reference: the same run with a healthy shadow.
  const ref = await runSession([]);
  assert.equal(ref.code, 0);
  const refPoses = (readJson(ref.dir, 'summary.json')['counts'] as Json)['poses'] as number;
  assert.ok(refPoses > 300, `${refPoses} poses`);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype, never called unbound
  const orig = ShadowRollout.prototype.afterStep;
  let calls = 0;
  patch(
    t,
    ShadowRollout.prototype,
    'afterStep',
    async function (this: ShadowRollout, j: number, angles: Float32Array): Promise<void> {
      if (++calls === 51) throw new Error('shadow broke at its 51st step');
      return orig.call(this, j, angles);
    },
  );
  const tally = new Tally();
  const { dir, code } = await runSession([tally]);
  assert.equal(code, 0);
  assert.equal(calls, 51, 'the shadow is not called again once it failed');
  assert.deepEqual(tally.failures, ['shadow/after step']);
  assert.equal(tally.poses, refPoses, 'every pose of the healthy run still comes');
  assert.ok(tally.posesAfterFailure >= refPoses - 51, `${tally.posesAfterFailure} poses after the failure`);
  assert.equal(tally.blocksAfterFailure, 0, 'no block is compared once the shadow is off');

  const summary = readJson(dir, 'summary.json');
  assert.equal(summary['exit'], 'completed');
  assert.equal((summary['counts'] as Json)['poses'], refPoses);
  const disabled = (summary['plugins'] as { disabled: { plugin: string; during: string; message: string }[] }).disabled;
  assert.deepEqual(
    disabled.map((d) => [d.plugin, d.during]),
    [['shadow', 'after step']],
  );
  assert.match(disabled[0]!.message, /51st step/);
  const alignment = (summary['acceptance'] as Record<string, Json>)['alignment']!;
  assert.match(String(alignment['shadow_failed']), /after step: .*51st step/);
  const events = readLines(dir, 'events.jsonl').filter((e) => e['kind'] === 'plugin_failed');
  assert.equal(events.length, 1);
  assert.deepEqual(events[0]!['data'], { plugin: 'shadow', during: 'after step' });
  // Every streaming step still has its line; none after the failure carries an exact figure.
  const lines = readLines(dir, 'streaming_metrics.jsonl');
  assert.deepEqual(
    lines.map((l) => l['step']),
    [...Array(refPoses).keys()],
  );
  assert.ok(lines.slice(-100).every((l) => l['mse_exact'] === undefined));
});

test('the alignment plug-in disabled while a step awaits its shared run: the step and the shadow go on', async (t) => {
  const log = silentLogger();
  const cfg = loadConfig(DEFAULT_CONFIG, [
    `input.source=replay:${GOLDEN_INPUT}`,
    'input.speed=0',
    'outputs.mqtt.enabled=false',
    'eval.streaming_alignment_check=true',
  ]);
  const models = await openModels(cfg, log);
  // Whichever graph runs the streaming step's decoder; a batch of 2 is a step with its shadow row.
  const sessions: ort.InferenceSession[] = [
    models.decoder,
    ...(models.sessions['stream_step'] ? [models.sessions['stream_step']] : []),
  ];
  let armed = false;
  let fired = 0;
  // eslint-disable-next-line prefer-const -- the patched run below reads it before the one assignment, which needs the patch in place
  let session: StreamSession | undefined;
  for (const s of sessions) {
    const run = s.run.bind(s);
    patch(t, s, 'run', ((feeds: ort.InferenceSession.FeedsType, fetches: ort.InferenceSession.FetchesType) => {
      const shared = feeds['input']?.dims[0] === 2 || feeds['rows']?.dims[0] === 1;
      const p = (run as (f: typeof feeds, o: typeof fetches) => Promise<ort.InferenceSession.ReturnType>)(
        feeds,
        fetches,
      );
      if (armed && shared) {
        armed = false;
        fired++;
        // The status tick lands while the step awaits this run: the alignment plug-in fails on it
        // and is stopped then, in the middle of the step.
        session!.snapshot();
      }
      return p;
    }) as typeof s.run);
  }
  patch(t, AlignmentReport.prototype, 'toJSON', function (): never {
    throw new Error('streaming_alignment.json: no space left');
  });
  const tally = new Tally();
  tally.onPose = (n) => {
    if (n === 300) armed = true;
  };
  const dir = mkdtempSync(join(tmpdir(), 'myostream-contain-'));
  const source = await createSource(cfg, log);
  session = new StreamSession({
    cfg,
    log,
    models,
    source,
    info: streamInfo('main', false, source, models),
    artifacts: RunArtifacts.create('', dir),
    plugins: (env) => [...streamPlugins({ cfg, models, quiet: true }, env), tally],
  });
  const code = await session.run();
  assert.equal(code, 0);
  assert.equal(fired, 1, 'a tick was emitted inside a shared step');
  assert.deepEqual(tally.failures, ['alignment/tick']);
  const summary = readJson(dir, 'summary.json');
  assert.equal(summary['exit'], 'completed');
  assert.equal((summary['counts'] as Json)['poses'], tally.poses);
  // The shadow is the session's: it kept comparing blocks for the step lines and the watchdog.
  assert.ok(
    tally.blocksAfterFailure >= 2,
    `${tally.blocksAfterFailure} of ${tally.blocks} blocks compared after the alignment plug-in was disabled`,
  );
  const lines = readLines(dir, 'streaming_metrics.jsonl');
  assert.ok(lines.filter((l) => typeof l['mse_exact'] === 'number').length >= 3 * 250);
});

/** The paired predictor over the golden input, its shadow's `key` replaced by `broken`. */
async function pairedRun(
  m: LoadedModels,
  decoder: ort.InferenceSession,
  broken?: Partial<ShadowRollout>,
): Promise<{ poses: Float32Array; failures: string[]; p: PairedStreamingPredictor; blocks: number }> {
  const ring = goldenRing();
  const streaming = new StreamingPredictor(incrementalEncoderFrom(m), decoder, {
    policy: 'exact_grid',
    blockSamples: 10000,
  });
  let blocks = 0;
  const shadow = new ShadowRollout(new ExactPredictor(m.encoder, m.decoder, 10000, false), {
    onBlock: () => {
      blocks++;
    },
  });
  if (broken) Object.assign(shadow, broken);
  const failures: string[] = [];
  const p = new PairedStreamingPredictor(streaming, shadow, {
    onShadowFailed: (during, e) => void failures.push(`${during}: ${e instanceof Error ? e.message : String(e)}`),
  });
  const out: number[] = [];
  p.restartAt(0);
  await stepToEnd(p, ring, (e) => void out.push(...e.angles));
  await p.finish();
  return { poses: new Float32Array(out), failures, p, blocks };
}

test('a shadow failing inside the step (its point, the shared run, a frame) leaves that step and the next ones exactly as without it', async () => {
  const m = await incrementalCpuModels();
  const healthy = await pairedRun(m, m.decoder);
  assert.deepEqual(healthy.failures, []);
  assert.equal(healthy.p.shadowState, 'on');
  assert.equal(healthy.blocks, 4);
  const bare = new StreamingPredictor(incrementalEncoderFrom(m), m.decoder, {
    policy: 'exact_grid',
    blockSamples: 10000,
  });
  const barePoses: number[] = [];
  bare.restartAt(0);
  await stepToEnd(bare, goldenRing(), (e) => void barePoses.push(...e.angles));
  const same = (a: Float32Array, why: string): void => {
    assert.equal(a.length, healthy.poses.length, why);
    assert.ok(maxAbsDiff(a, healthy.poses) <= 1e-7, `${why}: poses moved by ${maxAbsDiff(a, healthy.poses)}`);
  };
  same(new Float32Array(barePoses), 'the shadow row changes no streaming pose');

  let n = 0;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype, never called unbound
  const prepare = ShadowRollout.prototype.prepareStep;
  const badPoint = await pairedRun(m, m.decoder, {
    prepareStep(this: ShadowRollout) {
      if (++n === 400) throw new RangeError('point 400 out of range');
      return prepare.call(this);
    },
  });
  assert.deepEqual(badPoint.failures, ['prepare step: point 400 out of range']);
  assert.equal(badPoint.p.shadowState, 'failed');
  assert.equal(n, 400, 'never asked again');
  same(badPoint.poses, 'a point that throws');
  assert.equal(badPoint.blocks, 1, 'block 0 was compared before the failure, none after');

  // The batch-2 run itself rejects: the step runs again alone, from the state before it.
  let shared = 0;
  const flaky = Object.create(m.decoder) as ort.InferenceSession;
  flaky.run = ((feeds: ort.InferenceSession.FeedsType, fetches: ort.InferenceSession.FetchesType) => {
    if (feeds['input']!.dims[0] === 2 && ++shared === 600)
      return Promise.reject(new Error('out of memory in the batch-2 run'));
    return (m.decoder.run as (f: typeof feeds, o: typeof fetches) => Promise<ort.InferenceSession.ReturnType>).call(
      m.decoder,
      feeds,
      fetches,
    );
  }) as typeof flaky.run;
  const badRun = await pairedRun(m, flaky);
  assert.deepEqual(badRun.failures, ['shared decoder run: out of memory in the batch-2 run']);
  same(badRun.poses, 'a shared run that rejects');

  let frames = 0;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back on the prototype, never called unbound
  const onFrame = ShadowRollout.prototype.onFrame;
  const badFrame = await pairedRun(m, m.decoder, {
    onFrame(this: ShadowRollout, q: number, f: Float32Array, o: number) {
      if (++frames === 700) throw new Error('frame store broke');
      onFrame.call(this, q, f, o);
    },
  });
  assert.deepEqual(badFrame.failures, ['frame: frame store broke']);
  same(badFrame.poses, 'a frame that throws');

  // A promise that rejects at the end of the input.
  const badFinish = await pairedRun(m, m.decoder, { finish: () => Promise.reject(new Error('last block lost')) });
  assert.deepEqual(badFinish.failures, ['finish: last block lost']);
  same(badFinish.poses, 'a finish that rejects');
});
