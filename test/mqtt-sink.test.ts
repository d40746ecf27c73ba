import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { Aedes } from 'aedes';
import { UserError } from '../src/common/errors.js';
import { JOINT_NAMES } from '../src/domain/geometry.js';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { MqttSink } from '../src/outputs/mqtt-sink.js';
import { newPoseEvent } from '../src/domain/pose.js';
import { Subscriber, assertSchema, closeSubscribers, mqttConfig, poseStream, waitFor } from './mqtt-helpers.js';

after(closeSubscribers);

/** The sink's MQTT.js client, for the tests that break its connection on purpose. */
function clientOf(sink: MqttSink): MqttClient {
  return (sink as unknown as { client: MqttClient }).client;
}

test('embedded broker: a subscriber gets every pose in order, valid, with meta and a retained birth', async () => {
  const sink = new MqttSink(mqttConfig(), { mode: 'streaming', model: { name: 'test-model', sha256: 'abc' } });
  await sink.start();
  try {
    const port = sink.embeddedPort;
    assert.ok(port !== null && port > 0, 'the real port is reported for embedded_port 0');
    assert.equal(sink.topics.pose, 'myostream/testnode/pose');
    const sub = await Subscriber.open(`mqtt://127.0.0.1:${port}`, 'myostream/testnode/#');
    await waitFor('retained status and meta', () => sub.on('/status').length > 0 && sub.on('/meta').length > 0);
    const status = sub.on('/status')[0]!;
    assert.equal(status.retain, true, 'a late subscriber gets the birth as a retained message');
    assertSchema('mqtt_status', status.body);
    assert.equal(status.body['state'], 'online');
    assert.equal(status.body['mode'], 'streaming');
    assert.deepEqual(status.body['model'], { name: 'test-model', sha256: 'abc' });
    const meta = sub.on('/meta')[0]!;
    assert.equal(meta.retain, true);
    assertSchema('mqtt_meta', meta.body);
    assert.deepEqual(meta.body['joints'], JOINT_NAMES);

    const next = poseStream();
    const N = 200;
    const sent: number[][] = [];
    for (let i = 0; i < N; i++) {
      const e = next();
      sent.push(Array.from(e.angles));
      sink.write(e);
    }
    await waitFor(`${N} poses`, () => sub.on('/pose').length >= N);
    const poses = sub.on('/pose');
    assert.equal(poses.length, N);
    poses.forEach((p, i) => {
      assertSchema('mqtt_pose', p.body);
      assert.equal(p.retain, false);
      assert.equal(p.qos, 0);
      assert.equal(p.body['seq'], i, 'seq counts from 0 without gaps');
      assert.equal(p.body['step'], i);
      // float32 text: each angle reads back as the very float32 that was sent.
      const angles = p.body['angles'] as number[];
      angles.forEach((a, j) => assert.equal(Math.fround(a), sent[i]![j]));
    });
    const st = sink.stats();
    assert.equal(st.published, N);
    assert.equal(st.dropped, 0);
    assert.equal(st.protocol_version, 4);
    await sub.close();
  } finally {
    await sink.close();
  }
});

test('pose text: compact float32 numbers, null for non-finite, no per-pose retained state', () => {
  const sink = new MqttSink(mqttConfig(), { mode: 'exact' });
  const e = newPoseEvent('exact', new Float32Array(20));
  e.t = 0.915;
  e.step = 7;
  e.angles[0] = 0.1;
  e.angles[1] = -1.5;
  e.angles[2] = Number.NaN;
  e.angles[3] = Infinity;
  const text = sink.encodePose(e);
  const body = JSON.parse(text) as Record<string, unknown>;
  assertSchema('mqtt_pose', body);
  const angles = body['angles'] as (number | null)[];
  assert.equal(angles[0], 0.100000001, '9 significant digits of the float32 0.1');
  assert.equal(Math.fround(angles[0]), e.angles[0]);
  assert.equal(angles[1], -1.5);
  assert.equal(angles[2], null);
  assert.equal(angles[3], null);
  assert.equal(body['t'], 0.915);
  assert.ok(text.length < 400, `pose payload ${text.length} bytes`);
});

