import { createLogger } from '../common/logger.js';
import { configFromCli, type CommonCliOptions } from './bootstrap.js';
import { runDaemon } from './daemon.js';

export interface RunCliOptions extends CommonCliOptions {
  quiet?: boolean;
}

export async function runCommand(o: RunCliOptions): Promise<number> {
  const cfg = configFromCli(o);
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runDaemon(cfg, log, { quiet: o.quiet === true, signal: stop.signal, ...(o.artifacts ? { artifactsDir: o.artifacts } : {}) });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
