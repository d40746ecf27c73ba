/**
 * Linear interpolation with PyTorch's align_corners semantics, written to match
 * torch.nn.functional.interpolate(mode='linear') bit for bit where it matters: the source
 * position is computed in float32 like ATen does, so exact-grid streaming and the exact
 * rollout pick the same neighbours and weights.
 */

const f32 = Math.fround;

/**
 * Source position of output point `i` when resizing `inSize` → `outSize` with
 * align_corners=true. With outSize = 1 the scale is 0: the point is frame 0.
 */
export function alignCornersSource(i: number, inSize: number, outSize: number): number {
  if (outSize <= 1) return 0;
  const scale = f32((inSize - 1) / (outSize - 1));
  return f32(scale * i);
}

/**
 * Source position with align_corners=false (half-pixel centres, clamped at 0), as used to
 * upsample 50 Hz poses to 2 kHz.
 */
export function halfPixelSource(i: number, inSize: number, outSize: number): number {
  const scale = f32(inSize / outSize);
  const src = f32(scale * (i + 0.5) - 0.5);
  return src < 0 ? 0 : src;
}

export interface LerpPoint {
  /** Lower neighbour index. */
  lo: number;
  /** Upper neighbour index (equals lo at the right edge). */
  hi: number;
  /** Weight of the upper neighbour. */
  w: number;
}

export function lerpPoint(src: number, inSize: number, out: LerpPoint): LerpPoint {
  const lo = Math.min(Math.floor(src), inSize - 1);
  const hi = lo < inSize - 1 ? lo + 1 : lo;
  out.lo = lo;
  out.hi = hi;
  out.w = f32(src - lo);
  return out;
}

/**
 * ATen's CPU kernel computes a·w0 + b·w1 as a fused multiply-add on float32: b·w1 rounded,
 * then a·w0 added with a single rounding. In double arithmetic that is exactly
 * fround(a·w0 + fround(b·w1)), which reproduces F.interpolate bit for bit (refer/README.md).
 */
function lerp2(a: number, w0: number, b: number, w1: number): number {
  return f32(a * w0 + f32(b * w1));
}

/**
 * Interpolates a [channels, inSize] (channel-major) sequence at one point into `out`
 * (length channels).
 */
export function interpolateChannelMajorAt(
  src: Float32Array,
  channels: number,
  inSize: number,
  p: LerpPoint,
  out: Float32Array,
  outOffset = 0,
): void {
  const w1 = p.w;
  const w0 = f32(1 - w1);
  for (let c = 0; c < channels; c++) {
    const row = c * inSize;
    out[outOffset + c] = lerp2(src[row + p.lo]!, w0, src[row + p.hi]!, w1);
  }
}

/** Resizes [channels, inSize] to [outSize, channels] (time-major) with align_corners=true. */
export function resizeAlignCorners(
  src: Float32Array,
  channels: number,
  inSize: number,
  outSize: number,
  out: Float32Array,
): void {
  const p: LerpPoint = { lo: 0, hi: 0, w: 0 };
  for (let i = 0; i < outSize; i++) {
    lerpPoint(alignCornersSource(i, inSize, outSize), inSize, p);
    interpolateChannelMajorAt(src, channels, inSize, p, out, i * channels);
  }
}

/**
 * Upsamples time-major [inSize, dim] to [outSize, dim] with align_corners=false
 * (the exact rollout's 50 Hz → 2 kHz step).
 */
export function upsampleHalfPixel(
  src: Float32Array,
  dim: number,
  inSize: number,
  outSize: number,
  out: Float32Array,
): void {
  const p: LerpPoint = { lo: 0, hi: 0, w: 0 };
  for (let i = 0; i < outSize; i++) {
    lerpPoint(halfPixelSource(i, inSize, outSize), inSize, p);
    const w1 = p.w;
    const w0 = f32(1 - w1);
    const a = p.lo * dim;
    const b = p.hi * dim;
    const o = i * dim;
    for (let d = 0; d < dim; d++) out[o + d] = lerp2(src[a + d]!, w0, src[b + d]!, w1);
  }
}
