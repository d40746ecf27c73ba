import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import type { Logger } from '../src/common/logger.js';

const CHILD = join(ROOT, 'dist', 'test', 'children', 'signal-child.js');
const spawned: ReturnType<typeof spawn>[] = [];
// The children ignore TERM by design while finalising: a failed test must not leave them behind.
after(() => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** The child process with line-wise access to what it says (stdout) and logs (stderr). */
function child(args: string[] = [], execArgv: string[] = []) {
  const p = spawn(process.execPath, [...execArgv, CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let wake: (() => void) | undefined;
  p.stdout.setEncoding('utf8').on('data', (d: string) => ((out += d), wake?.()));
  p.stderr.setEncoding('utf8').on('data', (d: string) => ((err += d), wake?.()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    p.on('exit', (code, signal) => res({ code, signal })),
  );
  let done = false;
  spawned.push(p);
  void exited.then(() => ((done = true), wake?.()));
  return {
    p,
    exited,
    out: () => out,
    err: () => err,
    send: (line: string) => p.stdin.write(line + '\n'),
    /** Waits until `pred` holds (or the child exits: then the caller's assertion says what was missing). */
    async until(pred: () => boolean, what: string, boundMs = 30_000): Promise<void> {
      const deadline = Date.now() + boundMs;
      while (!pred()) {
        if (done) throw new Error(`child exited before ${what}; stdout:\n${out}\nstderr:\n${err}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout:\n${out}\nstderr:\n${err}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200).unref();
        });
      }
    },
  };
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
  test(
    `${sig} finalises, and a second signal during finalisation does not kill the process`,
    { timeout: 60_000 },
    async () => {
      const c = child();
      await c.until(() => c.out().includes('ready'), 'ready');
      c.p.kill(sig);
      await c.until(() => c.out().includes(`finalise ${sig}`), 'finalise');
      // A user's second Ctrl-C, then systemd's TERM. One at a time: the kernel merges a signal
      // sent while the same one is still pending.
      c.p.kill('SIGINT');
      await c.until(() => (c.err().match(/while finalising/g) ?? []).length >= 1, 'the second signal logged');
      c.p.kill('SIGTERM');
      await c.until(() => (c.err().match(/while finalising/g) ?? []).length >= 2, 'the third signal logged');
      c.send('finish');
      const r = await c.exited;
      assert.deepEqual(r, { code: 0, signal: null }, c.err());
      assert.equal((c.out().match(/^finalise /gm) ?? []).length, 1, 'finalise is called once');
    },
  );
}

test(
  'SIGHUP reloads and the process keeps running; a failing reload is logged, not fatal',
  { timeout: 60_000 },
  async () => {
    const c = child();
    await c.until(() => c.out().includes('ready'), 'ready');
    c.p.kill('SIGHUP');
    await c.until(() => c.out().includes('reloaded 1'), 'first reload');
    c.p.kill('SIGHUP');
    await c.until(
      () => c.err().includes('reload failed, the run goes on unchanged: bad config on the second reload'),
      'failed reload logged',
    );
    c.p.kill('SIGTERM');
    await c.until(() => c.out().includes('finalise SIGTERM'), 'finalise');
    c.send('finish');
    assert.deepEqual(await c.exited, { code: 0, signal: null });
    // Log lines carry the journald-independent JSON level: warn/error for the failure.
    assert.match(c.err(), /"level":50.*reload failed/);
  },
);

test(
  'SIGUSR1 opens no inspector with the handlers installed (and does without them)',
  { timeout: 60_000 },
  async () => {
    // Port 0: an inspector, if one opens, takes any free port; the test asks the child for its URL.
    const bare = child(['bare'], ['--inspect-port=0']);
    await bare.until(() => bare.out().includes('ready'), 'ready');
    bare.p.kill('SIGUSR1');
    // Node opens the inspector asynchronously: ask until it says so (the control: the test can fail).
    await bare.until(() => {
      if (/inspector ws:/.test(bare.out())) return true;
      bare.send('inspector?');
      return false;
    }, 'the inspector of a bare process');
    bare.p.kill('SIGKILL');
    await bare.exited;

    const c = child([], ['--inspect-port=0']);
    await c.until(() => c.out().includes('ready'), 'ready');
    c.p.kill('SIGUSR1');
    await c.until(() => c.err().includes('SIGUSR1: the inspector is disabled'), 'the USR1 log line');
    c.send('inspector?');
    await c.until(() => /inspector /.test(c.out()), 'the inspector answer');
    assert.match(c.out(), /inspector none/);
    assert.doesNotMatch(c.err(), /Debugger listening/);
    c.p.kill('SIGTERM');
    await c.until(() => c.out().includes('finalise SIGTERM'), 'finalise');
    c.send('finish');
    assert.deepEqual(await c.exited, { code: 0, signal: null });
  },
);

test("a SIGHUP held since start-up is answered once by the run's handlers, which then own SIGHUP; a command that does not reload gets Node's default", async () => {
  const { EventEmitter } = await import('node:events');
  const { holdSignals, takeHeldSignals, releaseHeldSignals } = await import('../src/common/held-signals.js');
  const { installSignalHandlers } = await import('../src/daemon/signals.js');
  const fake = Object.assign(new EventEmitter(), {
    pid: 4242,
    kill: (_pid: number, _sig: string) => {
      killed.push(_sig);
      return true;
    },
  }) as unknown as NodeJS.Process;
  const killed: string[] = [];
  const infos: string[] = [];
  const log = {
    info: (_o: unknown, m: string) => infos.push(m),
    warn: () => undefined,
    error: () => undefined,
  } as unknown as Logger;
  let reloads = 0;

  holdSignals(fake);
  fake.emit('SIGHUP');
  fake.emit('SIGHUP');
  assert.equal(reloads, 0);
  const dispose = installSignalHandlers(
    {
      log,
      finalise: () => undefined,
      reload: () => {
        reloads++;
      },
    },
    fake,
  );
  assert.equal(reloads, 1, 'two held SIGHUPs: one reload');
  assert.ok(
    infos.some((m) => m.startsWith('SIGHUP during start-up (2×)')),
    infos.join('\n'),
  );
  assert.equal(fake.listenerCount('SIGHUP'), 1, "the hold is gone, the run's handler alone answers");
  fake.emit('SIGHUP');
  assert.equal(reloads, 2);
  dispose();
  assert.equal(takeHeldSignals(fake), 0);

  holdSignals(fake);
  releaseHeldSignals(fake);
  assert.deepEqual(killed, [], 'nothing held: nothing passed on');
  holdSignals(fake);
  fake.emit('SIGHUP');
  releaseHeldSignals(fake);
  assert.deepEqual(killed, ['SIGHUP'], "a held SIGHUP meets Node's default once nothing else answers it");
  assert.equal(fake.listenerCount('SIGHUP'), 0);
});
