import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the target tests download once and keep between runs, outside the checkout so that a
 * fresh clone reuses it: the arm64 Node (and the Debian root of the systemd test).
 */
export const TARGET_CACHE = process.env.MYOSTREAM_TARGET_CACHE ?? '/var/cache/myostream-target';
/** The Node the target runs; the npm package ships the official build with its headers. */
export const TARGET_NODE_VERSION = '20.19.6';

export function run(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 300_000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().slice(-2000)}`,
    );
  return r.stdout;
}

/**
 * How long a long step of the target tests may go without a line of output before it counts as
 * stalled: its whole duration is not bounded, since that follows the machine (qemu-user on a
 * busy or slow host is many times slower). The longest silent unit is the arm64 exact block,
 * one graph run over a whole block under emulation: about 30 s on a busy 2-core Xeon.
 */
export const SILENCE_S = Number(process.env.MYOSTREAM_TARGET_SILENCE_S ?? 600);
/**
 * On a host slower still, the silence allowed grows with it: a step may last this many times
 * the longest step before it (the first, starting Node and loading the models, takes about a
 * quarter of the exact block's time on any host).
 */
const SILENCE_GROWTH = 10;

/**
 * `taskset -c <list>` to put in front of an emulated process when MYOSTREAM_TARGET_TASKSET names
 * CPUs: with a CPU hog pinned to the same CPU this reproduces a host where qemu-user is several
 * times slower (see USAGE.md, the target tests).
 */
export function tasksetPrefix(): string[] {
  const cpus = process.env.MYOSTREAM_TARGET_TASKSET;
  return cpus ? ['taskset', '-c', cpus] : [];
}

/**
 * Runs a command to its end however long it takes while it keeps printing; kills it (its whole
 * process group) once it has printed nothing, on stdout or stderr, for `silenceS` seconds, or
 * for SILENCE_GROWTH times its longest silence so far where that is longer.
 * With `echo`, its lines on stderr are passed on with `label` in front, so a CI log shows where
 * it is.
 */
export function runWatched(
  cmd: string,
  args: readonly string[],
  opts: { label: string; cwd?: string; env?: NodeJS.ProcessEnv; silenceS?: number; echo?: boolean },
): Promise<{ stdout: string; stderr: string; seconds: number }> {
  const silenceS = opts.silenceS ?? SILENCE_S;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    let lastOutput = performance.now();
    let longest = 0;
    let limitS = silenceS;
    const arm = (): void => {
      const now = performance.now();
      longest = Math.max(longest, (now - lastOutput) / 1000);
      lastOutput = now;
      limitS = Math.max(silenceS, SILENCE_GROWTH * longest);
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, limitS * 1000);
    };
    arm();
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      arm();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      if (opts.echo) for (const l of lines) process.stderr.write(`# ${opts.label}: ${l}\n`);
      arm();
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const tail = `${stdout.slice(-1500)}\n${stderr.slice(-1500)}`.trim();
      if (stalled)
        reject(
          new Error(
            `${opts.label}: no output for ${limitS.toFixed(0)} s (MYOSTREAM_TARGET_SILENCE_S ${silenceS}, longest silence before ${longest.toFixed(0)} s), killed after ${seconds.toFixed(0)} s: ${tail}`,
          ),
        );
      else if (code !== 0)
        reject(
          new Error(
            `${opts.label}: ${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}) after ${seconds.toFixed(0)} s: ${tail}`,
          ),
        );
      else resolve({ stdout, stderr, seconds });
    });
  });
}

/** The unpacked `node-linux-<arch>` package (bin/node, include/node), fetched once. */
export function cachedNode(arch: 'arm64' | 'x64'): string {
  const dir = join(TARGET_CACHE, `node-${arch}-${TARGET_NODE_VERSION}`);
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  mkdirSync(TARGET_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(TARGET_CACHE, '.node-'));
  try {
    const tgz = run('npm', ['pack', '--silent', `node-linux-${arch}@${TARGET_NODE_VERSION}`, '--pack-destination', tmp])
      .trim()
      .split('\n')
      .pop()!;
    mkdirSync(join(tmp, 'node'));
    run('tar', ['-xzf', join(tmp, tgz), '-C', join(tmp, 'node'), '--strip-components=1']);
    // Whole or not at all: a run killed half-way leaves only the temporary folder.
    renameSync(join(tmp, 'node'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The Debian release the systemd test boots: the one a base station's image is built on. */
const SUITE = 'bookworm';
/** What the booted root needs besides the base: systemd as PID 1, the broker, and what install.sh builds the addons with. */
const ROOT_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'mosquitto',
  'mosquitto-clients',
  'ca-certificates',
  'passwd',
  'procps',
  'python3',
  'make',
  'g++',
  'xz-utils',
];

/** The Debian mirror this machine's apt uses, so debootstrap works where apt does. */
function configuredMirror(): string {
  const dir = '/etc/apt/sources.list.d';
  const texts: string[] = [];
  try {
    for (const f of readdirSync(dir)) texts.push(readFileSync(join(dir, f), 'utf8'));
  } catch {
    // no sources.list.d: the classic file below, or the default mirror
  }
  for (const t of texts) {
    for (const stanza of t.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri && new RegExp(`^Suites:.*\\b${SUITE}\\b`, 'm').test(stanza) && !uri.includes('security')) return uri;
    }
  }
  try {
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(readFileSync('/etc/apt/sources.list', 'utf8'));
    if (line?.[1]) return line[1];
  } catch {
    // no sources.list either
  }
  return 'http://deb.debian.org/debian';
}

/** A Debian 12 root with systemd and mosquitto, built once by debootstrap; runs use it as an overlay's lower layer and never write it. */
export function cachedDebianRoot(): string {
  const dir = join(TARGET_CACHE, `debian12-root`);
  if (existsSync(join(dir, 'usr', 'lib', 'systemd', 'systemd'))) return dir;
  mkdirSync(TARGET_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(TARGET_CACHE, '.root-'));
  try {
    run(
      'debootstrap',
      ['--variant=minbase', `--include=${ROOT_PACKAGES.join(',')}`, SUITE, join(tmp, 'root'), configuredMirror()],
      { timeoutMs: 900_000 },
    );
    renameSync(join(tmp, 'root'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
