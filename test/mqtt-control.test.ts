import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../src/common/errors.js';
import { mqttSchema } from '../src/outputs/mqtt-settings.js';
import { startDaemonBroker, type DaemonBroker } from '../src/outputs/embedded-broker.js';
import { PassThrough } from 'node:stream';
import { createLogger } from '../src/common/logger.js';
import type { PluginContext } from '../src/domain/plugin.js';
import {
  FLOOD_LOG_INTERVAL_MS,
  MAX_REQUEST_BYTES,
  MqttControl,
  RATE_BURST,
  RATE_PER_S,
  controlJsonSchemas,
  responseSchema,
} from '../src/outputs/mqtt-control.js';
import { MqttOutput } from '../src/outputs/mqtt-output.js';
import {
  Subscriber,
  assertSchema,
  closeSubscribers,
  mqttConfig,
  poseStream,
  waitFor,
  type Received,
} from './mqtt-helpers.js';
import { ROOT } from './helpers.js';
import { harness, reporter, startPlugin, stopPlugin, type Harness } from './mqtt-plugin-helpers.js';

let broker: DaemonBroker;
before(async () => {
  broker = (await startDaemonBroker(mqttConfig()))!;
});
after(async () => {
  await closeSubscribers();
  await broker.close();
});

/** Publishes a request and waits for the answer carrying its transaction. */
async function ask(
  sub: Subscriber,
  prefix: string,
  name: string,
  payload: string | Record<string, unknown>,
  tx?: string,
): Promise<Received> {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const before = sub.messages.length;
  await sub.client.publishAsync(`${prefix}/request/${name}`, text, { qos: 1 });
  let found: Received | undefined;
  await waitFor(`response to ${name}`, () => {
    found = sub.messages
      .slice(before)
      .find((m) => m.topic === `${prefix}/response/${name}` && (tx === undefined || m.body['transaction'] === tx));
    return found !== undefined;
  });
  responseSchema.parse(found!.body);
  assertSchema('mqtt_response', found!.body);
  return found!;
}

async function started(
  h: Harness,
  over: Parameters<typeof mqttConfig>[0] = {},
  now?: () => number,
): Promise<MqttOutput> {
  const p = new MqttOutput(mqttConfig({ node_id: 'ctl', ...over }), {
    brokerUrl: broker.url,
    model: { encoder_sha256: '8cea42e411a2', encoder_provider: 'cpu' },
    ...(now ? { now } : {}),
  });
  await startPlugin(h, p);
  return p;
}

