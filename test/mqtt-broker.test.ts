import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../src/common/errors.js';
import { loadConfig } from '../src/daemon/config.js';
import { mqttSchema } from '../src/outputs/mqtt-settings.js';
import { DEFAULT_CONFIG } from '../src/daemon/bootstrap.js';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { MqttSink, defaultNodeId, modelSummary } from '../src/outputs/mqtt-sink.js';
import { ROOT } from './helpers.js';

function refusal(overrides: string[]): string {
  try {
    loadConfig(DEFAULT_CONFIG, overrides);
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e.message;
  }
  assert.fail(`accepted ${overrides.join(' ')}`);
}

test('outputs.mqtt defaults: enabled, embedded broker on 1883, QoS 0, 1 s expiry, node id from the host name', () => {
  const c = loadConfig(DEFAULT_CONFIG).outputs.mqtt;
  assert.equal(c.enabled, true);
  assert.equal(c.broker, 'embedded');
  assert.equal(c.embedded_port, 1883);
  assert.equal(c.embedded_host, '127.0.0.1');
  assert.equal(c.qos, 0);
  assert.equal(c.message_expiry_s, 1);
  assert.equal(c.protocol_version, 'auto');
  assert.equal(c.topic_prefix, 'myostream/{node_id}');
  const sink = new MqttSink(c, { mode: 'streaming', hostname: 'jetson orin#1' });
  assert.equal(sink.nodeId, 'jetson_orin_1');
  assert.equal(sink.topics.status, 'myostream/jetson_orin_1/status');
  assert.equal(defaultNodeId(''), 'node');
});

test('outputs.mqtt refuses bad values with the key and the reason', () => {
  assert.match(
    refusal(['outputs.mqtt.broker=http://example.com']),
    /outputs\.mqtt\.broker = "http:\/\/example\.com": expected "embedded" or a broker URL/,
  );
  assert.match(refusal(['outputs.mqtt.broker=mqtt://user:pw@host']), /without credentials/);
  assert.match(refusal(['outputs.mqtt.topic_prefix=robots/+/hand']), /outputs\.mqtt\.topic_prefix/);
  assert.match(refusal(['outputs.mqtt.topic_prefix=/abs']), /outputs\.mqtt\.topic_prefix/);
  assert.match(refusal(['outputs.mqtt.node_id=a/b']), /outputs\.mqtt\.node_id/);
  assert.match(refusal(['outputs.mqtt.qos=2']), /expected 0 or 1/);
  assert.match(refusal(['outputs.mqtt.protocol_version=5']), /embedded broker \(aedes\) speaks MQTT 3\.1\.1 only/);
  assert.match(refusal(['outputs.mqtt.password_env=MY PW']), /environment variable name/);
  assert.match(refusal(['outputs.mqtt.password_env=MYO_PW']), /needs outputs\.mqtt\.username/);
  assert.match(refusal(['outputs.mqtt.embedded_port=70000']), /embedded_port/);
  assert.match(
    refusal(['outputs.mqtt.embedded_host=0.0.0.0']),
    /outputs\.mqtt\.embedded_host .*embedded_allow_remote=true/,
  );
  assert.match(refusal(['outputs.mqtt.password_file=/run/pw']), /needs outputs\.mqtt\.username/);
  assert.match(
    refusal(['outputs.mqtt.username=u', 'outputs.mqtt.password_file=/run/pw', 'outputs.mqtt.password_env=PW']),
    /not both/,
  );
  assert.match(refusal(['outputs.mqtt.tls.cert=/c.pem']), /tls\.key/);
  assert.match(refusal(['outputs.mqtt.tls.ca=/ca.pem']), /not a TLS URL/);
  assert.match(refusal(['outputs.mqtt.tls.verify=false']), /outputs\.mqtt\.tls/);
  assert.equal(
    loadConfig(DEFAULT_CONFIG, ['outputs.mqtt.embedded_host=0.0.0.0', 'outputs.mqtt.embedded_allow_remote=true'])
      .outputs.mqtt.embedded_host,
    '0.0.0.0',
  );
  const ok = loadConfig(DEFAULT_CONFIG, [
    'outputs.mqtt.broker=mqtts://broker.local:8883',
    'outputs.mqtt.protocol_version=5',
    'outputs.mqtt.username=myo',
    'outputs.mqtt.password_env=MYO_PW',
  ]);
  assert.equal(ok.outputs.mqtt.protocol_version, 5);
  assert.throws(() => mqttSchema.parse({ unknown_key: 1 }));
});

