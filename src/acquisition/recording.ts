import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../common/errors.js';
import { isTensorBundle, parseTensorBundle } from '../common/tensor-bundle.js';
import { NUM_CHANNELS, POSE_DIM, SAMPLE_RATE } from '../domain/geometry.js';
import { textOf } from '../common/text.js';

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
    throw new UserError(
      `${path}: array "emg" has shape ${JSON.stringify(emg.shape)}; expected [samples, ${NUM_CHANNELS}]`,
    );
  }
  const samples = emg.shape[0]!;
  const ja = b.arrays.get('joint_angles');
  if (ja && (ja.shape.length !== 2 || ja.shape[0] !== samples || ja.shape[1] !== POSE_DIM)) {
    throw new UserError(
      `${path}: array "joint_angles" has shape ${JSON.stringify(ja.shape)}; expected [${samples}, ${POSE_DIM}]`,
    );
  }
  const sampleRate = checkRate(path, b.meta['sample_rate']);
  const rec: Recording = { path, format: 'mtb', sampleRate, samples, emg: emg.data, meta: b.meta };
  return ja ? { ...rec, jointAngles: ja.data } : rec;
}

function checkRate(path: string, v: unknown): number {
  const rate = v === undefined ? SAMPLE_RATE : Number(v);
  if (rate !== SAMPLE_RATE)
    throw new UserError(`${path}: sample_rate ${String(v)} is not supported (the model needs ${SAMPLE_RATE} Hz)`);
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
      throw new UserError(
        `${path}: no dataset /${UPSTREAM_HDF5_GROUP}/${UPSTREAM_HDF5_DATASET} (not the upstream session layout)`,
      );
    }
    const group = file.get(UPSTREAM_HDF5_GROUP);
    const attrs: Record<string, unknown> = {};
    if (group && 'attrs' in group) {
      for (const [k, a] of Object.entries(group.attrs)) attrs[k] = jsonSafe(a.value);
    }
    const sampleRate = checkRate(path, attrs['sample_rate']);
    if (attrs['num_channels'] !== undefined && Number(attrs['num_channels']) !== NUM_CHANNELS) {
      throw new UserError(`${path}: num_channels ${textOf(attrs['num_channels'])} is not ${NUM_CHANNELS}`);
    }
    const members = ds.metadata.compound_type?.members.map((m) => m.name) ?? [];
    const emgIdx = members.indexOf('emg');
    const jaIdx = members.indexOf('joint_angles');
    if (emgIdx < 0)
      throw new UserError(
        `${path}: dataset ${UPSTREAM_HDF5_DATASET} has no compound member "emg" (members: ${members.join(', ') || 'none'})`,
      );
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
  if (!arr || arr.length !== n)
    throw new UserError(`${path}: row ${t}: "${name}" has ${arr?.length ?? 0} values, expected ${n}`);
  for (let i = 0; i < n; i++) out[off + i] = arr[i]!;
}

function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.length === 1 ? jsonSafe(v[0]) : v.map(jsonSafe);
  return v;
}

/**
 * RMS of the model's input over all channels: its golden input (models/golden/input.mtb) and
 * the dataset's EMG units have an overall RMS of 1.0 (docs/acquisition.md, "Units").
 */
export const MODEL_EMG_RMS = 1.0;

/** Seconds at the start of a recording its amplitude is judged on. */
export const SCALE_CHECK_S = 2;

/** A recording this many decades (or more) off the expected RMS is said to be on another scale (≈31.6×). */
const SCALE_TOLERANCE_DECADES = 1.5;

export interface ScaleCheck {
  /** RMS of the first seconds, over all channels (finite values only). */
  rms: number;
  /** The RMS expected of the file as the run will use it. */
  expectedRms: number;
  /** rms / expectedRms. */
  ratio: number;
  /** What the file's values look like (e.g. "volts"), or null when they are on the expected scale. */
  looksLike: string | null;
}

/**
 * Whether a recording's amplitude is on the scale the run will feed the model. A file stored in
 * volts is 10⁴ smaller than the model's units (at the default units_per_volt), one in microvolts
 * 100× larger; the run goes on either way (the model is just fed the wrong scale), so this only
 * says so. `unitsPerVolt` converts volts to model units; `inVolts` when the file is expected in
 * volts (preprocessing on, which scales it). Silent or empty files are not judged here: the
 * signal-quality check reports flat channels.
 */
export function checkRecordingScale(rec: Recording, unitsPerVolt: number, inVolts: boolean): ScaleCheck | null {
  const ch = rec.emg.length / Math.max(1, rec.samples);
  const n = Math.min(rec.samples, Math.round(SCALE_CHECK_S * rec.sampleRate)) * ch;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = rec.emg[i]!;
    if (Number.isFinite(v)) {
      sum += v * v;
      count++;
    }
  }
  if (count === 0 || sum === 0) return null;
  const rms = Math.sqrt(sum / count);
  const expectedRms = inVolts ? MODEL_EMG_RMS / unitsPerVolt : MODEL_EMG_RMS;
  const ratio = rms / expectedRms;
  if (Math.abs(Math.log10(ratio)) < SCALE_TOLERANCE_DECADES) return { rms, expectedRms, ratio, looksLike: null };
  // Each candidate: the ratio a file stored in that unit would show.
  const asModel = inVolts ? unitsPerVolt : 1;
  const candidates: [string, number][] = [
    ['volts', asModel / unitsPerVolt],
    ['millivolts', (asModel * 1e3) / unitsPerVolt],
    ['microvolts', (asModel * 1e6) / unitsPerVolt],
    ['nanovolts', (asModel * 1e9) / unitsPerVolt],
    [inVolts ? 'model units (already scaled)' : 'model units', asModel],
  ];
  let best: [string, number] | undefined;
  for (const c of candidates) {
    const d = Math.abs(Math.log10(ratio / c[1]));
    if (d < SCALE_TOLERANCE_DECADES / 1.5 && (!best || d < Math.abs(Math.log10(ratio / best[1])))) best = c;
  }
  return {
    rms,
    expectedRms,
    ratio,
    looksLike: best
      ? best[0]
      : `an unknown scale (${ratio >= 1 ? `${fmt(ratio)}× larger` : `${fmt(1 / ratio)}× smaller`} than expected)`,
  };
}

function fmt(x: number): string {
  return x >= 1e4 || x < 1e-3 ? x.toExponential(1) : String(Number(x.toPrecision(3)));
}