test('mode change and events: status follows the poses, events arrive at QoS 1', async () => {
  const sink = new MqttSink(mqttConfig({ node_id: 'modes' }), { mode: 'streaming' });
  await sink.start();
  try {
    const sub = await Subscriber.open(sink.brokerUrl, 'myostream/modes/#');
    await waitFor('birth', () => sub.on('/status').length === 1);
    const next = poseStream('streaming');
    sink.write(next());
    sink.publishEvent({
      time: new Date().toISOString(),
      kind: 'mode_switch',
      atSample: 12000,
      detail: 'streaming → exact: latency',
      from: 'streaming',
      to: 'exact',
      reason: 'latency',
    });
    const e = next();
    e.mode = 'exact';
    sink.write(e);
    sink.publishEvent({ kind: 'gap', atSample: 20000, detail: '40 samples missing' });
    await waitFor(
      'two events and a new status',
      () => sub.on('/event').length === 2 && sub.on('/status').length === 2 && sub.on('/pose').length === 2,
    );
    const [sw, gap] = sub.on('/event');
    for (const ev of [sw!, gap!]) {
      assertSchema('mqtt_event', ev.body);
      assert.equal(ev.qos, 1);
      assert.equal(ev.retain, false);
    }
    assert.equal(sw!.body['kind'], 'mode_switch');
    assert.equal(sw!.body['to'], 'exact');
    assert.equal(gap!.body['seq'], 1);
    const st = sub.on('/status')[1]!;
    assertSchema('mqtt_status', st.body);
    assert.equal(st.body['mode'], 'exact', 'the retained status names the mode after the switch');
    assert.equal(st.body['next_seq'], 1);
    await waitFor('events acknowledged', () => sink.stats().events_published === 2);
    await sub.close();
  } finally {
    await sink.close();
  }
});

test('clean close: retained offline status with counters, no will, embedded port released', async () => {
  const sink = new MqttSink(mqttConfig({ node_id: 'closing' }), { mode: 'streaming' });
  await sink.start();
  const port = sink.embeddedPort!;
  const sub = await Subscriber.open(sink.brokerUrl, 'myostream/closing/status');
  await waitFor('birth', () => sub.on('/status').length === 1);
  const next = poseStream();
  for (let i = 0; i < 5; i++) sink.write(next());
  await sink.close();
  await sink.close(); // idempotent
  const last = sub.on('/status').at(-1)!;
  assertSchema('mqtt_status', last.body);
  assert.deepEqual([last.body['state'], last.body['reason']], ['offline', 'shutdown']);
  assert.deepEqual(last.body['counters'], { published: 5, dropped: 0, reconnects: 0 });
  assert.ok(
    !sub.messages.some((m) => m.body['reason'] === 'connection_lost'),
    'a clean disconnect does not fire the will',
  );
  sink.write(next());
  assert.equal(sink.stats().dropped_disconnected, 1, 'a write after close is dropped, not an error');
  await sub.close();
  // The port is free again.
  const b = await EmbeddedBroker.start({ port });
  await b.close();
});

test('will: killing the connection marks the node offline, reconnection brings it back online', async () => {
  const broker = await EmbeddedBroker.start({ port: 0 });
  // An external broker URL with protocol auto: MQTT 5 is refused by aedes, 3.1.1 is taken.
  const sink = new MqttSink(mqttConfig({ broker: broker.url, node_id: 'willy', reconnect_period_s: 0.3 }), {
    mode: 'streaming',
  });
  try {
    await sink.start();
    assert.equal(sink.stats().protocol_version, 4, 'fell back to MQTT 3.1.1');
    const sub = await Subscriber.open(broker.url, 'myostream/willy/status');
    await waitFor('birth', () => sub.messages.length === 1);
    assert.equal(sub.messages[0]!.body['state'], 'online');
    clientOf(sink).stream.destroy();
    await waitFor('will', () => sub.messages.some((m) => m.body['state'] === 'offline'));
    const will = sub.messages.find((m) => m.body['state'] === 'offline')!;
    assertSchema('mqtt_status', will.body);
    assert.equal(will.body['reason'], 'connection_lost');
    assert.equal(will.body['instance'], sink.instance);
    await waitFor('online again', () => sub.messages.at(-1)!.body['state'] === 'online');
    assert.equal(sink.stats().reconnects, 1);
    await sub.close();
  } finally {
    await sink.close();
    await broker.close();
  }
});

