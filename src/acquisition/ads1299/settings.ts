import { z } from 'zod';
import { everyFrames } from '../shared-settings.js';

/** PGA gains the ADS1299 offers (CHnSET GAIN[2:0]). */
export const ADS1299_GAINS = [1, 2, 4, 6, 8, 12, 24] as const;
const CHANNELS = 16;
const IDENTITY_MAP = Array.from({ length: CHANNELS }, (_, i) => i);

const gain = z.literal(ADS1299_GAINS);
/** `acquisition.ads1299`: the ADS1299 pair on SPI and its register-level simulator. */
export const ads1299Settings = z
  .object({
    simulate: z.boolean().default(false).meta({
      description:
        'Run the driver against the register-level simulator instead of hardware (the same as --source ads1299-sim).',
    }),
    topology: z.enum(['daisy', 'separate']).default('daisy').meta({
      description: 'daisy: both chips on one chip select with 54-byte frames; separate: one chip select per chip.',
    }),
    spi_bus: z.number().int().min(0).max(255).default(0).meta({ description: 'The N of /dev/spidevN.<chip select>.' }),
    chip_selects: z.array(z.number().int().min(0).max(255)).min(1).max(2).default([0]).meta({
      description: 'Chip selects: one entry for a daisy chain, two (first chip, second chip) for separate.',
    }),
    spi_clock_hz: z.number().int().min(100_000).max(20_000_000).default(4_000_000).meta({
      description:
        'SCLK rate the SPI device is opened with; up to 4 MHz needs no inter-byte delay for register commands.',
    }),
    spi_mode: z
      .number()
      .int()
      .min(0)
      .max(3)
      .default(1)
      .meta({ description: 'SPI mode; the ADS1299 samples on the falling SCLK edge: CPOL 0, CPHA 1 = mode 1.' }),
    drdy_chip: z
      .string()
      .min(1)
      .default('gpiochip0')
      .meta({ description: 'The GPIO chip of the DRDY line (chardev binding): name, number or /dev path.' }),
    drdy_line: z.number().int().min(0).max(65_535).default(25).meta({
      description: 'DRDY line: the offset on drdy_chip (chardev), or the global sysfs GPIO number (sysfs).',
    }),
    gain: z
      .union([gain, z.array(gain).length(CHANNELS)])
      .default(24)
      .meta({ description: 'PGA gain for every channel, or a list of 16 (ring channel order).' }),
    vref: z
      .number()
      .positive()
      .max(5)
      .default(4.5)
      .meta({ description: 'Reference voltage in volts (4.5 V with the internal reference).' }),
    reference: z.enum(['srb1', 'differential']).default('srb1').meta({
      description: "srb1: every channel's negative input on SRB1 (a common reference); differential: INxN as wired.",
    }),
    bias_drive: z
      .boolean()
      .default(true)
      .meta({ description: 'Bias drive on (internal mid-supply reference, all channels sensed).' }),
    channel_map: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(CHANNELS - 1),
      )
      .length(CHANNELS)
      .default(IDENTITY_MAP)
      .meta({
        description: 'channel_map[i] is the ADC channel (0-7 first chip, 8-15 second) that becomes ring channel i.',
      }),
    late_margin_us: z.number().min(0).max(400).default(25).meta({
      description: 'A frame read that ends later than this before the next DRDY counts as late and is dropped.',
    }),
    max_consecutive_bad_frames: z.number().int().positive().max(10_000_000).default(2000).meta({
      description:
        'This many frames in a row without the status marker stop the driver: a stall, then re-initialisation.',
    }),
    gpiomon: z
      .string()
      .min(1)
      .default('gpiomon')
      .meta({ description: "libgpiod's gpiomon (Debian/Ubuntu package gpiod), used by the chardev binding." }),
    lead_off: z.boolean().default(false).meta({
      description: "DC lead-off detection on every input (comparators on, LOFF_STATP/N in each frame's status word).",
    }),
    sim: z
      .object({
        missed_drdy_every: everyFrames('The simulator drops the DRDY pulse'),
        late_read_every: everyFrames('The simulator delivers DRDY 1.5 periods late'),
        bad_status_every: everyFrames("The simulator corrupts the first chip's status word"),
        stuck_bus_every: everyFrames('MISO sticks for stuck_bus_frames reads (0xFF high, 0x00 low)'),
        stuck_bus_frames: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(1)
          .meta({ description: 'How many reads MISO stays stuck each time.' }),
        stuck_bus_level: z
          .enum(['high', 'low'])
          .default('high')
          .meta({ description: 'The level MISO sticks at: high reads 0xFF, low 0x00.' }),
        spi_error_every: everyFrames(
          'A read fails with an I/O error, as the ioctl of a real bus can (EIO, ETIMEDOUT),',
        ),
        drop_fraction: z
          .number()
          .min(0)
          .max(1)
          .default(0)
          .meta({ description: 'Share of DRDY pulses lost at random (0-1), reproducibly from drop_seed.' }),
        drop_seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .default(1)
          .meta({ description: 'Seed of the random DRDY loss.' }),
        detach_channels: z
          .array(
            z
              .number()
              .int()
              .min(0)
              .max(CHANNELS - 1),
          )
          .max(CHANNELS)
          .default([])
          .meta({
            description: 'Ring channels whose electrode comes off from detach_at_s for detach_for_s seconds.',
          }),
        detach_at_s: z
          .number()
          .min(0)
          .max(1e6)
          .default(1)
          .meta({ description: 'When (s into the run) the electrodes of detach_channels come off.' }),
        detach_for_s: z
          .number()
          .min(0)
          .max(1e6)
          .default(0)
          .meta({ description: 'How long (s) the electrodes stay off (0 = for good).' }),
        hum_volts: z.number().min(0).max(1).default(0).meta({
          description: 'Mains hum of this amplitude (volts at the electrode) at quality.mains_hz on hum_channels.',
        }),
        hum_channels: z
          .array(
            z
              .number()
              .int()
              .min(0)
              .max(CHANNELS - 1),
          )
          .max(CHANNELS)
          .default([])
          .meta({ description: 'Ring channels that pick up the hum.' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Faults the simulator injects, to exercise the fault paths end to end.' }),
  })
  .strict()
  .superRefine((d, ctx) => {
    const issue = (path: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (d.topology === 'daisy' && d.chip_selects.length !== 1) {
      issue('chip_selects', 'a daisy chain uses one chip select; give one entry (or set topology: separate)');
    }
    if (d.topology === 'separate' && (d.chip_selects.length !== 2 || d.chip_selects[0] === d.chip_selects[1])) {
      issue('chip_selects', 'topology separate needs two different chip selects, first chip then second');
    }
    if (new Set(d.channel_map).size !== CHANNELS) {
      issue('channel_map', `must name each ADC channel 0-${CHANNELS - 1} exactly once`);
    }
  })
  .meta({
    description: 'The ADS1299 pair on SPI (--source ads1299) and its register-level simulator (--source ads1299-sim).',
  });

export type Ads1299Settings = z.infer<typeof ads1299Settings>;
