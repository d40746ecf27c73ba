import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSource } from '../src/acquisition/sources.js';
import type { EmgSource } from '../src/acquisition/source.js';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { DEFAULT_CONFIG, openModels } from '../src/daemon/bootstrap.js';
import { streamPlugins } from '../src/daemon/plugins.js';
import { StreamSession } from '../src/daemon/stream-session.js';
import { streamInfo } from '../src/daemon/stream-setup.js';
import type { Plugin, PluginContext } from '../src/domain/plugin.js';
import { endToEndMs } from '../src/domain/step-record.js';
import { RunArtifacts } from '../src/outputs/artifacts.js';
import { GOLDEN_INPUT } from './helpers.js';

/** One stream over the golden input, wired as the daemon wires it, with `extra` plug-ins after the registry's. */
async function runSession(
  sets: string[],
  extra: Plugin[],
  wrap: (s: EmgSource) => EmgSource = (s) => s,
  dir = mkdtempSync(join(tmpdir(), 'myostream-session-')),
): Promise<{ dir: string; code: number }> {
  const log = silentLogger();
  const cfg = loadConfig(DEFAULT_CONFIG, [
    `input.source=replay:${GOLDEN_INPUT}`,
    'input.speed=0',
    'outputs.mqtt.enabled=false',
    ...sets,
  ]);
  const source = wrap(await createSource(cfg, log));
  const models = await openModels(cfg, log);
  const session = new StreamSession({
    cfg,
    log,
    models,
    source,
    info: streamInfo('main', false, source, models),
    artifacts: RunArtifacts.create('', dir),
    plugins: (env) => [...streamPlugins({ cfg, models, quiet: true }, env), ...extra],
  });
  return { dir, code: await session.run() };
}

const readJson = (dir: string, name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
const readLines = (dir: string, name: string): Record<string, unknown>[] =>
  readFileSync(join(dir, name), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** An output that takes `holdMs` of busy time with every pose, and checks the step record that follows it. */
class SlowOutput implements Plugin {
  readonly name = 'slow_output';
  poseDoneAt = NaN;
  steps = 0;
  timed = 0;
  readonly problems: string[] = [];

  constructor(private readonly holdMs: number) {}

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'pose', () => {
      const until = performance.now() + this.holdMs;
      while (performance.now() < until) {
        /* an output that takes its time */
      }
      this.poseDoneAt = performance.now();
    });
    ctx.bus.on(this, 'step', (r) => {
      this.steps++;
      if (!(r.handledAt >= this.poseDoneAt))
        this.problems.push(
          `step ${r.step}: handled at ${r.handledAt}, before the output returned at ${this.poseDoneAt}`,
        );
      if (Number.isNaN(r.inputArrivedAt)) return;
      this.timed++;
      if (!(endToEndMs(r) >= this.holdMs))
        this.problems.push(`step ${r.step}: end-to-end ${endToEndMs(r)} ms < the output's ${this.holdMs} ms`);
    });
  }

  stop(): void {}
}

test('the end-to-end latency is measured after every output had the pose, one figure in latency_stats.json and streaming_metrics.jsonl', async () => {
  const slow = new SlowOutput(2);
  const { dir, code } = await runSession(['model.mode=streaming', 'eval.streaming_alignment_check=false'], [slow]);
  assert.equal(code, 0);
  assert.deepEqual(slow.problems.slice(0, 3), []);
  assert.equal(slow.steps, 1000);
  assert.ok(slow.timed > 900, `${slow.timed} steps had their input's arrival time`);
  const lat = readJson(dir, 'latency_stats.json') as {
    end_to_end_ms: { count: number; min_ms: number };
    warmup_steps_excluded: number;
  };
  assert.equal(lat.end_to_end_ms.count, slow.timed - lat.warmup_steps_excluded);
  // The slow output is inside the figure: it was started after all of them.
  assert.ok(lat.end_to_end_ms.min_ms >= 2, `end-to-end min ${lat.end_to_end_ms.min_ms} ms`);
  const lines = readLines(dir, 'streaming_metrics.jsonl');
  assert.equal(lines.length, 1000);
  const e2e = lines.map((l) => l['e2e_ms']).filter((x): x is number => typeof x === 'number');
  assert.equal(e2e.length, slow.timed);
  assert.ok(
    e2e.every((x) => x >= 2),
    'every step line carries the same figure',
  );
});

/** Asks for exact at streaming step `at`, and for streaming again `back` exact units later. */
class ModeFlipper implements Plugin {
  readonly name = 'mode_flipper';
  private units = 0;
  private exactUnits = 0;
  constructor(
    private readonly at: number,
    private readonly back: number,
  ) {}

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'unit', (u) => {
      if (u.mode === 'streaming' && ++this.units === this.at) ctx.actions.requestMode('exact', 'test: go exact');
      if (u.mode === 'exact' && ++this.exactUnits === this.back)
        ctx.actions.requestMode('streaming', 'test: back to streaming');
    });
  }

  stop(): void {}
}

