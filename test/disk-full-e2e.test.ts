import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { readSummary } from '../src/outputs/artifacts.js';
import { CLI, cliEnv, prerequisiteTest, ROOT, runCli, smallTmpfs } from './helpers.js';

/** The port this suite's mosquitto listens on (loopback only). */
const PORT = 19201;
const HAVE_MOSQUITTO = spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;
const why: { reason?: string } = {};
const probe = smallTmpfs(200, why);
probe?.unmount();
const skip = !HAVE_MOSQUITTO ? 'mosquitto not installed' : probe ? false : `needs a 200 kB tmpfs: ${why.reason}`;

async function startMosquitto(): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'myo-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${PORT} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const until = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = tcpConnect(PORT, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return proc;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${PORT}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const DURATION_S = 30;
/** The last pose of a 30 s run: its step ends at the last whole 40-sample step before 60000. */
const LAST_T = (1830 + Math.floor((DURATION_S * 2000 - 1830) / 40) * 40) / 2000;

/**
 * Runs the CLI to its --duration with poses to the real broker; returns its exit, stderr and
 * the poses' t received. At 4× real time: as fast as possible, the MQTT output rightly drops
 * poses under socket backpressure on a loaded machine, which is not what this test is about.
 */
async function runAndListen(
  extra: string[],
  node: string,
): Promise<{ code: number | null; stderr: string; ts: number[] }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${PORT}`, { clientId: `disk-full-${node}` });
  const ts: number[] = [];
  client.on('message', (_topic, payload) => ts.push((JSON.parse(payload.toString()) as { t: number }).t));
  await client.subscribeAsync(`myostream/${node}/pose`, { qos: 0 });
  try {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--source',
        'synthetic',
        '--duration',
        String(DURATION_S),
        '--speed',
        '4',
        '--quiet',
        '--set',
        `outputs.mqtt.broker=mqtt://127.0.0.1:${PORT}`,
        '--set',
        `outputs.mqtt.node_id=${node}`,
        '--set',
        'logging.level=error',
        ...extra,
      ],
      { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    // The last poses may still be in flight from the broker: wait for the run's last one.
    const until = Date.now() + 10_000;
    while (Math.max(0, ...ts) < LAST_T - 1e-6 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    return { code, stderr, ts };
  } finally {
    await client.endAsync();
  }
}

prerequisiteTest(
  'poses file, then the artifacts, on a full 200 kB tmpfs: poses keep going to mosquitto until --duration, exit 0, status says what was disabled and why',
  { skip, timeout: 240_000 },
  async () => {
    const broker = await startMosquitto();
    const fs = smallTmpfs(200)!;
    try {
      // 1. Only the poses file is on the small disk; the artifacts are on a healthy one.
      const art = mkdtempSync(join(tmpdir(), 'myo-diskfull-art-'));
      const poses = join(fs.dir, 'poses.jsonl');
      const a = await runAndListen(['--poses-out', poses, '--artifacts', art], 'diskfull1');
      assert.equal(a.code, 0, a.stderr);
      assert.ok(
        Math.max(...a.ts) >= LAST_T - 1e-6,
        `poses published up to the end (${Math.max(...a.ts)} of ${LAST_T} s, ${a.ts.length} poses): ${a.stderr}`,
      );
      assert.ok(a.ts.length >= 1400, `${a.ts.length} poses over MQTT`);
      const s1 = readSummary(art)!;
      assert.equal(s1['finished'], true);
      const st1 = runCli(['status', '--artifacts', art], { cwd: '/' });
      assert.equal(st1.status, 0, st1.stderr);
      assert.match(st1.stdout, /state +finished \(completed\)/);
      assert.match(
        st1.stdout,
        /disabled +poses_file \(during pose\): poses file \(outputs\.poses_out\) write .*poses\.jsonl: ENOSPC \(no space left on device\)/,
      );
      spawnSync('rm', ['-f', poses]);

      // 2. The run folder itself is on the small disk.
      const dir = join(fs.dir, 'run');
      const b = await runAndListen(['--artifacts', dir], 'diskfull2');
      assert.equal(b.code, 0, b.stderr);
      const st2 = runCli(['status', '--artifacts', dir], { cwd: '/' });
      assert.ok(
        Math.max(...b.ts) >= LAST_T - 1e-6,
        `poses published up to the end with the artifacts disk full (${Math.max(...b.ts)} s, ${b.ts.length} poses): ${b.stderr}\n${st2.stdout}`,
      );
      assert.ok(b.ts.length >= 1400, `${b.ts.length} poses over MQTT`);
      assert.equal(st2.status, 0, st2.stderr);
      assert.doesNotMatch(st2.stdout, /state +running/, 'a run that can no longer write does not read running');
      assert.match(st2.stdout, /artifacts +\S+ write .*\/run\/\S+: ENOSPC \(no space left on device\)/, st2.stdout);
      const s2 = readSummary(dir)!;
      assert.ok(
        Array.isArray(s2['artifacts_failures']) && (s2['artifacts_failures'] as unknown[]).length >= 1,
        'summary.json says which write failed',
      );
    } finally {
      fs.unmount();
      broker.kill();
    }
  },
);
