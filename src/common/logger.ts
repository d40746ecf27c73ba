import { fstatSync } from 'node:fs';
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { textOf } from './text.js';

export type Logger = PinoLogger;
export type LogFormat = 'text' | 'json';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** syslog priorities (sd-daemon(3) `<N>` prefixes) of pino's levels: fatal crit, error err, warn warning, info, debug. */
const SYSLOG_PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

export function syslogPriority(pinoLevel: number): number {
  return (
    SYSLOG_PRIORITY[pinoLevel] ??
    (pinoLevel >= 60 ? 2 : pinoLevel >= 50 ? 3 : pinoLevel >= 40 ? 4 : pinoLevel >= 30 ? 6 : 7)
  );
}

/**
 * True when `fd` is the stream systemd connected to the journal: JOURNAL_STREAM holds its
 * device and inode ("dev:ino"). Comparing them, rather than trusting the variable alone, keeps
 * the prefixes out of a pipe or file a child of the service was redirected to.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const m = /^(\d+):(\d+)$/.exec(js);
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

const LEVEL_AT_START = /^\{"level":(\d+)/;

export interface LoggerOptions {
  /**
   * Prefix each line with its syslog priority (`<4>` for a warning…), which journald reads off
   * and stores as PRIORITY=, so `journalctl -p warning` works for both formats. Default: when
   * the stream is stderr and stderr is the journal (JOURNAL_STREAM matches it).
   */
  journal?: boolean;
}

/**
 * JSON lines (for journald and log shippers) or one readable line per event for a person at a
 * terminal. The text form is a tiny synchronous destination rather than pino-pretty, which would
 * start a transport thread in a process whose threads are already spoken for.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  stream: NodeJS.WritableStream = process.stderr,
  opts: LoggerOptions = {},
): Logger {
  return childrenFollowLevel(rootLogger(level, format, stream, opts));
}

/**
 * pino gives a child the level its parent had when the child was made; a later change of the
 * parent's level does not reach it. Streams and sources log through children, so a reload that
 * changes logging.level must reach them: every child made from `log` (and from its children)
 * takes each level later set on `log`.
 */
// eslint-disable-next-line @typescript-eslint/unbound-method -- pino's own child(), kept to be called with .call on each logger below
function childrenFollowLevel(log: Logger, pinoChild: Logger['child'] = log.child): Logger {
  const children = new Set<WeakRef<Logger>>();
  const child = (bindings: Parameters<Logger['child']>[0], options?: Parameters<Logger['child']>[1]): Logger => {
    const c = childrenFollowLevel(pinoChild.call(log, bindings, options) as unknown as Logger, pinoChild);
    children.add(new WeakRef(c));
    return c;
  };
  log.child = child as unknown as Logger['child'];
  // Children share their parent's emitter: each listener acts only for its own logger.
  log.on('level-change', (lvl, _val, _prevLvl, _prevVal, instance) => {
    if (instance !== log) return;
    for (const ref of children) {
      const c = ref.deref();
      if (c) c.level = lvl;
      else children.delete(ref);
    }
  });
  return log;
}

function rootLogger(level: LogLevel, format: LogFormat, stream: NodeJS.WritableStream, opts: LoggerOptions): Logger {
  const toStderr = stream === process.stderr;
  const journal = opts.journal ?? (toStderr && isJournalStream(2));
  // stderr through sonic-boom: synchronous, retries EAGAIN on a non-blocking pipe or socket.
  const sink: { write(s: string): unknown } = toStderr ? pino.destination({ fd: 2, sync: true }) : stream;
  if (format === 'json') {
    if (!journal) return pino({ level, base: { service: 'myostream' } }, sink);
    const dest: DestinationStream = {
      write(line: string): void {
        // pino writes the level first; reading it off the line costs no parse of the record.
        const m = LEVEL_AT_START.exec(line);
        sink.write(m ? `<${syslogPriority(Number(m[1]))}>${line}` : line);
      },
    };
    return pino({ level, base: { service: 'myostream' } }, dest);
  }
  const dest: DestinationStream = {
    write(line: string): void {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        sink.write(line);
        return;
      }
      const { level: lv, time, msg, pid: _pid, hostname: _host, ...rest } = rec;
      const ts = new Date(typeof time === 'number' ? time : Date.now()).toISOString().slice(11, 23);
      const extras = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const prefix = journal ? `<${syslogPriority(lv as number)}>` : '';
      sink.write(
        `${prefix}${ts} ${(LEVEL_NAMES[lv as number] ?? String(lv)).padEnd(5)} ${textOf(msg ?? '')}${extras ? ' ' + extras : ''}\n`,
      );
    },
  };
  return pino({ level, base: undefined }, dest);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
