import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { MemoryTrack } from './memory.js';

export function memoryMb(): { rss_mb: number; heap_used_mb: number; external_mb: number; array_buffers_mb: number } {
  const m = process.memoryUsage();
  const mb = (x: number): number => Math.round((x / 1048576) * 10) / 10;
  return {
    rss_mb: mb(m.rss),
    heap_used_mb: mb(m.heapUsed),
    external_mb: mb(m.external),
    array_buffers_mb: mb(m.arrayBuffers),
  };
}

/** Memory at every tick, in bounded space, for summary.json's `memory`. */
export class MemoryMonitor implements Plugin {
  readonly name = 'memory';
  private readonly track = new MemoryTrack();
  private readonly atStart = memoryMb();
  private peakRss = 0;

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'tick', () => {
      this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
      this.track.sample();
    });
  }

  stop(): void {}

  report(): PluginReport {
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    return {
      sections: {
        memory: {
          start: this.atStart,
          now: memoryMb(),
          rss_peak_mb: Math.round((this.peakRss / 1048576) * 10) / 10,
          growth_after_first_minute: this.track.growth(),
          samples: this.track.samples,
        },
      },
    };
  }
}