test('a session returns from exact to streaming: both switches recorded, streaming steps resume, every pose emitted once', async () => {
  const { dir, code } = await runSession(
    ['model.mode=streaming', 'eval.streaming_alignment_check=true'],
    [new ModeFlipper(100, 1)],
  );
  assert.equal(code, 0);
  const summary = readJson(dir, 'summary.json') as {
    mode_switches: { from: string; to: string }[];
    mode_final: string;
    counts: Record<string, number>;
  };
  assert.deepEqual(
    summary.mode_switches.map((s) => `${s.from}>${s.to}`),
    ['streaming>exact', 'exact>streaming'],
  );
  assert.equal(summary.mode_final, 'streaming');
  const poses = summary.counts['poses']!;
  assert.ok(poses >= 990 && poses <= 1000, `${poses} poses`);
  const lines = readLines(dir, 'streaming_metrics.jsonl');
  // The first session's 100 steps, then the steps of the session after the return (numbered from 0 again).
  assert.deepEqual(
    lines.slice(0, 100).map((l) => l['step']),
    [...Array(100).keys()],
  );
  assert.ok(lines.length > 300, `${lines.length} streaming steps`);
  assert.equal(lines[100]!['step'], 0, 'the returned session starts a new step count');
  const events = readLines(dir, 'events.jsonl').filter((e) => e['kind'] === 'mode_switch');
  assert.equal(events.length, 2);
});

/** The replay, whose reads fail once `after` samples are in the ring: a device that dies mid-run. */
function failingAfter(after: number, message: string): (s: EmgSource) => EmgSource {
  return (inner) => ({
    info: inner.info,
    run: (sink, signal) =>
      inner.run(
        {
          emg: sink.emg,
          ...(sink.truth ? { truth: sink.truth } : {}),
          gap: (g) => sink.gap(g),
          note: (k, a, d, x) => sink.note(k, a, d, x),
          waitForSpace: async (frames) => {
            if (sink.emg.written >= after) throw new Error(message);
            await sink.waitForSpace(frames);
          },
        },
        signal,
      ),
  });
}

test('a stream that ends on an error says so: an error event in events.jsonl, exit error in summary.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-session-error-'));
  await assert.rejects(
    runSession(['model.mode=streaming'], [], failingAfter(8000, 'read failed: EIO'), dir),
    /read failed: EIO/,
  );
  const summary = readJson(dir, 'summary.json');
  assert.equal(summary['exit'], 'error');
  assert.equal(summary['finished'], true);
  assert.equal(summary['error'], 'read failed: EIO');
  const errors = readLines(dir, 'events.jsonl').filter((e) => e['kind'] === 'error');
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]!['detail']), /read failed: EIO/);
  assert.ok((errors[0]!['atSample'] as number) >= 8000);
});

test('watchdog.soft_reset_every_s restarts streaming at shadow block boundaries, where the alignment check holds again', async () => {
  const { dir, code } = await runSession(
    ['model.mode=streaming', 'eval.streaming_alignment_check=true', 'watchdog.soft_reset_every_s=5'],
    [],
  );
  assert.equal(code, 0);
  const resets = readLines(dir, 'events.jsonl').filter((e) => e['kind'] === 'reset');
  assert.ok(resets.length >= 2, `${resets.length} resets`);
  for (const r of resets)
    assert.match(String(r['detail']), /periodic soft reset \(every 5 s\) at the boundary of block \d+/);
  const summary = readJson(dir, 'summary.json') as {
    acceptance: { alignment: { aligned_blocks: number; passed: boolean } };
    counts: { samples: number };
  };
  // Each reset starts a session whose first block is an aligned one, where the signal still holds
  // a whole block (1790 + 10000 samples) after it; the first session has its own.
  const total = summary.counts.samples;
  const withBlock = resets.filter((r) => (r['atSample'] as number) + 1790 + 10000 <= total).length;
  assert.ok(withBlock >= 2, `${withBlock} resets with a block after them`);
  assert.equal(
    summary.acceptance.alignment.aligned_blocks,
    1 + withBlock,
    JSON.stringify(summary.acceptance.alignment),
  );
  assert.equal(summary.acceptance.alignment.passed, true);
  // A new session numbers its steps from 0 where the signal still holds its warm-up and one step.
  const withStep = resets.filter((r) => (r['atSample'] as number) + 1830 <= total).length;
  const steps = readLines(dir, 'streaming_metrics.jsonl').map((l) => l['step'] as number);
  assert.equal(steps.filter((x) => x === 0).length, 1 + withStep, 'each reset starts a new session at step 0');
});
