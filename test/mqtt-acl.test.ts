import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { MqttOutput } from '../src/outputs/mqtt-output.js';
import {
  HAVE_MOSQUITTO,
  Subscriber,
  closeSubscribers,
  mqttConfig,
  startMosquitto,
  waitFor,
  type Received,
} from './mqtt-helpers.js';
import { harness, startPlugin, stopPlugin } from './mqtt-plugin-helpers.js';
import { prerequisiteTest, ROOT } from './helpers.js';

after(closeSubscribers);

const HAVE_PASSWD = spawnSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' }).error === undefined;
const skip = !HAVE_MOSQUITTO ? 'mosquitto not installed' : !HAVE_PASSWD ? 'mosquitto_passwd not installed' : false;
/** The ACL as shipped, used as it is: its example users are the test's users. */
const SHIPPED_ACL = join(ROOT, 'systemd', 'mosquitto', 'myostream.acl');
const USERS = ['left-hand', 'right-hand', 'operator', 'viewer'] as const;
const password = (user: string): string => `${user}-secret`;

/** A raw MQTT 5 client of one user; resolves once connected. */
async function client(url: string, user: string): Promise<MqttClient> {
  const c = connect(url, {
    protocolVersion: 5,
    username: user,
    password: password(user),
    reconnectPeriod: 0,
    clientId: `acl-${user}-${Math.random().toString(16).slice(2, 8)}`,
  });
  c.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

/** A QoS 1 publish the broker refuses comes back as an error (MQTT 5 PUBACK reason ≥ 0x80). */
async function refused(c: MqttClient, topic: string, payload: string): Promise<string> {
  try {
    await c.publishAsync(topic, payload, { qos: 1 });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`the broker accepted a publish on ${topic}`);
}

prerequisiteTest(
  "the shipped mosquitto ACL: a subscriber cannot change a node's mode, an operator can, a node cannot write another node's topics",
  { skip },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'myo-acl-'));
    const passwd = join(dir, 'passwd');
    for (const [i, user] of USERS.entries()) {
      const r = spawnSync('mosquitto_passwd', ['-b', ...(i === 0 ? ['-c'] : []), passwd, user, password(user)], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
    }
    const mosq = await startMosquitto(
      1,
      ([port]) =>
        [
          ...(process.getuid?.() === 0 ? ['user root'] : []),
          'persistence false',
          'log_dest stderr',
          'allow_anonymous false',
          `password_file ${passwd}`,
          `acl_file ${SHIPPED_ACL}`,
          `listener ${port} 127.0.0.1`,
          '',
        ].join('\n'),
      dir,
    );
    const url = `mqtt://127.0.0.1:${mosq.ports[0]!}`;
    const h = harness();
    const node = new MqttOutput(
      mqttConfig({
        broker: url,
        node_id: 'left-hand',
        username: 'left-hand',
        password_env: 'NODE_PW',
        protocol_version: 5,
      }),
      { env: { NODE_PW: password('left-hand') } },
    );
    const clients: MqttClient[] = [];
    try {
      await startPlugin(h, node);
      const viewer = await Subscriber.openWith(url, 'myostream/#', {
        protocolVersion: 5,
        username: 'viewer',
        password: password('viewer'),
      });
      await waitFor("the node's birth, read by the subscriber", () =>
        viewer.on('left-hand/status').some((m) => m.body['state'] === 'online'),
      );
      await waitFor(
        'the node subscribed to its requests',
        () => (node.report().sections?.['mqtt'] as { control_subscribed: boolean }).control_subscribed,
      );

      // A subscriber's request is refused by the broker: it never reaches the node.
      const viewerPub = await client(url, 'viewer');
      clients.push(viewerPub);
      assert.match(
        await refused(viewerPub, 'myostream/left-hand/request/set_mode', '{"transaction":"viewer","mode":"exact"}'),
        /not authori[sz]ed/i,
      );

      // The operator's goes through. The broker decided on the viewer's publish before it
      // acknowledged it, and delivers to the node in order: the answer to the operator's request
      // comes after anything the viewer's could have caused.
      const operator = await Subscriber.openWith(url, 'myostream/left-hand/response/#', {
        protocolVersion: 5,
        username: 'operator',
        password: password('operator'),
      });
      await operator.client.publishAsync(
        'myostream/left-hand/request/set_mode',
        '{"transaction":"op","mode":"exact"}',
        { qos: 1 },
      );
      let answer: Received | undefined;
      await waitFor(
        'the answer to the operator',
        () => (answer = operator.on('/response/set_mode').find((m) => m.body['transaction'] === 'op')) !== undefined,
      );
      assert.equal(answer!.body['status'], 'ok', JSON.stringify(answer!.body));
      assert.deepEqual(
        h.calls.mode.map((c) => c.mode),
        ['exact'],
        "only the operator's request reached the session",
      );
      assert.match(h.calls.mode[0]!.reason, /transaction op/);
      assert.equal(viewer.on('/response/set_mode').filter((m) => m.body['transaction'] === 'viewer').length, 0);

      // MQTT 5 response topic under myostream-reply/<user>/: the node may write it, its user reads it.
      const reply = await Subscriber.openWith(url, 'myostream-reply/operator/#', {
        protocolVersion: 5,
        username: 'operator',
        password: password('operator'),
      });
      await reply.client.publishAsync('myostream/left-hand/request/status', '{"transaction":"r5"}', {
        qos: 1,
        properties: { responseTopic: 'myostream-reply/operator/1', correlationData: Buffer.from('c1') },
      });
      await waitFor("the answer on the operator's response topic", () =>
        reply.messages.some((m) => m.topic === 'myostream-reply/operator/1' && m.body['transaction'] === 'r5'),
      );
      assert.equal(reply.messages[0]!.correlationData?.toString(), 'c1');

      // A node's credentials open its own topics only.
      const nodeCreds = await client(url, 'left-hand');
      clients.push(nodeCreds);
      assert.match(
        await refused(nodeCreds, 'myostream/right-hand/status', '{"state":"offline"}'),
        /not authori[sz]ed/i,
      );
      assert.match(
        await refused(nodeCreds, 'myostream/right-hand/request/set_mode', '{"mode":"exact"}'),
        /not authori[sz]ed/i,
      );
      // Nor may a subscriber pose as a node.
      assert.match(await refused(viewerPub, 'myostream/left-hand/pose', '{}'), /not authori[sz]ed/i);
      await nodeCreds.publishAsync('myostream/left-hand/event', '{"marker":true}', { qos: 1 });
      await waitFor('the marker', () => viewer.messages.some((m) => m.body['marker'] === true));
      assert.deepEqual(
        viewer.messages.filter((m) => m.topic.startsWith('myostream/right-hand/')).map((m) => m.topic),
        [],
        "nothing reached another node's topics",
      );
      assert.equal(viewer.on('left-hand/pose').length, 0, "the subscriber's fake pose did not get through");
    } finally {
      await stopPlugin(h, node);
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await mosq.stop();
    }
  },
);
