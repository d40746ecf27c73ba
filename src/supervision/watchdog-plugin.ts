import type { Config } from '../config/schema.js';
import { within } from '../domain/error-figures.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { Watchdog } from './watchdog.js';

/**
 * The watchdog on the bus: judges streaming units and aligned shadow blocks and asks the session
 * to fall back to exact. The decision rules are Watchdog's; this only feeds and acts on them.
 */
export class WatchdogPlugin implements Plugin {
  readonly name = 'watchdog';
  private readonly dog: Watchdog;
  private ctx: PluginContext | undefined;

  constructor(private readonly cfg: Config) {
    this.dog = new Watchdog(cfg);
  }

  start(ctx: PluginContext): void {
    this.ctx = ctx;
    ctx.bus.on(this, 'unit', (u) => {
      if (u.mode !== 'streaming') return;
      if (u.sinceRestart === 1) this.dog.restart();
      this.dog.onStep(u.lastStep, u.computeMs);
      this.act();
    });
    ctx.bus.on(this, 'block', (c) => {
      if (!c.aligned) return;
      const tol = this.cfg.eval.streaming_tolerance;
      const passed = within(c.main, tol) && within(c.boundary, tol, 2);
      this.dog.onAlignment(ctx.session.poses, passed, `block ${c.block} at sample ${c.startSample}: MSE ${c.main.mse.toExponential(2)}, max|diff| ${c.main.max_diff.toExponential(2)}`);
      this.act();
    });
  }

  stop(): void {
    this.ctx = undefined;
  }

  report(): PluginReport {
    return { acceptance: { latency: { violations: this.dog.latencyViolations } }, counts: { latency_violations: this.dog.latencyViolations } };
  }

  private act(): void {
    const req = this.dog.takeFallback();
    if (req && this.ctx?.session.mode === 'streaming') this.ctx.actions.requestMode('exact', req.reason);
  }
}