test('embedded broker: port 0 gives a free port, and a port in use is a UserError naming it', async () => {
  const a = await EmbeddedBroker.start({ port: 0 });
  try {
    assert.ok(a.port > 0);
    assert.equal(a.url, `mqtt://127.0.0.1:${a.port}`);
    await assert.rejects(EmbeddedBroker.start({ port: a.port }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, new RegExp(`embedded_port ${a.port}: port already in use`));
      assert.match(e.message, /embedded_port=N \(0 = any free port\)/);
      return true;
    });
  } finally {
    await a.close();
  }
  // Any other listener (e.g. mosquitto) on the port gives the same message.
  const other = createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as { port: number }).port;
  await assert.rejects(
    EmbeddedBroker.start({ port }),
    (e: unknown) => e instanceof UserError && e.message.includes(`${port}: port already in use`),
  );
  await new Promise<void>((r) => other.close(() => r()));
});

test('embedded broker: an address that is not this machine is a UserError naming embedded_host', async () => {
  await assert.rejects(
    EmbeddedBroker.start({ port: 0, host: '192.0.2.1', allowRemote: true }),
    (e: unknown) => e instanceof UserError && /embedded_host 192\.0\.2\.1: cannot listen/.test(e.message),
  );
  // Without the override it is refused before any listen.
  await assert.rejects(
    EmbeddedBroker.start({ port: 0, host: '192.0.2.1' }),
    (e: unknown) => e instanceof UserError && /embedded_host 192\.0\.2\.1: .*loopback only/.test(e.message),
  );
});

test('embedded broker: a privileged port without the right to bind it is a UserError', async () => {
  if (process.getuid?.() !== 0) {
    await assert.rejects(
      EmbeddedBroker.start({ port: 80 }),
      (e: unknown) => e instanceof UserError && /embedded_port 80: not allowed/.test(e.message),
    );
    return;
  }
  // Root may bind port 80, so the same call runs in a child that has dropped to nobody with no
  // capabilities, as the service user of the unit does.
  const broker = pathToFileURL(join(ROOT, 'dist', 'src', 'outputs', 'embedded-broker.js')).href;
  const script = `import { EmbeddedBroker } from ${JSON.stringify(broker)};
try { await EmbeddedBroker.start({ port: 80 }); console.log('bound'); process.exit(0); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  const r = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^UserError: .*embedded_port 80: not allowed/m);
});

test('the sink reports a port in use at start, before any pose', async () => {
  const other = createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as { port: number }).port;
  try {
    const sink = new MqttSink(mqttSchema.parse({ embedded_port: port }), { mode: 'streaming' });
    await assert.rejects(
      sink.start(),
      (e: unknown) => e instanceof UserError && e.message.includes(`embedded_port ${port}`),
    );
    await sink.close();
  } finally {
    await new Promise<void>((r) => other.close(() => r()));
  }
});

test('modelSummary: short hashes and providers, flat enough for the status schema', () => {
  const m = modelSummary(
    {
      models: {
        encoder: { sha256: '8cea42e411a2708c3eb9404a55' },
        decoder_step: { sha256: 'e42149354d0bf51a17944585c6' },
      },
    },
    { encoder: 'cpu', decoder_step: 'cuda' },
    { feature_policy: 'exact_grid' },
  );
  assert.deepEqual(m, {
    encoder_sha256: '8cea42e411a2',
    decoder_step_sha256: 'e42149354d0b',
    encoder_provider: 'cpu',
    decoder_step_provider: 'cuda',
    feature_policy: 'exact_grid',
  });
});
