import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, cliEnv, prerequisiteTest } from './helpers.js';
import { HAVE_MOSQUITTO, Subscriber, closeSubscribers, startMosquitto, waitFor } from './mqtt-helpers.js';

after(closeSubscribers);

const KEEPALIVE_S = Number(process.env['MYOSTREAM_WILL_KEEPALIVE_S'] ?? 2);

/**
 * A frozen node (SIGSTOP: the process is there, its socket open, but it sends nothing) is seen
 * only through keepalive: the broker ends the connection after 1.5 × keepalive without a packet
 * and publishes the will. The test measures when the will arrives after the freeze. A loaded
 * machine can only make it later, so the lower bound is firm; the upper one is loose, and the
 * figure itself is printed (MYOSTREAM_WILL_KEEPALIVE_S=10 measures the default).
 */
prerequisiteTest(
  'a frozen daemon: the broker publishes its Last Will ≈ 1.5 × keepalive after the freeze, and the node comes back online when thawed',
  { skip: HAVE_MOSQUITTO ? false : 'mosquitto not installed' },
  async (t) => {
    const mosq = await startMosquitto(
      1,
      ([port]) => `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
    );
    const url = `mqtt://127.0.0.1:${mosq.ports[0]!}`;
    const sub = await Subscriber.open(url, 'myostream/frozen/#', 5);
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--source',
        'synthetic',
        '--quiet',
        '--artifacts',
        mkdtempSync(join(tmpdir(), 'myo-will-')),
        '--set',
        `outputs.mqtt.broker=${url}`,
        '--set',
        'outputs.mqtt.node_id=frozen',
        '--set',
        `outputs.mqtt.keepalive_s=${KEEPALIVE_S}`,
        '--set',
        'logging.level=error',
        '--set',
        'eval.streaming_latency.check=false',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      await waitFor('the daemon online', () => sub.on('/status').some((m) => m.body['state'] === 'online'), 60_000);
      await waitFor('poses flowing', () => sub.on('/pose').length >= 10, 60_000);
      const posesBefore = sub.on('/pose').length;
      const statusBefore = sub.on('/status').length;
      child.kill('SIGSTOP');
      const frozenAt = performance.now();
      let willAt = 0;
      await waitFor(
        'the Last Will',
        () => {
          const will = sub
            .on('/status')
            .slice(statusBefore)
            .find((m) => m.body['reason'] === 'connection_lost');
          if (will && willAt === 0) willAt = performance.now();
          return will !== undefined;
        },
        (1.5 * KEEPALIVE_S + 30) * 1000,
      );
      const delayS = (willAt - frozenAt) / 1000;
      t.diagnostic(
        `Last Will ${delayS.toFixed(2)} s after the freeze, keepalive ${KEEPALIVE_S} s (1.5 × keepalive = ${1.5 * KEEPALIVE_S} s)`,
      );
      // Poses flowed at 50 Hz up to the freeze, so the broker's last packet from the node is at
      // most a few steps older than the freeze: the will cannot come much before 1.5 × keepalive.
      assert.ok(
        delayS >= 1.5 * KEEPALIVE_S - 0.5,
        `the will came ${delayS.toFixed(2)} s after the freeze, before the broker's 1.5 × keepalive`,
      );
      assert.ok(sub.on('/pose').length - posesBefore < 5, 'nothing came from the frozen node');
      // Retained: a subscriber arriving now learns at once that the node is gone.
      const late = await Subscriber.open(url, 'myostream/frozen/status', 5);
      await waitFor('the retained status', () => late.messages.length > 0);
      assert.equal(late.messages[0]!.retain, true);
      assert.equal(late.messages[0]!.body['state'], 'offline');
      assert.equal(late.messages[0]!.body['reason'], 'connection_lost');
      assert.equal(
        late.messages[0]!.body['instance'],
        sub.on('/status').find((m) => m.body['state'] === 'online')!.body['instance'],
        'the will names the run that froze',
      );
      await late.close();
      child.kill('SIGCONT');
      await waitFor('online again after the thaw', () => sub.on('/status').at(-1)!.body['state'] === 'online', 60_000);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await sub.close();
      await mosq.stop();
    }
  },
);
