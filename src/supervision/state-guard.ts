import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';

/** Units between two looks at the decoder state: cheap, and a blow-up takes far longer than 1 s. */
const EVERY_UNITS = 50;

/**
 * State blow-up: the streaming decoder's largest |h| or |c| against watchdog.state_abs_limit.
 * Past it the session is reset in place (fresh state, same timeline) and the reset recorded.
 */
export class StateGuard implements Plugin {
  readonly name = 'state_guard';
  private resets = 0;
  private units = 0;

  constructor(
    private readonly limit: number,
    private readonly stateMaxAbs: () => number,
  ) {}

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'unit', (u) => {
      if (u.mode !== 'streaming' || ++this.units % EVERY_UNITS !== 0) return;
      const m = this.stateMaxAbs();
      if (!(m > this.limit)) return;
      this.resets++;
      ctx.actions.requestReset(
        `decoder state max |h|,|c| ${m.toPrecision(3)} > watchdog.state_abs_limit ${this.limit}: session reset in place`,
      );
    });
  }

  stop(): void {}

  report(): PluginReport {
    return { counts: { state_resets: this.resets } };
  }
}
