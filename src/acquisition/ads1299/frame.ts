import { BYTES_PER_CHIP, CHANNELS_PER_CHIP, STATUS_MARKER, STATUS_MARKER_MASK } from './registers.js';

/** True when the chip's 24-bit status word at `offset` starts with the 1100 marker. */
export function statusMarkerOk(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset]! & STATUS_MARKER_MASK) === STATUS_MARKER;
}

/** 24-bit big-endian two's complement at `offset`. */
export function readInt24(bytes: Uint8Array, offset: number): number {
  const v = (bytes[offset]! << 16) | (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
  return (v << 8) >> 8;
}

/** Writes a count (clamped to 24 bits) big-endian two's complement at `offset`. */
export function writeInt24(bytes: Uint8Array, offset: number, count: number): void {
  const v = count > 0x7fffff ? 0x7fffff : count < -0x800000 ? -0x800000 : count;
  bytes[offset] = (v >> 16) & 0xff;
  bytes[offset + 1] = (v >> 8) & 0xff;
  bytes[offset + 2] = v & 0xff;
}

/**
 * Decodes one chip's 8 channels from its 27-byte block at `offset` into `counts[firstChannel..+8]`.
 * The caller checks the status marker first.
 */
export function decodeChip(bytes: Uint8Array, offset: number, counts: Int32Array, firstChannel: number): void {
  let o = offset + 3;
  for (let c = 0; c < CHANNELS_PER_CHIP; c++, o += 3) counts[firstChannel + c] = readInt24(bytes, o);
}

/** Builds a chip's 27-byte block: status word (marker + lead-off + GPIO bits) then 8 counts. */
export function encodeChip(
  bytes: Uint8Array,
  offset: number,
  status: number,
  counts: ArrayLike<number>,
  firstChannel: number,
): void {
  bytes[offset] = (status >> 16) & 0xff;
  bytes[offset + 1] = (status >> 8) & 0xff;
  bytes[offset + 2] = status & 0xff;
  for (let c = 0; c < CHANNELS_PER_CHIP; c++) writeInt24(bytes, offset + 3 + c * 3, counts[firstChannel + c]!);
}

export { BYTES_PER_CHIP };

/**
 * The lead-off flags of a chip's status word at `offset` (1100 + LOFF_STATP + LOFF_STATN +
 * GPIO[7:4]): bit c set when input c is off on its positive or negative side.
 */
export function leadOffBits(bytes: Uint8Array, offset: number): number {
  const w = (bytes[offset]! << 16) | (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
  return ((w >> 12) | (w >> 4)) & 0xff;
}
