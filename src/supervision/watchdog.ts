import type { Config } from '../config/schema.js';
import { RollingWindow } from './latency.js';

export interface FallbackRequest {
  reason: string;
  atStep: number;
}

/**
 * Decides when streaming has regressed far enough to fall back to exact mode: a failed
 * alignment check, or T_compute percentiles over the rolling window above the plan's bounds.
 * It only decides; the session performs the switch and records it.
 */
export class Watchdog {
  private readonly window: RollingWindow;
  private stepsSinceStart = 0;
  private request: FallbackRequest | undefined;
  latencyViolations = 0;

  constructor(private readonly cfg: Config) {
    this.window = new RollingWindow(cfg.eval.streaming_latency.window_steps);
  }

  /** After a session (re)start: the first steps are warm-up and not judged. */
  restart(): void {
    this.stepsSinceStart = 0;
    this.window.clear();
  }

  onStep(step: number, computeMs: number): void {
    const l = this.cfg.eval.streaming_latency;
    this.stepsSinceStart++;
    if (!l.check || this.stepsSinceStart <= l.warmup_steps) return;
    this.window.push(computeMs);
    // Judge each full window once it has filled, then every half window.
    const half = Math.max(1, Math.floor(this.window.size / 2));
    if (this.window.filled < this.window.size || (this.stepsSinceStart - l.warmup_steps) % half !== 0) return;
    const p50 = this.window.percentile(50);
    const p95 = this.window.percentile(95);
    if (p50 > l.p50_ms || p95 > l.p95_ms) {
      this.latencyViolations++;
      this.fallback(step, `T_compute over the last ${this.window.size} steps: P50 ${p50.toFixed(2)} ms (bound ${l.p50_ms}), P95 ${p95.toFixed(2)} ms (bound ${l.p95_ms})`);
    }
  }

  onAlignment(step: number, passed: boolean, detail: string): void {
    if (!passed && this.cfg.eval.streaming_alignment_check) this.fallback(step, `alignment with exact failed: ${detail}`);
  }

  private fallback(atStep: number, reason: string): void {
    this.request ??= { reason, atStep };
  }

  /** The pending request, once: the caller switches modes. */
  takeFallback(): FallbackRequest | undefined {
    const r = this.request;
    this.request = undefined;
    return r;
  }
}
