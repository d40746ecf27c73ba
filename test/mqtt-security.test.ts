import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/common/errors.js';
import { MqttOutput } from '../src/outputs/mqtt-output.js';
import {
  HAVE_MOSQUITTO,
  Subscriber,
  closeSubscribers,
  mqttConfig,
  poseStream,
  startMosquitto,
  waitFor,
  type Mosquitto,
} from './mqtt-helpers.js';
import { harness, startPlugin, stopPlugin } from './mqtt-plugin-helpers.js';
import { prerequisiteTest } from './helpers.js';

const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).error === undefined;
const HAVE_PASSWD = spawnSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' }).error === undefined;
const HAVE_PUB = spawnSync('mosquitto_pub', ['--help'], { stdio: 'ignore' }).error === undefined;
const skip = !HAVE_MOSQUITTO
  ? 'mosquitto not installed'
  : !HAVE_OPENSSL
    ? 'openssl not installed'
    : !HAVE_PASSWD
      ? 'mosquitto_passwd not installed'
      : false;

const dir = mkdtempSync(join(tmpdir(), 'myo-mqtt-tls-'));
const f = (name: string): string => join(dir, name);
let mosq: Mosquitto | undefined;
let tlsUrl = '';
let pwUrl = '';
let pwPort = 0;

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 / localhost and a client certificate it signed; and a second, unrelated CA. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=myostream test CA');
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'wrong-ca.key',
    '-out',
    'wrong-ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=some other CA',
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=node-tls');
  openssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.crt',
    '-days',
    '2',
  );
}

before(async () => {
  if (skip) return;
  makeCertificates();
  for (const [user, pw] of [
    ['node', 'node-secret'],
    ['app', 'app-secret'],
    ['readonly', 'ro-secret'],
    ['viewer', 'viewer-secret'],
  ]) {
    const r = spawnSync('mosquitto_passwd', ['-b', ...(user === 'node' ? ['-c'] : []), f('passwd'), user!, pw!], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`mosquitto_passwd: ${r.stderr}`);
  }
  writeFileSync(f('node.pw'), 'node-secret\n');
  writeFileSync(f('ro.pw'), 'ro-secret\n');
  // `readonly` may publish its own topics but not read requests: its control plane must fail alone.
  writeFileSync(
    f('acl'),
    [
      'user node',
      'topic readwrite myostream/#',
      'topic write app/replies/#',
      '',
      'user app',
      'topic readwrite myostream/#',
      'topic readwrite app/#',
      '',
      'user readonly',
      'topic write myostream/ro/#',
      'topic read myostream/ro/status',
      '',
      'user viewer',
      'topic read myostream/#',
      '',
    ].join('\n'),
  );
  mosq = await startMosquitto(
    2,
    ([tls, pw]) =>
      [
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        'per_listener_settings true',
        'persistence false',
        'log_dest stderr',
        `listener ${tls} 127.0.0.1`,
        `cafile ${f('ca.crt')}`,
        `certfile ${f('server.crt')}`,
        `keyfile ${f('server.key')}`,
        'require_certificate true',
        'allow_anonymous true',
        `listener ${pw} 127.0.0.1`,
        'allow_anonymous false',
        `password_file ${f('passwd')}`,
        `acl_file ${f('acl')}`,
        '',
      ].join('\n'),
    dir,
  );
  tlsUrl = `mqtts://127.0.0.1:${mosq.ports[0]}`;
  pwPort = mosq.ports[1]!;
  pwUrl = `mqtt://127.0.0.1:${pwPort}`;
});

after(async () => {
  await closeSubscribers();
  await mosq?.stop();
});

async function appClient(): Promise<Subscriber> {
  return Subscriber.openWith(pwUrl, 'myostream/#', { protocolVersion: 5, username: 'app', password: 'app-secret' });
}

