import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { MqttSink } from '../src/outputs/mqtt-sink.js';
import { Subscriber, assertSchema, closeSubscribers, mqttConfig, poseStream, waitFor } from './mqtt-helpers.js';

after(closeSubscribers);

// Optional: runs only where mosquitto is installed (apt-get install mosquitto mosquitto-clients).
const HAVE_MOSQUITTO = spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;
const HAVE_SUB = spawnSync('mosquitto_sub', ['--help'], { stdio: 'ignore' }).error === undefined;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startMosquitto(): Promise<{ proc: ChildProcess; url: string; port: number }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'myo-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const until = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = tcpConnect(port, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > until) throw new Error('mosquitto did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url: `mqtt://127.0.0.1:${port}`, port };
}

test('mosquitto (MQTT 5): poses carry the message expiry, birth and will work, mosquitto_sub reads the topic', { skip: HAVE_MOSQUITTO ? false : 'mosquitto not installed' }, async () => {
  const m = await startMosquitto();
  const sink = new MqttSink(mqttConfig({ broker: m.url, node_id: 'mosq', reconnect_period_s: 0.2 }), { mode: 'streaming' });
  try {
    await sink.start();
    assert.equal(sink.stats().protocol_version, 5, 'auto picks MQTT 5 for a broker that speaks it');
    const sub = await Subscriber.open(m.url, 'myostream/mosq/#', 5);
    await waitFor('birth', () => sub.on('/status').length === 1);
    assert.equal(sub.on('/status')[0]!.retain, true);
    const next = poseStream();
    const cli = HAVE_SUB
      ? spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(m.port), '-t', 'myostream/mosq/pose', '-C', '3', '-W', '5'], { stdio: ['ignore', 'pipe', 'ignore'] })
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
    if (cli) {
      const lines = cliOut.trim().split('\n');
      assert.equal(lines.length, 3);
      for (const l of lines) assertSchema('mqtt_pose', JSON.parse(l));
    }
    (sink as unknown as { client: MqttClient }).client.stream.destroy();
    await waitFor('will', () => sub.on('/status').some((s) => s.body['reason'] === 'connection_lost'));
    await waitFor('online again', () => sub.on('/status').at(-1)!.body['state'] === 'online');
    await sub.close();
  } finally {
    await sink.close();
    const exited = new Promise((r) => m.proc.once('exit', r));
    m.proc.kill();
    await exited;
  }
});
