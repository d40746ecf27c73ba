import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../common/errors.js';
import { isTensorBundle, parseTensorBundle } from '../common/tensor-bundle.js';
import { NUM_CHANNELS, POSE_DIM, SAMPLE_RATE } from '../domain/geometry.js';

/**
 * The upstream dataset's HDF5 group name. It names an external file format, so this one
 * constant, in the one reader that needs it, is the allowed use of that identifier in our code
 * (SPEC §1). refer/make_hdf5_fixture.py reads it from this line rather than repeating it.
 */
export const UPSTREAM_HDF5_GROUP = 'emg2pose';
const UPSTREAM_HDF5_DATASET = 'timeseries';

export interface Recording {
  readonly path: string;
  readonly format: 'mtb' | 'hdf5';
  readonly sampleRate: number;
  readonly samples: number;
  /** [samples, 16] time-major. */
  readonly emg: Float32Array;
  /** [samples, 20] radians, when the file has them. */
  readonly jointAngles?: Float32Array;
  readonly meta: Readonly<Record<string, unknown>>;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Loads a recording: our MTB format or the upstream HDF5 layout, told apart by magic bytes. */
export async function loadRecording(path: string): Promise<Recording> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new UserError(`${path}: cannot read recording (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const bytes = readFileSync(path);
  if (isTensorBundle(bytes)) return fromBundle(path, bytes);
  if (size >= 8 && bytes.subarray(0, 8).equals(HDF5_SIGNATURE)) return fromHdf5(path);
  throw new UserError(`${path}: byte 0: neither an MTB file (magic MYOSTRM1) nor HDF5`);
}

function fromBundle(path: string, bytes: Buffer): Recording {
  const b = parseTensorBundle(bytes, path);
  const emg = b.arrays.get('emg');
  if (!emg) throw new UserError(`${path}: no "emg" array (a recording needs emg [samples, ${NUM_CHANNELS}])`);
  if (emg.shape.length !== 2 || emg.shape[1] !== NUM_CHANNELS) {
    throw new UserError(`${path}: array "emg" has shape ${JSON.stringify(emg.shape)}; expected [samples, ${NUM_CHANNELS}]`);
  }
  const samples = emg.shape[0]!;
  const ja = b.arrays.get('joint_angles');
  if (ja && (ja.shape.length !== 2 || ja.shape[0] !== samples || ja.shape[1] !== POSE_DIM)) {
    throw new UserError(`${path}: array "joint_angles" has shape ${JSON.stringify(ja.shape)}; expected [${samples}, ${POSE_DIM}]`);
  }
  const sampleRate = checkRate(path, b.meta['sample_rate']);
  const rec: Recording = { path, format: 'mtb', sampleRate, samples, emg: emg.data, meta: b.meta };
  return ja ? { ...rec, jointAngles: ja.data } : rec;
}

function checkRate(path: string, v: unknown): number {
  const rate = v === undefined ? SAMPLE_RATE : Number(v);
  if (rate !== SAMPLE_RATE) throw new UserError(`${path}: sample_rate ${String(v)} is not supported (the model needs ${SAMPLE_RATE} Hz)`);
  return rate;
}

async function fromHdf5(path: string): Promise<Recording> {
  const h5wasm = (await import('h5wasm/node')).default;
  await h5wasm.ready;
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(path, 'r');
  } catch (e) {
    throw new UserError(`${path}: HDF5 file cannot be opened (${(e as Error).message})`);
  }
  try {
    const ds = file.get(`${UPSTREAM_HDF5_GROUP}/${UPSTREAM_HDF5_DATASET}`);
    if (!ds || !(ds instanceof h5wasm.Dataset)) {
      throw new UserError(`${path}: no dataset /${UPSTREAM_HDF5_GROUP}/${UPSTREAM_HDF5_DATASET} (not the upstream session layout)`);
    }
    const group = file.get(UPSTREAM_HDF5_GROUP);
    const attrs: Record<string, unknown> = {};
    if (group && 'attrs' in group) {
      for (const [k, a] of Object.entries(group.attrs)) attrs[k] = jsonSafe(a.value);
    }
    const sampleRate = checkRate(path, attrs['sample_rate']);
    if (attrs['num_channels'] !== undefined && Number(attrs['num_channels']) !== NUM_CHANNELS) {
      throw new UserError(`${path}: num_channels ${String(attrs['num_channels'])} is not ${NUM_CHANNELS}`);
    }
    const members = ds.metadata.compound_type?.members.map((m) => m.name) ?? [];
    const emgIdx = members.indexOf('emg');
    const jaIdx = members.indexOf('joint_angles');
    if (emgIdx < 0) throw new UserError(`${path}: dataset ${UPSTREAM_HDF5_DATASET} has no compound member "emg" (members: ${members.join(', ') || 'none'})`);
    const rows = ds.value as unknown as unknown[][] | null;
    if (!rows) throw new UserError(`${path}: dataset ${UPSTREAM_HDF5_DATASET} is empty`);
    const samples = rows.length;
    const emg = new Float32Array(samples * NUM_CHANNELS);
    const ja = jaIdx >= 0 ? new Float32Array(samples * POSE_DIM) : undefined;
    for (let t = 0; t < samples; t++) {
      const row = rows[t]!;
      copyRow(path, t, 'emg', row[emgIdx], emg, t * NUM_CHANNELS, NUM_CHANNELS);
      if (ja) copyRow(path, t, 'joint_angles', row[jaIdx], ja, t * POSE_DIM, POSE_DIM);
    }
    const rec: Recording = { path, format: 'hdf5', sampleRate, samples, emg, meta: attrs };
    return ja ? { ...rec, jointAngles: ja } : rec;
  } finally {
    file.close();
  }
}

function copyRow(path: string, t: number, name: string, v: unknown, out: Float32Array, off: number, n: number): void {
  const arr = v as ArrayLike<number> | undefined;
  if (!arr || arr.length !== n) throw new UserError(`${path}: row ${t}: "${name}" has ${arr?.length ?? 0} values, expected ${n}`);
  for (let i = 0; i < n; i++) out[off + i] = arr[i]!;
}

function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.length === 1 ? jsonSafe(v[0]) : v.map(jsonSafe);
  return v;
}
