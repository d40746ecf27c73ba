import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { UserError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/logger.js';
import type { RunEvent } from '../src/domain/events.js';
import type { Plugin, PluginContext, SessionView } from '../src/domain/plugin.js';
import { newPoseEvent } from '../src/domain/pose.js';
import { RunArtifacts } from '../src/outputs/artifacts.js';
import { PluginHost, type HostedContext } from '../src/daemon/plugin-host.js';

function hosted(): HostedContext {
  const view: SessionView = {
    mode: 'streaming',
    modeConfigured: 'streaming',
    poses: 0,
    samples: 123,
    unitsSinceRestart: 0,
    startedAt: new Date(),
    exit: 'running',
  };
  return {
    stream: {
      id: 'main',
      multi: false,
      channels: 16,
      sampleRate: 2000,
      poseDim: 20,
      jointNames: [],
      stepSamples: 40,
      sourceDescription: 'test',
      hasJointAngles: false,
    },
    log: silentLogger(),
    artifacts: RunArtifacts.create('', mkdtempSync(join(tmpdir(), 'myo-host-'))),
    session: view,
    actions: {
      requestMode: () => true,
      requestReset: () => undefined,
      snapshot: () => undefined,
      align: async () => ({}),
    },
  };
}

class Recorder implements Plugin {
  readonly log: string[];
  constructor(
    readonly name: string,
    log: string[],
    private readonly opts: { throwOnPose?: boolean; failStart?: Error; failLater?: boolean } = {},
  ) {
    this.log = log;
  }
  ctx: PluginContext | undefined;
  start(ctx: PluginContext): void {
    this.ctx = ctx;
    this.log.push(`start ${this.name}`);
    if (this.opts.failStart) throw this.opts.failStart;
    ctx.bus.on(this, 'pose', () => {
      this.log.push(`pose ${this.name}`);
      if (this.opts.throwOnPose) throw new Error(`${this.name} cannot write: ENOSPC`);
    });
  }
  async stop(): Promise<void> {
    await new Promise((r) => setTimeout(r, 5));
    this.log.push(`stop ${this.name}`);
  }
  report(): { counts: Record<string, number> } {
    return { counts: { [`${this.name}_reports`]: 1, shared: 1 } };
  }
}

test('plug-ins start in order and stop in reverse, each stop awaited', async () => {
  const log: string[] = [];
  const host = new PluginHost([new Recorder('a', log), new Recorder('b', log), new Recorder('c', log)], silentLogger());
  await host.start(hosted());
  host.bus.emit('pose', newPoseEvent('streaming', new Float32Array(20)));
  await host.stop();
  assert.deepEqual(log, ['start a', 'start b', 'start c', 'pose a', 'pose b', 'pose c', 'stop c', 'stop b', 'stop a']);
  assert.deepEqual(host.report().counts, {});
});

test('a plug-in that throws on an event is disabled, recorded and reported; the others go on', async () => {
  const log: string[] = [];
  const events: RunEvent[] = [];
  const bad = new Recorder('bad', log, { throwOnPose: true });
  const good = new Recorder('good', log);
  const host = new PluginHost([bad, good], silentLogger());
  await host.start(hosted());
  host.bus.on({ name: 'test' }, 'event', (e) => events.push(e));
  const pose = newPoseEvent('streaming', new Float32Array(20));
  host.bus.emit('pose', pose);
  host.bus.emit('pose', pose);
  assert.deepEqual(
    log.filter((l) => l.startsWith('pose')),
    ['pose bad', 'pose good', 'pose good'],
  );
  assert.equal(events.length, 1);
  assert.equal(events[0]!.kind, 'plugin_failed');
  assert.match(events[0]!.detail, /bad .*ENOSPC/);
  assert.equal(events[0]!.atSample, 123);
  const r = host.report();
  assert.deepEqual(
    r.disabled.map((d) => [d.plugin, d.during]),
    [['bad', 'pose']],
  );
  // A disabled plug-in no longer reports; the counts of the others add up by name.
  assert.deepEqual(r.counts, { good_reports: 1, shared: 1 });
  await host.stop();
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(log.includes('stop bad'), 'the failed plug-in was stopped too');
  assert.equal(log.filter((l) => l === 'stop bad').length, 1);
});

test('ctx.fail disables the plug-in that calls it; a failing start is contained unless it is a configuration error', async () => {
  const log: string[] = [];
  const late = new Recorder('late', log);
  const broken = new Recorder('broken', log, { failStart: new Error('EACCES /var/x') });
  const host = new PluginHost([late, broken, new Recorder('after', log)], silentLogger());
  await host.start(hosted());
  late.ctx!.fail(new Error('EIO on write'), 'io');
  const r = host.report();
  assert.deepEqual(
    r.disabled.map((d) => `${d.plugin}/${d.during}/${d.message}`),
    ['broken/start/EACCES /var/x', 'late/io/EIO on write'],
  );
  assert.ok(log.includes('start after'), 'plug-ins after a failed one still start');
  await host.stop();

  const host2 = new PluginHost(
    [new Recorder('x', log), new Recorder('cfg', log, { failStart: new UserError('outputs.poses_out: bad path') })],
    silentLogger(),
  );
  await assert.rejects(host2.start(hosted()), /bad path/);
});

test('failpoints at the host: plugin.<name>.listener throws on its N-th event, plugin.<name>.start on start; each disables that plug-in only', async () => {
  const { loadFailpoints } = await import('../src/common/failpoints.js');
  loadFailpoints('plugin.b.listener=throw@2;plugin.c.start=throw');
  try {
    const log: string[] = [];
    const host = new PluginHost(
      [new Recorder('a', log), new Recorder('b', log), new Recorder('c', log)],
      silentLogger(),
    );
    await host.start(hosted());
    for (let i = 0; i < 3; i++) host.bus.emit('pose', newPoseEvent('streaming', new Float32Array(20)));
    await host.stop();
    assert.deepEqual(
      log.filter((l) => l.startsWith('pose')),
      ['pose a', 'pose b', 'pose a', 'pose a'],
    );
    assert.deepEqual(
      host.report().disabled.map((d) => [d.plugin, d.during, d.message]),
      [
        ['c', 'start', 'failpoint plugin.c.start (hit 1)'],
        ['b', 'pose', 'failpoint plugin.b.listener (hit 2)'],
      ],
    );
  } finally {
    loadFailpoints(undefined);
  }
});
