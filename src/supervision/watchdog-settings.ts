import { z } from 'zod';

/**
 * The `watchdog:` section, declared beside the supervisors that read it (the watchdog, the
 * latency and memory checks, the state guard, the clock check); the configuration composes it
 * from the supervision registry. Each action is one of exact (switch to exact mode), reset
 * (restart streaming in place) or record (only record it). The fallback policy it applies lives
 * in `runtime.fallback` (config/schema.ts), which the inference side reads too.
 */
const action = z.enum(['exact', 'reset', 'record']);

export const watchdogSchema = z
  .object({
    state_abs_limit: z
      .number()
      .positive()
      .max(1e9)
      .default(1000)
      .meta({ description: '|h| or |c| of the decoder above this resets the session (state blow-up) and records it.' }),
    status_interval_s: z
      .number()
      .min(0.1)
      .max(3600)
      .default(5)
      .meta({
        description:
          "Seconds between status lines, artifact refreshes and memory samples (the run's heartbeat in " +
          'summary.json). 0.1 – 3600: faster is an fsync loop, slower hides a dead run.',
      }),
    latency: z
      .object({
        window_units: z.number().int().min(10).max(5000).default(250).meta({
          description:
            'Streaming units per judged window (250 = 5 s at 50 Hz); each window gives one P50/P95 of wall and CPU time.',
        }),
        persistence_windows: z.number().int().min(1).max(100).default(3).meta({
          description: 'Consecutive windows over the bound before it counts as sustained (excess or contention).',
        }),
        trend_windows: z.number().int().min(4).max(512).default(120).meta({
          description:
            'Windows whose P95s the trend is fitted to (Theil–Sen): 120 × 5 s = the last 10 minutes; drift, not a burst.',
        }),
        trend_ms_per_min: z.number().positive().max(1000).default(0.5).meta({
          description:
            'A rise of the window P95 faster than this (ms per minute of stream), confidently, is a trend alarm.',
        }),
        trend_min_rise_ms: z.number().min(0).max(10000).default(2).meta({
          description:
            'And only once the P95 is this far above the baseline (ms): a fast rise of a few µs is not a regression.',
        }),
        trend_confidence: z
          .number()
          .min(0.5)
          .max(1)
          .default(0.95)
          .meta({ description: 'Mann–Kendall confidence the trend needs (0.5–1).' }),
        baseline_windows: z
          .number()
          .int()
          .min(1)
          .max(50)
          .default(3)
          .meta({ description: 'Windows after the first warm-up whose P95s (median) make the baseline.' }),
        starvation_units: z
          .number()
          .int()
          .min(10)
          .max(1_000_000)
          .default(500)
          .meta({
            description:
              'Units in a row left unjudged (warm-up after resets) before the check is declared starved and judges ' +
              'warm-up units too.',
          }),
        on_regression: action
          .default('exact')
          .meta({ description: "What a sustained excess or trend of the model's own (CPU) time does." }),
        on_contention: action
          .default('record')
          .meta({ description: 'What sustained contention does (wall time over the bound, CPU time within it).' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Latency regression and contention: windows of step times, their P95s and trend.' }),
    system: z
      .object({
        sample_every_s: z.number().positive().max(3600).default(5).meta({
          description: 'Seconds between samples of system load, steal, temperature and clock speed (off the hot path).',
        }),
        busy_load_pct: z.number().min(1).max(100).default(95).meta({
          description:
            'Load (% of all CPUs) at or above which the machine counts as busy where thread CPU time is not available.',
        }),
        busy_steal_pct: z.number().min(0).max(100).default(10).meta({
          description: 'Steal (% of CPU taken by the hypervisor) at or above which the machine counts as busy.',
        }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'System load sampling, which tells contention from a regression.' }),
    memory: z
      .object({
        sample_every_s: z
          .number()
          .positive()
          .max(3600)
          .default(5)
          .meta({ description: 'Seconds between memory samples (RSS, V8 heap, external).' }),
        warmup_s: z.number().min(0).max(86400).default(60).meta({
          description: 'Start-up allocations (models, arenas) are not a leak: samples before this are not fitted.',
        }),
        min_span_s: z
          .number()
          .positive()
          .max(86400)
          .default(300)
          .meta({ description: 'Samples must span this long after warm-up before a slope is judged.' }),
        rss_mb_per_hour: z.number().positive().max(100000).default(50).meta({
          description:
            'Leak bounds in MB per hour of wall time (Theil–Sen slope, confidently rising, and grown by min_growth_mb).',
        }),
        heap_mb_per_hour: z
          .number()
          .positive()
          .max(100000)
          .default(20)
          .meta({ description: 'Leak bound of the V8 heap, in MB per hour.' }),
        external_mb_per_hour: z.number().positive().max(100000).default(50).meta({
          description: 'Leak bound of memory held outside the V8 heap (buffers, native allocations), in MB per hour.',
        }),
        min_growth_mb: z
          .number()
          .min(0)
          .max(100000)
          .default(8)
          .meta({ description: 'A rising slope counts as a leak only once the memory grew by this many MB.' }),
        confidence: z
          .number()
          .min(0.5)
          .max(1)
          .default(0.95)
          .meta({ description: 'Mann–Kendall confidence a rising memory slope needs (0.5–1).' }),
        on_leak: action.default('record').meta({ description: 'What a leak does: exact, reset or record.' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Leak detection: Theil–Sen slopes of RSS, heap and external memory.' }),
    numerical: z
      .object({
        drift_mse: z
          .number()
          .positive()
          .max(1000)
          .default(0.1)
          .meta({
            description:
              'A later (drift) block with MSE or max|diff| against its shadow exact block above these is drifting. ' +
              'Later blocks differ by design (exact restarts its state every block, streaming keeps it): with the ' +
              'committed weights MSE ~1e-2 and max|diff| ~0.2 rad are normal.',
          }),
        drift_max_diff: z.number().positive().max(100).default(1).meta({
          description: 'A later block with a larger absolute difference (rad) against its shadow is drifting.',
        }),
        persistence_blocks: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(2)
          .meta({ description: 'Drifting blocks in a row before it is acted on.' }),
        offset_blocks: z.number().int().min(1).max(100).default(6).meta({
          description: 'The low-frequency offset: mean signed difference over the last offset_blocks blocks, radians.',
        }),
        offset_limit: z.number().positive().max(10).default(0.05).meta({
          description: 'Bound on that mean signed difference (rad); past it the offset is acted on as drift is.',
        }),
        on_alignment_fail: action
          .default('exact')
          .meta({ description: "What a failed alignment block (a session's first block) does." }),
        on_drift: action.default('record').meta({
          description:
            "What drift or offset does. record by default: with the committed weights a session's later blocks " +
            'drift past the bounds by design after ~40 s (the 30-minute soak), and a reset every 40 s would ' +
            'change the output for nothing.',
        }),
        on_non_finite: action
          .default('reset')
          .meta({ description: 'What a non-finite pose or block difference does.' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Numerical drift of streaming against its live shadow exact blocks.' }),
    soft_reset_every_s: z
      .number()
      .min(0)
      .max(86400)
      .default(0)
      .meta({ description: 'An optional periodic soft reset of streaming, at a shadow block boundary (0 = off).' }),
    clock_check_every_s: z.number().min(0).max(86400).default(60).meta({
      description:
        "Seconds between two readings of the wall clock's synchronisation (health's clock_sync); 0 = never read.",
    }),
  })
  .strict()
  .meta({
    description:
      'The watchdog: what it watches (latency, load, memory, numerical drift, decoder state) and what each finding does.',
  });

export type WatchdogConfig = z.infer<typeof watchdogSchema>;
