import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;
export type LogFormat = 'text' | 'json';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * JSON lines (for journald and log shippers) or one readable line per event for a person at a
 * terminal. The text form is a tiny synchronous destination rather than pino-pretty, which would
 * start a transport thread in a process whose threads are already spoken for.
 */
export function createLogger(level: LogLevel, format: LogFormat, stream: NodeJS.WritableStream = process.stderr): Logger {
  if (format === 'json') return pino({ level, base: { service: 'myostream' } }, pino.destination({ fd: 2, sync: true }));
  const dest: DestinationStream = {
    write(line: string): void {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        stream.write(line);
        return;
      }
      const { level: lv, time, msg, pid: _pid, hostname: _host, ...rest } = rec;
      const ts = new Date(typeof time === 'number' ? time : Date.now()).toISOString().slice(11, 23);
      const extras = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      stream.write(`${ts} ${(LEVEL_NAMES[lv as number] ?? String(lv)).padEnd(5)} ${String(msg ?? '')}${extras ? ' ' + extras : ''}\n`);
    },
  };
  return pino({ level, base: undefined }, dest);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
