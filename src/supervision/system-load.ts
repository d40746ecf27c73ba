import si from 'systeminformation';
import type { SystemState } from './watchdog.js';

/** Something that reports the machine's state; the watchdog samples it on `tick`, never per step. */
export interface SystemSampler {
  sample(): Promise<SystemState>;
}

export interface SystemThresholds {
  busyLoadPct: number;
  busyStealPct: number;
}

/**
 * The machine through systeminformation: CPU load and steal since the previous sample (it
 * keeps the /proc/stat counters between calls), the 1-minute load average, CPU temperature and
 * the current clock against the maximum (throttling or frequency scaling) where the platform
 * reports them, memory in use. A failing probe gives nulls, never an error: the watchdog then
 * judges from thread CPU time alone.
 */
export class SiSystemSampler implements SystemSampler {
  private speedMax: number | null | undefined;

  constructor(private readonly t: SystemThresholds) {}

  async sample(): Promise<SystemState> {
    const [load, temp, speed, mem] = await Promise.all([
      si.currentLoad().catch(() => null),
      si.cpuTemperature().catch(() => null),
      si.cpuCurrentSpeed().catch(() => null),
      si.mem().catch(() => null),
    ]);
    if (this.speedMax === undefined) {
      const cpu = await si.cpu().catch(() => null);
      this.speedMax = cpu && cpu.speedMax > 0 ? cpu.speedMax : null;
    }
    const loadPct = finiteOrNull(load?.currentLoad);
    const stealPct = finiteOrNull(load?.currentLoadSteal);
    const avg = finiteOrNull(speed?.avg);
    return {
      loadPct,
      stealPct,
      loadAvg: finiteOrNull(load?.avgLoad),
      tempC: finiteOrNull(temp?.main),
      speedRatio: avg && avg > 0 && this.speedMax ? avg / this.speedMax : null,
      memUsedPct: mem && mem.total > 0 ? (100 * mem.active) / mem.total : null,
      busy:
        (loadPct !== null && loadPct >= this.t.busyLoadPct) || (stealPct !== null && stealPct >= this.t.busyStealPct),
    };
  }
}

function finiteOrNull(x: number | null | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}
