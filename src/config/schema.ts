import { z } from 'zod';
import { streamsSchema } from './streams-schema.js';
import { ENCODER_STRIDE, LEFT_CONTEXT, RIGHT_CONTEXT, SAMPLE_RATE, STEP_SAMPLES } from '../domain/geometry.js';

/**
 * The core of the configuration: the sections no plug-in owns (model, runtime, input, the run
 * folder's part of outputs, eval, logging, streams) and the rules that tie their keys together.
 * The plug-ins' sections (acquisition from the source and ADC rows, outputs.mqtt, watchdog, ...)
 * are declared beside each plug-in and composed with these by daemon/config.ts
 * (config/compose.ts does the work).
 * Key names follow the user's plan (configs/realtime_config.yaml). Every object is strict so a
 * misspelt key is an error, not a silently ignored setting.
 */
const percentile = z.number().gt(0).lt(100);
const fraction = z.number().min(0).max(1);

/** `runtime.fallback`: what happens after the watchdog falls back to exact mode. */
export const fallbackSchema = z
  .object({
    return: z.boolean().default(true).meta({
      description: 'Return to streaming after a fallback once the cause is gone (false: stay in exact, as before).',
    }),
    quiet_s: z
      .number()
      .positive()
      .max(86400)
      .default(15)
      .meta({ description: 'Seconds of stream in exact mode before the first return is tried.' }),
    quiet_units: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(3)
      .meta({ description: 'Exact units in a row that must be quiet (not preempted) before returning.' }),
    preempted_max: fraction.default(0.25).meta({
      description:
        'An exact unit is quiet when at most this share of its wall time was spent off the CPU (or the share ' +
        'streaming had while healthy, plus 0.1, if higher).',
    }),
    backoff: z
      .number()
      .min(1)
      .max(100)
      .default(2)
      .meta({ description: 'Each return multiplies the next quiet period by this (hysteresis against flapping).' }),
    max_returns: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(5)
      .meta({ description: 'After this many returns the fallback stays (recorded).' }),
  })
  .strict();

export type FallbackConfig = z.infer<typeof fallbackSchema>;

/** The aligned block's bounds against exact (radians); fp32 and int8 differ only in max_diff's default. */
function alignmentBounds(maxDiffDefault: number) {
  return z
    .object({
      mse: z
        .number()
        .positive()
        .max(1)
        .default(1e-5)
        .meta({ description: 'Mean squared difference (rad²) the aligned block may have against exact.' }),
      max_diff: z.number().positive().max(10).default(maxDiffDefault).meta({
        description: 'Largest absolute difference (rad) of any joint the aligned block may have against exact.',
      }),
    })
    .strict();
}

