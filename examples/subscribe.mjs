#!/usr/bin/env node
// What an app developer copies first: subscribe to one node's poses and health, send a request,
// print the answer. Uses the same `mqtt` package as myostream.
//
//   node examples/subscribe.mjs [--broker mqtt://localhost:1883] [--node <node_id>] \
//     [--stream <stream_id>] [--request status] [--body '{"mode":"exact"}'] [--seconds 10] [--count 0] [--protocol 5]
//
// --protocol 5 (mosquitto, EMQX, HiveMQ) also shows the MQTT 5 response topic and correlation
// data; the default 4 (MQTT 3.1.1) works with every broker, the embedded one included.
//
// --node defaults to + (any node; the request then goes to the first node whose status arrives).
// --stream is for a daemon running several streams (topics myostream/<node>/<stream>/…).
// --count N ends it (exit 0) once it has N poses and the answer to its request; --seconds ends it
// anyway (exit 0 without --count, 1 with --count when they did not all come).
// Angles are radians, 0 = the rest pose: flexion (*_FE) positive toward the palm, finger
// abduction (*_MCP_AA) positive toward the thumb (docs/mqtt.md, "Angles: units and signs").
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect } from 'mqtt';

const { values: a } = parseArgs({
  options: {
    broker: { type: 'string', default: 'mqtt://localhost:1883' },
    node: { type: 'string', default: '+' },
    stream: { type: 'string', default: '' },
    request: { type: 'string', default: 'status' },
    body: { type: 'string', default: '{}' },
    seconds: { type: 'string', default: '10' },
    username: { type: 'string', default: '' },
    protocol: { type: 'string', default: '4' },
    count: { type: 'string', default: '0' },
  },
});
const levels = (node) => `myostream/${node}${a.stream ? '/' + a.stream : ''}`;

// With MQTT 5 the request names its own response topic and correlation data; with 3.1.1 the
// answer comes on …/response/<name>.
const client = connect(a.broker, {
  protocolVersion: a.protocol === '5' ? 5 : 4,
  ...(a.username ? { username: a.username, password: process.env.MQTT_PASSWORD ?? '' } : {}),
});
client.on('error', (e) => console.error(`mqtt: ${e.message}`));
client.on('connect', (ack) =>
  console.log(
    `connected to ${a.broker} (MQTT ${client.options.protocolVersion === 5 ? '5' : '3.1.1'}${ack.returnCode ? `, code ${ack.returnCode}` : ''})`,
  ),
);

let poses = 0;
let lastPrint = 0;
let requested = false;
let answered = false;
const wanted = Number(a.count);
const done = () => {
  if (wanted > 0 && poses >= wanted && answered) client.end(false, () => process.exit(0));
};
const transaction = randomUUID().slice(0, 8);

client.on('message', (topic, payload) => {
  let m;
  try {
    m = JSON.parse(payload.toString());
  } catch {
    return;
  }
  const kind = topic.split('/').at(-1);
  const prev = topic.split('/').at(-2);
  // First: an answer's topic ends in the request's name, and `status` is also a topic of its own.
  if (prev === 'response' || topic.startsWith('app/')) {
    console.log(`response to ${m.request} [${m.transaction}]: ${m.status}${m.error ? ' — ' + m.error : ''}`);
    console.log(JSON.stringify(m.data, null, 1).slice(0, 2000));
    answered = true;
    done();
  } else if (kind === 'pose') {
    poses++;
    // Every pose is 20 angles in radians, in meta.joints order; print a few a second.
    if (Date.now() - lastPrint > 500) {
      lastPrint = Date.now();
      console.log(
        `pose seq=${m.seq} step=${m.step} mode=${m.mode} THUMB_CMC_FE=${m.angles[0]?.toFixed(3)} rad  (${poses} so far)`,
      );
    }
    done();
  } else if (kind === 'health') {
    const lat = m.sections?.latency;
    console.log(
      `health ${m.node_id}/${m.stream_id}: ${m.rate_hz ?? '-'} Hz, mode ${m.mode} (${m.mode_reason}), dropped ${m.mqtt.dropped}, rss ${m.process.rss_mb} MB, disk free ${m.disk.free_pct ?? '?'} %, v${m.version}${lat ? ', latency ' + JSON.stringify(lat).slice(0, 120) : ''}`,
    );
  } else if (kind === 'status') {
    console.log(`status ${m.node_id}: ${m.state}${m.mode ? ' ' + m.mode : ''}${m.version ? ' v' + m.version : ''}`);
    if (!requested && m.state === 'online') {
      requested = true;
      sendRequest(a.node === '+' ? m.node_id : a.node);
    }
  }
});

function sendRequest(node) {
  let body;
  try {
    body = { ...JSON.parse(a.body), transaction };
  } catch {
    console.error(`--body is not JSON: ${a.body}`);
    process.exit(2);
  }
  const topic = `${levels(node)}/request/${a.request}`;
  const opts = { qos: 1 };
  if (client.options.protocolVersion === 5) {
    const replyTo = `app/${transaction}/reply`;
    client.subscribe(replyTo, { qos: 1 });
    opts.properties = { responseTopic: replyTo, correlationData: Buffer.from(transaction) };
  }
  console.log(`→ ${topic} ${JSON.stringify(body)}`);
  client.publish(topic, JSON.stringify(body), opts);
}

const base = levels(a.node);
client.subscribe([`${base}/pose`, `${base}/health`, `${base}/status`, `${base}/response/#`], { qos: 1 });
setTimeout(() => client.end(false, () => process.exit(wanted > 0 ? 1 : 0)), Number(a.seconds) * 1000);
