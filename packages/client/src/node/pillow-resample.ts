/**
 * Pillow's `Image.resize(size, Image.BILINEAR)` for 8-bit RGB images, reproduced bit for bit.
 *
 * The algorithm (Pillow's libImaging/Resample.c, as observed and verified against Pillow 13 by the parity tests):
 * - per axis, a triangle filter (support 1) stretched by the downscale factor (`max(1, in/out)`), so downscaling
 *   is antialiased; weights computed in double, normalised to sum 1, then turned into 22-bit fixed point with
 *   round-half-away-from-zero;
 * - two passes through an 8-bit intermediate (each over only the rows/columns the second pass reads); each pass starts its accumulator at 0.5 (fixed point), shifts right by 22 and clips to 0..255;
 * - a pass is skipped when its axis keeps its size (Pillow does the same; the identity filter would give the same
 *   bytes anyway);
 * - the pass order: horizontal first, except that Pillow >= 13 goes vertical first when the height shrinks by
 *   more than twice as many pixels as the width (found by experiment on Pillow 13.0.0, then matched to
 *   python-pillow/Pillow#9549 "If height is scaled down significantly more than width, resize vertically first").
 * No `reducing_gap` pre-reduction: `Image.resize` applies one only when the caller passes `reducing_gap`, and openpi
 * does not.
 *
 * Pure TypeScript on typed arrays; coefficient tables are cached per (input size, output size).
 */

/** Fixed-point fraction bits of the filter weights (Pillow: `32 - 8 - 2`). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Filter weights of one axis: for output index i, `count[i]` taps starting at source index `first[i]`. */
export interface AxisCoefficients {
  readonly inSize: number;
  readonly outSize: number;
  /** Stride between the weight rows of consecutive outputs. */
  readonly ksize: number;
  readonly first: Int32Array;
  readonly count: Int32Array;
  /** Fixed-point weights, `ksize` per output (only the first `count[i]` are used). */
  readonly weights: Int32Array;
}

function triangle(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter over the full source range. */
export function bilinearCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamps below make that equal to Pillow's result for negatives too.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const v = triangle((x + xmin - center + 0.5) * ss);
      w[x] = v;
      sum += v;
    }
    const row = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const k = sum !== 0 ? (w[x] as number) / sum : (w[x] as number);
      weights[row + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { inSize, outSize, ksize, first, count, weights };
}

const CACHE_LIMIT = 64;
const cache = new Map<string, AxisCoefficients>();

/** {@link bilinearCoefficients}, cached per (inSize, outSize); the cache holds at most 64 tables. */
export function cachedBilinearCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const key = `${inSize}>${outSize}`;
  let c = cache.get(key);
  if (c === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    c = bilinearCoefficients(inSize, outSize);
    cache.set(key, c);
  }
  return c;
}

function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : Math.min(s, 255);
}

/**
 * Horizontal pass over `rows` rows of 3-channel pixels: row r of `src` starts at `srcOff + r * srcStride`, row r of
 * `dst` at `dstOff + r * dstStride` (strides and offsets in bytes).
 */
function horizontal3(
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rows: number,
  c: AxisCoefficients,
): void {
  const { outSize, ksize, first, count, weights } = c;
  for (let r = 0; r < rows; r++) {
    const inRow = srcOff + r * srcStride;
    let o = dstOff + r * dstStride;
    for (let xx = 0; xx < outSize; xx++) {
      const n = count[xx] as number;
      let p = inRow + (first[xx] as number) * 3;
      let k = xx * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let t = 0; t < n; t++) {
        // int32 arithmetic: |sum| <= 255 * 2^22 * (1 + ksize / 2^22) + 2^21 < 2^31 for non-negative weights.
        const w = weights[k++] as number;
        s0 = (s0 + Math.imul(src[p] as number, w)) | 0;
        s1 = (s1 + Math.imul(src[p + 1] as number, w)) | 0;
        s2 = (s2 + Math.imul(src[p + 2] as number, w)) | 0;
        p += 3;
      }
      dst[o] = clip8(s0);
      dst[o + 1] = clip8(s1);
      dst[o + 2] = clip8(s2);
      o += 3;
    }
  }
}

/**
 * Vertical pass: output row yy = weighted sum of source rows `first[yy] - rowShift ...`; each row is `rowLen` bytes
 * (width * 3). Source row i starts at `srcOff + i * srcStride`, output row yy at `dstOff + yy * dstStride`.
 */
