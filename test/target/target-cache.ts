import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
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
