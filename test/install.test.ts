import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prerequisiteTest, ROOT } from './helpers.js';

/**
 * install.sh in a throwaway root: a mount namespace (unshare -m) in which the host's /usr and
 * /etc are overlays whose changes land in the test's folders, with empty /opt, /var and /run
 * (so no systemd is PID 1 in there), then chroot. The script runs with its default paths, as
 * on a base station, and the host is never written. npm runs offline from the host's cache.
 */

const INSTALL = join(ROOT, 'scripts', 'install.sh');
const UNINSTALL = join(ROOT, 'scripts', 'uninstall.sh');
const isRoot = process.getuid?.() === 0;

function sh(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 300_000 });
}

const npmCache = isRoot ? sh('npm', ['config', 'get', 'cache']).stdout.trim() : '';

/** Whether this machine lets a test build the namespace (root, unshare, overlayfs). */
function canSandbox(): string | false {
  if (!isRoot) return 'needs root (useradd, mounts)';
  if (sh('unshare', ['--version']).status !== 0) return 'no unshare';
  const t = mkdtempSync(join(tmpdir(), 'ovl-'));
  try {
    for (const d of ['u', 'w', 'm']) mkdirSync(join(t, d));
    const r = sh('unshare', [
      '-m',
      'mount',
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=/usr,upperdir=${t}/u,workdir=${t}/w`,
      `${t}/m`,
    ]);
    return r.status === 0 ? false : 'overlayfs not mountable here: ' + r.stderr.trim();
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
}

const skip = canSandbox();

class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'myostream-install-'));
  readonly root = join(this.dir, 'root');
  private readonly enter = join(this.dir, 'enter.sh');

  constructor() {
    for (const d of ['usr', 'etc', 'opt', 'var', 'tmp', 'proc', 'dev', 'sys', 'run', 'root'])
      mkdirSync(join(this.root, d), { recursive: true });
    chmodSync(join(this.root, 'tmp'), 0o1777);
    for (const d of ['usr-up', 'usr-work', 'etc-up', 'etc-work']) mkdirSync(join(this.dir, d));
    // The host's top-level links (merged /usr: /bin -> usr/bin…).
    for (const l of ['bin', 'lib', 'lib64', 'sbin']) {
      const host = '/' + l;
      if (existsSync(host) && lstatSync(host).isSymbolicLink()) symlinkSync(readlinkSync(host), join(this.root, l));
      else if (existsSync(host)) mkdirSync(join(this.root, l));
    }
    const R = this.root;
    writeFileSync(
      this.enter,
      [
        'set -e',
        `mount -t overlay overlay -o lowerdir=/usr,upperdir=${this.dir}/usr-up,workdir=${this.dir}/usr-work ${R}/usr`,
        `mount -t overlay overlay -o lowerdir=/etc,upperdir=${this.dir}/etc-up,workdir=${this.dir}/etc-work ${R}/etc`,
        ...['bin', 'lib', 'lib64', 'sbin']
          .filter((l) => existsSync('/' + l) && !lstatSync('/' + l).isSymbolicLink())
          .map((l) => `mount --bind -o ro /${l} ${R}/${l}`),
        `mount --rbind /dev ${R}/dev`,
        `mount -t proc proc ${R}/proc`,
        `mount --rbind /sys ${R}/sys`,
        `mount -t tmpfs tmpfs ${R}/run`,
        `mkdir -p ${R}${ROOT} ${R}/root/.npm`,
        `mount --bind ${ROOT} ${R}${ROOT}`,
        npmCache ? `mount --bind ${npmCache} ${R}/root/.npm` : 'true',
        `exec chroot ${R} "$@"`,
      ].join('\n'),
    );
  }

  /** Runs a command inside the throwaway root. */
  run(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
    return sh('unshare', ['-m', 'bash', this.enter, ...args], {
      env: { ...process.env, HOME: '/root', npm_config_offline: 'true', npm_config_cache: '/root/.npm', ...env },
    });
  }

  /** Path, type, mode, owner, size, mtime and content of everything the install could have written. */
  treeHash(): string {
    const h = createHash('sha256');
    const walk = (p: string): void => {
      const st = lstatSync(p);
      h.update(`${p.slice(this.dir.length)} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.rdev}\n`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else if (st.isFile()) h.update(readFileSync(p));
      else if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    };
    for (const d of ['usr-up', 'etc-up']) walk(join(this.dir, d));
    for (const d of ['opt', 'var', 'root']) walk(join(this.root, d));
    return h.digest('hex');
  }

  /** A file as the root sees it: the overlay's upper layer, else the host's. */
  etc(name: string): string {
    const up = join(this.dir, 'etc-up', name);
    return existsSync(up) ? readFileSync(up, 'utf8') : readFileSync(join('/etc', name), 'utf8');
  }

  has(path: string): boolean {
    const [top, ...rest] = path.split('/').filter(Boolean);
    if (top === 'etc' || top === 'usr') {
      const upper = join(this.dir, `${top}-up`, ...rest);
      if (existsSync(upper)) return !lstatSync(upper).isCharacterDevice(); // a whiteout is a deletion
      return existsSync(join('/', top, ...rest));
    }
    return existsSync(join(this.root, path));
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status} ${r.signal ?? ''}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

prerequisiteTest(
  'install.sh in a throwaway root: runtime only, command, user, groups, udev, unit, config; a second run changes nothing; uninstall',
  { skip, timeout: 600_000 },
  () => {
    const box = new Sandbox();
    try {
      const first = ok(box.run(['bash', INSTALL]), 'first install');
      assert.match(first, /systemd is not PID 1 here: systemctl not run/);

      // What went where.
      assert.match(box.etc('passwd'), /^myostream:x:\d+:\d+::\/var\/lib\/myostream:\/usr\/sbin\/nologin$/m);
      for (const g of ['spi', 'gpio', 'i2c'])
        assert.match(box.etc('group'), new RegExp(`^${g}:x:\\d+:(.*,)?myostream(,|$)`, 'm'), g);
      assert.equal(
        box.etc('myostream/realtime_config.yaml'),
        readFileSync(join(ROOT, 'configs', 'production.yaml'), 'utf8'),
      );
      assert.equal(
        box.etc('udev/rules.d/60-myostream.rules'),
        readFileSync(join(ROOT, 'udev', '60-myostream.rules'), 'utf8'),
      );
      assert.ok(box.has('/etc/myostream/env'));
      const app = join(box.root, 'opt', 'myostream');
      for (const absent of [
        'test',
        'refer',
        'dist/test',
        'src',
        'node_modules/typescript',
        'node_modules/fast-check',
      ]) {
        assert.ok(!existsSync(join(app, absent)), `${absent} must not be installed`);
      }
      assert.ok(existsSync(join(app, 'dist', 'src', 'main.js')));
      assert.ok(existsSync(join(app, 'models', 'encoder.onnx')));
      assert.ok(
        !existsSync(join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'win32')),
        'other platforms pruned',
      );

      // With the default paths the installed unit is the repository's; it verifies against the
      // installed command (its copy in the overlay's upper layer, as seen from the host).
      const unit = box.etc('systemd/system/myostream.service');
      assert.equal(unit, readFileSync(join(ROOT, 'systemd', 'myostream.service'), 'utf8'));
      if (sh('systemd-analyze', ['--version']).status === 0) {
        const copy = join(box.dir, 'myostream.service');
        writeFileSync(
          copy,
          unit.replaceAll('/usr/local/bin/myostream', join(box.dir, 'usr-up', 'local', 'bin', 'myostream')),
        );
        const verify = sh('systemd-analyze', ['verify', copy]);
        assert.equal(verify.status, 0, verify.stderr);
        assert.equal(verify.stderr.trim(), '', verify.stderr);
      }
      // The command runs as the service user with the installed configuration (synthetic
      // source: no ADC here).
      const run = box.run([
        'setpriv',
        '--reuid=myostream',
        '--regid=myostream',
        '--init-groups',
        'env',
        'MYOSTREAM_MQTT_PASSWORD=unused',
        '/usr/local/bin/myostream',
        'run',
        '--config',
        '/etc/myostream/realtime_config.yaml',
        '--source',
        'synthetic',
        '--duration',
        '2',
        '--set',
        'outputs.mqtt.enabled=false',
        '--set',
        'eval.streaming_alignment_check=false',
        '--artifacts',
        '/tmp/run1',
        '--quiet',
      ]);
      ok(run, 'the installed command as the service user');
      assert.match(run.stderr, /"msg":"run finished"/, 'JSON logs from the production configuration');
      assert.ok(existsSync(join(box.root, 'tmp', 'run1', 'summary.json')));
      rmSync(join(box.root, 'tmp', 'run1'), { recursive: true });

      // Idempotent: the second run writes nothing.
      const before = box.treeHash();
      const second = ok(box.run(['bash', INSTALL]), 'second install');
      assert.match(second, /runtime in \/opt\/myostream is up to date/);
      assert.match(second, /nothing changed/);
      assert.equal(box.treeHash(), before, 'the second run changed the tree');

      // An edited configuration is never overwritten; the new default goes beside it.
      const conf = join(box.dir, 'etc-up', 'myostream', 'realtime_config.yaml');
      appendFileSync(conf, '# edited on site\n');
      const third = ok(box.run(['bash', INSTALL]), 'install over an edited config');
      assert.match(third, /kept the edited \/etc\/myostream\/realtime_config.yaml/);
      assert.match(readFileSync(conf, 'utf8'), /# edited on site\n$/);
      assert.equal(
        box.etc('myostream/realtime_config.yaml.dist'),
        readFileSync(join(ROOT, 'configs', 'production.yaml'), 'utf8'),
      );

      // uninstall keeps the configuration and the user; --purge removes them too; twice is harmless.
      ok(box.run(['bash', UNINSTALL]), 'uninstall');
      for (const p of [
        '/etc/systemd/system/myostream.service',
        '/usr/local/bin/myostream',
        '/etc/udev/rules.d/60-myostream.rules',
        '/opt/myostream',
      ])
        assert.ok(!box.has(p), p);
      assert.ok(box.has('/etc/myostream/realtime_config.yaml'));
      assert.match(box.etc('passwd'), /^myostream:/m);
      ok(box.run(['bash', UNINSTALL, '--purge']), 'uninstall --purge');
      ok(box.run(['bash', UNINSTALL, '--purge']), 'uninstall --purge again');
      assert.ok(!box.has('/etc/myostream'));
      assert.doesNotMatch(box.etc('passwd'), /^myostream:/m);
    } finally {
      box.close();
    }
  },
);

prerequisiteTest(
  'a missing prerequisite fails with one line before anything is written',
  { skip: isRoot ? false : 'needs root' },
  () => {
    const t = mkdtempSync(join(tmpdir(), 'myostream-prereq-'));
    try {
      const dest = join(t, 'dest');
      mkdirSync(dest);
      // A PATH with every tool the script uses except npm.
      const bin = join(t, 'bin');
      mkdirSync(bin);
      for (const tool of [
        'bash',
        'env',
        'id',
        'dirname',
        'basename',
        'stat',
        'cut',
        'tar',
        'sha256sum',
        'install',
        'cmp',
        'sed',
        'mktemp',
        'useradd',
        'groupadd',
        'usermod',
        'getent',
        'node',
      ]) {
        const p = sh('bash', ['-c', `command -v ${tool}`]).stdout.trim();
        if (p) symlinkSync(p, join(bin, tool));
      }
      const noNpm = sh(join(bin, 'bash'), [INSTALL], { env: { PATH: bin, DESTDIR: dest } });
      assert.equal(noNpm.status, 2);
      assert.equal(noNpm.stderr, 'install.sh: missing prerequisite: npm; nothing was changed\n');
      assert.deepEqual(readdirSync(dest), []);

      // Node 18 where 20 is needed.
      const old = join(t, 'node18');
      writeFileSync(old, '#!/bin/sh\necho 18.19.0\n');
      chmodSync(old, 0o755);
      const r = sh('bash', [INSTALL], { env: { ...process.env, NODE: old, DESTDIR: dest } });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^install\.sh: Node\.js >= 20 needed, .*node18 is 18\.19\.0; nothing was changed\n$/);
      assert.deepEqual(readdirSync(dest), []);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
