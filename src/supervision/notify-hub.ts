import { createRequire } from 'node:module';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';

/**
 * The systemd notify protocol for the whole daemon: one datagram socket to `NOTIFY_SOCKET`, one
 * timer. Every stream attaches a progress source; the hub says READY=1 once every attached
 * stream has computed its first unit, and WATCHDOG=1 only when every stream's samples and poses
 * both grew since the previous check. A stalled source, a hung loop or an output that blocks
 * the loop therefore stops the pings and systemd restarts the service: a plain timer would
 * keep pinging from a live event loop whatever the work does.
 *
 * Without `NOTIFY_SOCKET` (not under systemd, or `Type=` other than notify) nothing is opened
 * and every call returns at once.
 */

/** What the hub reads of one stream at each check; kept current by the stream's plug-in. */
export interface StreamProgress {
  readonly id: string;
  /** True once the stream's first unit (step or block) ran. */
  readonly stepped: boolean;
  /** True once the stream has ended (its final tick): it no longer has to advance. */
  readonly finished: boolean;
  readonly samples: number;
  readonly poses: number;
  readonly mode: string;
  /** P95 of T_compute over the recent units, ms (NaN before any). */
  p95Ms(): number;
}

/** Where datagrams go: the notify socket, or a test's stand-in. */
export interface NotifyTransport {
  send(message: string): void;
  close(): void;
}

export interface NotifyHubOptions {
  log: Logger;
  /** Environment to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from (process.env). */
  env?: NodeJS.ProcessEnv;
  /** This process's id, compared with WATCHDOG_PID (process.pid). */
  pid?: number;
  /** Seconds between checks when systemd asked for no watchdog: STATUS= only (default 5). */
  statusIntervalS?: number;
  /** Opens the socket; the default loads `unix-dgram` (a native addon) only when needed. */
  openTransport?: (socketPath: string) => NotifyTransport;
  /** Monotonic milliseconds, for the rates in STATUS= (performance.now). */
  now?: () => number;
}

/** Counters a test or the health report can read. */
export interface NotifyCounts {
  sent: number;
  pings: number;
  /** Checks at which some stream had not advanced, so no WATCHDOG=1 went out. */
  withheld: number;
  sendErrors: number;
}

interface Attached {
  readonly src: StreamProgress;
  lastSamples: number;
  lastPoses: number;
  lastAt: number;
  rate: number;
}

export class NotifyHub {
  readonly enabled: boolean;
  /** Half of WATCHDOG_USEC in ms (0 = systemd asked for no watchdog). */
  readonly pingIntervalMs: number;
  readonly counts: NotifyCounts = { sent: 0, pings: 0, withheld: 0, sendErrors: 0 };
  private readonly log: Logger;
  private readonly socketPath: string;
  private readonly intervalMs: number;
  private readonly openTransport: (socketPath: string) => NotifyTransport;
  private readonly now: () => number;
  private readonly streams: Attached[] = [];
  private transport: NotifyTransport | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ready = false;
  private stopping = false;
  private closed = false;
  private readonly stalledSince = new Set<string>();

  constructor(opts: NotifyHubOptions) {
    const env = opts.env ?? process.env;
    this.log = opts.log;
    this.socketPath = env.NOTIFY_SOCKET ?? '';
    this.openTransport = opts.openTransport ?? openUnixDgram;
    this.now = opts.now ?? (() => performance.now());
    this.enabled = this.socketPath !== '';
    const usec = Number(env.WATCHDOG_USEC ?? '');
    // sd_watchdog_enabled(): WATCHDOG_PID, when set, names the process the watchdog is for; a
    // child that inherited the variables must not ping on its parent's behalf.
    const pidOk =
      env.WATCHDOG_PID === undefined ||
      env.WATCHDOG_PID === '' ||
      Number(env.WATCHDOG_PID) === (opts.pid ?? process.pid);
    this.pingIntervalMs = this.enabled && pidOk && Number.isFinite(usec) && usec > 0 ? Math.max(1, usec / 2000) : 0;
    const statusS = opts.statusIntervalS ?? 5;
    this.intervalMs = this.pingIntervalMs > 0 ? this.pingIntervalMs : Math.max(100, statusS * 1000);
    if (this.enabled && this.socketPath.startsWith('@')) {
      // unix-dgram copies the path as a C string, so the abstract namespace's leading NUL cannot
      // be expressed; systemd gives services /run/systemd/notify, a path.
      this.log.warn(
        { notify_socket: this.socketPath },
        'systemd notify: abstract NOTIFY_SOCKET is not supported; READY/WATCHDOG will not be sent',
      );
      this.enabled = false;
      this.pingIntervalMs = 0;
    }
  }

  /**
   * Adds a stream; the returned function detaches it (a stream that stops, or whose plug-in was
   * disabled, no longer holds READY or the pings back).
   */
  attach(src: StreamProgress): () => void {
    if (!this.enabled || this.closed) return () => {};
    const a: Attached = { src, lastSamples: src.samples, lastPoses: src.poses, lastAt: this.now(), rate: NaN };
    this.streams.push(a);
    this.open();
    return () => {
      const i = this.streams.indexOf(a);
      if (i >= 0) this.streams.splice(i, 1);
      // The streams left may all have stepped already.
      this.stepped();
    };
  }