prerequisiteTest('mutual TLS with a private CA: poses reach a subscriber that also uses TLS', { skip }, async () => {
  const h = harness();
  const p = new MqttOutput(
    mqttConfig({
      broker: tlsUrl,
      node_id: 'tls',
      tls: { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key'), reject_unauthorized: true },
    }),
  );
  const sub = await Subscriber.openWith(tlsUrl, 'myostream/tls/#', {
    protocolVersion: 5,
    ca: readFileSync(f('ca.crt')),
    cert: readFileSync(f('client.crt')),
    key: readFileSync(f('client.key')),
  });
  await startPlugin(h, p);
  try {
    const next = poseStream();
    for (let i = 0; i < 10; i++) h.bus.emit('pose', next());
    await waitFor('10 poses over TLS', () => sub.on('/pose').length === 10);
    assert.equal(sub.on('/pose')[0]!.expiry, 1, 'MQTT 5 with mosquitto: the 1 s expiry is there');
    assert.equal(sub.on('/status')[0]!.body['state'], 'online');
  } finally {
    await stopPlugin(h, p);
    await sub.close();
  }
});

prerequisiteTest(
  'TLS: a server certificate from another CA is refused at start with one line; so is a missing file',
  { skip },
  async () => {
    const keyText = readFileSync(f('client.key'), 'utf8');
    const p = new MqttOutput(
      mqttConfig({
        broker: tlsUrl,
        node_id: 'tls2',
        tls: { ca: f('wrong-ca.crt'), cert: f('client.crt'), key: f('client.key'), reject_unauthorized: true },
      }),
    );
    const h = harness();
    await assert.rejects(startPlugin(h, p), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(
        e.message,
        /^outputs\.mqtt\.tls: TLS with broker mqtts:\/\/127\.0\.0\.1:\d+ failed: .*(certificate|CERT)/,
      );
      assert.ok(!e.message.includes('\n'), 'one line');
      assert.ok(!e.message.includes(keyText.split('\n')[1]!), 'the key is never in a message');
      return true;
    });
    await p.stop();
    const missing = new MqttOutput(
      mqttConfig({
        broker: tlsUrl,
        node_id: 'tls3',
        tls: { ca: f('nope.crt'), cert: '', key: '', reject_unauthorized: true },
      }),
    );
    await assert.rejects(
      startPlugin(harness(), missing),
      (e: unknown) =>
        e instanceof UserError && e.message === `outputs.mqtt.tls.ca = ${f('nope.crt')}: cannot read it (ENOENT)`,
    );
    await missing.stop();
  },
);

prerequisiteTest(
  'TLS: without a client certificate the listener that requires one refuses the node',
  { skip },
  async () => {
    const p = new MqttOutput(
      mqttConfig({
        broker: tlsUrl,
        node_id: 'tls4',
        tls: { ca: f('ca.crt'), cert: '', key: '', reject_unauthorized: true },
      }),
    );
    const h = harness();
    let refused = false;
    try {
      await startPlugin(h, p);
    } catch (e) {
      refused = e instanceof UserError && /^outputs\.mqtt\.tls: /.test(e.message);
      assert.ok(refused, String(e));
    }
    const st = p.report().sections?.['mqtt'] as { connected: boolean } | undefined;
    assert.ok(refused || st?.connected === false, 'never connected');
    await p.stop();
  },
);

prerequisiteTest('password listener: bad credentials refused at start, password_file accepted', { skip }, async () => {
  const bad = new MqttOutput(mqttConfig({ broker: pwUrl, node_id: 'pw', username: 'node', password_env: 'MYO_PW' }), {
    env: { MYO_PW: 'wrong' },
  });
  await assert.rejects(
    startPlugin(harness(), bad),
    (e: unknown) => e instanceof UserError && /refused the connection/.test(e.message) && !e.message.includes('wrong'),
  );
  await bad.stop();
  const h = harness();
  const good = new MqttOutput(
    mqttConfig({ broker: pwUrl, node_id: 'pw', username: 'node', password_file: f('node.pw') }),
  );
  await startPlugin(h, good);
  try {
    assert.equal((good.report().sections?.['mqtt'] as { connected: boolean }).connected, true);
  } finally {
    await stopPlugin(h, good);
  }
});

