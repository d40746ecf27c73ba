import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import { takeHeldSignals } from '../common/held-signals.js';

/** Signals that end the run: each writes the final artifacts before the process exits. */
export const FINALISING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;
export type FinalisingSignal = (typeof FINALISING_SIGNALS)[number];

export interface SignalCallbacks {
  log: Logger;
  /** Abort the run and finalise it. Called once, for the first finalising signal. */
  finalise(signal: FinalisingSignal): void;
  /** SIGHUP: re-read the configuration and apply what can change live. */
  reload(): void | Promise<void>;
}

/**
 * Installs the daemon's signal handlers and returns a disposer that removes them.
 *
 * - TERM, INT and QUIT finalise (abort the run, write the artifacts, exit). Node's defaults
 *   would kill the process at once on QUIT, and on INT/TERM when no listener is left, so the
 *   handlers stay installed until the disposer runs: a second Ctrl-C, or systemd's TERM
 *   during finalisation, is logged and the finalisation goes on. systemd's TimeoutStopSec
 *   (then SIGKILL) bounds a finalisation that hangs.
 * - HUP calls `reload` (Node's default would exit with 129); a reload already in progress is
 *   not started twice. SIGHUPs the entry module held while the process was loading are
 *   answered here, once.
 * - USR1 is taken so that it no longer opens the inspector (Node's default, on
 *   127.0.0.1:9229, reachable by any local user who can send the signal, i.e. root or the
 *   service user): a process that wants one is started with `node --inspect`.
 */
export function installSignalHandlers(cb: SignalCallbacks, proc: NodeJS.Process = process): () => void {
  let finalising: FinalisingSignal | undefined;
  let reloading = false;
  const handlers: [NodeJS.Signals, () => void][] = [];

  for (const sig of FINALISING_SIGNALS) {
    handlers.push([
      sig,
      () => {
        if (finalising) {
          cb.log.warn(
            { signal: sig, first: finalising },
            `${sig} while finalising after ${finalising}: still finalising (SIGKILL ends it at once)`,
          );
          return;
        }
        finalising = sig;
        cb.log.info({ signal: sig }, `${sig}: finalising the run`);
        try {
          cb.finalise(sig);
        } catch (e) {
          cb.log.error({ signal: sig }, `finalising after ${sig} failed: ${errorMessage(e)}`);
        }
      },
    ]);
  }

  handlers.push([
    'SIGHUP',
    () => {
      if (finalising) {
        cb.log.info({ signal: 'SIGHUP' }, 'SIGHUP while finalising: no reload');
        return;
      }
      if (reloading) {
        cb.log.warn({ signal: 'SIGHUP' }, 'SIGHUP: a reload is still in progress; ignored');
        return;
      }
      reloading = true;
      cb.log.info({ signal: 'SIGHUP' }, 'SIGHUP: reloading the configuration');
      const done = (e?: unknown): void => {
        reloading = false;
        if (e !== undefined)
          cb.log.error({ signal: 'SIGHUP' }, `reload failed, the run goes on unchanged: ${errorMessage(e)}`);
      };
      try {
        const r = cb.reload();
        if (r && typeof r.then === 'function') r.then(() => done(), done);
        else done();
      } catch (e) {
        done(e);
      }
    },
  ]);

  handlers.push([
    'SIGUSR1',
    () => {
      cb.log.warn(
        { signal: 'SIGUSR1' },
        'SIGUSR1: the inspector is disabled in this process; to debug, start it with node --inspect=127.0.0.1:9229 dist/src/main.js … (see USAGE.md)',
      );
    },
  ]);

  for (const [sig, fn] of handlers) proc.on(sig, fn);
  // A SIGHUP that came while the process was still loading was held (see held-signals.ts):
  // answered now, once, as a reload — the configuration may have changed after it was read.
  const early = takeHeldSignals(proc);
  if (early > 0) {
    cb.log.info(
      { signal: 'SIGHUP', count: early },
      `SIGHUP during start-up (${early}×): answered now that the run has its handlers`,
    );
    handlers.find(([sig]) => sig === 'SIGHUP')![1]();
  }
  return () => {
    for (const [sig, fn] of handlers) proc.removeListener(sig, fn);
  };
}