test('broker down: poses are dropped and counted, nothing queues, publishing resumes on restart', async () => {
  let broker = await EmbeddedBroker.start({ port: 0 });
  const port = broker.port;
  const sink = new MqttSink(mqttConfig({ broker: broker.url, protocol_version: 4, node_id: 'flaky' }), {
    mode: 'streaming',
  });
  try {
    await sink.start();
    let sub = await Subscriber.open(broker.url, 'myostream/flaky/pose');
    const next = poseStream();
    for (let i = 0; i < 10; i++) sink.write(next());
    await waitFor('10 poses', () => sub.messages.length === 10);
    await sub.close();
    await broker.close();
    await waitFor('disconnect noticed', () => !sink.connected);
    for (let i = 0; i < 500; i++) sink.write(next());
    const client = clientOf(sink) as unknown as { queue: unknown[] };
    assert.equal(client.queue.length, 0, 'queueQoSZero is off: MQTT.js holds no pose');
    let st = sink.stats();
    assert.equal(st.published, 10);
    assert.equal(st.dropped_disconnected, 500);
    assert.equal(st.connected, false);

    broker = await EmbeddedBroker.start({ port });
    sub = await Subscriber.open(broker.url, 'myostream/flaky/pose');
    await waitFor('reconnected', () => sink.connected);
    for (let i = 0; i < 10; i++) sink.write(next());
    await waitFor('10 more poses', () => sub.messages.length === 10);
    const bodies = sub.messages.map((m) => m.body);
    assert.deepEqual(
      bodies.map((b) => b['seq']),
      [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
      'seq counts messages sent: no gap',
    );
    assert.equal(bodies[0]!['step'], 510, 'step shows the 500 poses dropped meanwhile');
    st = sink.stats();
    assert.equal(st.published, 20);
    assert.equal(st.dropped, 500);
    assert.equal(st.reconnects, 1);
    assert.ok(st.reconnect_attempts >= 1);
    await sub.close();
  } finally {
    await sink.close();
    await broker.close();
  }
});

test('a broker that stops reading: poses are dropped once max_buffer_kb waits in the socket', async () => {
  // A fake MQTT server: accepts the CONNECT, answers CONNACK, then never reads again.
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.once('data', () => {
      s.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      s.pause();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const sink = new MqttSink(
    mqttConfig({
      broker: `mqtt://127.0.0.1:${port}`,
      protocol_version: 4,
      max_buffer_kb: 64,
      keepalive_s: 60,
      reconnect_period_s: 60,
    }),
    { mode: 'streaming' },
  );
  try {
    await sink.start();
    assert.ok(sink.connected);
    const next = poseStream();
    // Enough to fill the kernel's socket buffers on loopback, then some.
    for (let i = 0; i < 60000; i++) sink.write(next());
    const st = sink.stats();
    assert.ok(st.dropped_backpressure > 0, `dropped ${st.dropped_backpressure}`);
    const waiting = clientOf(sink).stream.writableLength;
    assert.ok(waiting <= 64 * 1024 + 1024, `${waiting} bytes wait in the socket`);
    assert.equal(st.published + st.dropped, 60000);
    // Cut the stuck link first: closing while connected would wait for acknowledgements.
    for (const s of sockets) s.destroy();
    await waitFor('disconnect noticed', () => !sink.connected);
  } finally {
    await sink.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('refused credentials and a missing password variable are UserErrors', async () => {
  const aedes = await Aedes.createBroker({
    authenticate: (_client, username, password, done) =>
      done(null, username === 'myo' && password?.toString() === 'secret'),
  });
  const server = createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const bad = new MqttSink(
      mqttConfig({ broker: url, protocol_version: 4, username: 'myo', password_env: 'MYO_PW' }),
      { mode: 'streaming', env: { MYO_PW: 'wrong' } },
    );
    await assert.rejects(
      bad.start(),
      (e: unknown) => e instanceof UserError && /refused/.test(e.message) && e.message.includes(url),
    );
    const missing = new MqttSink(mqttConfig({ broker: url, username: 'myo', password_env: 'MYO_PW' }), {
      mode: 'streaming',
      env: {},
    });
    await assert.rejects(
      missing.start(),
      (e: unknown) => e instanceof UserError && e.message.includes('MYO_PW is not set'),
    );
    const good = new MqttSink(
      mqttConfig({ broker: url, protocol_version: 4, username: 'myo', password_env: 'MYO_PW' }),
      { mode: 'streaming', env: { MYO_PW: 'secret' } },
    );
    await good.start();
    assert.ok(good.connected);
    await good.close();
  } finally {
    await new Promise<void>((r) => aedes.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('an unreachable external broker does not hold the start back or fail it', async () => {
  // A port that was free a moment ago: connection refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const sink = new MqttSink(mqttConfig({ broker: `mqtt://127.0.0.1:${port}`, node_id: 'nobroker' }), {
    mode: 'streaming',
  });
  const t0 = Date.now();
  await sink.start();
  assert.ok(Date.now() - t0 < 2500, 'start returns at the first refusal');
  assert.equal(sink.connected, false);
  sink.write(poseStream()());
  assert.equal(sink.stats().dropped_disconnected, 1);
  assert.ok(sink.stats().last_error);
  await sink.close();
});
