import { setTimeout as sleep } from 'node:timers/promises';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { round3 } from '../common/round.js';
import { nearestRank } from '../common/statistics.js';
import { incrementalEncoderFrom, INCREMENTAL_MODEL_KEY } from '../inference/incremental-encoder.js';
import { precisionKey, type LoadedModels, type Precision } from '../inference/models.js';
import { StreamingPredictor, type FeaturePolicy } from '../inference/streaming-predictor.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';
import { UserError } from '../common/errors.js';
import { join } from 'node:path';
import { r4, summarize, type Path } from './bench-paths.js';
import { statSize, type TorchResult } from './bench-probes.js';
import type { benchPaths } from './bench-setup.js';

// bench's precision figures: the int8 paths beside fp32's, their weight bytes, and streams per core.

/** Bytes a streaming step reads at `precision`: its encoder step's and decoder step's files. */
export function stepWeightBytes(models: LoadedModels, precision: Precision): number {
  return [precisionKey('decoder_step', precision), precisionKey(INCREMENTAL_MODEL_KEY, precision)].reduce(
    (a, k) => a + statSize(join(models.dir, models.info.models[k]!.path.replace(/^models\//, ''))),
    0,
  );
}

export function requireIncremental(models: LoadedModels): void {
  if (!models.sessions[INCREMENTAL_MODEL_KEY])
    throw new UserError('bench: the incremental encoder graph was not loaded');
}

/** Each band's step must be done this soon after its 20 ms tick (the station owner's bound). */
export const STREAM_STEP_P99_BOUND_MS = 10;
const TICK_MS = 20;

export interface StreamsPerCore {
  precision: Precision;
  /** Most bands whose every step finished within STREAM_STEP_P99_BOUND_MS of its tick, at P99. */
  streams: number;
  /** Per band count tried: P99 of the latest step's finish after its tick (ms), and of one step's own T_compute. */
  tried: { bands: number; tick_p50_ms: number; tick_p99_ms: number; step_p99_ms: number; ticks: number }[];
  /** The percentile of the tick times held to bound_ms (99 unless asked otherwise). */
  percentile: number;
  ticks_per_count: number;
  bound_ms: number;
  method: string;
}

/**
 * How many bands one core carries at 50 Hz: `bands` streaming sessions (own state each, the
 * loaded graphs shared, as the streams of one daemon share them) on this one thread; every 20 ms
 * tick each band runs its step in turn, so the last band's pose is ready when all of them are.
 * The count grows by one until the P99 of that finish time passes 10 ms (or `maxBands`).
 * Paced at real time: a band's weights are cold again after the idle rest of the tick, as on a
 * station.
 */
export async function streamsPerCore(
  models: LoadedModels,
  ring: RingBuffer,
  precision: Precision,
  o: {
    policy: FeaturePolicy;
    blockSamples: number;
    fused: boolean;
    ticks: number;
    maxBands: number;
    percentile?: number;
  },
): Promise<StreamsPerCore> {
  const decoder = models.sessions[precisionKey('decoder_step', precision)]!;
  const make = (): StreamingPredictor => {
    const p = new StreamingPredictor(incrementalEncoderFrom(models, { precision }), decoder, {
      policy: o.policy,
      blockSamples: o.blockSamples,
      fusedStep: o.fused ? models.sessions[precisionKey(STREAM_STEP_MODEL_KEY, precision)] : undefined,
    });
    p.restartAt(0);
    return p;
  };
  if (!models.sessions[precisionKey(INCREMENTAL_MODEL_KEY, precision)])
    throw new Error(`${precision} graphs not loaded`);
  const emit = (): void => undefined;
  const tried: StreamsPerCore['tried'] = [];
  let streams = 0;
  for (let bands = 1; bands <= o.maxBands; bands++) {
    const ps = Array.from({ length: bands }, make);
    // Warm-up: each band's session start and first steps, untimed.
    for (let i = 0; i < 20; i++) for (const p of ps) await p.advance(ring, emit);
    const tick = new Float64Array(o.ticks);
    const step = new Float64Array(o.ticks * bands);
    let next = performance.now();
    for (let t = 0; t < o.ticks; t++) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      for (let b = 0; b < bands; b++) {
        const p = ps[b]!;
        // Restart a band that ran out of bench input (never mid-tick for the timing's sake).
        if (ring.written < p.nextReadyAt) p.restartAt(0);
        step[t * bands + b] = await p.advance(ring, emit);
      }
      tick[t] = performance.now() - t0;
      next = Math.max(next + TICK_MS, performance.now());
    }
    tick.sort();
    const tickP99 = nearestRank(tick, tick.length, 99);
    const judged = nearestRank(tick, tick.length, o.percentile ?? 99);
    tried.push({
      bands,
      tick_p50_ms: round3(nearestRank(tick, tick.length, 50)),
      tick_p99_ms: round3(tickP99),
      step_p99_ms: round3(nearestRank(step.sort(), step.length, 99)),
      ticks: o.ticks,
    });
    if (judged > STREAM_STEP_P99_BOUND_MS) break;
    streams = bands;
  }
  return {
    precision,
    streams,
    tried,
    ticks_per_count: o.ticks,
    percentile: o.percentile ?? 99,
    bound_ms: STREAM_STEP_P99_BOUND_MS,
    method:
      "N bands on one thread, one step each per 20 ms tick (paced), graphs shared; P99 over the ticks of the time from the tick to the last band's pose",
  };
}

/** The int8 paths' figures against their own bandwidth floor, fp32's bare step and PyTorch's window step. */
export function int8Results(
  int8: NonNullable<ReturnType<typeof benchPaths>['int8']>,
  floorMs: number[],
  bytes: number,
  fp32Bare: ReturnType<Path['stats']>,
  torch: TorchResult,
) {
  const bare = int8.paths[0].stats();
  const sup = int8.paths[1].stats();
  const floor = summarize(Float64Array.from(floorMs));
  return {
    bare: { ...bare, one_run_steps: int8.bareStreaming.fusedSteps },
    supervised: {
      ...sup,
      shared_decoder_steps: int8.supStreaming.sharedSteps,
      shadow_blocks_skipped: int8.supervised.shadowBlocksSkipped,
    },
    supervised_to_bare_p50: r4(sup.wall.p50_ms / bare.wall.p50_ms),
    bandwidth_floor: {
      method: "as bandwidth_floor, over the int8 step's bytes (decoder_step_int8 + encoder_incremental_int8 files)",
      bytes,
      ...floor,
      gb_per_s_p50: r4(bytes / floor.p50_ms / 1e6),
    },
    step_to_floor_p50: r4(bare.p50_ms / floor.p50_ms),
    int8_to_fp32_bare_p50: r4(bare.p50_ms / fp32Bare.p50_ms),
    torch_window_to_int8_p50: torch.window ? r4(torch.window.p50_ms / bare.p50_ms) : null,
  };
}
