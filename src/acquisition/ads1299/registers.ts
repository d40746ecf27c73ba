/**
 * ADS1299 facts from TI's datasheet (SBAS499): opcodes, register addresses, reset values, field
 * layouts, and the register image our configuration asks for.
 */

export const CMD = {
  WAKEUP: 0x02,
  STANDBY: 0x04,
  RESET: 0x06,
  START: 0x08,
  STOP: 0x0a,
  RDATAC: 0x10,
  SDATAC: 0x11,
  RDATA: 0x12,
  /** | register address; second byte = count − 1. */
  RREG: 0x20,
  /** | register address; second byte = count − 1, then the values. */
  WREG: 0x40,
} as const;

export const REG = {
  ID: 0x00,
  CONFIG1: 0x01,
  CONFIG2: 0x02,
  CONFIG3: 0x03,
  LOFF: 0x04,
  CH1SET: 0x05,
  BIAS_SENSP: 0x0d,
  BIAS_SENSN: 0x0e,
  LOFF_SENSP: 0x0f,
  LOFF_SENSN: 0x10,
  LOFF_FLIP: 0x11,
  LOFF_STATP: 0x12,
  LOFF_STATN: 0x13,
  GPIO: 0x14,
  MISC1: 0x15,
  MISC2: 0x16,
  CONFIG4: 0x17,
} as const;

export const REGISTER_COUNT = 0x18;
export const CHANNELS_PER_CHIP = 8;
/** 24 status bits + 8 channels × 24 bits. */
export const BYTES_PER_CHIP = 3 + CHANNELS_PER_CHIP * 3;

export const REGISTER_NAMES: readonly string[] = [
  'ID',
  'CONFIG1',
  'CONFIG2',
  'CONFIG3',
  'LOFF',
  'CH1SET',
  'CH2SET',
  'CH3SET',
  'CH4SET',
  'CH5SET',
  'CH6SET',
  'CH7SET',
  'CH8SET',
  'BIAS_SENSP',
  'BIAS_SENSN',
  'LOFF_SENSP',
  'LOFF_SENSN',
  'LOFF_FLIP',
  'LOFF_STATP',
  'LOFF_STATN',
  'GPIO',
  'MISC1',
  'MISC2',
  'CONFIG4',
];

/** Power-on / RESET values. The datasheet's text says CHnSET resets to 0x60; the part reads 0x61 (input shorted). */
export const RESET_VALUES: readonly number[] = [
  0x3e, 0x96, 0xc0, 0x60, 0x00, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x0f, 0x00, 0x00, 0x00,
];

/** Registers the chip alone writes; read-back skips them. */
export const READ_ONLY = new Set<number>([REG.ID, REG.LOFF_STATP, REG.LOFF_STATN]);
/** Bits the chip alone drives inside writable registers (CONFIG3 BIAS_STAT; GPIO data of inputs). */
export const READ_ONLY_MASK: Readonly<Record<number, number>> = { [REG.CONFIG3]: 0x01, [REG.GPIO]: 0xf0 };

/** ID: bit 4 always 1, DEV_ID[3:2] = 11 (ADS1299 family), NU_CH[1:0] = 10 (8 channels); REV_ID[7:5] varies. */
export const ID_MASK = 0x1f;
export const ID_8CH = 0x1e;

/** Status word: the first 4 bits of every frame are 1100. */
export const STATUS_MARKER_MASK = 0xf0;
export const STATUS_MARKER = 0xc0;

/** CONFIG1 DR[2:0] → output data rate with the 2.048 MHz clock: 16 kSPS >> DR. */
export function dataRateCode(rate: number): number {
  for (let dr = 0; dr <= 6; dr++) if (16000 >> dr === rate) return dr;
  throw new RangeError(`ADS1299 has no ${rate} SPS data rate (16000, 8000, 4000, 2000, 1000, 500, 250)`);
}

export function rateFromConfig1(config1: number): number {
  const dr = config1 & 0x07;
  return dr === 7 ? 0 : 16000 >> dr;
}

/** CHnSET GAIN[2:0] codes. */
export const GAIN_CODES: Readonly<Record<number, number>> = { 1: 0, 2: 1, 4: 2, 6: 3, 8: 4, 12: 5, 24: 6 };
const GAIN_BY_CODE = [1, 2, 4, 6, 8, 12, 24];

