import { RingBuffer } from '../acquisition/ring-buffer.js';
import { UserError } from '../common/errors.js';
import { round3 } from '../common/round.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { alignmentTolerance, type CoreConfig } from '../config/schema.js';
import { alignedPassed, compareBlock, stepErrors } from '../domain/error-figures.js';
import { LEFT_CONTEXT, POSE_DIM } from '../domain/geometry.js';
import type { PluginContext } from '../domain/plugin.js';
import { AlignmentReport } from '../supervision/alignment-report.js';
import { LatencyHistogram } from '../supervision/latency.js';
import { stepMetricsLine, truthAt } from '../supervision/step-recorder.js';
import { buildExact, buildStreaming } from './predictors.js';

/**
 * The alignment regression over samples already in a ring: for every exact block,
 * streaming reset at the block's start, compared at its 250 aligned moments through the same
 * comparison the live shadow uses. `myostream align` and the control plane's `align` run it.
 * Each step's figures go on `bus` as `metrics`, as a run's do, for the artifacts writer to
 * write (streaming_metrics.jsonl); without a bus (the control plane's) they are not kept.
 */
export async function alignmentRegression(
  cfg: CoreConfig,
  models: Parameters<typeof buildExact>[1],
  ring: RingBuffer,
  truth: RingBuffer | undefined,
  bus: PluginContext['bus'] | undefined,
  log: Logger,
  tCompute = new LatencyHistogram(),
): Promise<{ report: AlignmentReport; tCompute: LatencyHistogram; steps: number }> {
  const exact = buildExact(cfg, models, false);
  const streaming = buildStreaming(cfg, models);
  const report = new AlignmentReport(alignmentTolerance(cfg), {
    kind: 'regression',
    feature_policy: cfg.runtime.streaming.feature_policy,
    encoder: cfg.runtime.streaming.encoder,
    note: 'streaming reset at every exact block start; compared at the 250 aligned moments of each block',
  });
  const poses = new Float32Array(exact.points * POSE_DIM);
  const truthRow = new Float32Array(POSE_DIM);
  const computeMs = new Float64Array(exact.points);
  const stepT = new Float64Array(exact.points);
  let steps = 0;
  exact.restartAt(0);
  for (let b = 0; exact.nextReadyAt <= ring.written; b++) {
    const start = exact.oldestNeeded;
    const blockResult = await exact.runBlock(ring);
    streaming.restartAt(start);
    for (let i = 0; i < exact.points; i++) {
      const ms = await streaming.advance(ring, (e) => {
        poses.set(e.angles, i * POSE_DIM);
        stepT[i] = e.t;
      });
      computeMs[i] = ms;
      if (i > 0 || b > 0) tCompute.record(ms);
    }
    const c = compareBlock(
      b,
      b * exact.points,
      start,
      true,
      poses,
      (i) => i,
      blockResult.poses,
      exact.points,
      bus
        ? (i, ex) => {
            const tr =
              truth && truthAt(truth, start, i, truthRow)
                ? stepErrors(poses, i * POSE_DIM, truthRow, 0, POSE_DIM)
                : { mae: NaN, mse: NaN };
            bus.emit(
              'metrics',
              stepMetricsLine(b * exact.points + i, stepT[i]!, computeMs[i]!, NaN, ex.mae, ex.mse, tr.mae, tr.mse),
            );
          }
        : undefined,
    );
    steps += exact.points;
    report.addBlock(c);
    const tol = alignmentTolerance(cfg);
    log.info(
      {
        block: b,
        mse: c.main.mse,
        max_diff: c.main.max_diff,
        first_mse: c.boundary.mse,
        first_max_diff: c.boundary.max_diff,
        passed: alignedPassed(c.main, c.boundary, tol),
      },
      'block compared',
    );
  }
  return { report, tCompute, steps };
}

/**
 * The alignment regression over the newest `blocks` exact blocks the live ring still holds
 * (the control plane's `align` request). The samples are copied out first, so the live writer
 * goes on while the copy is compared.
 */
export async function alignHeldBlocks(
  cfg: CoreConfig,
  models: Parameters<typeof buildExact>[1],
  rings: { emg: RingBuffer; truth: RingBuffer | undefined },
  blocks: number,
): Promise<Record<string, unknown>> {
  const { emg, truth } = rings;
  const block = cfg.runtime.exact.block_samples;
  const end = emg.written;
  const held = end - Math.max(emg.oldest, 0);
  const k = Math.min(Math.max(1, Math.floor(blocks)), Math.floor((held - LEFT_CONTEXT) / block));
  if (!(k >= 1))
    throw new UserError(`align: the ring holds ${held} samples; one exact block needs ${LEFT_CONTEXT + block}`);
  const n = LEFT_CONTEXT + k * block;
  const copy = (src: RingBuffer): RingBuffer => {
    const buf = new Float32Array(n * src.channels);
    src.sliceEndingAt(end, n, buf);
    const r = RingBuffer.create(n, src.channels);
    r.append(buf, n);
    return r;
  };
  const ring = copy(emg);
  const truthCopy = truth && truth.written >= end ? copy(truth) : undefined;
  const t0 = performance.now();
  const r = await alignmentRegression(cfg, models, ring, truthCopy, undefined, silentLogger());
  return {
    ...r.report.toJSON(),
    blocks_compared: k,
    from_sample: end - n,
    to_sample: end,
    wall_ms: round3(performance.now() - t0),
  };
}