test('plug-in: poses, events and mode switches from the bus; retained health on the tick; version in status and meta', async () => {
  const h = harness({
    reporters: [reporter('latency', { latency: { t_compute_ms: { p50: 3.1, p95: 4.2, p99: 5.0 } } }, { gaps: 2 })],
  });
  const sub = await Subscriber.open(broker.url, 'myostream/ctl/#');
  const p = await started(h);
  try {
    await waitFor('birth and meta', () => sub.on('/status').length > 0 && sub.on('/meta').length > 0);
    const status = sub.on('/status')[0]!.body;
    assertSchema('mqtt_status', status);
    assert.match(String(status['version']), /^\d+\.\d+\.\d+/);
    const meta = sub.on('/meta')[0]!.body;
    assertSchema('mqtt_meta', meta);
    assert.equal(meta['version'], status['version']);
    assert.equal(meta['control'], true);
    assert.equal(
      (meta['topics'] as Record<string, string>)['health'],
      'myostream/ctl/health',
      'one stream: topics unchanged',
    );

    const next = poseStream();
    for (let i = 0; i < 5; i++) {
      h.session.poses++;
      h.bus.emit('pose', next());
    }
    h.ctx.record('gap', 4000, '40 samples missing', { samples: 40 });
    h.bus.emit('mode', {
      time: new Date().toISOString(),
      at_step: 5,
      at_sample: 12000,
      from: 'streaming',
      to: 'exact',
      reason: 'latency over budget',
    });
    h.bus.emit('tick', { uptimeS: 1, final: false });
    await waitFor(
      'poses, events, health',
      () => sub.on('/pose').length === 5 && sub.on('/event').length === 2 && sub.on('/health').length === 1,
    );
    assert.deepEqual(
      sub.on('/pose').map((m) => m.body['seq']),
      [0, 1, 2, 3, 4],
    );
    const [gap, sw] = sub.on('/event').map((m) => m.body);
    assertSchema('mqtt_event', gap);
    assertSchema('mqtt_event', sw);
    assert.equal(gap!['kind'], 'gap');
    assert.deepEqual(gap!['data'], { samples: 40 });
    assert.deepEqual(
      [sw!['kind'], sw!['from'], sw!['to'], sw!['reason']],
      ['mode_switch', 'streaming', 'exact', 'latency over budget'],
    );

    const health = sub.on('/health')[0]!;
    const late = await Subscriber.open(broker.url, 'myostream/ctl/health');
    await waitFor('retained health for a late subscriber', () => late.messages.length === 1);
    assert.equal(late.messages[0]!.retain, true);
    await late.close();
    assertSchema('mqtt_health', health.body);
    const b = health.body as {
      mode_reason: string;
      mqtt: { published: number };
      sections: { latency: { t_compute_ms: { p95: number } } };
      counts: { gaps: number };
      model: { encoder_provider: string };
      disk: { free_bytes: number; dir: string };
      process: { rss_mb: number };
      version: unknown;
    };
    assert.equal(b['mode_reason'], 'latency over budget');
    assert.equal(b['mqtt'].published, 5);
    assert.equal(b['sections'].latency.t_compute_ms.p95, 4.2, "other plug-ins' sections are carried");
    assert.equal(b['counts'].gaps, 2);
    assert.equal(b['model'].encoder_provider, 'cpu');
    assert.ok(b['disk'].free_bytes > 0 && b['disk'].dir === h.ctx.artifacts.dir);
    assert.ok(b['process'].rss_mb > 0);
    assert.equal(b['version'], status['version']);

    // Within the interval no second message; past it, one more.
    h.bus.emit('tick', { uptimeS: 5, final: false });
    h.bus.emit('tick', { uptimeS: 11.5, final: false });
    await waitFor('second health', () => sub.on('/health').length === 2);
    assert.equal(p.report().sections?.['mqtt'] !== undefined, true);
    assert.equal(p.report().counts?.['mqtt_published'], 5);
  } finally {
    await stopPlugin(h, p);
    await sub.close();
  }
  assert.deepEqual(h.failures, []);
});

