import { errorMessage } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { SIGHUP_APPLIES, type Config } from './config.js';
import { NotifyHub } from '../supervision/notify-hub.js';
import { configFromCli, type CommonCliOptions } from './bootstrap.js';
import { runDaemon, type ReloadListener, type ReloadOutcome } from './daemon.js';
import { installSignalHandlers } from './signals.js';

export interface RunCliOptions extends CommonCliOptions {
  quiet?: boolean;
}

/** Top-level sections whose change a running daemon can take without a restart (of them, only SIGHUP_APPLIES). */
const LIVE_KEYS = new Set(SIGHUP_APPLIES.map((k) => k.split('.')[0]!));

/**
 * SIGHUP: the configuration is read again from the same file and flags. What can change live
 * (the log level) is applied; any other change is refused with its key in the log — the run
 * keeps its configuration — and a configuration that no longer loads changes nothing.
 */
function reloader(
  o: RunCliOptions,
  current: { cfg: Config },
  log: Logger,
  listeners: readonly ReloadListener[],
): () => void {
  const tell = (r: ReloadOutcome): void => {
    for (const l of listeners) l(r);
  };
  return () => {
    let next: Config;
    try {
      next = configFromCli(o);
    } catch (e) {
      tell({ applied: [], refused: [], error: errorMessage(e) });
      throw e;
    }
    const changed = (Object.keys(next) as (keyof Config)[]).filter(
      (k) => JSON.stringify(next[k]) !== JSON.stringify(current.cfg[k]),
    );
    const refused: string[] = changed.filter((k) => !LIVE_KEYS.has(k));
    const { level: _next, ...nextLogging } = next.logging;
    const { level: _now, ...nowLogging } = current.cfg.logging;
    if (JSON.stringify(nextLogging) !== JSON.stringify(nowLogging)) refused.push('logging (other than level)');
    const applied: string[] = [];
    if (next.logging.level !== current.cfg.logging.level) {
      log.level = next.logging.level;
      applied.push(`logging.level=${next.logging.level}`);
      log.info({ level: next.logging.level }, 'reload: log level changed');
    }
    if (refused.length > 0)
      log.warn(
        { keys: refused },
        `reload: ${refused.join(', ')} changed; those need a restart (systemctl restart myostream), the run goes on with its configuration`,
      );
    if (changed.length === 0) log.info('reload: the configuration is unchanged');
    current.cfg = { ...current.cfg, logging: { ...current.cfg.logging, level: next.logging.level } };
    tell({ applied, refused });
  };
}

export async function runCommand(o: RunCliOptions): Promise<number> {
  const cfg = configFromCli(o);
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const stop = new AbortController();
  const reloadListeners: ReloadListener[] = [];
  const notify = new NotifyHub({ log, statusIntervalS: cfg.watchdog.status_interval_s });
  const dispose = installSignalHandlers({
    log,
    finalise: (sig) => {
      notify.stop(`finalising after ${sig}`);
      stop.abort();
    },
    reload: reloader(o, { cfg }, log, reloadListeners),
  });
  try {
    return await runDaemon(cfg, log, {
      quiet: o.quiet === true,
      signal: stop.signal,
      notify,
      reloadListeners,
      ...(o.artifacts ? { artifactsDir: o.artifacts } : {}),
    });
  } finally {
    notify.close();
    dispose();
  }
}
