#!/usr/bin/env node
// Fleet load test on loopback: K base stations (each a real MqttSink, as a node runs it) replay
// the recorded streaming poses at 50 Hz into one mosquitto; a subscriber in a separate process
// counts what arrives per node. Prints delivered rate, loss (seq gaps and poses never seen) and
// transport delay per node and overall.
//
//   npm run build && node scripts/fleet-load.mjs --nodes 10 --seconds 20 [--port 20150] [--qos 0]
//
// Needs mosquitto on the PATH (started here with a config written to a temporary folder).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const { values: a } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '20' },
    port: { type: 'string', default: '20150' },
    qos: { type: 'string', default: '0' },
    subscriber: { type: 'boolean', default: false },
  },
});
const K = Number(a.nodes);
const SECONDS = Number(a.seconds);
const PORT = Number(a.port);
const url = `mqtt://127.0.0.1:${PORT}`;

if (a.subscriber) await subscriber();
else await main();

/** The child: counts poses per node until told to stop on stdin, then prints JSON. */
async function subscriber() {
  const { connect } = await import('mqtt');
  const c = connect(url, { protocolVersion: 5, clientId: `fleet-sub-${process.pid}`, reconnectPeriod: 200 });
  const per = new Map();
  const delays = [];
  c.on('message', (topic, payload) => {
    const node = topic.split('/')[1];
    const p = JSON.parse(payload.toString());
    let s = per.get(node);
    if (!s)
      per.set(
        node,
        (s = {
          received: 0,
          first_seq: p.seq,
          last_seq: p.seq - 1,
          seq_gaps: 0,
          missed: 0,
          first_at: Date.now(),
          last_at: 0,
        }),
      );
    if (p.seq !== s.last_seq + 1) {
      s.seq_gaps++;
      s.missed += Math.max(0, p.seq - s.last_seq - 1);
    }
    s.last_seq = p.seq;
    s.received++;
    s.last_at = Date.now();
    if (delays.length < 2_000_000) delays.push(Date.now() - p.ts);
  });
  await new Promise((r) => c.once('connect', r));
  await c.subscribeAsync('myostream/+/pose', { qos: Number(a.qos) });
  process.stdout.write('ready\n');
  await new Promise((r) => process.stdin.once('data', r));
  // Let what is in flight arrive.
  await new Promise((r) => setTimeout(r, 500));
  delays.sort((x, y) => x - y);
  const q = (f) => (delays.length ? delays[Math.min(delays.length - 1, Math.floor(f * delays.length))] : null);
  process.stdout.write(
    JSON.stringify({
      per: Object.fromEntries(per),
      delay_ms: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: delays.at(-1) ?? null },
    }) + '\n',
  );
  await c.endAsync();
  process.exit(0);
}

async function main() {
  const root = join(here, '..', '..');
  const { MqttSink } = await import(join(root, 'dist/src/outputs/mqtt-sink.js'));
  const { mqttSchema } = await import(join(root, 'dist/src/outputs/mqtt-settings.js'));
  const { readTensorBundle } = await import(join(root, 'dist/src/common/tensor-bundle.js'));
  const { newPoseEvent } = await import(join(root, 'dist/src/domain/pose.js'));

  const rec = readTensorBundle(join(root, 'models/golden/reference.mtb')).arrays.get('streaming_exact_grid_poses');
  if (!rec) throw new Error('reference.mtb: streaming_exact_grid_poses missing');
  const nRec = rec.shape[0];

  const dir = mkdtempSync(join(tmpdir(), 'fleet-mosq-'));
  writeFileSync(
    join(dir, 'm.conf'),
    `${process.getuid?.() === 0 ? 'user root\n' : ''}listener ${PORT} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000\n`,
  );
  const mosq = spawn('mosquitto', ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  mosq.once('error', (e) => {
    console.error(`mosquitto: ${e.message}`);
    process.exit(2);
  });
  await waitPort(PORT);

  const sub = spawn(process.execPath, [here, '--subscriber', '--port', String(PORT), '--qos', a.qos], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let subOut = '';
  sub.stdout.on('data', (d) => (subOut += d.toString()));
  await until(() => subOut.includes('ready\n'));

  const cfg = mqttSchema.parse({ broker: url, protocol_version: 5, qos: Number(a.qos), reconnect_period_s: 0.5 });
  const sinks = [];
  for (let i = 0; i < K; i++) {
    const s = new MqttSink({ ...cfg, node_id: `fleet-${String(i).padStart(3, '0')}` }, { mode: 'streaming' });
    await s.start();
    sinks.push({ sink: s, ev: newPoseEvent('streaming', new Float32Array(20)), step: 0 });
  }

  // Each node its own 50 Hz schedule, offset so the fleet does not publish in lockstep.
  const t0 = performance.now() + 100;
  const end = t0 + SECONDS * 1000;
  let lateTicks = 0;
  await Promise.all(
    sinks.map(
      (n, i) =>
        new Promise((resolve) => {
          const offset = (20 * i) / K;
          const tick = () => {
            const now = performance.now();
            const due = t0 + offset + n.step * 20;
            if (due > end) return resolve();
            if (now < due) return void setTimeout(tick, due - now);
            if (now - due > 20) lateTicks++;
            const r = n.step % nRec;
            n.ev.step = n.step;
            n.ev.t = (1830 + 40 * n.step) / 2000;
            n.ev.angles.set(rec.data.subarray(r * 20, r * 20 + 20));
            n.sink.write(n.ev);
            n.step++;
            setImmediate(tick);
          };
          tick();
        }),
    ),
  );
  sub.stdin.write('stop\n');
  await until(() => subOut.split('\n').length > 2);
  const got = JSON.parse(subOut.split('\n')[1]);
  for (const n of sinks) await n.sink.close();
  mosq.kill();
  rmSync(dir, { recursive: true, force: true });

  const rows = [];
  let sent = 0;
  let recv = 0;
  for (const n of sinks) {
    const st = n.sink.stats();
    const r = got.per[st.node_id] ?? { received: 0, missed: 0, seq_gaps: 0 };
    sent += n.step;
    recv += r.received;
    rows.push({
      node: st.node_id,
      produced: n.step,
      published: st.published,
      dropped_at_node: st.dropped,
      received: r.received,
      seq_gaps: r.seq_gaps,
      loss_pct: +((100 * (n.step - r.received)) / n.step).toFixed(3),
      rate_hz: +(r.received / SECONDS).toFixed(2),
    });
  }
  const worst = rows.reduce((w, r) => (r.loss_pct > w.loss_pct ? r : w), rows[0]);
  console.log(
    JSON.stringify(
      {
        nodes: K,
        seconds: SECONDS,
        qos: Number(a.qos),
        produced: sent,
        received: recv,
        loss_pct: +((100 * (sent - recv)) / sent).toFixed(3),
        delivered_rate_hz_per_node: {
          min: Math.min(...rows.map((r) => r.rate_hz)),
          max: Math.max(...rows.map((r) => r.rate_hz)),
        },
        worst_node: worst,
        publisher_ticks_late_over_20ms: lateTicks,
        transport_delay_ms: got.delay_ms,
      },
      null,
      1,
    ),
  );
  if (process.env.FLEET_PER_NODE) console.table(rows);
}

async function waitPort(port) {
  await until(
    () =>
      new Promise((r) => {
        const c = tcpConnect(port, '127.0.0.1', () => {
          c.destroy();
          r(true);
        });
        c.on('error', () => r(false));
      }),
  );
}

async function until(cond, ms = 10000) {
  const stop = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > stop) throw new Error('fleet-load: timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