function vertical(
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  rowShift: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rowLen: number,
  c: AxisCoefficients,
): void {
  const { outSize, ksize, first, count, weights } = c;
  // Row-major accumulation (one source row at a time into an int32 row) keeps memory access sequential; the sum
  // is the same int32 arithmetic as a per-pixel loop, so the bytes are identical.
  const acc = accumulator(rowLen);
  for (let yy = 0; yy < outSize; yy++) {
    const n = count[yy] as number;
    const base = srcOff + ((first[yy] as number) - rowShift) * srcStride;
    const k0 = yy * ksize;
    const o = dstOff + yy * dstStride;
    acc.fill(HALF, 0, rowLen);
    for (let t = 0; t < n; t++) {
      const w = weights[k0 + t] as number;
      const p = base + t * srcStride;
      for (let i = 0; i < rowLen; i++) {
        acc[i] = ((acc[i] as number) + Math.imul(src[p + i] as number, w)) | 0;
      }
    }
    for (let i = 0; i < rowLen; i++) dst[o + i] = clip8(acc[i] as number);
  }
}

let accScratch = new Int32Array(0);

function accumulator(len: number): Int32Array {
  if (accScratch.length < len) accScratch = new Int32Array(len);
  return accScratch;
}

let tmpScratch = new Uint8Array(0);

/** Where {@link resizeRgb8} reads its source and writes its result (offsets and strides in bytes). */
export interface RgbPlane {
  data: Uint8Array;
  offset: number;
  /** Bytes from one row's start to the next (>= width * 3). */
  stride: number;
}

/**
 * Which pass runs first when both axes change. `'pillow13'`: Pillow >= 13 (python-pillow/Pillow#9549) runs the
 * vertical pass first when the height shrinks by more than twice as many pixels as the width
 * (`outH < inH && inH - outH > 2 * (inW - outW)`), horizontal first otherwise. `'horizontal-first'`: Pillow <= 12.
 * The order changes rounding of the 8-bit intermediate, so it decides bit-exactness.
 */
export type PassOrder = 'pillow13' | 'horizontal-first';

/** True when Pillow >= 13 would run the vertical pass first for this resize (both axes changing). */
export function pillowVerticalFirst(inW: number, inH: number, outW: number, outH: number): boolean {
  return outH < inH && inH - outH > 2 * (inW - outW);
}

/**
 * Resizes one 3-channel uint8 image `inW x inH` to `outW x outH` exactly like Pillow's BILINEAR `Image.resize`,
 * writing into `dst` (which may be a window of a larger, padded image). Uses module-level scratch buffers: never
 * awaits, so plain calls are safe.
 */
export function resizeRgb8(
  src: RgbPlane,
  inW: number,
  inH: number,
  dst: RgbPlane,
  outW: number,
  outH: number,
  order: PassOrder = 'pillow13',
): void {
  const needH = outW !== inW;
  const needV = outH !== inH;
  if (!needH && !needV) {
    for (let y = 0; y < inH; y++) {
      const s = src.offset + y * src.stride;
      dst.data.set(src.data.subarray(s, s + inW * 3), dst.offset + y * dst.stride);
    }
    return;
  }
  if (!needH) {
    const cv = cachedBilinearCoefficients(inH, outH);
    vertical(src.data, src.offset, src.stride, 0, dst.data, dst.offset, dst.stride, inW * 3, cv);
    return;
  }
  const ch = cachedBilinearCoefficients(inW, outW);
  if (!needV) {
    horizontal3(src.data, src.offset, src.stride, dst.data, dst.offset, dst.stride, inH, ch);
    return;
  }
  const cv = cachedBilinearCoefficients(inH, outH);
  if (order === 'pillow13' && pillowVerticalFirst(inW, inH, outW, outH)) {
    // Vertical pass over only the source columns the horizontal filter reads.
    const xFirst = ch.first[0] as number;
    const xLast = (ch.first[outW - 1] as number) + (ch.count[outW - 1] as number);
    const rowLen = (xLast - xFirst) * 3;
    const tmp = scratch(outH * rowLen);
    vertical(src.data, src.offset + xFirst * 3, src.stride, 0, tmp, 0, rowLen, rowLen, cv);
    horizontal3(tmp, -xFirst * 3, rowLen, dst.data, dst.offset, dst.stride, outH, ch);
    return;
  }
  // Horizontal pass over only the source rows the vertical filter reads (Pillow's ybox_first..ybox_last).
  const yFirst = cv.first[0] as number;
  const yLast = (cv.first[outH - 1] as number) + (cv.count[outH - 1] as number);
  const rows = yLast - yFirst;
  const rowLen = outW * 3;
  const tmp = scratch(rows * rowLen);
  horizontal3(src.data, src.offset + yFirst * src.stride, src.stride, tmp, 0, rowLen, rows, ch);
  vertical(tmp, 0, rowLen, yFirst, dst.data, dst.offset, dst.stride, rowLen, cv);
}

function scratch(bytes: number): Uint8Array {
  if (tmpScratch.length < bytes) tmpScratch = new Uint8Array(bytes);
  return tmpScratch;
}
