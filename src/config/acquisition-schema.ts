import { z } from 'zod';

/**
 * The `acquisition:` section: how samples are obtained and conditioned before the ring buffer.
 * Kept apart from schema.ts because the hardware settings grow on their own.
 * docs/acquisition.md explains every key.
 */

/** PGA gains the ADS1299 offers (CHnSET GAIN[2:0]). */
export const ADS1299_GAINS = [1, 2, 4, 6, 8, 12, 24] as const;
const CHANNELS = 16;
const IDENTITY_MAP = Array.from({ length: CHANNELS }, (_, i) => i);

const gain = z.literal(ADS1299_GAINS);
const everyFrames = z.number().int().min(0).max(1_000_000_000).default(0);

const ads1299Schema = z
  .object({
    /** Run the driver against the register-level simulator instead of hardware (= --source ads1299-sim). */
    simulate: z.boolean().default(false),
    /** daisy: both chips on one chip select, 54-byte frames; separate: one chip select each. */
    topology: z.enum(['daisy', 'separate']).default('daisy'),
    /** /dev/spidev<spi_bus>.<chip select>. */
    spi_bus: z.number().int().min(0).max(255).default(0),
    /** daisy: one entry; separate: two (first chip, second chip). */
    chip_selects: z.array(z.number().int().min(0).max(255)).min(1).max(2).default([0]),
    spi_clock_hz: z.number().int().min(100_000).max(20_000_000).default(4_000_000),
    /** The ADS1299 samples on the falling SCLK edge: CPOL 0, CPHA 1 = mode 1. */
    spi_mode: z.number().int().min(0).max(3).default(1),
    /** The GPIO chip of the DRDY line (chardev binding): name, number or /dev path. */
    drdy_chip: z.string().min(1).default('gpiochip0'),
    /** DRDY line: the offset on drdy_chip (chardev), or the global sysfs GPIO number (sysfs). */
    drdy_line: z.number().int().min(0).max(65_535).default(25),
    /** PGA gain for every channel, or a list of 16 (ring channel order). */
    gain: z.union([gain, z.array(gain).length(CHANNELS)]).default(24),
    /** Reference voltage in volts (4.5 V with the internal reference). */
    vref: z.number().positive().max(5).default(4.5),
    /** srb1: every channel's negative input on SRB1 (common reference); differential: INxN as wired. */
    reference: z.enum(['srb1', 'differential']).default('srb1'),
    /** Bias drive on (internal mid-supply reference, all channels sensed). */
    bias_drive: z.boolean().default(true),
    /** channel_map[i] = the ADC channel (0-7 first chip, 8-15 second) that becomes ring channel i. */
    channel_map: z.array(z.number().int().min(0).max(CHANNELS - 1)).length(CHANNELS).default(IDENTITY_MAP),
    /** A frame read that ends later than this before the next DRDY counts as late and is dropped. */
    late_margin_us: z.number().min(0).max(400).default(25),
    /** This many frames in a row without the status marker stop acquisition with an error. */
    max_consecutive_bad_frames: z.number().int().positive().max(10_000_000).default(2000),
    /** libgpiod's gpiomon (Debian/Ubuntu package gpiod), used by the chardev binding. */
    gpiomon: z.string().min(1).default('gpiomon'),
    /** DC lead-off detection on every input (comparators on, LOFF_STATP/N in each frame's status word). */
    lead_off: z.boolean().default(false),
    /** Faults the simulator injects (every N-th conversion; 0 = never), to exercise the fault paths end to end. */
    sim: z
      .object({
        missed_drdy_every: everyFrames,
        late_read_every: everyFrames,
        bad_status_every: everyFrames,
        /** Every N-th conversion MISO sticks for stuck_bus_frames reads (0xFF high, 0x00 low). */
        stuck_bus_every: everyFrames,
        stuck_bus_frames: z.number().int().min(1).max(1_000_000).default(1),
        stuck_bus_level: z.enum(['high', 'low']).default('high'),
        /** Every N-th read fails with an I/O error (the ioctl of a real bus can: EIO, ETIMEDOUT). */
        spi_error_every: everyFrames,
        /** Share of DRDY pulses lost at random (0–1), reproducibly from drop_seed. */
        drop_fraction: z.number().min(0).max(1).default(0),
        drop_seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
        /** Ring channels whose electrode comes off from detach_at_s for detach_for_s seconds (0 = for good). */
        detach_channels: z.array(z.number().int().min(0).max(CHANNELS - 1)).max(CHANNELS).default([]),
        detach_at_s: z.number().min(0).max(1e6).default(1),
        detach_for_s: z.number().min(0).max(1e6).default(0),
        /** Mains hum of this amplitude (volts at the electrode) at quality.mains_hz on hum_channels. */
        hum_volts: z.number().min(0).max(1).default(0),
        hum_channels: z.array(z.number().int().min(0).max(CHANNELS - 1)).max(CHANNELS).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** PGA gains of the I2C ADC (GAIN register: 2^code). */
export const I2C_GAINS = [1, 2, 4, 8, 16, 32, 64, 128] as const;

const i2cSchema = z
  .object({
    /** Run the driver against the transaction-level simulator instead of hardware (= --source i2c-sim). */
    simulate: z.boolean().default(false),
    /** /dev/i2c-<bus>. */
    bus: z.number().int().min(0).max(255).default(1),
    /** 7-bit device address. */
    address: z.number().int().min(0x03).max(0x77).default(0x48),
    /**
     * SCL clock of the bus (100 k standard, 400 k fast, 1 M fast-mode plus, 3.4 M high speed).
     * 16 channels × 16 bits × 2 kHz need 636 kbit/s on the wire: Fast-mode Plus carries it.
     */
    bus_hz: z.number().int().min(1000).max(5_000_000).default(1_000_000),
    /** First data register; channels are read as one block from here (the block lies below 0x40). */
    data_register: z.number().int().min(0).max(0x3f).default(0),
    channels: z.number().int().min(1).max(CHANNELS).default(CHANNELS),
    bits_per_sample: z.number().int().min(8).max(32).default(16),
    sample_rate: z.number().int().positive().max(65_535).default(2000),
    /** PGA gain (all channels) and reference voltage: full scale is ±vref/gain. */
    gain: z.literal(I2C_GAINS).default(32),
    vref: z.number().positive().max(5).default(2.5),
    /** The GPIO chip and line of the data-ready output (as for the ADS1299). */
    drdy_chip: z.string().min(1).default('gpiochip0'),
    drdy_line: z.number().int().min(0).max(65_535).default(24),
    gpiomon: z.string().min(1).default('gpiomon'),
    /** A block read that ends later than this before the next data-ready edge is dropped as late. */
    late_margin_us: z.number().min(0).max(400).default(25),
    /** This many failed reads in a row (NACK, timeout) stop the driver: a stall, then re-initialisation. */
    max_consecutive_errors: z.number().int().positive().max(1_000_000).default(40),
    /** Faults the simulator injects (every N-th conversion; 0 = never). */
    sim: z
      .object({
        missed_drdy_every: everyFrames,
        /** From this conversion on the data-ready line stays silent until re-initialised (0 = never). */
        drdy_lost_at: everyFrames,
        /** Every N-th conversion SDA is held low for stuck_bus_frames reads: the adapter times out. */
        stuck_bus_every: everyFrames,
        stuck_bus_frames: z.number().int().min(1).max(1_000_000).default(1),
        /** Every N-th conversion the device does not acknowledge its address for nack_frames reads. */
        nack_every: everyFrames,
        nack_frames: z.number().int().min(1).max(1_000_000).default(1),
        /** Every N-th conversion the device stretches SCL by clock_stretch_us after its address. */
        clock_stretch_every: everyFrames,
        clock_stretch_us: z.number().min(0).max(1_000_000).default(0),
        /** The device answers at this address instead of `address` (0 = the same): the NACK drill at set-up. */
        device_address: z.number().int().min(0).max(0x77).default(0),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const qualitySchema = z
  .object({
    /** The mains frequency whose share of each channel's power is measured (50 or 60 Hz). */
    mains_hz: z.literal([50, 60]).default(50),
    /** The sliding window figures cover; judged twice per window. A multiple of 100 ms holds whole mains cycles. */
    window_ms: z.number().int().min(100).max(10_000).multipleOf(100).default(200),
    /** A channel with more than this share of its window clipped (at full scale) is bad. */
    max_clip_fraction: z.number().min(0).max(1).default(0.01),
    /** A channel with more than this share of its power at the mains frequency is bad. */
    max_mains_share: z.number().min(0).max(1).default(0.5),
  })
  .strict();

const preprocessSchema = z
  .object({
    /** auto: on for live sources (ads1299, synthetic raw), off for replayed files (already filtered). */
    enabled: z.union([z.literal('auto'), z.boolean()]).default('auto'),
    /** Butterworth high-pass corner in Hz (0 = no filter). */
    highpass_hz: z.number().min(0).max(500).default(20),
    highpass_order: z.literal([2, 4]).default(4),
    /** Model units per volt at the electrodes; see docs/acquisition.md, "Units". */
    units_per_volt: z.number().positive().max(1e12).default(1e4),
    /** What replaces a NaN, infinite or saturated sample. gap: drop the frame and report a gap. */
    bad_sample_policy: z.enum(['hold_last', 'zero', 'gap']).default('hold_last'),
    /** Treat samples at the ADC's full scale as bad (sources that know their full scale). */
    detect_saturation: z.boolean().default(true),
  })
  .strict();

export const acquisitionSchema = z
  .object({
    /** Seed of the synthetic source (deterministic EMG-like signal with matching joint angles). */
    synthetic_seed: z.number().int().min(0).max(4_294_967_295).default(1),
    /** model: EMG already in the model's units and band (no preprocessing); raw: volts with electrode offset and drift. */
    synthetic_mode: z.enum(['model', 'raw']).default('model'),
    /** DRDY interrupt binding: chardev (GPIO character device via libgpiod's gpiomon) or sysfs (onoff). */
    gpio_binding: z.enum(['chardev', 'sysfs']).default('chardev'),
    /** No sample for this long (ms) while the source should deliver is a stall: recorded, and the driver is re-initialised. */
    stall_ms: z.number().int().min(10).max(60_000).default(100),
    /** Re-initialisation after a stall: first at once, then after this, doubling up to reinit_backoff_max_ms. */
    reinit_backoff_ms: z.number().int().min(1).max(600_000).default(100),
    reinit_backoff_max_ms: z.number().int().min(1).max(3_600_000).default(5000),
    /** Failed re-initialisations in a row before the run ends with the error (0 = keep trying). */
    reinit_max_attempts: z.number().int().min(0).max(1_000_000).default(0),
    /** Gaps of at most this many samples are bridged (filled by interpolation, noted) instead of restarting the session; 0 = never. */
    bridge_max_samples: z.number().int().min(0).max(64).default(8),
    /** Recurring notes (bridged gaps, bad samples): the first at once, then one summary with counts per this interval. */
    note_interval_ms: z.number().int().min(10).max(3_600_000).default(1000),
    /**
     * Largest |value| a replayed recording can hold, in the file's units; beyond it a sample is
     * impossible (a corrupt file, a wrong unit) and handled by preprocess.bad_sample_policy like
     * NaN (0 = no limit). The ADCs derive theirs from gain and reference.
     */
    replay_full_scale: z.number().min(0).max(1e12).default(1000),
    /** Live signal quality per channel (health, summary.json, events, each pose's quality flag). */
    quality: qualitySchema.prefault({}),
    ads1299: ads1299Schema.prefault({}),
    i2c: i2cSchema.prefault({}),
    preprocess: preprocessSchema.prefault({}),
  })
  .strict()
  .superRefine((a, ctx) => {
    const issue = (path: (string | number)[], message: string): void => {
      ctx.addIssue({ code: 'custom', path, message });
    };
    const d = a.ads1299;
    if (d.topology === 'daisy' && d.chip_selects.length !== 1) {
      issue(['ads1299', 'chip_selects'], 'a daisy chain uses one chip select; give one entry (or set topology: separate)');
    }
    if (d.topology === 'separate' && (d.chip_selects.length !== 2 || d.chip_selects[0] === d.chip_selects[1])) {
      issue(['ads1299', 'chip_selects'], 'topology separate needs two different chip selects, first chip then second');
    }
    const i = a.i2c;
    if (i.data_register + i.channels * Math.ceil(i.bits_per_sample / 8) > 0x40) {
      issue(['i2c', 'data_register'], `the data block (${i.channels} channels × ${Math.ceil(i.bits_per_sample / 8)} bytes from 0x${i.data_register.toString(16)}) must end by 0x40, where the control registers start`);
    }
    if (new Set(d.channel_map).size !== CHANNELS) {
      issue(['ads1299', 'channel_map'], `must name each ADC channel 0-${CHANNELS - 1} exactly once`);
    }
  });

export type AcquisitionConfig = z.infer<typeof acquisitionSchema>;