  /** Called by a stream's plug-in after its first unit: READY=1 goes out once all have stepped. */
  stepped(): void {
    if (!this.enabled || this.ready || this.closed) return;
    if (this.streams.length === 0 || !this.streams.every((s) => s.src.stepped)) return;
    this.ready = true;
    const t = this.now();
    for (const s of this.streams) {
      // Progress is judged from READY on: the first ping needs growth after it.
      s.lastSamples = s.src.samples;
      s.lastPoses = s.src.poses;
      s.lastAt = t;
    }
    this.send(`READY=1\nSTATUS=${this.statusText()}\nMAINPID=${process.pid}\n`);
    this.log.info({ watchdog_ping_ms: this.pingIntervalMs || null }, 'systemd notified: ready');
  }

  /** STOPPING=1: the daemon is finalising (a signal, the end of the run). Idempotent. */
  stop(reason = 'stopping'): void {
    if (!this.enabled || this.stopping || this.closed) return;
    this.stopping = true;
    this.send(`STOPPING=1\nSTATUS=${reason}\n`);
  }

  /** Called when a stream finished: once every stream has, the daemon is stopping. */
  finished(): void {
    if (this.streams.length > 0 && this.streams.every((s) => s.src.finished)) this.stop('finished');
  }

  /** Stops the timer and closes the socket (after STOPPING=1, if not yet sent). */
  close(): void {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.transport?.close();
    } catch {
      // closing a socket that failed already: nothing left to release
    }
    this.transport = undefined;
  }

  /** One check: the STATUS= line, and WATCHDOG=1 if every stream advanced. Public for tests. */
  check(): void {
    if (!this.enabled || !this.ready || this.stopping || this.closed) return;
    const t = this.now();
    let advancing = this.streams.length > 0;
    for (const s of this.streams) {
      const src = s.src;
      const moved = src.finished || (src.samples > s.lastSamples && src.poses > s.lastPoses);
      const dt = (t - s.lastAt) / 1000;
      s.rate = dt > 0 ? (src.poses - s.lastPoses) / dt : NaN;
      s.lastSamples = src.samples;
      s.lastPoses = src.poses;
      s.lastAt = t;
      if (!moved) {
        advancing = false;
        if (!this.stalledSince.has(src.id)) {
          this.stalledSince.add(src.id);
          this.log.warn(
            { stream: src.id, samples: src.samples, poses: src.poses },
            'systemd watchdog: stream not advancing, ping withheld',
          );
        }
      } else if (this.stalledSince.delete(src.id)) {
        this.log.info({ stream: src.id }, 'systemd watchdog: stream advancing again');
      }
    }
    const status = this.statusText();
    if (advancing && this.pingIntervalMs > 0) {
      this.counts.pings++;
      this.send(`WATCHDOG=1\nSTATUS=${status}\n`);
    } else {
      if (!advancing) this.counts.withheld++;
      this.send(`STATUS=${status}\n`);
    }
  }

  /** "streaming 50.0 Hz P95 1.23 ms" per stream, prefixed with the stream id when several. */
  statusText(): string {
    if (this.streams.length === 0) return 'starting';
    const multi = this.streams.length > 1;
    return this.streams
      .map((s) => {
        const src = s.src;
        const p95 = src.p95Ms();
        const parts = [
          src.finished ? 'finished' : src.mode,
          Number.isFinite(s.rate) ? `${s.rate.toFixed(1)} Hz` : '- Hz',
          Number.isFinite(p95) ? `P95 ${p95.toFixed(2)} ms` : 'P95 -',
          `${src.poses} poses`,
        ];
        if (this.stalledSince.has(src.id)) parts.push('STALLED');
        return (multi ? `${src.id}: ` : '') + parts.join(' ');
      })
      .join('; ');
  }

  private open(): void {
    if (this.transport || this.closed) return;
    try {
      this.transport = this.openTransport(this.socketPath);
    } catch (e) {
      this.counts.sendErrors++;
      this.log.error(
        { notify_socket: this.socketPath },
        `systemd notify: cannot open the socket (${errorMessage(e)}); READY/WATCHDOG will not be sent`,
      );
      this.closed = true;
      return;
    }
    this.timer = setInterval(() => this.check(), this.intervalMs);
    // The pings must never be what keeps a finished daemon alive.
    this.timer.unref();
  }

  private send(message: string): void {
    if (!this.transport) return;
    try {
      this.transport.send(message);
      this.counts.sent++;
    } catch (e) {
      // systemd restarted or gone: log the first failure, count the rest; never reach the loop.
      if (this.counts.sendErrors++ === 0)
        this.log.warn({ notify_socket: this.socketPath }, `systemd notify: send failed (${errorMessage(e)})`);
    }
  }
}

type UnixDgramSocket = {
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  close(): void;
};

/**
 * The notify socket through `unix-dgram`: Node's own `dgram` has no AF_UNIX. Loaded lazily, so
 * a machine without the (optional) addon runs everything but the notify protocol. Each message
 * is one datagram sent to the path, as sd_notify(3) does.
 */
export function openUnixDgram(socketPath: string): NotifyTransport {
  const require = createRequire(import.meta.url);
  let mod: { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  try {
    mod = require('unix-dgram') as typeof mod;
  } catch (e) {
    throw new Error(`the unix-dgram addon is not installed or not built (${errorMessage(e).split('\n')[0]})`);
  }
  const sock = mod.createSocket('unix_dgram');
  let lastError: Error | undefined;
  sock.on('error', (err) => {
    lastError = err;
  });
  return {
    send(message: string): void {
      const buf = Buffer.from(message, 'utf8');
      // The addon calls back synchronously with the sendto() result.
      sock.send(buf, 0, buf.length, socketPath, (err) => {
        if (err) lastError = err;
      });
      if (lastError) {
        const e = lastError;
        lastError = undefined;
        throw e;
      }
    },
    close(): void {
      sock.close();
    },
  };
}
