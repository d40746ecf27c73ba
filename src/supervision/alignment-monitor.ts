import type { Tolerance } from '../domain/error-figures.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { AlignmentReport } from './alignment-report.js';

export interface AlignmentMonitorSettings {
  tolerance: Tolerance;
  /** eval.streaming_alignment_check of a streaming run. */
  enabled: boolean;
  meta: Record<string, unknown>;
  /** streaming_alignment.json's name in the run folder. */
  file: string;
}

/**
 * Collects the shadow exact blocks the supervised streaming predictor compares (`block` events):
 * streaming_alignment.json, the log line of each aligned block, the alignment acceptance.
 * Acting on a failed block is the watchdog's business.
 */
export class AlignmentMonitor implements Plugin {
  readonly name = 'alignment';
  private readonly report_: AlignmentReport;

  constructor(private readonly s: AlignmentMonitorSettings) {
    this.report_ = new AlignmentReport(s.tolerance, s.meta);
  }

  start(ctx: PluginContext): void {
    if (!this.s.enabled) return;
    ctx.bus.on(this, 'block', (c) => {
      this.report_.addBlock(c);
      if (c.aligned) {
        const passed = this.report_.blockPassed(c);
        const tol = this.s.tolerance;
        const detail = `block ${c.block} at sample ${c.startSample}: MSE ${c.main.mse.toExponential(2)} (bound ${tol.mse}), max|diff| ${c.main.max_diff.toExponential(2)} (bound ${tol.max_diff}); first output MSE ${c.boundary.mse.toExponential(2)}, max|diff| ${c.boundary.max_diff.toExponential(2)} (2× bounds)`;
        (passed ? ctx.log.info.bind(ctx.log) : ctx.log.warn.bind(ctx.log))({ passed, stream: ctx.stream.id }, `alignment check: ${detail}`);
      }
      ctx.artifacts.writeJson(this.s.file, this.report_.toJSON());
    });
    ctx.bus.on(this, 'tick', () => ctx.artifacts.writeJson(this.s.file, this.report_.toJSON()));
  }

  stop(): void {}

  report(): PluginReport {
    const o = this.report_.overall();
    return {
      acceptance: { alignment: { enabled: this.s.enabled, evaluated: o.passed !== null, passed: this.s.enabled ? o.passed === true : null, aligned_blocks: this.report_.alignedBlocks } },
      counts: { blocks_compared: this.report_.blockCount },
    };
  }
}