export function gainFromChset(chset: number): number {
  return GAIN_BY_CODE[(chset >> 4) & 0x07] ?? 24;
}

export interface ChipRegisterOptions {
  /** daisy: DAISY_EN = 0 (daisy-chain mode); separate chip selects: 1 (multiple readback). */
  daisyChain: boolean;
  /** Drive the 2.048 MHz clock out on CLK for the second chip (first chip of a pair). */
  clockOut: boolean;
  sampleRate: number;
  /** Eight gains, this chip's channels in order. */
  gains: readonly number[];
  reference: 'srb1' | 'differential';
  biasDrive: boolean;
  /** DC lead-off detection on every input; the flags arrive in each frame's status word. */
  leadOff?: boolean;
}

/** The register writes for one chip, address → value, in write order. */
export function registerImage(o: ChipRegisterOptions): Map<number, number> {
  const img = new Map<number, number>();
  // CONFIG1: bit 7 reserved 1, bit 6 DAISY_EN (0 = daisy chain), bit 5 CLK_EN, bits 4:3 reserved 10, DR.
  img.set(REG.CONFIG1, 0x80 | (o.daisyChain ? 0 : 0x40) | (o.clockOut ? 0x20 : 0) | 0x10 | dataRateCode(o.sampleRate));
  // CONFIG2: bits 7:5 reserved 110; test signals off.
  img.set(REG.CONFIG2, 0xc0);
  // CONFIG3: PD_REFBUF = 1 (internal 4.5 V reference), bits 6:5 reserved 11,
  // BIASREF_INT = 1 and PD_BIAS = 1 when the bias drive is on.
  img.set(REG.CONFIG3, 0xe0 | (o.biasDrive ? 0x0c : 0));
  img.set(REG.LOFF, 0x00);
  for (let c = 0; c < CHANNELS_PER_CHIP; c++) {
    const g = o.gains[c]!;
    const code = GAIN_CODES[g];
    if (code === undefined) throw new RangeError(`ADS1299 has no gain ${g}`);
    // PD = 0, GAIN, SRB2 = 0, MUX = 000 (normal electrode input).
    img.set(REG.CH1SET + c, code << 4);
  }
  img.set(REG.BIAS_SENSP, o.biasDrive ? 0xff : 0x00);
  img.set(REG.BIAS_SENSN, o.biasDrive && o.reference === 'differential' ? 0xff : 0x00);
  // LOFF stays 0x00: comparator threshold 95 %, 6 nA, DC lead-off. With SRB1 the negative
  // inputs share one reference pin, so only the positive inputs are sensed.
  img.set(REG.LOFF_SENSP, o.leadOff ? 0xff : 0x00);
  img.set(REG.LOFF_SENSN, o.leadOff && o.reference === 'differential' ? 0xff : 0x00);
  img.set(REG.LOFF_FLIP, 0x00);
  // MISC1 bit 5 SRB1: every channel's negative input to SRB1.
  img.set(REG.MISC1, o.reference === 'srb1' ? 0x20 : 0x00);
  img.set(REG.MISC2, 0x00);
  // CONFIG4 bit 1 PD_LOFF_COMP: the lead-off comparators are powered only when used.
  img.set(REG.CONFIG4, o.leadOff ? 0x02 : 0x00);
  return img;
}

/** Volts per count for a channel: LSB = 2·Vref / gain / 2^24. */
export function voltsPerCount(vref: number, gain: number): number {
  return (2 * vref) / gain / 16777216;
}

export const COUNT_MAX = 0x7fffff;
export const COUNT_MIN = -0x800000;

/** For the simulator's command log and messages. */
export function regName(reg: number): string {
  return REGISTER_NAMES[reg] ?? `0x${reg.toString(16)}`;
}

export function opName(op: number): string {
  switch (op) {
    case CMD.WAKEUP:
      return 'WAKEUP';
    case CMD.STANDBY:
      return 'STANDBY';
    case CMD.RESET:
      return 'RESET';
    case CMD.START:
      return 'START';
    case CMD.STOP:
      return 'STOP';
    case CMD.RDATAC:
      return 'RDATAC';
    case CMD.SDATAC:
      return 'SDATAC';
    case CMD.RDATA:
      return 'RDATA';
    default:
      if ((op & 0xe0) === CMD.RREG) return 'RREG';
      if ((op & 0xe0) === CMD.WREG) return 'WREG';
      return `0x${op.toString(16)}`;
  }
}