export const coreShape = {
  model: z
    .object({
      mode: z.enum(['exact', 'streaming']).default('streaming').meta({
        description:
          'streaming: one pose per 20 ms step, live; exact: the poses of each block of runtime.exact.block_samples samples at once, as the reference computes them.',
      }),
      dir: z.string().min(1).default('models').meta({
        description: 'Folder holding the ONNX graphs and model_info.json; relative paths are from the package root.',
      }),
      precision: z
        .enum(['fp32', 'int8'])
        .default('fp32')
        .meta({
          description:
            'fp32: every graph as exported. int8: the streaming step runs the int8 variant of its graphs ' +
            '(refer/quantize.py; USAGE.md, "int8 streaming"); exact mode and the live shadow stay fp32, so the ' +
            'watchdog measures the int8 path against fp32 exact.',
        }),
    })
    .strict()
    .prefault({})
    .meta({ description: 'The pose model: which mode runs, where its graphs are and their precision.' }),
  runtime: z
    .object({
      execution_providers: z
        .array(z.enum(['tensorrt', 'cuda', 'cpu']))
        .min(1)
        .default(['tensorrt', 'cuda', 'cpu'])
        .meta({
          description:
            'onnxruntime execution providers, tried in this order for each graph; one that is not installed is skipped (cpu always loads).',
        }),
      device_id: z.number().int().min(0).max(63).default(0).meta({ description: 'CUDA/TensorRT device ordinal.' }),
      intra_op_threads: z
        .number()
        .int()
        .min(0)
        .max(64)
        .default(1)
        .meta({
          description:
            "0 = onnxruntime's choice; at most 64, more threads than a base station has only thrash (and 1e5 " +
            'hangs the model load).',
        }),
      inter_op_threads: z.number().int().min(0).max(64).default(1).meta({
        description: 'Threads onnxruntime may use to run independent graph nodes at once; 0 = its choice, at most 64.',
      }),
      fallback: fallbackSchema
        .prefault({})
        .meta({ description: 'What happens after a fallback to exact: the return to streaming and its hysteresis.' }),
      intra_op_spinning: z
        .boolean()
        .default(false)
        .meta({
          description:
            "Intra-op worker threads spin while idle (onnxruntime's own default is on); only matters with " +
            'intra_op_threads > 1.',
        }),
      exact: z
        .object({
          block_samples: z.number().int().positive().max(1_000_000).default(10000).meta({
            description: 'New samples per exact block; each block also sees left_context samples before them.',
          }),
          upsample_to_input_rate: z
            .boolean()
            .default(false)
            .meta({ description: "Also emit the block's poses upsampled to the input rate (align_corners=false)." }),
        })
        .strict()
        .prefault({})
        .meta({ description: 'The exact (block) predictor: the fallback, the live shadow and `myostream align`.' }),
      streaming: z
        .object({
          enabled: z
            .boolean()
            .default(true)
            .meta({ description: 'The streaming predictor is built; must be true while model.mode is streaming.' }),
          step_ms: z
            .number()
            .positive()
            .max(1000)
            .default(20)
            .meta({ description: 'Milliseconds of signal per step: must equal step_samples × 1000 / 2000 (20).' }),
          warmup_samples: z.number().int().positive().max(100_000).default(LEFT_CONTEXT).meta({
            description: "Samples held before the first step: must equal the model's left + right context (1790).",
          }),
          window_samples: z
            .number()
            .int()
            .positive()
            .max(100_000)
            .default(LEFT_CONTEXT + STEP_SAMPLES)
            .meta({
              description: "Samples each step's window holds: must equal warmup_samples + step_samples (1830).",
            }),
          step_samples: z
            .number()
            .int()
            .positive()
            .max(100_000)
            .default(STEP_SAMPLES)
            .meta({ description: "New samples per step: must be 40, the model's 50 Hz rollout at 2000 Hz." }),
          feature_single_point_interpolation: z
            .boolean()
            .default(true)
            .meta({ description: 'The decoder takes one feature point per 50 Hz step: must be true.' }),
          feature_policy: z.enum(['sliding_window', 'exact_grid']).default('exact_grid').meta({
            description:
              "sliding_window: the single point of each 1830-sample window; exact_grid: exact's own 50 Hz grid.",
          }),
          encoder: z.enum(['window', 'incremental']).default('incremental').meta({
            description:
              'window: the whole encoder over each window; incremental: one cached encoder step per 40 samples (same frames).',
          }),
          fused_step: z.boolean().default(true).meta({
            description:
              'incremental only: each step as one run of stream_step.onnx (encoder + decoder step) instead of two.',
          }),
          max_buffer_seconds: z.number().positive().max(600).default(10).meta({
            description:
              'Seconds of signal the ring buffer holds: at least one exact block, one session of history and one step.',
          }),
        })
        .strict()
        .prefault({})
        .meta({
          description: "The streaming step; its geometry is the model's, so most keys may only take their default.",
        }),
    })
    .strict()
    .prefault({})
    .meta({ description: 'How onnxruntime runs the graphs, and the exact and streaming predictors.' }),
  input: z
    .object({
      source: z
        .string()
        .min(1)
        .default('replay:models/golden/input.mtb')
        .meta({ description: 'synthetic | replay:FILE | ads1299; --source overrides it.' }),
      speed: z
        .number()
        .min(0)
        .max(1000)
        .refine((v) => v === 0 || v >= 0.1, 'must be 0 (as fast as possible) or between 0.1 and 1000')
        .default(0)
        .meta({
          description:
            'Replay pace: 1 = real time, N = N× real time, 0 = as fast as possible; else 0.1–1000 (slower would ' +
            'stall a run for hours).',
        }),
      duration_s: z
        .number()
        .min(0)
        .max(31_536_000)
        .default(0)
        .meta({ description: 'Stop after this many seconds of signal (0 = until the source ends); at most a year.' }),
      hand: z
        .enum(['auto', 'left', 'right'], { error: 'expected auto, left or right' })
        .default('auto')
        .meta({
          description:
            "Which hand wears the band: left | right; auto = the recording's `side` attribute when replaying " +
            'HDF5, else unknown.',
        }),
      band_id: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{0,64}$/, 'expected up to 64 characters of A-Z a-z 0-9 _ . : -')
        .default('')
        .meta({
          description:
            'A name for the physical band (asset tag, serial), in MQTT meta, status and health; empty = none.',
        }),
    })
    .strict()
    .prefault({})
    .meta({ description: 'Where the signal comes from, how fast it is read, and whose hand it is.' }),
  outputs: z
    .object({
      artifacts_root: z
        .string()
        .default('')
        .meta({
          description:
            'Run directories are created under this folder, one per run. Empty: $STATE_DIRECTORY/runs under ' +
            'systemd, else ./artifacts.',
        }),
      rotate_mb: z.number().min(0).max(100_000).default(64).meta({
        description: 'Start a new streaming_metrics.jsonl past this many MB (0 = never); the old one becomes .1, .2, …',
      }),
      rotate_keep: z
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(4)
        .meta({ description: 'Rotated metrics files kept per run (the oldest beyond this is removed).' }),
      retention: z
        .object({
          max_runs: z
            .number()
            .int()
            .min(0)
            .max(100_000)
            .default(50)
            .meta({ description: 'At most this many run folders (0 = no limit).' }),
          max_total_mb: z
            .number()
            .min(0)
            .max(10_000_000)
            .default(2048)
            .meta({ description: 'Their total at most this many MB (0 = no limit).' }),
        })
        .strict()
        .prefault({})
        .meta({
          description:
            'Run folders kept under the artifacts root, oldest removed first at run start; never a running run.',
        }),
    })
    .strict()
    .prefault({})
    .meta({
      description: 'Where results go: the run folder, the poses file, MQTT, the live view and Prometheus metrics.',
    }),
  eval: z
    .object({
      streaming_alignment_check: z.boolean().default(true).meta({
        description:
          "Judge each session's first shadow block (streaming reset at its start) against exact with the bounds below; false = not judged.",
      }),
      streaming_tolerance: alignmentBounds(5e-5)
        .prefault({})
        .meta({ description: "The aligned block's bounds with fp32 weights (radians)." }),
      streaming_tolerance_int8: alignmentBounds(1e-3)
        .prefault({})
        .meta({
          description:
            "The aligned block's bounds when model.precision is int8 (radians, as above): int8 weights move a " +
            'fresh session\'s first block by up to ≈ 3e-4 rad (USAGE.md, "int8 streaming"); the drift bounds ' +
            '(watchdog.numerical) are the same for both.',
        }),
      streaming_latency: z
        .object({
          check: z.boolean().default(true).meta({
            description: "Judge the run's T_compute against p50_ms and p95_ms; false = recorded, not judged.",
          }),
          p50_ms: z
            .number()
            .positive()
            .max(10_000)
            .default(10)
            .meta({ description: 'Bound on the median T_compute of a step, in ms.' }),
          p95_ms: z
            .number()
            .positive()
            .max(10_000)
            .default(20)
            .meta({ description: 'Bound on the 95th percentile T_compute of a step, in ms.' }),
          warmup_steps: z.number().int().min(0).max(1_000_000).default(50).meta({
            description: 'Steps after a (re)start that are not judged: first runs warm caches and allocators.',
          }),
        })
        .strict()
        .prefault({})
        .meta({
          description:
            "T_compute bounds (P50 ≤ 10 ms, P95 ≤ 20 ms); the watchdog's window is watchdog.latency.window_units.",
        }),
    })
    .strict()
    .prefault({})
    .meta({ description: 'What a run is judged by: streaming against exact, and latency.' }),
  logging: z
    .object({
      level: z
        .enum(['trace', 'debug', 'info', 'warn', 'error', 'silent'])
        .default('info')
        .meta({ description: 'Lowest level logged; the one key a SIGHUP applies to a running daemon.' }),
      format: z.enum(['text', 'json']).default('text').meta({
        description:
          'text: one readable line per entry (a terminal); json: one JSON object per line (journald, log shippers).',
      }),
      latency: z
        .object({
          enabled: z.boolean().default(true).meta({
            description:
              'Record T_compute and end-to-end latency (latency_stats.json); false = neither recorded nor judged.',
          }),
          percentiles: z.array(percentile).min(1).max(16).default([50, 95, 99]).meta({
            description: 'Percentiles latency_stats.json and the summary report, each strictly between 0 and 100.',
          }),
        })
        .strict()
        .prefault({})
        .meta({ description: 'The latency record (latency_stats.json, summary.json latency).' }),
    })
    .strict()
    .prefault({})
    .meta({ description: 'Log output and the latency record.' }),
  streams: streamsSchema.meta({
    description: 'Several wristbands in one daemon: each entry a stream_id and what it sets differently.',
  }),
};

