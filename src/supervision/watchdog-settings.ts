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
    /** |h| or |c| of the decoder above this resets the session (state blow-up) and records it. */
    state_abs_limit: z.number().positive().max(1e9).default(1000),
    /**
     * Seconds between status lines, artifact refreshes and memory samples (the run's
     * heartbeat in summary.json). 0.1 – 3600: faster is an fsync loop, slower hides a dead run.
     */
    status_interval_s: z.number().min(0.1).max(3600).default(5),
    latency: z
      .object({
        /** Streaming units per judged window (250 = 5 s at 50 Hz); each window gives one P50/P95 of wall and CPU time. */
        window_units: z.number().int().min(10).max(5000).default(250),
        /** Consecutive windows over the bound before it counts as sustained (excess or contention). */
        persistence_windows: z.number().int().min(1).max(100).default(3),
        /** Windows whose P95s the trend is fitted to (Theil–Sen): 120 × 5 s = the last 10 minutes; drift, not a burst. */
        trend_windows: z.number().int().min(4).max(512).default(120),
        /** A rise of the window P95 faster than this (ms per minute of stream), confidently, is a trend alarm. */
        trend_ms_per_min: z.number().positive().max(1000).default(0.5),
        /** And only once the P95 is this far above the baseline (ms): a fast rise of a few µs is not a regression. */
        trend_min_rise_ms: z.number().min(0).max(10000).default(2),
        /** Mann–Kendall confidence the trend needs (0.5–1). */
        trend_confidence: z.number().min(0.5).max(1).default(0.95),
        /** Windows after the first warm-up whose P95s (median) make the baseline. */
        baseline_windows: z.number().int().min(1).max(50).default(3),
        /** Units in a row left unjudged (warm-up after resets) before the check is declared starved and judges warm-up units too. */
        starvation_units: z.number().int().min(10).max(1_000_000).default(500),
        /** What a sustained excess or trend of the model's own (CPU) time does. */
        on_regression: action.default('exact'),
        /** What sustained contention does (wall time over the bound, CPU time within it). */
        on_contention: action.default('record'),
      })
      .strict()
      .prefault({}),
    system: z
      .object({
        /** Seconds between samples of system load, steal, temperature and clock speed (off the hot path). */
        sample_every_s: z.number().positive().max(3600).default(5),
        /** Load (% of all CPUs) at or above which the machine counts as busy where thread CPU time is not available. */
        busy_load_pct: z.number().min(1).max(100).default(95),
        /** Steal (% of CPU taken by the hypervisor) at or above which the machine counts as busy. */
        busy_steal_pct: z.number().min(0).max(100).default(10),
      })
      .strict()
      .prefault({}),
    memory: z
      .object({
        sample_every_s: z.number().positive().max(3600).default(5),
        /** Start-up allocations (models, arenas) are not a leak: samples before this are not fitted. */
        warmup_s: z.number().min(0).max(86400).default(60),
        /** Samples must span this long after warm-up before a slope is judged. */
        min_span_s: z.number().positive().max(86400).default(300),
        /** Leak bounds in MB per hour of wall time (Theil–Sen slope, confidently rising, and grown by min_growth_mb). */
        rss_mb_per_hour: z.number().positive().max(100000).default(50),
        heap_mb_per_hour: z.number().positive().max(100000).default(20),
        external_mb_per_hour: z.number().positive().max(100000).default(50),
        min_growth_mb: z.number().min(0).max(100000).default(8),
        confidence: z.number().min(0.5).max(1).default(0.95),
        on_leak: action.default('record'),
      })
      .strict()
      .prefault({}),
    numerical: z
      .object({
        /**
         * A later (drift) block with MSE or max|diff| against its shadow exact block above these is
         * drifting. Later blocks differ by design (exact restarts its state every block, streaming
         * keeps it): with the committed weights MSE ~1e-2 and max|diff| ~0.2 rad are normal.
         */
        drift_mse: z.number().positive().max(1000).default(0.1),
        drift_max_diff: z.number().positive().max(100).default(1),
        /** Drifting blocks in a row before it is acted on. */
        persistence_blocks: z.number().int().min(1).max(1000).default(2),
        /** The low-frequency offset: mean signed difference over the last offset_blocks blocks, radians. */
        offset_blocks: z.number().int().min(1).max(100).default(6),
        offset_limit: z.number().positive().max(10).default(0.05),
        /** What a failed alignment block (a session's first block) does. */
        on_alignment_fail: action.default('exact'),
        /**
         * What drift or offset does. record by default: with the committed weights a session's
         * later blocks drift past the bounds by design after ~40 s (the 30-minute soak), and a
         * reset every 40 s would change the output for nothing.
         */
        on_drift: action.default('record'),
        /** What a non-finite pose or block difference does. */
        on_non_finite: action.default('reset'),
      })
      .strict()
      .prefault({}),
    /** An optional periodic soft reset of streaming, at a shadow block boundary (0 = off). */
    soft_reset_every_s: z.number().min(0).max(86400).default(0),
    /** Seconds between two readings of the wall clock's synchronisation (health's clock_sync); 0 = never read. */
    clock_check_every_s: z.number().min(0).max(86400).default(60),
  })
  .strict();

export type WatchdogConfig = z.infer<typeof watchdogSchema>;
