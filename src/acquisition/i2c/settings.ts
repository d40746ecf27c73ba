import { z } from 'zod';
import { everyFrames } from '../shared-settings.js';

/** PGA gains of the I2C ADC (GAIN register: 2^code). */
export const I2C_GAINS = [1, 2, 4, 8, 16, 32, 64, 128] as const;
const MAX_CHANNELS = 16;

/**
 * `acquisition.i2c`: the register-mapped I2C ADC and its transaction-level simulator. The
 * conversion rate is the pipeline's (2000 Hz, written to the RATE registers at set-up): the
 * model is trained at that rate, so there is no key for it.
 */
export const i2cSettings = z
  .object({
    simulate: z.boolean().default(false).meta({
      description:
        'Run the driver against the transaction-level simulator instead of hardware (the same as --source i2c-sim).',
    }),
    bus: z.number().int().min(0).max(255).default(1).meta({ description: 'The N of /dev/i2c-N.' }),
    address: z.number().int().min(0x03).max(0x77).default(0x48).meta({ description: '7-bit device address.' }),
    bus_hz: z.number().int().min(1000).max(5_000_000).default(1_000_000).meta({
      description:
        'The SCL clock the bus runs at, as set in the device tree or adapter (100 k standard, 400 k fast, 1 M fast-mode plus); it is only modelled here (the start-up bandwidth check, the read time against the late margin, the simulator), not set.',
    }),
    data_register: z.number().int().min(0).max(0x3f).default(0).meta({
      description: 'First data register; every channel is read as one block from here (the block lies below 0x40).',
    }),
    channels: z
      .number()
      .int()
      .min(1)
      .max(MAX_CHANNELS)
      .default(MAX_CHANNELS)
      .meta({ description: 'Channels the ADC converts and the block read carries.' }),
    bits_per_sample: z
      .number()
      .int()
      .min(8)
      .max(32)
      .default(16)
      .meta({ description: 'Bits per sample in the data block (rounded up to whole bytes on the bus).' }),
    gain: z
      .literal(I2C_GAINS)
      .default(32)
      .meta({ description: 'PGA gain of every channel: full scale is ±vref/gain.' }),
    vref: z.number().positive().max(5).default(2.5).meta({ description: 'Reference voltage in volts.' }),
    drdy_chip: z
      .string()
      .min(1)
      .default('gpiochip0')
      .meta({ description: 'The GPIO chip of the data-ready line (chardev binding): name, number or /dev path.' }),
    drdy_line: z.number().int().min(0).max(65_535).default(24).meta({
      description: 'Data-ready line: the offset on drdy_chip (chardev), or the global sysfs GPIO number (sysfs).',
    }),
    gpiomon: z
      .string()
      .min(1)
      .default('gpiomon')
      .meta({ description: "libgpiod's gpiomon, used by the chardev binding." }),
    late_margin_us: z.number().min(0).max(400).default(25).meta({
      description: 'A block read that ends later than this before the next data-ready edge is dropped as late.',
    }),
    max_consecutive_errors: z.number().int().positive().max(1_000_000).default(40).meta({
      description: 'This many failed reads in a row (NACK, timeout) stop the driver: a stall, then re-initialisation.',
    }),
    sim: z
      .object({
        missed_drdy_every: everyFrames('The simulator drops the data-ready pulse'),
        drdy_lost_at: z.number().int().min(0).max(1_000_000_000).default(0).meta({
          description: 'From this conversion on the data-ready line stays silent until re-initialised (0 = never).',
        }),
        stuck_bus_every: everyFrames('SDA is held low for stuck_bus_frames reads, so the adapter times out,'),
        stuck_bus_frames: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(1)
          .meta({ description: 'How many reads SDA stays held low each time.' }),
        nack_every: everyFrames('The device does not acknowledge its address for nack_frames reads'),
        nack_frames: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(1)
          .meta({ description: 'How many reads the device leaves unacknowledged each time.' }),
        clock_stretch_every: everyFrames('The device stretches SCL by clock_stretch_us after its address'),
        clock_stretch_us: z
          .number()
          .min(0)
          .max(1_000_000)
          .default(0)
          .meta({ description: 'How long (µs) the device stretches SCL.' }),
        device_address: z.number().int().min(0).max(0x77).default(0).meta({
          description:
            'The simulated device answers at this address instead of `address` (0 = the same): the NACK drill at set-up.',
        }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Faults the simulator injects.' }),
  })
  .strict()
  .superRefine((i, ctx) => {
    const bytes = Math.ceil(i.bits_per_sample / 8);
    if (i.data_register + i.channels * bytes > 0x40) {
      ctx.addIssue({
        code: 'custom',
        path: ['data_register'],
        message: `the data block (${i.channels} channels × ${bytes} bytes from 0x${i.data_register.toString(16)}) must end by 0x40, where the control registers start`,
      });
    }
  })
  .meta({
    description:
      'A register-mapped 16-channel ADC on /dev/i2c-N (--source i2c) and its transaction-level simulator (--source i2c-sim).',
  });

export type I2cSettings = z.infer<typeof i2cSettings>;