/** The top-level sections in the order config_snapshot.yaml lists them; a plug-in's new section goes before `streams`. */
export const TOP_LEVEL_ORDER: readonly string[] = [
  'model',
  'runtime',
  'input',
  'acquisition',
  'outputs',
  'eval',
  'watchdog',
  'logging',
  'streams',
];

export type CoreConfig = z.output<z.ZodObject<typeof coreShape>>;
/** The rules that tie core keys together, applied to the composed configuration. */
export function coreRules(c: CoreConfig, ctx: z.RefinementCtx): void {
  const s = c.runtime.streaming;
  const issue = (path: (string | number)[], message: string): void => {
    ctx.addIssue({ code: 'custom', path, message });
  };
  if (s.warmup_samples !== LEFT_CONTEXT + RIGHT_CONTEXT) {
    issue(
      ['runtime', 'streaming', 'warmup_samples'],
      `must equal the model's left_context + right_context (${LEFT_CONTEXT + RIGHT_CONTEXT})`,
    );
  }
  if (s.step_samples !== STEP_SAMPLES) {
    issue(
      ['runtime', 'streaming', 'step_samples'],
      `must be ${STEP_SAMPLES}: the model's rollout runs at 50 Hz (${SAMPLE_RATE}/50 samples per step)`,
    );
  }
  if (Math.abs(s.step_ms - (s.step_samples * 1000) / SAMPLE_RATE) > 1e-9) {
    issue(
      ['runtime', 'streaming', 'step_ms'],
      `must equal step_samples × 1000 / ${SAMPLE_RATE} = ${(s.step_samples * 1000) / SAMPLE_RATE}`,
    );
  }
  const minWindow = s.warmup_samples + s.step_samples;
  if (s.window_samples !== minWindow) {
    // Each step's single point is the encoder frame of the window's first 1791 samples. A
    // longer window only adds older frames: left-edge sampling (n_time = 1, align_corners)
    // would then feed the decoder the oldest one (2000 → 3 frames, 85 ms stale). A shorter
    // one cannot hold a frame plus the step.
    issue(
      ['runtime', 'streaming', 'window_samples'],
      `must equal warmup_samples + step_samples (${minWindow}); ` +
        (s.window_samples > minWindow
          ? 'a longer window would make single-point sampling take a stale frame'
          : 'a shorter window cannot hold one frame plus one step'),
    );
  }
  if (!s.feature_single_point_interpolation) {
    issue(
      ['runtime', 'streaming', 'feature_single_point_interpolation'],
      'must be true: the decoder takes one feature point per 50 Hz step',
    );
  }
  // One exact block (the fallback and the shadow), plus a session's history kept for a
  // restart in place, plus one step in flight.
  const needed = LEFT_CONTEXT + c.runtime.exact.block_samples + (LEFT_CONTEXT + STEP_SAMPLES) + s.step_samples;
  if (s.max_buffer_seconds * SAMPLE_RATE < needed) {
    issue(
      ['runtime', 'streaming', 'max_buffer_seconds'],
      `too small: needs at least ${needed / SAMPLE_RATE} s (one exact block, one session of history, one step)`,
    );
  }
  if (c.runtime.exact.block_samples % ENCODER_STRIDE !== 0) {
    issue(
      ['runtime', 'exact', 'block_samples'],
      `must be a multiple of the encoder stride ${ENCODER_STRIDE} so that blocks tile the 50 Hz timeline and share native frames`,
    );
  }
  if (c.model.mode === 'streaming' && !s.enabled) {
    issue(['model', 'mode'], 'is streaming but runtime.streaming.enabled is false');
  }
}

/** The aligned block's bounds for the configured precision (eval.streaming_tolerance or its _int8 twin). */
export function alignmentTolerance(cfg: Pick<CoreConfig, 'model' | 'eval'>): { mse: number; max_diff: number } {
  return cfg.model.precision === 'int8' ? cfg.eval.streaming_tolerance_int8 : cfg.eval.streaming_tolerance;
}
