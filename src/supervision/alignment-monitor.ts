import type { Tolerance } from '../domain/error-figures.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { SHADOW_PART } from '../inference/paired-streaming.js';
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
 * The live alignment check, as a listener: the session's paired streaming predictor runs the
 * shadow exact rollout and puts each compared block on the bus (`block`); this collects them
 * into streaming_alignment.json, the log line of each aligned block and the alignment
 * acceptance. It holds nothing of the predictor, so disabling it touches no step. Acting on a
 * failed block is the watchdog's business.
 */
export class AlignmentMonitor implements Plugin {
  readonly name = 'alignment';
  private readonly report_: AlignmentReport;
  /** Why the shadow stopped comparing blocks mid-run, if it did. */
  private shadowFailure: string | undefined;

  constructor(private readonly s: AlignmentMonitorSettings) {
    this.report_ = new AlignmentReport(s.tolerance, s.meta);
  }

  start(ctx: PluginContext): void {
    if (!this.s.enabled) return;
    ctx.bus.on(this, 'error', (f) => {
      if (f.plugin === SHADOW_PART) this.shadowFailure = `${f.during}: ${f.message}`;
    });
    ctx.bus.on(this, 'block', (c) => {
      this.report_.addBlock(c);
      if (c.aligned) {
        const passed = this.report_.blockPassed(c);
        const tol = this.s.tolerance;
        const detail = `block ${c.block} at sample ${c.startSample}: MSE ${c.main.mse.toExponential(2)} (bound ${tol.mse}), max|diff| ${c.main.max_diff.toExponential(2)} (bound ${tol.max_diff}); first output MSE ${c.boundary.mse.toExponential(2)}, max|diff| ${c.boundary.max_diff.toExponential(2)} (2× bounds)`;
        (passed ? ctx.log.info.bind(ctx.log) : ctx.log.warn.bind(ctx.log))(
          { passed, stream: ctx.stream.id },
          `alignment check: ${detail}`,
        );
      }
    });
    // Rewritten (atomically, with fsync) at a status tick when a block came in since, not at
    // every block: a kill loses at most one tick of comparisons, the loop thread one write per tick.
    ctx.bus.on(this, 'tick', (t) => {
      if (this.report_.changed || t.final) ctx.artifacts.writeJson(this.s.file, this.report_.toJSON());
    });
  }

  stop(): void {
    // Nothing to release: the shadow is the session's.
  }

  report(): PluginReport {
    const failed = this.shadowFailure !== undefined ? { shadow_failed: this.shadowFailure } : {};
    return {
      acceptance: { alignment: { ...this.report_.acceptance(this.s.enabled), ...failed } },
      counts: { blocks_compared: this.report_.blockCount },
    };
  }
}