test('requests: set_mode, reset, snapshot, status, health, rebirth and align answer with the transaction', async () => {
  const h = harness({
    available: ['streaming', 'exact'],
    reporters: [reporter('watchdog', { watchdog: { state: 'ok' } })],
  });
  const sub = await Subscriber.open(broker.url, 'myostream/ctl/#');
  const p = await started(h);
  const pre = 'myostream/ctl';
  try {
    await waitFor(
      'control subscribed',
      () => (p.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
    );

    const r1 = await ask(sub, pre, 'set_mode', { transaction: 't1', mode: 'exact' }, 't1');
    assert.deepEqual(
      [r1.body['status'], r1.body['transaction'], (r1.body['data'] as Record<string, unknown>)['accepted']],
      ['ok', 't1', true],
    );
    assert.equal(h.calls.mode.length, 1);
    assert.equal(h.calls.mode[0]!.mode, 'exact');
    assert.match(h.calls.mode[0]!.reason, /requested over MQTT \(transaction t1\)/);
    // The switch the session then makes reaches the event topic and the status.
    await waitFor('mode_switch event', () => sub.on('/event').some((m) => m.body['to'] === 'exact'));
    await waitFor('status in exact', () => sub.on('/status').at(-1)!.body['mode'] === 'exact');

    const r2 = await ask(sub, pre, 'reset', { transaction: 2 }, undefined);
    assert.equal(r2.body['transaction'], 2, 'a numeric transaction is echoed as it came');
    assert.deepEqual(h.calls.reset, ['requested over MQTT (transaction 2)']);

    const r3 = await ask(sub, pre, 'snapshot', {}, undefined);
    assert.equal(r3.body['status'], 'ok');
    assert.equal(h.calls.snapshot, 1);
    assert.ok(existsSync(h.ctx.artifacts.path('summary.json')));

    h.session.poses = 123;
    const r4 = await ask(sub, pre, 'status', { transaction: 's' }, 's');
    const d4 = r4.body['data'] as {
      session: { poses: number; mode: string };
      report: { sections: { watchdog: { state: string } } };
      version: string;
    };
    assert.equal(d4['session'].poses, 123);
    assert.equal(d4['session'].mode, 'exact');
    assert.equal(d4['report'].sections.watchdog.state, 'ok');
    assert.match(d4['version'], /^\d+\.\d+\.\d+/);

    const r5 = await ask(sub, pre, 'health', { transaction: 'h' }, 'h');
    assertSchema('mqtt_health', r5.body['data']);

    const births = sub.on('/status').length;
    const metas = sub.on('/meta').length;
    await ask(sub, pre, 'rebirth', { transaction: 'rb' }, 'rb');
    await waitFor('rebirth', () => sub.on('/status').length > births && sub.on('/meta').length > metas);

    const r6 = await ask(sub, pre, 'align', { transaction: 'a', blocks: 3 }, 'a');
    assert.deepEqual(h.calls.align, [3]);
    assert.deepEqual((r6.body['data'] as { figures: unknown })['figures'], {
      blocks: 3,
      mse: 1.2e-6,
      max_diff: 3.4e-5,
      passed: true,
    });
  } finally {
    await stopPlugin(h, p);
    await sub.close();
  }
});

test('requests: a mode the session cannot run is refused; garbage gets error answers, nothing reaches the actions', async () => {
  const h = harness({ available: ['streaming'] });
  const sub = await Subscriber.open(broker.url, 'myostream/ctl/#');
  const p = await started(h);
  const pre = 'myostream/ctl';
  try {
    await waitFor(
      'control subscribed',
      () => (p.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
    );
    const no = await ask(sub, pre, 'set_mode', { transaction: 'x', mode: 'exact' }, 'x');
    assert.deepEqual(
      [no.body['status'], no.body['code'], (no.body['data'] as Record<string, unknown>)['accepted']],
      ['error', 'rejected', false],
    );

    const cases: [string, string, string, RegExp][] = [
      ['set_mode', '{"transaction":"b1","mode":', 'bad_json', /not JSON/],
      ['set_mode', '{"transaction":"b2","mode":"fast"}', 'invalid_request', /^mode: /],
      ['set_mode', '{"transaction":"b3","mode":"exact","force":true}', 'invalid_request', /force/],
      ['align', '{"transaction":"b4","blocks":1000}', 'invalid_request', /^blocks: /],
      ['align', '{"transaction":"b5","blocks":"../../etc"}', 'invalid_request', /^blocks: /],
      ['shell', '{"transaction":"b6","cmd":"rm -rf /"}', 'unknown_request', /unknown request "shell"/],
      ['__proto__', '{"transaction":"b7"}', 'unknown_request', /unknown request/],
      ['status', '[1,2,3]', 'invalid_request', /payload/],
    ];
    for (const [name, payload, code, msg] of cases) {
      const tx = code === 'bad_json' ? undefined : (/"transaction":"(b\d)"/.exec(payload) ?? [])[1];
      const r = await ask(sub, pre, name, payload, tx);
      assert.equal(r.body['status'], 'error', payload);
      assert.equal(r.body['code'], code, payload);
      assert.match(String(r.body['error']), msg, payload);
    }
    const big = JSON.stringify({ transaction: 'big', pad: 'x'.repeat(MAX_REQUEST_BYTES) });
    const rb = await ask(sub, pre, 'status', big, undefined);
    assert.equal(rb.body['code'], 'too_large');
    assert.equal(rb.body['transaction'], undefined, 'an oversized payload is not parsed');
    assert.equal(h.calls.mode.length, 1, 'only the well-formed set_mode reached the session');
    assert.deepEqual([h.calls.reset.length, h.calls.align.length, h.calls.snapshot], [0, 0, 0]);
  } finally {
    await stopPlugin(h, p);
    await sub.close();
  }
});

test('requests: align runs one at a time; a flood beyond the token bucket is dropped and counted', async () => {
  const h = harness({ gatedAlign: true });
  const sub = await Subscriber.open(broker.url, 'myostream/ctl/#');
  let clock = 0;
  const p = await started(h, {}, () => clock);
  const pre = 'myostream/ctl';
  try {
    await waitFor(
      'control subscribed',
      () => (p.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
    );
    await sub.client.publishAsync(`${pre}/request/align`, '{"transaction":"first","blocks":2}', { qos: 1 });
    await waitFor('align under way', () => h.calls.align.length === 1);
    const busy = await ask(sub, pre, 'align', { transaction: 'second' }, 'second');
    assert.equal(busy.body['code'], 'busy');
    h.alignGate.release!();
    await waitFor('first align answered', () =>
      sub.on('/response/align').some((m) => m.body['transaction'] === 'first' && m.body['status'] === 'ok'),
    );
    assert.deepEqual(h.calls.align, [2]);

    // The clock stands still: the bucket (2 tokens used above) holds RATE_BURST - 2 more.
    const n = 20;
    for (let i = 0; i < n; i++)
      await sub.client.publishAsync(`${pre}/request/health`, JSON.stringify({ transaction: `f${i}` }), { qos: 1 });
    const counts = () =>
      (p.report().sections?.['mqtt'] as { control: { requests: number; dropped_rate: number } }).control;
    await waitFor('all requests seen', () => counts().requests === n + 2);
    await waitFor('answers', () => sub.on('/response/health').length === RATE_BURST - 2);
    assert.equal(counts().dropped_rate, n - (RATE_BURST - 2));
    assert.equal(p.report().counts?.['mqtt_requests_dropped'], n - (RATE_BURST - 2));
    // One second refills five tokens.
    clock += 1000;
    const again = await ask(sub, pre, 'health', { transaction: 'later' }, 'later');
    assert.equal(again.body['status'], 'ok');
  } finally {
    await stopPlugin(h, p);
    await sub.close();
  }
});

test('a request flood is logged once per interval with its count, the rest at close', async () => {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  let clock = 0;
  const answers: string[] = [];
  // Drops happen before any handler runs: the session context is never reached.
  const control = new MqttControl({
    ctx: {} as PluginContext,
    link: {
      nodeId: 'n',
      streamId: 'main',
      topics: { response: 'r' },
      respond: (t) => (answers.push(t), true),
      rebirth: () => undefined,
    },
    health: () => Promise.resolve({}),
    status: () => ({}),
    now: () => clock,
    log: createLogger('info', 'json', out),
  });
  const flood = (n: number, stepMs: number): void => {
    for (let i = 0; i < n; i++) {
      control.handle({ name: 'nonsense name!', payload: Buffer.alloc(0) });
      clock += stepMs;
    }
  };
  // 5 s at 100 requests per second: the bucket lets through its burst and 5 per second.
  flood(500, 10);
  await new Promise((r) => setImmediate(r));
  const warns = () => lines.filter((l) => String(l['msg']).startsWith('MQTT control:'));
  assert.equal(warns().length, 1, 'the first drop at once, then nothing for the rest of the interval');
  assert.equal(warns()[0]!['dropped'], 1);
  // Another 6 s: one more line, carrying everything dropped since the first.
  flood(600, 10);
  await new Promise((r) => setImmediate(r));
  assert.equal(warns().length, 2);
  const passed = (t: number): number => RATE_BURST + Math.floor((t / 1000) * RATE_PER_S);
  const second = warns()[1]!;
  assert.ok(Number(second['over_s']) >= FLOOD_LOG_INTERVAL_MS / 1000);
  await control.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(warns().length, 3, 'close() reports what the last line did not');
  const total = warns().reduce((s, l) => s + Number(l['dropped']), 0);
  assert.equal(total, control.counts.dropped_rate, 'every drop is in exactly one line');
  assert.equal(warns()[2]!['dropped_total'], control.counts.dropped_rate);
  assert.ok(
    control.counts.dropped_rate >= 1100 - passed(11_000) - 1 &&
      control.counts.dropped_rate <= 1100 - passed(11_000) + 1,
    String(control.counts.dropped_rate),
  );
  assert.equal(
    control.counts.dropped_name,
    1100 - control.counts.dropped_rate,
    'the ones let through fail the name check',
  );
});

test('several streams: per-stream topics, clients and control; control=false subscribes nothing', async () => {
  const ha = harness({ streamId: 'left', multi: true });
  const hb = harness({ streamId: 'right', multi: true });
  const sub = await Subscriber.open(broker.url, 'myostream/duo/#');
  const a = await started(ha, { node_id: 'duo' });
  const b = await started(hb, { node_id: 'duo', control: false });
  try {
    await waitFor('both births', () => sub.on('/left/status').length > 0 && sub.on('/right/status').length > 0);
    assert.equal(sub.on('/left/status')[0]!.body['stream_id'], 'left');
    assert.equal(sub.on('/right/meta')[0]!.body['control'], false);
    ha.bus.emit('pose', poseStream()());
    hb.bus.emit('pose', poseStream()());
    await waitFor('a pose on each', () => sub.on('/left/pose').length === 1 && sub.on('/right/pose').length === 1);
    await waitFor(
      'left control subscribed',
      () => (a.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
    );
    const r = await ask(sub, 'myostream/duo/left', 'reset', { transaction: 'L' }, 'L');
    assert.equal(r.body['stream_id'], 'left');
    assert.deepEqual([ha.calls.reset.length, hb.calls.reset.length], [1, 0]);
    assert.equal((b.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed, false);
    // The read-only stream: its request topic reaches nobody (one clean round trip to the broker shows it has no subscriber).
    await sub.client.publishAsync('myostream/duo/right/request/reset', '{"transaction":"R"}', { qos: 1 });
    await ask(sub, 'myostream/duo/left', 'status', { transaction: 'after' }, 'after');
    assert.equal(sub.on('/right/response/reset').length, 0);
    assert.equal(hb.calls.reset.length, 0);
  } finally {
    await stopPlugin(ha, a);
    await stopPlugin(hb, b);
    await sub.close();
  }
});

test('daemon broker: loopback only unless embedded_allow_remote; none when MQTT is off or external', async () => {
  assert.equal(await startDaemonBroker(mqttConfig({ enabled: false })), undefined);
  assert.equal(await startDaemonBroker(mqttConfig({ broker: 'mqtt://127.0.0.1:1' })), undefined);
  assert.throws(() => mqttSchema.parse({ embedded_host: '0.0.0.0' }), /loopback only.*embedded_allow_remote=true/);
  // The same refusal at start for a configuration that bypassed the schema.
  const cfg = { ...mqttConfig(), embedded_host: '0.0.0.0' };
  await assert.rejects(
    startDaemonBroker(cfg),
    (e: unknown) => e instanceof UserError && /embedded_host 0\.0\.0\.0: .*loopback only/.test(e.message),
  );
  const open = await startDaemonBroker(mqttConfig({ embedded_host: '0.0.0.0', embedded_allow_remote: true }));
  assert.ok(open && open.port > 0);
  await open.close();
});

test('health_interval_s = 0: no periodic health, still on request; a long report section is cut to a note', async () => {
  const long = { series: Array.from({ length: 3000 }, (_, i) => i) };
  const h = harness({ reporters: [reporter('memory', { memory: long, small: { ok: true } })] });
  const sub = await Subscriber.open(broker.url, 'myostream/quiet/#');
  const p = await started(h, { node_id: 'quiet', health_interval_s: 0 });
  try {
    await waitFor(
      'control subscribed',
      () => (p.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
    );
    for (let t = 0; t < 100; t += 10) h.bus.emit('tick', { uptimeS: t, final: false });
    h.bus.emit('tick', { uptimeS: 100, final: true });
    const r = await ask(sub, 'myostream/quiet', 'health', { transaction: 'q' }, 'q');
    const d = r.body['data'] as { sections: { memory: { omitted: string }; small: unknown } };
    assert.match(d['sections'].memory.omitted, /^\d+ bytes; whole in summary\.json$/);
    assert.deepEqual(d['sections'].small, { ok: true });
    // The answer came after every tick was handled: had a tick published, it would be here.
    assert.equal(sub.messages.filter((m) => m.topic === 'myostream/quiet/health').length, 0);
    assert.equal((p.report().sections?.['mqtt'] as { health_published: number }).health_published, 0);
  } finally {
    await stopPlugin(h, p);
    await sub.close();
  }
});

test('the committed request and response schemas are the ones the control plane validates with', () => {
  const s = controlJsonSchemas();
  for (const k of ['request', 'response'] as const) {
    const committed = JSON.parse(readFileSync(join(ROOT, 'schemas', `mqtt_${k}.schema.json`), 'utf8')) as unknown;
    assert.deepEqual(
      committed,
      JSON.parse(JSON.stringify(s[k])),
      `schemas/mqtt_${k}.schema.json is stale: npm run build && node scripts/write-mqtt-schemas.mjs`,
    );
  }
});
