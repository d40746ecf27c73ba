import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWatched } from './target-cache.js';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * systemd booted as PID 1 by systemd-nspawn on an overlay of the cached root: whatever a run
 * writes lands in its own upper layer, removed afterwards, so the cache stays as debootstrap
 * left it. The container shares the host's network (npm in it reaches the registry); commands
 * run in it through nsenter, since the host need not run systemd (no machinectl).
 */
export class BootedContainer {
  readonly dir = mkdtempSync(join(tmpdir(), 'myostream-target-'));
  readonly root = join(this.dir, 'merged');
  private nspawn: ChildProcess | undefined;
  private leader = 0;
  console = '';

  constructor(lower: string) {
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(this.dir, d));
    const r = spawnSync(
      'mount',
      [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${lower},upperdir=${join(this.dir, 'upper')},workdir=${join(this.dir, 'work')}`,
        this.root,
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`overlay over ${lower}: ${r.stderr.trim()}`);
  }

  /** Copies a host folder into the container before boot. */
  copyIn(from: string, to: string): void {
    cpSync(from, join(this.root, to), { recursive: true, verbatimSymlinks: true });
  }

  /**
   * Boots it (`binds`: host:container pairs, read-only) and waits until systemd says the boot is
   * done, for as long as the boot keeps going: the console or the journal grew within the last
   * `silenceS` seconds.
   */
  async boot(binds: readonly string[], silenceS: number): Promise<void> {
    this.nspawn = spawn(
      'systemd-nspawn',
      [
        '-q',
        '-D',
        this.root,
        '-M',
        'myostream-target',
        '-b',
        '--register=no',
        '--keep-unit',
        ...binds.map((b) => `--bind-ro=${b}`),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.nspawn.stdout!.on('data', (d: Buffer) => (this.console += d.toString()));
    this.nspawn.stderr!.on('data', (d: Buffer) => (this.console += d.toString()));
    const consoleGrew = (
      (seen = -1) =>
      (): boolean => {
        const grew = this.console.length !== seen;
        seen = this.console.length;
        return grew;
      }
    )();
    let quietSince = Date.now();
    while (this.leader === 0) {
      if (consoleGrew()) quietSince = Date.now();
      if (Date.now() - quietSince > silenceS * 1000 || this.nspawn.exitCode !== null)
        throw new Error(`systemd-nspawn did not start: ${this.console.slice(-2000)}`);
      this.leader = this.findLeader();
      if (this.leader === 0) await new Promise((r) => setTimeout(r, 200));
    }
    await this.until('the boot to finish', silenceS, () =>
      /^(running|degraded)/.test(this.exec(['systemctl', 'is-system-running'], { check: false }).stdout)
        ? true
        : undefined,
    );
  }

  /** The journal's last cursor: it moves whenever anything in the container logs. */
  journalCursor(): string {
    return this.exec(['journalctl', '-n', '0', '--show-cursor', '--no-pager'], { check: false }).stdout.trim();
  }

  /**
   * Polls `probe` until it gives a value, for as long as the container is busy: failing only once
   * neither its journal nor its console has moved for `silenceS` seconds (a wait then has
   * nothing left to wait for).
   */
  async until<T>(what: string, silenceS: number, probe: () => T | undefined): Promise<T> {
    let cursor = '';
    let quietSince = Date.now();
    for (;;) {
      const v = probe();
      if (v !== undefined) return v;
      const now = `${this.console.length} ${this.journalCursor()}`;
      if (now !== cursor) {
        cursor = now;
        quietSince = Date.now();
      } else if (Date.now() - quietSince > silenceS * 1000) {
        throw new Error(`waiting for ${what}: the container's journal has not moved for ${silenceS} s`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Runs a long command inside (an install) for as long as it keeps printing; see runWatched.
   */
  execWatched(
    argv: readonly string[],
    label: string,
    opts: { env?: Record<string, string> } = {},
  ): Promise<{ stdout: string; stderr: string; seconds: number }> {
    const env = Object.entries({ PATH, HOME: '/root', LANG: 'C.UTF-8', ...opts.env }).map(([k, v]) => `${k}=${v}`);
    return runWatched(
      'nsenter',
      ['-t', String(this.leader), '-m', '-u', '-i', '-n', '-p', '-C', '--', 'env', '-i', ...env, ...argv],
      { label },
    );
  }

  /** The container's PID 1: the nspawn child whose namespaced pid is 1. */
  private findLeader(): number {
    const pid = this.nspawn?.pid;
    if (!pid) return 0;
    const seen = [pid];
    for (let i = 0; i < seen.length; i++) {
      let children: string[] = [];
      try {
        children = readFileSync(`/proc/${seen[i]}/task/${seen[i]}/children`, 'utf8')
          .trim()
          .split(/\s+/)
          .filter(Boolean);
      } catch {
        continue;
      }
      for (const c of children) {
        const status = existsSync(`/proc/${c}/status`) ? readFileSync(`/proc/${c}/status`, 'utf8') : '';
        const ns = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
        if (ns.length > 1 && ns[ns.length - 1] === '1' && readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd')
          return Number(c);
        seen.push(Number(c));
      }
    }
    return 0;
  }

  /** Runs a command inside, as root, with a clean environment plus `env`. */
  exec(
    argv: readonly string[],
    opts: { env?: Record<string, string>; check?: boolean; timeoutMs?: number; cwd?: string } = {},
  ): SpawnSyncReturns<string> {
    const env = Object.entries({ PATH, HOME: '/root', LANG: 'C.UTF-8', ...opts.env }).map(([k, v]) => `${k}=${v}`);
    const inner = opts.cwd ? ['sh', '-c', 'cd "$0" && exec "$@"', opts.cwd, ...argv] : [...argv];
    const r = spawnSync(
      'nsenter',
      ['-t', String(this.leader), '-m', '-u', '-i', '-n', '-p', '-C', '--', 'env', '-i', ...env, ...inner],
      { encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 << 20 },
    );
    if (opts.check !== false && r.status !== 0)
      throw new Error(
        `in the container: ${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`,
      );
    return r;
  }

  /** One property of a unit, as `systemctl show` gives it. */
  show(unit: string, prop: string): string {
    return this.exec(['systemctl', 'show', unit, '-p', prop, '--value']).stdout.trim();
  }

  /** Powers it off, waits for nspawn to end, removes the overlay and its layers. */
  async close(): Promise<void> {
    if (this.nspawn && this.nspawn.exitCode === null) {
      const ended = new Promise<void>((r) => this.nspawn!.once('exit', () => r()));
      if (this.leader)
        spawnSync('nsenter', ['-t', String(this.leader), '-m', '-p', '--', '/bin/systemctl', 'poweroff'], {
          timeout: 30_000,
        });
      else this.nspawn.kill('SIGTERM');
      const timer = setTimeout(() => this.nspawn?.kill('SIGKILL'), 60_000);
      await ended;
      clearTimeout(timer);
    }
    spawnSync('umount', [this.root]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
