import { z } from 'zod';
import type { OneEuroSettings } from './one-euro.js';

/**
 * `outputs.smoothing`: the stream's smoothed companion, a One Euro filter per joint computed once
 * per pose (MQTT publishes it on <prefix>/pose/smoothed, the live view offers it). Cutoffs stay
 * below the 25 Hz Nyquist rate of the 50 Hz pose stream.
 */
export const smoothingSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .meta({ description: 'Compute the smoothed pose stream (MQTT publishes it, the live view can show it).' }),
    min_cutoff: z
      .number()
      .min(0.01)
      .max(25)
      .default(2)
      .meta({ description: 'Cutoff in Hz when the joint is still: lower = steadier, more lag.' }),
    beta: z
      .number()
      .min(0)
      .max(100)
      .default(0.5)
      .meta({ description: 'Cutoff increase per rad/s of joint speed: higher = less lag in fast moves, more jitter.' }),
    d_cutoff: z
      .number()
      .min(0.01)
      .max(25)
      .default(1)
      .meta({ description: 'Cutoff in Hz of the speed estimate that drives the adaptation.' }),
  })
  .strict()
  .meta({
    description: 'The poses through a One Euro filter per joint, computed once per pose, for MQTT and the live view.',
  });

export type SmoothingSettings = z.infer<typeof smoothingSchema>;

/** The filter's settings when the section turns the smoothed stream on, else undefined. */
export function smoothingOf({ enabled, min_cutoff, beta, d_cutoff }: SmoothingSettings): OneEuroSettings | undefined {
  return enabled ? { min_cutoff, beta, d_cutoff } : undefined;
}
