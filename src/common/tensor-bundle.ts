import { readFileSync } from 'node:fs';
import { UserError } from './errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { textOf } from './text.js';

/**
 * MTB v1, our plain tensor container (specified in refer/README.md; refer/tensor_bundle.py is
 * the Python side): 8-byte magic, u32 LE header length, JSON header, then 64-byte aligned
 * little-endian float32 arrays in C order.
 */
export const MTB_MAGIC = 'MYOSTRM1';
const ALIGN = 64;

export interface BundleArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface TensorBundle {
  readonly arrays: ReadonlyMap<string, BundleArray>;
  readonly meta: Readonly<Record<string, unknown>>;
}

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  offset: number;
  nbytes: number;
}

export function isTensorBundle(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') === MTB_MAGIC;
}

export function readTensorBundle(path: string): TensorBundle {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseTensorBundle(bytes, path);
}

export function parseTensorBundle(bytes: Buffer, path: string): TensorBundle {
  if (bytes.length < 12)
    throw new UserError(`${path}: ${bytes.length} bytes is too short for an MTB file (needs at least 12)`);
  if (bytes.toString('latin1', 0, 8) !== MTB_MAGIC) {
    throw new UserError(`${path}: byte 0: magic is not ${MTB_MAGIC}; not an MTB file`);
  }
  const headerBytes = bytes.readUInt32LE(8);
  if (12 + headerBytes > bytes.length) {
    throw new UserError(
      `${path}: byte 8: header length ${headerBytes} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  let header: { format?: unknown; version?: unknown; arrays?: unknown; meta?: unknown };
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + headerBytes)) as typeof header;
  } catch (e) {
    throw new UserError(`${path}: byte 12: header is not valid JSON (${(e as Error).message})`);
  }
  if (header.format !== 'myostream-tensors' || header.version !== 1) {
    throw new UserError(
      `${path}: byte 12: header format/version ${String(header.format)}/${String(header.version)} is not myostream-tensors/1`,
    );
  }
  if (!Array.isArray(header.arrays)) throw new UserError(`${path}: byte 12: header has no "arrays" list`);
  const arrays = new Map<string, BundleArray>();
  for (const raw of header.arrays as HeaderEntry[]) {
    const where = `${path}: array "${textOf(raw.name)}"`;
    if (raw.dtype !== 'float32')
      throw new UserError(`${where}: dtype ${textOf(raw.dtype)} is not supported (float32 only)`);
    if (!Array.isArray(raw.shape) || raw.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new UserError(`${where}: shape ${JSON.stringify(raw.shape)} is not a list of non-negative integers`);
    }
    const count = raw.shape.reduce((a, b) => a * b, 1);
    if (raw.nbytes !== count * 4)
      throw new UserError(`${where}: nbytes ${raw.nbytes} does not match shape ${JSON.stringify(raw.shape)}`);
    if (!Number.isInteger(raw.offset) || raw.offset < 12 + headerBytes || raw.offset + raw.nbytes > bytes.length) {
      throw new UserError(
        `${where}: byte ${raw.offset}: data (${raw.nbytes} bytes) lies outside the file (${bytes.length} bytes)`,
      );
    }
    // Copy out so the data is 4-byte aligned and independent of the file buffer.
    const data = new Float32Array(count);
    Buffer.from(data.buffer).set(bytes.subarray(raw.offset, raw.offset + raw.nbytes));
    arrays.set(raw.name, { name: raw.name, shape: raw.shape, data });
  }
  const meta = (header.meta && typeof header.meta === 'object' ? header.meta : {}) as Record<string, unknown>;
  return { arrays, meta };
}

export function encodeTensorBundle(arrays: readonly BundleArray[], meta: Record<string, unknown> = {}): Buffer {
  // Two passes: offsets depend on the header's length, which depends on the offsets' digits.
  let headerLen = 0;
  let entries: HeaderEntry[] = [];
  for (let pass = 0; pass < 4; pass++) {
    let off = align(12 + headerLen);
    entries = arrays.map((a) => {
      const e: HeaderEntry = {
        name: a.name,
        dtype: 'float32',
        shape: [...a.shape],
        offset: off,
        nbytes: a.data.length * 4,
      };
      off = align(off + e.nbytes);
      return e;
    });
    const len = Buffer.byteLength(JSON.stringify({ format: 'myostream-tensors', version: 1, arrays: entries, meta }));
    if (len === headerLen) break;
    headerLen = len;
  }
  const header = Buffer.from(
    JSON.stringify({ format: 'myostream-tensors', version: 1, arrays: entries, meta }),
    'utf8',
  );
  const last = entries[entries.length - 1];
  const total = last ? last.offset + last.nbytes : 12 + header.length;
  const out = Buffer.alloc(total);
  out.write(MTB_MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  arrays.forEach((a, i) => {
    const e = entries[i]!;
    if (a.data.length !== a.shape.reduce((x, y) => x * y, 1))
      throw new Error(`array ${a.name}: data length does not match shape`);
    Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).copy(out, e.offset);
  });
  return out;
}

export function writeTensorBundle(
  path: string,
  arrays: readonly BundleArray[],
  meta: Record<string, unknown> = {},
): void {
  writeFileAtomic(path, encodeTensorBundle(arrays, meta));
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

export function requireArray(bundle: TensorBundle, name: string, path: string): BundleArray {
  const a = bundle.arrays.get(name);
  if (!a)
    throw new UserError(`${path}: missing array "${name}" (has: ${[...bundle.arrays.keys()].join(', ') || 'none'})`);
  return a;
}
