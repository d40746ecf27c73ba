import ort from 'onnxruntime-node';
import { cpus, hostname } from 'node:os';
import type { SourceInfo } from '../acquisition/source.js';
import type { Config } from '../config/schema.js';
import type { LoadedModels } from '../inference/models.js';
import { ErrorAccumulator, within, type ErrorFigures, type Tolerance } from '../domain/error-figures.js';
import type { LatencyHistogram, LatencySummary } from '../supervision/latency.js';
import type { BlockComparison } from '../supervision/supervised-streaming.js';

/** model_info.json of a run: the models' own record plus what this process really got. */
export function runModelInfo(models: LoadedModels, encoderKind: string): Record<string, unknown> {
  return {
    ...models.info,
    runtime: {
      onnxruntime_node: ort.env.versions.node ?? null,
      execution_providers: models.providers,
      provider_attempts: models.attempts,
      load_ms: models.loadMs,
      streaming_encoder: encoderKind,
    },
  };
}

export interface LatencyReport {
  percentiles: number[];
  warmup_steps_excluded: number;
  t_compute_ms: LatencySummary;
  end_to_end_ms: LatencySummary | null;
  execution_providers: Record<string, string>;
  bounds: { p50_ms: number; p95_ms: number; checked: boolean };
  passed: boolean | null;
  machine: { host: string; cpus: number; cpu_model: string };
}

export function latencyReport(cfg: Config, tCompute: LatencyHistogram, e2e: LatencyHistogram, providers: Record<string, string>): LatencyReport {
  const pct = cfg.logging.latency.percentiles;
  const l = cfg.eval.streaming_latency;
  const t = tCompute.summary(pct);
  const p50 = tCompute.percentile(50);
  const p95 = tCompute.percentile(95);
  return {
    percentiles: [...pct],
    warmup_steps_excluded: l.warmup_steps,
    t_compute_ms: t,
    end_to_end_ms: e2e.count > 0 ? e2e.summary(pct) : null,
    execution_providers: providers,
    bounds: { p50_ms: l.p50_ms, p95_ms: l.p95_ms, checked: l.check },
    passed: tCompute.count > 0 ? p50 <= l.p50_ms && p95 <= l.p95_ms : null,
    machine: machine(),
  };
}

export function machine(): { host: string; cpus: number; cpu_model: string } {
  const c = cpus();
  return { host: hostname(), cpus: c.length, cpu_model: c[0]?.model ?? 'unknown' };
}

/** Collects block comparisons into streaming_alignment.json. */
export class AlignmentReport {
  private readonly blocks: BlockComparison[] = [];
  private readonly main = new ErrorAccumulator();
  private readonly boundary = new ErrorAccumulator();
  private readonly drift = new ErrorAccumulator();

  constructor(private readonly tol: Tolerance, private readonly meta: Record<string, unknown>) {}

  addBlock(c: BlockComparison): void {
    this.blocks.push(c);
    if (c.aligned) {
      this.main.merge(c.acc.main);
      this.boundary.merge(c.acc.boundary);
    } else {
      this.drift.merge(c.acc.main);
      this.drift.merge(c.acc.boundary);
    }
  }

  get alignedBlocks(): number {
    return this.blocks.filter((b) => b.aligned).length;
  }

  /** Pass/fail of one aligned block on its own (the watchdog acts on each). */
  blockPassed(c: BlockComparison): boolean {
    return within(c.main, this.tol) && within(c.boundary, this.tol, 2);
  }

  overall(): { main: ErrorFigures; boundary: ErrorFigures; passed: boolean | null } {
    const main = this.main.figures();
    const boundary = this.boundary.figures();
    const evaluated = this.alignedBlocks > 0;
    return { main, boundary, passed: evaluated ? within(main, this.tol) && within(boundary, this.tol, 2) : null };
  }

  toJSON(): Record<string, unknown> {
    const o = this.overall();
    return {
      ...this.meta,
      thresholds: { mse: this.tol.mse, max_diff: this.tol.max_diff, boundary_factor: 2 },
      evaluated: this.alignedBlocks > 0,
      passed: o.passed === true,
      overall: o.main,
      boundary: { ...o.boundary, passed: o.passed === null ? null : within(o.boundary, this.tol, 2) },
      blocks: this.blocks.map((b) => ({
        block: b.block,
        start_sample: b.startSample,
        aligned: b.aligned,
        main: b.main,
        boundary: b.boundary,
        passed: b.aligned ? this.blockPassed(b) : null,
      })),
      drift: this.drift.figures(),
    };
  }
}

export function sourceSummary(info: SourceInfo): Record<string, unknown> {
  return {
    kind: info.kind,
    description: info.description,
    sample_rate: info.sampleRate,
    channels: info.channels,
    has_joint_angles: info.hasJointAngles,
    total_samples: info.totalSamples ?? null,
  };
}

export function memoryMb(): { rss_mb: number; heap_used_mb: number; external_mb: number; array_buffers_mb: number } {
  const m = process.memoryUsage();
  const mb = (x: number): number => Math.round((x / 1048576) * 10) / 10;
  return { rss_mb: mb(m.rss), heap_used_mb: mb(m.heapUsed), external_mb: mb(m.external), array_buffers_mb: mb(m.arrayBuffers) };
}
