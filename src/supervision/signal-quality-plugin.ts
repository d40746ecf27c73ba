import type { SignalQualityReport } from '../acquisition/source.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';

/**
 * The source's per-channel signal quality in summary.json and the health message
 * (`signal_quality`), and how many times a channel went bad or came back (from the
 * `signal_quality` events the source records).
 */
export class SignalQualityPlugin implements Plugin {
  readonly name = 'signal_quality';
  private wentBad = 0;
  private cameBack = 0;

  constructor(private readonly quality: () => SignalQualityReport | undefined) {}

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'event', (e) => {
      if (e.kind !== 'signal_quality') return;
      if (e.data?.['ok'] === true) this.cameBack++;
      else this.wentBad++;
    });
  }

  stop(): void {}

  report(): PluginReport {
    const q = this.quality();
    return {
      sections: { signal_quality: q ?? { note: 'no window judged yet' } },
      counts: { channels_went_bad: this.wentBad, channels_came_back: this.cameBack },
      ...(q ? { gauges: { channels_bad: q.bad_channels.length } } : {}),
    };
  }
}
