import { z } from 'zod';

/**
 * The keys of the `acquisition:` section every source shares: stall supervision, gap bridging,
 * signal quality, preprocessing and the DRDY binding. Each source and ADC declares its own keys
 * beside itself; sources.ts composes the section from these and from its rows.
 */

/** A simulator's fault key: the fault on every N-th conversion, 0 = never (both ADCs' simulators have them). */
export const everyFrames = (what: string) =>
  z
    .number()
    .int()
    .min(0)
    .max(1_000_000_000)
    .default(0)
    .meta({ description: `${what} every N-th conversion (0 = never).` });

const qualitySettings = z
  .object({
    mains_hz: z
      .literal([50, 60])
      .default(50)
      .meta({ description: "The mains frequency (50 or 60 Hz) whose share of each channel's power is measured." }),
    window_ms: z.number().int().min(100).max(10_000).multipleOf(100).default(200).meta({
      description:
        'The sliding window the quality figures cover, judged twice per window; a multiple of 100 ms holds whole mains cycles.',
    }),
    max_clip_fraction: z
      .number()
      .min(0)
      .max(1)
      .default(0.01)
      .meta({ description: 'A channel with more than this share of its window clipped (at full scale) is bad.' }),
    max_mains_share: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .meta({ description: 'A channel with more than this share of its power at the mains frequency is bad.' }),
  })
  .strict();

const preprocessSettings = z
  .object({
    enabled: z
      .union([z.literal('auto'), z.boolean()])
      .default('auto')
      .meta({
        description:
          'Conditioning before the ring: auto turns it on for live sources (the ADCs, synthetic raw) and off for replayed files, which are already filtered.',
      }),
    highpass_hz: z
      .number()
      .min(0)
      .max(500)
      .default(20)
      .meta({ description: 'Butterworth high-pass corner in Hz (0 = no filter).' }),
    highpass_order: z.literal([2, 4]).default(4).meta({ description: 'Order of the Butterworth high-pass (2 or 4).' }),
    units_per_volt: z
      .number()
      .positive()
      .max(1e12)
      .default(1e4)
      .meta({ description: 'Model units per volt at the electrodes (docs/acquisition.md, "Units").' }),
    bad_sample_policy: z.enum(['hold_last', 'zero', 'gap']).default('hold_last').meta({
      description:
        'What replaces a NaN, infinite or saturated sample: the last good value, zero, or (gap) nothing: the frame is dropped and a gap reported.',
    }),
    detect_saturation: z
      .boolean()
      .default(true)
      .meta({ description: "Treat samples at the ADC's full scale as bad (sources that know their full scale)." }),
  })
  .strict();

export const sharedAcquisitionShape = {
  synthetic_seed: z.number().int().min(0).max(4_294_967_295).default(1).meta({
    description:
      'Seed of the synthetic signal generator, which feeds the synthetic source and the ADC simulators alike.',
  }),
  gpio_binding: z.enum(['chardev', 'sysfs']).default('chardev').meta({
    description:
      "DRDY interrupt binding of the ADCs: chardev (GPIO character device via libgpiod's gpiomon) or sysfs (onoff).",
  }),
  stall_ms: z.number().int().min(10).max(60_000).default(100).meta({
    description:
      'No sample for this long (ms) while the source should deliver is a stall: recorded, and the driver is re-initialised.',
  }),
  reinit_backoff_ms: z.number().int().min(1).max(600_000).default(100).meta({
    description:
      'Re-initialisation after a stall happens at once, then after this many ms, doubling up to reinit_backoff_max_ms.',
  }),
  reinit_backoff_max_ms: z
    .number()
    .int()
    .min(1)
    .max(3_600_000)
    .default(5000)
    .meta({ description: 'The longest wait (ms) between two re-initialisations of a stalled driver.' }),
  reinit_max_attempts: z.number().int().min(0).max(1_000_000).default(0).meta({
    description: 'Failed re-initialisations in a row before the run ends with the error (0 = keep trying).',
  }),
  bridge_max_samples: z.number().int().min(0).max(64).default(8).meta({
    description:
      'Gaps of at most this many samples are bridged (filled by interpolation, noted) instead of restarting the session; 0 = never.',
  }),
  note_interval_ms: z.number().int().min(10).max(3_600_000).default(1000).meta({
    description:
      'Recurring notes (bridged gaps, bad samples) are reported the first time at once, then as one summary with counts per this interval.',
  }),
  quality: qualitySettings
    .prefault({})
    .meta({ description: "Live signal quality per channel (health, summary.json, events, each pose's quality flag)." }),
  preprocess: preprocessSettings
    .prefault({})
    .meta({ description: 'Conditioning of the samples before the ring (high-pass, scaling, bad samples).' }),
};

/** The shared keys, as every source's context carries them. */
export type SharedAcquisitionSettings = z.infer<z.ZodObject<typeof sharedAcquisitionShape>>;
export type QualityConfig = SharedAcquisitionSettings['quality'];
export type PreprocessConfig = SharedAcquisitionSettings['preprocess'];

/** The shared keys out of a parsed section (which holds every row's keys besides). */
export function sharedSettings(section: SharedAcquisitionSettings): SharedAcquisitionSettings {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(sharedAcquisitionShape)) out[k] = (section as Record<string, unknown>)[k];
  return out as SharedAcquisitionSettings;
}
