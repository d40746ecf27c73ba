import type { Tolerance } from '../domain/error-figures.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import type { ExactPredictor } from '../inference/exact-predictor.js';
import type { StreamingPredictor } from '../inference/streaming-predictor.js';
import { AlignmentReport } from './alignment-report.js';
import { ShadowCompanion } from './shadow-companion.js';

export interface AlignmentMonitorSettings {
  tolerance: Tolerance;
  /** eval.streaming_alignment_check of a streaming run. */
  enabled: boolean;
  meta: Record<string, unknown>;
  /** streaming_alignment.json's name in the run folder. */
  file: string;
}

/** What the alignment check rides on: the stream's streaming predictor and a fresh exact rollout. */
export interface AlignmentEnv {
  streaming: StreamingPredictor;
  shadow(): ExactPredictor;
}

/**
 * The live alignment check: owns the shadow exact rollout that rides along with the streaming
 * steps, puts each compared block on the bus (`block`), and collects them into
 * streaming_alignment.json, the log line of each aligned block and the alignment acceptance.
 * Acting on a failed block is the watchdog's business.
 */
export class AlignmentMonitor implements Plugin {
  readonly name = 'alignment';
  private readonly report_: AlignmentReport;
  private companion: ShadowCompanion | undefined;

  constructor(private readonly s: AlignmentMonitorSettings, private readonly env: AlignmentEnv) {
    this.report_ = new AlignmentReport(s.tolerance, s.meta);
  }

  start(ctx: PluginContext): void {
    if (!this.s.enabled) return;
    this.companion = new ShadowCompanion(this.env.streaming, this.env.shadow(), { onBlock: (c) => ctx.bus.emit('block', c) });
    this.companion.attach();
    ctx.bus.on(this, 'block', (c) => {
      this.report_.addBlock(c);
      if (c.aligned) {
        const passed = this.report_.blockPassed(c);
        const tol = this.s.tolerance;
        const detail = `block ${c.block} at sample ${c.startSample}: MSE ${c.main.mse.toExponential(2)} (bound ${tol.mse}), max|diff| ${c.main.max_diff.toExponential(2)} (bound ${tol.max_diff}); first output MSE ${c.boundary.mse.toExponential(2)}, max|diff| ${c.boundary.max_diff.toExponential(2)} (2× bounds)`;
        (passed ? ctx.log.info.bind(ctx.log) : ctx.log.warn.bind(ctx.log))({ passed, stream: ctx.stream.id }, `alignment check: ${detail}`);
      }
    });
    // Rewritten (atomically, with fsync) at a status tick when a block came in since, not at
    // every block: a kill loses at most one tick of comparisons, the loop thread one write per tick.
    ctx.bus.on(this, 'tick', (t) => {
      if (this.report_.changed || t.final) ctx.artifacts.writeJson(this.s.file, this.report_.toJSON());
    });
  }

  stop(): void {
    this.companion?.detach();
  }

  report(): PluginReport {
    const o = this.report_.overall();
    return {
      acceptance: { alignment: { enabled: this.s.enabled, evaluated: o.passed !== null, passed: this.s.enabled ? o.passed === true : null, aligned_blocks: this.report_.alignedBlocks } },
      counts: { blocks_compared: this.report_.blockCount, ...(this.companion ? { shadow_blocks_skipped: this.companion.shadowBlocksSkipped } : {}) },
    };
  }
}
