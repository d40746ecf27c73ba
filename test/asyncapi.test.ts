import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser, fromFile, type AsyncAPIDocumentInterface } from '@asyncapi/parser';
import { Ajv, type ValidateFunction } from 'ajv';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { requestSchemas } from '../src/outputs/mqtt-control.js';
import { topicsUnder } from '../src/outputs/mqtt-topics.js';
import { CLI, ROOT, cliEnv } from './helpers.js';
import { Subscriber, closeSubscribers, waitFor } from './mqtt-helpers.js';

const DOC = join(ROOT, 'schemas', 'asyncapi.yaml');
let doc: AsyncAPIDocumentInterface;

before(async () => {
  const { document, diagnostics } = await fromFile(new Parser(), DOC).parse();
  // Severity 0 is an error, 1 a warning: the official parser must accept the document cleanly.
  const bad = diagnostics.filter((d) => [0, 1].includes(d.severity));
  assert.deepEqual(
    bad.map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`),
    [],
  );
  assert.ok(document, 'the parser returned a document');
  doc = document;
});
after(closeSubscribers);

/** The channel whose address, with the node's id, is `topic`. */
function channelFor(topic: string, nodeId: string): string | undefined {
  for (const c of doc.channels()) if (c.address()?.replace('{node_id}', nodeId) === topic) return c.id();
  return undefined;
}

/** The operation that sends or receives on a channel, and its MQTT binding. */
function operationOn(channelId: string): { action: string; qos: unknown; retain: unknown } {
  for (const o of doc.operations()) {
    if (
      o
        .channels()
        .all()
        .some((c) => c.id() === channelId)
    ) {
      const b = o.bindings().get('mqtt')?.value();
      return { action: o.action(), qos: b?.qos, retain: b?.retain };
    }
  }
  throw new Error(`no operation on channel ${channelId}`);
}

test('AsyncAPI: every topic the node uses has a channel, an operation with QoS and retain, and a payload schema', () => {
  const t = topicsUnder('myostream/n1');
  const sent: [string, number, boolean][] = [
    [t.pose, 0, false],
    [t.pose_smoothed, 0, false],
    [t.status, 1, true],
    [t.meta, 1, true],
    [t.event, 1, false],
    [t.health, 1, true],
  ];
  for (const [topic, qos, retain] of sent) {
    const id = channelFor(topic, 'n1');
    assert.ok(id, `no channel for ${topic}`);
    assert.deepEqual(operationOn(id), { action: 'send', qos, retain }, topic);
  }
  for (const name of Object.keys(requestSchemas)) {
    const req = channelFor(`myostream/n1/request/${name}`, 'n1');
    const res = channelFor(`${t.response}/${name}`, 'n1');
    assert.ok(req && res, `request/response channels for ${name}`);
    const op = doc
      .operations()
      .all()
      .find((o) =>
        o
          .channels()
          .all()
          .some((c) => c.id() === req),
      )!;
    assert.equal(op.action(), 'receive');
    assert.equal(op.reply()?.channel()?.id(), res, `${name}: the reply is its response channel`);
  }
  for (const c of doc.channels()) {
    for (const m of c.messages()) {
      assert.equal(m.contentType(), 'application/json', `${c.id()}: content type`);
      const payload = m.payload()?.json<Record<string, unknown>>();
      assert.ok(
        payload && (payload['type'] === 'object' || payload['properties'] !== undefined),
        `${c.id()}: a resolved object schema`,
      );
    }
  }
  assert.equal(
    doc.channels().all().length,
    6 + 2 * Object.keys(requestSchemas).length,
    'no channel the code does not use',
  );
});

test('AsyncAPI: one of each message a live daemon publishes validates against the schema of its channel', async () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = new Map<string, ValidateFunction>();
  const validatorOf = (channelId: string): ValidateFunction => {
    let v = validators.get(channelId);
    if (!v) {
      const m = doc.channels().get(channelId)!.messages().all()[0]!;
      v = ajv.compile(m.payload()!.json<object>());
      validators.set(channelId, v);
    }
    return v;
  };
  const broker = await EmbeddedBroker.start({ port: 0 });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const node = 'api';
  const sub = await Subscriber.open(url, `myostream/${node}/#`);
  const dir = mkdtempSync(join(tmpdir(), 'myo-asyncapi-'));
  // The synthetic source runs until stopped: the test ends the daemon (SIGTERM) when it has
  // everything, so a slow machine only makes it run longer.
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
      `outputs.mqtt.broker=${url}`,
      '--set',
      `outputs.mqtt.node_id=${node}`,
      '--set',
      'logging.level=error',
      '--set',
      'model.mode=streaming',
      '--set',
      'eval.streaming_latency.check=false',
      '--set',
      'outputs.smoothing.enabled=true',
      '--set',
      'watchdog.status_interval_s=1',
      '--set',
      'outputs.mqtt.health_interval_s=1',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    await waitFor('the daemon online', () => sub.on('/status').some((m) => m.body['state'] === 'online'), 60_000);
    await waitFor(
      'poses, smoothed poses, health',
      () => sub.on('/pose').length > 0 && sub.on('/pose/smoothed').length > 0 && sub.on('/health').length > 0,
      60_000,
    );
    const asks: [string, Record<string, unknown>][] = [
      ['set_mode', { mode: 'exact' }],
      ['status', {}],
      ['health', {}],
      ['reset', {}],
      ['snapshot', {}],
      ['rebirth', {}],
      ['align', { blocks: 1 }],
    ];
    // One at a time: the node answers `busy` beyond 4 requests at work, and align holds one slot.
    // Whatever each answers (align may find no whole block yet) is a response message.
    for (const [name, body] of asks) {
      await sub.client.publishAsync(
        `myostream/${node}/request/${name}`,
        JSON.stringify({ transaction: name, ...body }),
        { qos: 1 },
      );
      await waitFor(`the answer to ${name}`, () => sub.on(`/response/${name}`).length > 0, 120_000);
    }
    await waitFor(
      'the mode switch event',
      () => sub.on('/event').some((m) => m.body['kind'] === 'mode_switch'),
      30_000,
    );
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    await waitFor('the offline status', () => sub.on('/status').some((m) => m.body['state'] === 'offline'));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await sub.close();
    await broker.close();
  }
  const seen = new Set<string>();
  for (const m of sub.messages) {
    const id = channelFor(m.topic, node);
    assert.ok(id, `a message on ${m.topic}, which the document has no channel for`);
    const v = validatorOf(id);
    assert.ok(
      v(m.body),
      `${m.topic} against channel ${id}: ${ajv.errorsText(v.errors)} in ${JSON.stringify(m.body).slice(0, 400)}`,
    );
    seen.add(id);
  }
  const all = doc
    .channels()
    .all()
    .map((c) => c.id());
  assert.deepEqual(
    all.filter((id) => !seen.has(id)),
    [],
    'every channel carried at least one captured message',
  );
});
