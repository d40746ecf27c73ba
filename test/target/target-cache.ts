import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the target tests download once and keep between runs, outside the checkout so that a
 * fresh clone reuses it: the arm64 Node (and the Debian root of the systemd test).
 */
export const TARGET_CACHE = process.env.MYOSTREAM_TARGET_CACHE ?? '/var/cache/myostream-target';
/** The Node the target runs; the npm package ships the official build with its headers. */
export const TARGET_NODE_VERSION = '20.19.6';

export function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().slice(-2000)}`);
  return r.stdout;
}

/** The unpacked `node-linux-<arch>` package (bin/node, include/node), fetched once. */
export function cachedNode(arch: 'arm64' | 'x64'): string {
  const dir = join(TARGET_CACHE, `node-${arch}-${TARGET_NODE_VERSION}`);
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  mkdirSync(TARGET_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(TARGET_CACHE, '.node-'));
  try {
    const tgz = run('npm', ['pack', '--silent', `node-linux-${arch}@${TARGET_NODE_VERSION}`, '--pack-destination', tmp]).trim().split('\n').pop()!;
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
const ROOT_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'mosquitto', 'mosquitto-clients', 'ca-certificates', 'passwd', 'procps', 'python3', 'make', 'g++', 'xz-utils'];

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
    run('debootstrap', ['--variant=minbase', `--include=${ROOT_PACKAGES.join(',')}`, SUITE, join(tmp, 'root'), configuredMirror()], { timeoutMs: 900_000 });
    renameSync(join(tmp, 'root'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
