import { z } from 'zod';

/**
 * The `acquisition:` section: how samples are obtained and conditioned before the ring buffer.
 * Kept apart from schema.ts because the hardware settings grow on their own.
 */
export const acquisitionSchema = z
  .object({
    /** Seed of the synthetic source (deterministic EMG-like signal with matching joint angles). */
    synthetic_seed: z.number().int().min(0).default(1),
  })
  .strict();
