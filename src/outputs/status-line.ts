import type { Plugin, PluginContext } from '../domain/plugin.js';
import { LATENCY_SECTION, readSection } from '../domain/report-merge.js';

/**
 * A person's view of a running stream: at a terminal one line rewritten twice a second, in a log
 * (journald, a pipe) one line per tick; a last line when the run ends.
 */
export class StatusLine implements Plugin {
  readonly name = 'status_line';
  private timer: NodeJS.Timeout | undefined;
  private ctx: PluginContext | undefined;
  private readonly t0 = performance.now();

  constructor(private readonly tty: boolean = process.stderr.isTTY) {}

  start(ctx: PluginContext): void {
    this.ctx = ctx;
    if (this.tty) this.timer = setInterval(() => process.stderr.write(`\r${this.line()}\x1b[K`), 500);
    ctx.bus.on(this, 'tick', (t) => {
      if (t.final) {
        if (this.tty) process.stderr.write('\n');
        ctx.log.info(this.line());
      } else if (!this.tty) {
        ctx.log.info(this.line());
      }
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  line(): string {
    const ctx = this.ctx;
    if (!ctx) return '';
    const secs = (performance.now() - this.t0) / 1000;
    const s = ctx.session;
    const lat = readSection(ctx.report(), LATENCY_SECTION);
    const p95 = typeof lat?.t_compute_p95_ms === 'number' ? lat.t_compute_p95_ms.toFixed(2) : '–';
    const who = ctx.stream.multi ? `[${ctx.stream.id}] ` : '';
    return `${who}steps ${s.poses}  rate ${(s.poses / Math.max(secs, 1e-3)).toFixed(1)}/s  P95 T_compute ${p95} ms  mode ${s.mode}  signal ${(s.samples / ctx.stream.sampleRate).toFixed(1)} s`;
  }
}
