/**
 * SIGHUP from the moment the process starts until the command that answers it takes over.
 *
 * Node's default for SIGHUP ends the process (exit 129). The run installs its reload handler
 * only once its modules are loaded and its configuration read, which takes a while on a slow
 * board; a `systemctl reload` in that window (a configuration pushed right after a restart)
 * would kill the service. The entry module calls `holdSignals` first, before anything heavy
 * is imported, and the signal is only remembered until the command takes it (`takeHeldSignals`).
 */

let held = 0;
let holding = false;
const remember = (): void => {
  held++;
};

/** Catches SIGHUP and counts it, until `takeHeldSignals`. */
export function holdSignals(proc: NodeJS.Process = process): void {
  if (holding) return;
  holding = true;
  held = 0;
  proc.on('SIGHUP', remember);
}

/**
 * Stops holding and says how many SIGHUPs came meanwhile. The caller installs its own handler
 * first (so that no SIGHUP finds none), or, for a command that does not reload, passes the
 * held signal on with Node's default (see `releaseHeldSignals`).
 */
export function takeHeldSignals(proc: NodeJS.Process = process): number {
  if (!holding) return 0;
  holding = false;
  proc.removeListener('SIGHUP', remember);
  const n = held;
  held = 0;
  return n;
}

/**
 * For a command that does not reload (status, collect, align, bench…): stops holding, and a
 * SIGHUP that came meanwhile ends the process as it would have without the hold.
 */
export function releaseHeldSignals(proc: NodeJS.Process = process): void {
  if (takeHeldSignals(proc) > 0 && proc.listenerCount('SIGHUP') === 0) proc.kill(proc.pid, 'SIGHUP');
}
