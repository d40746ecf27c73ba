import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { MqttSink } from '../src/outputs/mqtt-sink.js';
import { CLI, prerequisiteTest, ROOT } from './helpers.js';
import {
  Subscriber,
  assertSchema,
  closeSubscribers,
  mqttConfig,
  poseStream,
  startMosquitto,
  waitFor,
  type Received,
} from './mqtt-helpers.js';

after(closeSubscribers);

// Optional: runs only where mosquitto is installed (apt-get install mosquitto mosquitto-clients).
const HAVE_MOSQUITTO = spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;
const HAVE_SUB = spawnSync('mosquitto_sub', ['--help'], { stdio: 'ignore' }).error === undefined;
const HAVE_PUB = spawnSync('mosquitto_pub', ['--help'], { stdio: 'ignore' }).error === undefined;

async function plainMosquitto(): Promise<{ proc: ChildProcess; url: string; port: number }> {
  const m = await startMosquitto(
    1,
    ([port]: number[]) => `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
  );
  return { proc: m.proc, url: `mqtt://127.0.0.1:${m.ports[0]!}`, port: m.ports[0]! };
}

prerequisiteTest(
  'mosquitto (MQTT 5): poses carry the message expiry, every message says it is UTF-8 JSON, birth and will work, mosquitto_sub reads the topic',
  { skip: HAVE_MOSQUITTO ? false : 'mosquitto not installed' },
  async () => {
    const m = await plainMosquitto();
    const sink = new MqttSink(mqttConfig({ broker: m.url, node_id: 'mosq', reconnect_period_s: 0.2 }), {
      mode: 'streaming',
    });
    try {
      await sink.start();
      assert.equal(sink.stats().protocol_version, 5, 'auto picks MQTT 5 for a broker that speaks it');
      const sub = await Subscriber.open(m.url, 'myostream/mosq/#', 5);
      await waitFor('birth', () => sub.on('/status').length === 1);
      assert.equal(sub.on('/status')[0]!.retain, true);
      const next = poseStream();
      const cli = HAVE_SUB
        ? spawn(
            'mosquitto_sub',
            ['-h', '127.0.0.1', '-p', String(m.port), '-t', 'myostream/mosq/pose', '-C', '3', '-W', '5'],
            { stdio: ['ignore', 'pipe', 'ignore'] },
          )
        : undefined;
      let cliOut = '';
      cli?.stdout?.on('data', (d: Buffer) => (cliOut += d.toString()));
      // mosquitto_sub needs a moment to subscribe; keep publishing until it has its three.
      for (let i = 0; i < 20 || (cli !== undefined && cliOut.split('\n').length <= 3 && i < 100); i++) {
        sink.write(next());
        await new Promise((r) => setTimeout(r, 20));
      }
      await waitFor('poses', () => sub.on('/pose').length >= 20);
      for (const p of sub.on('/pose')) {
        assertSchema('mqtt_pose', p.body);
        assert.equal(p.expiry, 1, 'MQTT 5 message expiry of 1 s');
      }
      sink.publishEvent({ kind: 'gap', detail: 'test' });
      sink.publishHealth(JSON.stringify({ test: true }));
      await waitFor(
        'event, health and meta',
        () => sub.on('/event').length > 0 && sub.on('/health').length > 0 && sub.on('/meta').length > 0,
      );
      if (cli) {
        const lines = cliOut.trim().split('\n');
        assert.equal(lines.length, 3);
        for (const l of lines) assertSchema('mqtt_pose', JSON.parse(l));
      }
      (sink as unknown as { client: MqttClient }).client.stream.destroy();
      await waitFor('will', () => sub.on('/status').some((s) => s.body['reason'] === 'connection_lost'));
      await waitFor('online again', () => sub.on('/status').at(-1)!.body['state'] === 'online');
      // The will too: the broker hands on the properties the node registered with it.
      for (const msg of sub.messages) {
        assert.equal(msg.contentType, 'application/json', `${msg.topic} content type`);
        assert.equal(msg.utf8, true, `${msg.topic} payload-format indicator`);
      }
      await sub.close();
    } finally {
      await sink.close();
      const exited = new Promise((r) => m.proc.once('exit', r));
      m.proc.kill();
      await exited;
    }
  },
);

prerequisiteTest(
  'a running daemon answers requests from mosquitto_pub: status and align with figures, set_mode switches it, garbage gets an error',
  { skip: HAVE_MOSQUITTO ? false : 'mosquitto not installed' },
  async () => {
    const m = await plainMosquitto();
    const sub = await Subscriber.open(m.url, 'myostream/live/#', 5);
    const dir = mkdtempSync(join(tmpdir(), 'myo-live-'));
    // The synthetic source runs until stopped: the test decides when the daemon ends (SIGTERM), so a
    // slow machine only makes it run longer. No latency judgement: a loaded machine must not switch
    // the mode before the request does.
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--source',
        'synthetic',
        '--quiet',
        '--artifacts',
        dir,
        '--set',
        `outputs.mqtt.broker=${m.url}`,
        '--set',
        'outputs.mqtt.node_id=live',
        '--set',
        'logging.level=error',
        '--set',
        'model.mode=streaming',
        '--set',
        'eval.streaming_latency.check=false',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const pub = (name: string, payload: string): Promise<unknown> =>
      HAVE_PUB
        ? new Promise((r) =>
            spawn(
              'mosquitto_pub',
              ['-h', '127.0.0.1', '-p', String(m.port), '-t', `myostream/live/request/${name}`, '-m', payload],
              { stdio: 'ignore' },
            ).once('exit', r),
          )
        : sub.client.publishAsync(`myostream/live/request/${name}`, payload, { qos: 1 });
    const answer = async (name: string, tx: string | undefined, payload: string, ms = 8000): Promise<Received> => {
      const from = sub.messages.length;
      await pub(name, payload);
      let found: Received | undefined;
      await waitFor(
        `answer to ${name} ${tx ?? ''}`,
        () =>
          (found = sub.messages
            .slice(from)
            .find((x) => x.topic === `myostream/live/response/${name}` && x.body['transaction'] === tx)) !== undefined,
        ms,
      );
      assertSchema('mqtt_response', found!.body);
      return found!;
    };
    try {
      await waitFor('the daemon online', () => sub.on('/status').some((x) => x.body['state'] === 'online'), 30000);
      await waitFor('control plane up', () => sub.on('/meta').length > 0);
      // One whole 5 s block in the ring before asking for the alignment regression.
      for (let i = 0; ; i++) {
        const st = await answer('status', `s${i}`, JSON.stringify({ transaction: `s${i}` }));
        assert.equal(st.body['status'], 'ok');
        if ((st.body['data'] as { session: { samples: number } }).session.samples >= 12000) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      // The regression runs a whole exact block and 250 streaming steps beside the live loop.
      const al = await answer('align', 'a1', '{"transaction":"a1","blocks":1}', 60000);
      assert.equal(al.body['status'], 'ok', JSON.stringify(al.body));
      const fig = (al.body['data'] as { figures: { passed: boolean; overall: unknown } }).figures;
      assert.equal(fig.passed, true);
      assert.ok(fig.overall);
      const sw = await answer('set_mode', 't1', '{"transaction":"t1","mode":"exact"}');
      assert.equal(sw.body['status'], 'ok');
      await waitFor('the switch on event', () =>
        sub.on('/event').some((x) => x.body['kind'] === 'mode_switch' && x.body['to'] === 'exact'),
      );
      // Exact poses come a whole 5 s block at a time, and the replay may end first: the retained status says it.
      await waitFor('status in exact', () =>
        sub.on('/status').some((x) => x.body['state'] === 'online' && x.body['mode'] === 'exact'),
      );
      const bad = await answer('set_mode', undefined, 'garbage');
      assert.deepEqual([bad.body['status'], bad.body['code']], ['error', 'bad_json']);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      await waitFor('the last health', () => sub.on('/health').length > 0);
      await waitFor('offline', () => sub.on('/status').at(-1)?.body['state'] === 'offline');
      assertSchema('mqtt_health', sub.on('/health').at(-1)!.body);
    } finally {
      child.kill();
      await sub.close();
      const gone = new Promise((r) => m.proc.once('exit', r));
      m.proc.kill();
      await gone;
    }
  },
);
