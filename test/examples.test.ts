import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, cliEnv, prerequisiteTest } from './helpers.js';
import { waitFor } from './mqtt-helpers.js';

/** A python3 that has paho-mqtt (Debian's python3-paho-mqtt in CI), first on PATH, else Debian's own. */
const PYTHON = ['python3', '/usr/bin/python3'].find(
  (p) => spawnSync(p, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' }).status === 0,
);

let daemon: ChildProcess | undefined;
let port = 0;
let log = '';
const NODE_ID = 'example';

// The first screen's flow: the daemon with its own embedded broker (port 0: any free one), the
// port read from its INFO line that says where poses go, as an operator would read it.
before(async () => {
  daemon = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--source',
      'synthetic',
      '--artifacts',
      mkdtempSync(join(tmpdir(), 'myo-examples-')),
      '--set',
      'outputs.mqtt.embedded_port=0',
      '--set',
      `outputs.mqtt.node_id=${NODE_ID}`,
      '--set',
      'logging.level=info',
      '--set',
      'eval.streaming_latency.check=false',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
  );
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let m: RegExpExecArray | null = null;
  await waitFor(
    'the "MQTT connected: poses on …" line',
    () => (m = /MQTT connected: poses on myostream\/example\/pose at mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(log)) !== null,
    60_000,
  );
  port = Number(m![1]);
});

after(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  }
});

/** Runs an example to its end; a deadline follows its output, not the wall clock of the whole run. */
function runExample(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let quiet: NodeJS.Timeout;
    const arm = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(() => p.kill('SIGKILL'), 60_000);
    };
    arm();
    p.stdout.on('data', (d: Buffer) => ((out += d.toString()), arm()));
    p.stderr.on('data', (d: Buffer) => ((out += d.toString()), arm()));
    p.once('exit', (code) => {
      clearTimeout(quiet);
      resolve({ code, out });
    });
  });
}

test('examples/subscribe.mjs gets poses, the birth and the answer to a status request from a live daemon', async () => {
  const r = await runExample(process.execPath, [
    'examples/subscribe.mjs',
    '--broker',
    `mqtt://127.0.0.1:${port}`,
    '--node',
    NODE_ID,
    '--count',
    '5',
    '--seconds',
    '120',
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`status ${NODE_ID}: online streaming`));
  assert.match(r.out, /pose seq=\d+ step=\d+ mode=streaming THUMB_CMC_FE=-?\d+\.\d{3} rad/);
  assert.match(r.out, /response to status \[[0-9a-f]{8}\]: ok/);
});

prerequisiteTest(
  "examples/subscribe.py (paho-mqtt) prints a live daemon's poses with the joint names from meta",
  { skip: PYTHON ? false : 'no python3 with paho-mqtt (Debian: python3-paho-mqtt)' },
  async () => {
    const r = await runExample(PYTHON!, [
      'examples/subscribe.py',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--node',
      NODE_ID,
      '--count',
      '20',
      '--seconds',
      '60',
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`status ${NODE_ID}: online streaming`));
    const poses = r.out.split('\n').filter((l) => l.startsWith('pose '));
    assert.ok(poses.length >= 1, r.out);
    // The last printed pose is the 20th: by then the retained meta has given the names.
    assert.match(
      poses.at(-1)!,
      new RegExp(
        `^pose ${NODE_ID} seq=\\d+ mode=streaming age_ms=[\\d.]+ quality=0 THUMB_CMC_FE=[+-]\\d\\.\\d{3}, THUMB_CMC_AA=[+-]\\d\\.\\d{3}, THUMB_MCP_FE=`,
      ),
    );
  },
);

prerequisiteTest(
  'examples/subscribe.py: a broker that is not there is one line and exit 2',
  { skip: PYTHON ? false : 'no python3 with paho-mqtt (Debian: python3-paho-mqtt)' },
  async () => {
    const r = await runExample(PYTHON!, [
      'examples/subscribe.py',
      '--host',
      '127.0.0.1',
      '--port',
      '1',
      '--seconds',
      '5',
    ]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out.trim(), /^subscribe\.py: cannot reach the broker at 127\.0\.0\.1:1: /);
  },
);
