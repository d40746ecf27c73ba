import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, prerequisiteTest } from '../helpers.js';
import { BootedContainer } from './booted-container.js';
import { SILENCE_S, cachedDebianRoot, cachedNode, run } from './target-cache.js';

/**
 * The service on a real systemd as PID 1: a Debian 12 root booted by systemd-nspawn, myostream
 * installed by scripts/install.sh from a copy of this checkout, the hardened unit as shipped.
 * One boot for every check, in the order a base station lives them.
 */

const has = (cmd: string, arg = '--version'): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).error === undefined;
function missing(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, overlay mounts, systemd-nspawn)';
  if (!has('systemd-nspawn')) return 'systemd-nspawn not installed (apt-get install systemd-container; .ci/run does)';
  if (
    !has('debootstrap') &&
    !existsSync(join(process.env.MYOSTREAM_TARGET_CACHE ?? '/var/cache/myostream-target', 'debian12-root'))
  )
    return 'debootstrap not installed (apt-get install debootstrap; .ci/run does)';
  if (!has('nsenter')) return 'nsenter not installed (util-linux)';
  return false;
}
const skip = missing();

const CONF = '/etc/myostream/realtime_config.yaml';
const DROP_IN = '/etc/systemd/system/myostream.service.d/target-test.conf';

/**
 * How long a wait may see nothing happen in the container (its journal and console still)
 * before it fails: waits last as long as the machine needs while something moves.
 */
const QUIET_S = process.env.MYOSTREAM_TARGET_SILENCE_S ? SILENCE_S : 180;

