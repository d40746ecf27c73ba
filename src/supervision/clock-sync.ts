import { execFile } from 'node:child_process';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';

/** What the system says of its wall clock, as health and summary.json carry it (`clock_sync`). */
export interface ClockSyncReading {
  /**
   * The kernel's clock is disciplined (its unsynchronised flag is clear): whatever disciplines it,
   * systemd-timesyncd, chrony, ntpd or a PTP daemon through phc2sys. null: could not be read.
   */
  ntp_synchronized: boolean | null;
  /** A network time service is enabled (timedatectl's NTP). null: could not be read. */
  ntp_service: boolean | null;
  /** Where the figures came from, or why there are none. */
  source: string;
  /** When they were read (ISO); null before the first reading. */
  checked_at: string | null;
}

/** Runs a command with a time limit and gives its standard output; rejects when it fails. */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<string>;

const runCommand: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: 3000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim().split('\n')[0] || err.message));
      else resolve(stdout);
    });
  });

/**
 * One reading through `timedatectl show` (systemd-timedated): NTPSynchronized is the kernel's own
 * sync flag, so it holds for any daemon that disciplines the clock. Without timedated (no systemd
 * as PID 1, no D-Bus) the reading is null with the reason.
 */
export async function readClockSync(run: CommandRunner = runCommand): Promise<ClockSyncReading> {
  const checked_at = new Date().toISOString();
  let out: string;
  try {
    out = await run('timedatectl', ['show', '--property=NTP', '--property=NTPSynchronized']);
  } catch (e) {
    return {
      ntp_synchronized: null,
      ntp_service: null,
      source: `timedatectl unavailable: ${e instanceof Error ? e.message : String(e)}`.slice(0, 200),
      checked_at,
    };
  }
  const value = (key: string): boolean | null => {
    const m = new RegExp(`^${key}=(yes|no)$`, 'm').exec(out);
    return m ? m[1] === 'yes' : null;
  };
  return { ntp_synchronized: value('NTPSynchronized'), ntp_service: value('NTP'), source: 'timedatectl', checked_at };
}

/**
 * Whether the wall clock that stamps `ts` and `t_capture` is synchronised, read when the stream
 * starts and every `everyS` seconds after on a status tick (a process, off the 50 Hz path): a
 * subscriber comparing `t_capture` with its own clock needs both clocks disciplined. A clock
 * that is not is logged once per change.
 */
export class ClockSyncMonitor implements Plugin {
  readonly name = 'clock_sync';
  private reading: ClockSyncReading = {
    ntp_synchronized: null,
    ntp_service: null,
    source: 'not read yet',
    checked_at: null,
  };
  private inFlight = false;
  private lastAt = -Infinity;
  private stopped = false;
  private warnedFor: boolean | null | undefined;

  constructor(
    private readonly everyS: number,
    private readonly read: () => Promise<ClockSyncReading> = () => readClockSync(),
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(ctx: PluginContext): void {
    this.stopped = false;
    this.check(ctx);
    ctx.bus.on(this, 'tick', () => {
      if (this.now() - this.lastAt >= this.everyS * 1000) this.check(ctx);
    });
  }

  stop(): void {
    this.stopped = true;
  }

  /** Settles once the reading in flight (if any) is in. */
  settled: Promise<void> = Promise.resolve();

  private check(ctx: PluginContext): void {
    if (this.inFlight) return;
    this.inFlight = true;
    this.lastAt = this.now();
    this.settled = this.read().then((r) => {
      this.inFlight = false;
      if (this.stopped) return;
      this.reading = r;
      if (r.ntp_synchronized !== true && this.warnedFor !== r.ntp_synchronized) {
        if (r.ntp_synchronized === false)
          ctx.log.warn(
            { clock_sync: r },
            "the wall clock is not synchronised: t_capture and ts cannot be compared with another machine's clock",
          );
        // No systemd to ask (a container, a laptop without timedatectl): nothing an operator acts on.
        else ctx.log.debug({ clock_sync: r }, `clock synchronisation unknown (${r.source})`);
      }
      this.warnedFor = r.ntp_synchronized;
    });
  }

  report(): PluginReport {
    const synced = this.reading.ntp_synchronized;
    return {
      sections: { clock_sync: this.reading },
      ...(synced !== null ? { gauges: { clock_synchronized: synced ? 1 : 0 } } : {}),
    };
  }
}
