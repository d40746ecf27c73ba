import { z } from 'zod';

/**
 * `outputs.smoothing`: the stream's smoothed companion, a One Euro filter per joint computed once
 * per pose (MQTT publishes it on <prefix>/pose/smoothed, the live view offers it). Cutoffs stay
 * below the 25 Hz Nyquist rate of the 50 Hz pose stream.
 */
export const smoothingSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Cutoff in Hz when the joint is still: lower = steadier, more lag. */
    min_cutoff: z.number().min(0.01).max(25).default(2),
    /** Cutoff increase per rad/s of joint speed: higher = less lag in fast moves, more jitter. */
    beta: z.number().min(0).max(100).default(0.5),
    /** Cutoff in Hz of the speed estimate that drives the adaptation. */
    d_cutoff: z.number().min(0.01).max(25).default(1),
  })
  .strict();

export type SmoothingSettings = z.infer<typeof smoothingSchema>;