prerequisiteTest(
  'mosquitto_pub set_mode switches the node and the answer carries t1; MQTT 5 response topic and correlation data are honoured',
  { skip },
  async () => {
    const h = harness();
    const p = new MqttOutput(
      mqttConfig({ broker: pwUrl, node_id: 'ok', username: 'node', password_file: f('node.pw') }),
    );
    const app = await appClient();
    await startPlugin(h, p);
    try {
      await waitFor(
        'control subscribed',
        () => (p.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
      );
      if (HAVE_PUB) {
        const pub = spawn(
          'mosquitto_pub',
          [
            '-h',
            '127.0.0.1',
            '-p',
            String(pwPort),
            '-u',
            'app',
            '-P',
            'app-secret',
            '-t',
            'myostream/ok/request/set_mode',
            '-m',
            '{"transaction":"t1","mode":"exact"}',
          ],
          { stdio: 'ignore' },
        );
        assert.equal(await new Promise((r) => pub.once('exit', r)), 0);
      } else {
        await app.client.publishAsync('myostream/ok/request/set_mode', '{"transaction":"t1","mode":"exact"}', {
          qos: 1,
        });
      }
      await waitFor('response t1', () => app.on('/response/set_mode').some((m) => m.body['transaction'] === 't1'));
      const r = app.on('/response/set_mode').find((m) => m.body['transaction'] === 't1')!;
      assert.equal(r.body['status'], 'ok');
      assert.deepEqual(
        h.calls.mode.map((c) => c.mode),
        ['exact'],
      );
      await waitFor('status follows', () => app.on('/ok/status').at(-1)?.body['mode'] === 'exact');

      await app.client.subscribeAsync('app/replies/#', { qos: 1 });
      const corr = Buffer.from('corr-42');
      await app.client.publishAsync('myostream/ok/request/status', '{"transaction":"s5"}', {
        qos: 1,
        properties: { responseTopic: 'app/replies/one', correlationData: corr },
      });
      await waitFor('answer on the response topic', () => app.messages.some((m) => m.topic === 'app/replies/one'));
      const ans = app.messages.find((m) => m.topic === 'app/replies/one')!;
      assert.equal(ans.body['transaction'], 's5');
      assert.deepEqual(ans.correlationData, corr);
      assert.equal(app.on('/response/status').length, 0, 'not also on the default topic');
    } finally {
      await stopPlugin(h, p);
      await app.close();
    }
  },
);

prerequisiteTest('ACLs that forbid request/#: requests fail, poses go on', { skip }, async () => {
  const h = harness();
  // `readonly` may not read its request topics; `viewer` may read everything and publish nothing.
  const p = new MqttOutput(
    mqttConfig({ broker: pwUrl, node_id: 'ro', username: 'readonly', password_file: f('ro.pw') }),
  );
  const app = await appClient();
  const viewer = await Subscriber.openWith(pwUrl, 'myostream/ro/#', {
    protocolVersion: 5,
    username: 'viewer',
    password: 'viewer-secret',
  });
  await startPlugin(h, p);
  try {
    const mq = (): { control_subscribed: boolean; last_error: string | null; published: number } =>
      p.report().sections?.['mqtt'] as never;
    // mosquitto grants the subscription and filters at delivery (brokers that refuse it in the
    // SUBACK — EMQX, HiveMQ — make the node log the control plane off instead).
    await app.client.publishAsync('myostream/ro/request/reset', '{"transaction":"r1"}', { qos: 1 });
    // MQTT 5: the broker tells a requester without write permission so in the PUBACK.
    await assert.rejects(
      viewer.client.publishAsync('myostream/ro/request/reset', '{"transaction":"r2"}', { qos: 1 }),
      /[Nn]ot authori[sz]ed|135/,
    );
    const next = poseStream();
    for (let i = 0; i < 20; i++) h.bus.emit('pose', next());
    await waitFor('poses at the app', () => app.on('/ro/pose').length === 20);
    await waitFor('poses at the viewer', () => viewer.on('/ro/pose').length === 20);
    assert.equal(h.calls.reset.length, 0, 'neither request reached the node');
    assert.equal(app.on('/ro/response/reset').length + viewer.on('/ro/response/reset').length, 0);
    assert.equal(mq().published, 20);
    assert.equal(p.report().counts?.['mqtt_dropped'], 0);
  } finally {
    await stopPlugin(h, p);
    await app.close();
    await viewer.close();
  }
});