prerequisiteTest(
  'systemd as PID 1: install, exit 2 without an ADC, READY and poses on the simulator, watchdog restart, reload, stop, collect, uninstall',
  { skip },
  async () => {
    const lower = cachedDebianRoot();
    const node = cachedNode('x64');
    const c = new BootedContainer(lower);
    try {
      // The target's Node with its headers (install.sh builds the addons against them) and the
      // host's npm; npm verifies the registry with the host's CA bundle.
      for (const d of ['bin', 'include']) c.copyIn(join(node, d), join('usr', 'local', d));
      const npmDir = join(run('npm', ['root', '-g']).trim(), 'npm');
      c.copyIn(npmDir, 'usr/local/lib/node_modules/npm');
      run('ln', ['-sf', '../lib/node_modules/npm/bin/npm-cli.js', join(c.root, 'usr/local/bin/npm')]);
      c.copyIn('/etc/ssl/certs/ca-certificates.crt', 'etc/ssl/certs/ca-certificates.crt');
      // A copy of the checkout (tracked files; install.sh builds dist/ in it), its node_modules read-only.
      const src = join(c.root, 'root', 'myostream');
      mkdirSync(src, { recursive: true });
      for (const f of run('git', ['ls-files', '-z'], { cwd: ROOT }).split('\0').filter(Boolean)) {
        if (!existsSync(join(ROOT, f))) continue;
        mkdirSync(dirname(join(src, f)), { recursive: true });
        writeFileSync(join(src, f), readFileSync(join(ROOT, f)), {
          mode:
            spawnSync('stat', ['-c', '%a', join(ROOT, f)], { encoding: 'utf8' }).stdout.trim() === '755'
              ? 0o755
              : 0o644,
        });
      }
      mkdirSync(join(src, 'node_modules'));
      await c.boot([`${join(ROOT, 'node_modules')}:/root/myostream/node_modules`], QUIET_S);

      const npmEnv = {
        NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
        npm_config_cafile: '/etc/ssl/certs/ca-certificates.crt',
        npm_config_update_notifier: 'false',
      };
      const inst = await c.execWatched(['bash', '/root/myostream/scripts/install.sh'], 'install.sh', { env: npmEnv });
      assert.match(inst.stdout, /install\.sh: wrote \/etc\/systemd\/system\/myostream\.service/);
      assert.equal(c.show('myostream', 'UnitFileState'), 'enabled');

      // The production unit on a machine without the ADC: exit 2 naming the device, no restart
      // (RestartPreventExitStatus=2), so the unit rests in failed rather than auto-restart.
      c.exec(['sh', '-c', 'echo MYOSTREAM_MQTT_PASSWORD=target-test >> /etc/myostream/env']);
      assert.notEqual(c.exec(['systemctl', 'start', 'myostream'], { check: false }).status, 0);
      assert.equal(c.show('myostream', 'ExecMainStatus'), '2');
      assert.equal(c.show('myostream', 'SubState'), 'failed');
      assert.equal(c.show('myostream', 'NRestarts'), '0');
      assert.match(
        c.exec(['journalctl', '-u', 'myostream', '--no-pager', '-o', 'cat']).stdout,
        /\/dev\/spidev0\.0 does not exist/,
      );

      // The simulated ADS1299 behind the same driver; a short watchdog so the freeze is found quickly.
      // The latency bounds of the acceptance are a base station's (P95 20 ms); a CI host under
      // load misses them, and whether it does is not what this test is about (npm run bench is):
      // bounds no host misses leave the verdict to what is (fallback, alignment, plug-ins).
      mkdirSync(join(c.root, dirname(DROP_IN)), { recursive: true });
      writeFileSync(
        join(c.root, DROP_IN),
        `[Service]\nExecStart=\nExecStart=/usr/local/bin/myostream run --config ${CONF} --quiet --source ads1299-sim --set eval.streaming_latency.p50_ms=10000 --set eval.streaming_latency.p95_ms=10000\nWatchdogSec=5s\nRestartSec=1\n`,
      );
      c.exec(['systemctl', 'daemon-reload']);
      c.exec(['systemctl', 'reset-failed', 'myostream']);
      // Type=notify: active once READY=1 arrived.
      c.exec(['systemctl', 'start', '--no-block', 'myostream']);
      assert.equal(
        await c.until('the service to start', QUIET_S, () => {
          const state = c.show('myostream', 'ActiveState');
          return state === 'active' || state === 'failed' ? state : undefined;
        }),
        'active',
      );
      assert.match(
        c.exec(['journalctl', '-u', 'myostream', '--no-pager', '-o', 'cat']).stdout,
        /systemd notified: ready/,
      );
      const sub = await c.until('three poses over MQTT', QUIET_S, () => {
        const r = c.exec(
          [
            'mosquitto_sub',
            '-h',
            '127.0.0.1',
            '-t',
            'myostream/+/pose',
            '-C',
            '3',
            '-W',
            '5',
            '-u',
            'reader',
            '-P',
            'x',
          ],
          { check: false },
        );
        return r.status === 0 ? r.stdout : undefined;
      });
      const poses = sub
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { angles: number[]; mode: string });
      assert.equal(poses.length, 3);
      for (const p of poses) assert.equal(p.angles.length, 20);

      // A frozen main process stops the pings: the watchdog aborts it and Restart= brings it back.
      const frozen = c.show('myostream', 'MainPID');
      c.exec(['kill', '-STOP', frozen]);
      await c.until('the watchdog restart', QUIET_S, () =>
        c.show('myostream', 'NRestarts') === '1' &&
        c.show('myostream', 'ActiveState') === 'active' &&
        c.show('myostream', 'MainPID') !== frozen
          ? true
          : undefined,
      );
      const journal = c.exec(['journalctl', '-u', 'myostream', '--no-pager']).stdout;
      assert.match(journal, /Watchdog timeout \(limit 5s\)/);
      assert.match(journal, /Failed with result 'watchdog'/);

      // Reload (HUP) applies a changed log level without a restart.
      const pid = c.show('myostream', 'MainPID');
      const conf = readFileSync(join(c.root, CONF), 'utf8');
      assert.match(conf, /^ {2}level: info/m);
      writeFileSync(join(c.root, CONF), conf.replace(/^ {2}level: info/m, '  level: debug'));
      c.exec(['systemctl', 'reload', 'myostream']);
      await c.until('the reload line', QUIET_S, () =>
        /reload: log level changed/.test(
          c.exec(['journalctl', '-u', 'myostream', '--no-pager', '-o', 'cat', `_PID=${pid}`]).stdout,
        )
          ? true
          : undefined,
      );
      assert.equal(c.show('myostream', 'MainPID'), pid, 'reload keeps the process');

      // Stop finalises the run: status reads it as finished, collect packs it with the journal.
      c.exec(['systemctl', 'stop', '--no-block', 'myostream']);
      await c.until('the service to stop', QUIET_S, () =>
        ['inactive', 'failed'].includes(c.show('myostream', 'ActiveState')) ? true : undefined,
      );
      assert.equal(c.show('myostream', 'Result'), 'success');
      const status = c.exec(['myostream', 'status']).stdout;
      assert.match(status, /^state +finished \(interrupted\)/m);
      assert.match(status, /^verdict +PASSED: held: /m);
      // With no argument, collect takes the run the watchdog killed as well as the latest.
      const collect = c.exec(['myostream', 'collect'], { cwd: '/root' }).stdout;
      assert.match(collect, /journal: [1-9]\d* lines/);
      const killedRun = new RegExp(`run-\\d{8}T\\d{6}Z-${frozen}\\b`);
      assert.match(collect, killedRun, 'the killed run is packed');
      const tarball = c.exec(['sh', '-c', 'ls /root/myostream-collect-*.tar.gz']).stdout.trim();
      const listing = c.exec(['tar', '-tzf', tarball]).stdout;
      assert.match(listing, /journal\.txt/);
      assert.match(listing, new RegExp(`runs/run-\\d{8}T\\d{6}Z-${frozen}/report\\.html`), 'with its report');
      assert.match(
        listing,
        new RegExp(`runs/run-\\d{8}T\\d{6}Z-${pid}/report\\.html`),
        'and the latest with its report',
      );

      // Uninstall (the test's own drop-in first): nothing of myostream stays.
      c.exec(['rm', '-rf', dirname(DROP_IN)]);
      c.exec(['bash', '/root/myostream/scripts/uninstall.sh', '--purge']);
      for (const p of [
        '/opt/myostream',
        '/usr/local/bin/myostream',
        '/etc/systemd/system/myostream.service',
        '/etc/udev/rules.d/60-myostream.rules',
        '/etc/myostream',
        '/var/lib/myostream',
        '/var/log/myostream',
      ]) {
        assert.ok(!existsSync(join(c.root, p)), `${p} removed`);
      }
      assert.equal(c.exec(['getent', 'passwd', 'myostream'], { check: false }).status, 2, 'the service user is gone');
      assert.equal(c.show('myostream', 'LoadState'), 'not-found');
    } finally {
      await c.close();
    }
  },
);
