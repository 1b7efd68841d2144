/**
 * Pillow's `Image.resize(size, Image.BILINEAR)` for 8-bit RGB images, reproduced bit for bit.
 *
 * The algorithm (Pillow's libImaging/Resample.c, as observed and verified against Pillow 13 by the parity tests):
 * - per axis, a triangle filter (support 1) stretched by the downscale factor (`max(1, in/out)`), so downscaling
 *   is antialiased; weights computed in double, normalised to sum 1, then turned into 22-bit fixed point with
 *   round-half-away-from-zero;
 * - two passes through an 8-bit intermediate (each over only the rows/columns the second pass reads); each pass
 *   starts its accumulator at 0.5 (fixed point), shifts right by 22 and clips to 0..255;
 * - a pass is skipped when its axis keeps its size (Pillow does the same; the identity filter would give the same
 *   bytes anyway);
 * - the pass order: horizontal first, except that Pillow >= 13 goes vertical first when the height shrinks by
 *   more than twice as many pixels as the width (found by experiment on Pillow 13.0.0, then matched to
 *   python-pillow/Pillow#9549 "If height is scaled down significantly more than width, resize vertically first").
 * No `reducing_gap` pre-reduction: `Image.resize` applies one only when the caller passes `reducing_gap`, and openpi
 * does not.
 *
 * Pure TypeScript on typed arrays. Coefficient tables are cached per (input size, output size). {@link resizeRgb8}
 * runs the passes through the kernels of pillow-kernels.ts / pillow-kernels-unrolled.ts (unrolled per tap count,
 * int32 hints, whole-word source reads where the layout allows, see docs/image-tools.md for the measurements);
 * {@link resizeRgb8Reference} is the direct port of Pillow's loops, kept as the fallback and the tests' reference.
 * Both give the same bytes: the sums are the same int32 sums in the same order-independent arithmetic.
 */

import {
  HALF,
  type HorizontalWordKernel,
  horizontalGeneric,
  PRECISION_BITS,
  type VerticalWordKernel,
  verticalGeneric,
} from './pillow-kernels.js';
import {
  HORIZONTAL_KERNELS,
  HORIZONTAL_WORD_KERNELS,
  VERTICAL_KERNELS,
  VERTICAL_WORD_KERNELS,
} from './pillow-kernels-unrolled.js';

/** 1.0 in the weights' fixed point. */
const ONE = 1 << PRECISION_BITS;

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

/**
 * One axis's filter in the form the fast kernels use: every output reads the same number of taps (`taps`, the
 * largest `count`), from a window shifted left where it would run past the image end and padded with zero weights.
 * A zero-weight tap adds exactly 0 to the int32 sum, so the bytes equal Pillow's variable-length sums.
 */
export interface AxisWindows {
  /** Pillow's own variable-length taps, which the word kernels use (one call per output, no zero padding). */
  readonly coefficients: AxisCoefficients;
  /** The smallest `coefficients.count` (>= 1 for the bilinear filter). */
  readonly minCount: number;
  readonly inSize: number;
  readonly outSize: number;
  readonly taps: number;
  /** First source index of each output's window; `start[i] + taps <= inSize`. */
  readonly start: Int32Array;
  /** `taps` fixed-point weights per output. */
  readonly weights: Int32Array;
  /** The source range any window touches: `[lo, hi)`. */
  readonly lo: number;
  readonly hi: number;
  /**
   * True when every weight is >= 0 and every output's `2^21 + 255 * sum(weights) < 2^30`: then each fixed-point
   * sum lies in [0, 2^30), fits int32, and its `>> 22` is already in 0..255, so the kernels need no clip. Always
   * true for the bilinear filter below ~16,000 taps; {@link resizeRgb8} falls back to the reference loops otherwise.
   */
  readonly unclipped: boolean;
}

/** Builds {@link AxisWindows} from Pillow's coefficients. */
export function axisWindows(c: AxisCoefficients): AxisWindows {
  const { inSize, outSize, ksize, first, count, weights } = c;
  let taps = 0;
  let minCount = inSize;
  for (let i = 0; i < outSize; i++) {
    taps = Math.max(taps, count[i] as number);
    minCount = Math.min(minCount, count[i] as number);
  }
  const start = new Int32Array(outSize);
  const w = new Int32Array(outSize * taps);
  let lo = inSize;
  let hi = 0;
  let unclipped = true;
  for (let i = 0; i < outSize; i++) {
    const f = first[i] as number;
    const n = count[i] as number;
    // count <= inSize, so taps <= inSize and the shifted window start stays >= 0.
    const s = Math.min(f, inSize - taps);
    start[i] = s;
    lo = Math.min(lo, s);
    hi = Math.max(hi, s + taps);
    let sum = 0;
    for (let t = 0; t < n; t++) {
      const wt = weights[i * ksize + t] as number;
      if (wt < 0) unclipped = false;
      sum += wt;
      w[i * taps + (f - s) + t] = wt;
    }
    if (HALF + 255 * sum >= 2 ** 30) unclipped = false;
  }
  return { coefficients: c, minCount, inSize, outSize, taps, start, weights: w, lo, hi, unclipped };
}

const CACHE_LIMIT = 64;
const cache = new Map<string, { coefficients: AxisCoefficients; windows?: AxisWindows }>();

function cacheEntry(
  inSize: number,
  outSize: number,
): { coefficients: AxisCoefficients; windows?: AxisWindows } {
  const key = `${inSize}>${outSize}`;
  let e = cache.get(key);
  if (e === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    e = { coefficients: bilinearCoefficients(inSize, outSize) };
    cache.set(key, e);
  }
  return e;
}

/** {@link bilinearCoefficients}, cached per (inSize, outSize); the cache holds at most 64 axis pairs. */
export function cachedBilinearCoefficients(inSize: number, outSize: number): AxisCoefficients {
  return cacheEntry(inSize, outSize).coefficients;
}

/** {@link axisWindows} of the bilinear filter, cached alongside {@link cachedBilinearCoefficients}. */
export function cachedBilinearWindows(inSize: number, outSize: number): AxisWindows {
  const e = cacheEntry(inSize, outSize);
  if (e.windows === undefined) e.windows = axisWindows(e.coefficients);
  return e.windows;
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
 * writing into `dst` (which may be a window of a larger, padded image). Same bytes as
 * {@link resizeRgb8Reference}, through the unrolled fixed-window kernels of pillow-kernels.ts. Uses module-level
 * scratch buffers: never awaits, so plain calls are safe.
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
  const ch = needH ? cachedBilinearWindows(inW, outW) : undefined;
  const cv = needV ? cachedBilinearWindows(inH, outH) : undefined;
  if ((ch !== undefined && !ch.unclipped) || (cv !== undefined && !cv.unclipped)) {
    resizeRgb8Reference(src, inW, inH, dst, outW, outH, order);
    return;
  }
  // Plain Uint8Array views keep the kernels' element accesses monomorphic (a Buffer has another map).
  const s = plain(src.data);
  const d = plain(dst.data);
  if (ch === undefined && cv === undefined) {
    for (let y = 0; y < inH; y++) {
      const o = src.offset + y * src.stride;
      d.set(s.subarray(o, o + inW * 3), dst.offset + y * dst.stride);
    }
    return;
  }
  if (ch === undefined) {
    runVertical(s, src.offset, src.stride, 0, d, dst.offset, dst.stride, inW * 3, cv as AxisWindows);
    return;
  }
  if (cv === undefined) {
    runHorizontal(s, src.offset, src.stride, d, dst.offset, dst.stride, inH, ch);
    return;
  }
  // The 8-bit intermediate's rows start on 4-byte boundaries, so the second pass can read it as words.
  if (order === 'pillow13' && pillowVerticalFirst(inW, inH, outW, outH)) {
    // Vertical pass over only the source columns the horizontal windows read.
    const rowLen = (ch.hi - ch.lo) * 3;
    const tmpStride = (rowLen + 3) & ~3;
    const tmp = scratch(outH * tmpStride);
    runVertical(s, src.offset + ch.lo * 3, src.stride, 0, tmp, 0, tmpStride, rowLen, cv);
    runHorizontal(tmp, -ch.lo * 3, tmpStride, d, dst.offset, dst.stride, outH, ch);
    return;
  }
  // Horizontal pass over only the source rows the vertical windows read (Pillow's ybox_first..ybox_last).
  const rows = cv.hi - cv.lo;
  const rowLen = outW * 3;
  const tmpStride = (rowLen + 3) & ~3;
  const tmp = scratch(rows * tmpStride);
  runHorizontal(s, src.offset + cv.lo * src.stride, src.stride, tmp, 0, tmpStride, rows, ch);
  runVertical(tmp, 0, tmpStride, cv.lo, d, dst.offset, dst.stride, rowLen, cv);
}

/**
 * Rows per block of the column-wise horizontal kernels, so a block's source and destination lines stay in cache
 * while the kernels walk its columns (measured best on Node 20: 128 for the unrolled kernels, 32 for the chunked
 * generic loops, whose int32 sums per block also need room).
 */
const ROW_BLOCK = 128;
const GENERIC_ROW_BLOCK = 32;

/** The word kernels assume little-endian words (every platform Node runs on; checked anyway). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function runHorizontal(
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rows: number,
  c: AxisWindows,
): void {
  const { taps, start, weights, outSize } = c;
  const { first, count, ksize, weights: cw } = c.coefficients;
  const kernel = HORIZONTAL_KERNELS[taps];
  // Word reads need every row's window at the same byte phase, i.e. a stride of whole words.
  const words =
    kernel !== undefined &&
    c.minCount >= 1 &&
    LITTLE_ENDIAN &&
    srcStride % 4 === 0 &&
    src.byteLength < 2 ** 31
      ? wordView(src)
      : undefined;
  const lastEnd = ((first[outSize - 1] as number) + (count[outSize - 1] as number)) * 3;
  const block = kernel !== undefined ? ROW_BLOCK : GENERIC_ROW_BLOCK;
  for (let r = 0; r < rows; r += block) {
    const n = Math.min(block, rows - r);
    const so = srcOff + r * srcStride;
    const dOff = dstOff + r * dstStride;
    if (words !== undefined) {
      // Byte addresses relative to words[0]; the block's first and last window bytes must lie in `words`.
      const base = src.byteOffset + so - words.byteOffset;
      const firstByte = base + (first[0] as number) * 3;
      const lastByte = base + (n - 1) * srcStride + lastEnd - 1;
      if (firstByte >= 0 && lastByte >> 2 < words.length) {
        const ws = srcStride >> 2;
        for (let xx = 0; xx < outSize; xx++) {
          const x = base + (first[xx] as number) * 3;
          const k = HORIZONTAL_WORD_KERNELS[(count[xx] as number) * 4 + (x & 3)] as HorizontalWordKernel;
          k(words, x >> 2, ws, dst, dOff + xx * 3, dstStride, n, cw, xx * ksize);
        }
        continue;
      }
    }
    if (kernel !== undefined) kernel(src, so, srcStride, dst, dOff, dstStride, n, start, weights, outSize);
    else horizontalGeneric(src, so, srcStride, dst, dOff, dstStride, n, start, weights, outSize, taps);
  }
}

/** The whole 4-byte-aligned words inside `a`, as an Int32Array over the same memory. */
function wordView(a: Uint8Array): Int32Array {
  const begin = (a.byteOffset + 3) & ~3;
  const count = Math.max(0, (a.byteOffset + a.byteLength - begin) >> 2);
  return new Int32Array(a.buffer, begin, count);
}

function runVertical(
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  rowShift: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rowLen: number,
  c: AxisWindows,
): void {
  const { taps, start, weights, outSize } = c;
  const kernel = VERTICAL_KERNELS[taps];
  if (kernel === undefined) {
    verticalGeneric(
      src,
      srcOff,
      srcStride,
      rowShift,
      dst,
      dstOff,
      dstStride,
      rowLen,
      start,
      weights,
      outSize,
      taps,
    );
    return;
  }
  let done = 0;
  if (c.minCount >= 1 && LITTLE_ENDIAN && srcStride % 4 === 0 && src.byteLength < 2 ** 31 && rowLen >= 4) {
    const { first, count, ksize, weights: cw } = c.coefficients;
    const words = wordView(src);
    const x = src.byteOffset + srcOff - words.byteOffset; // byte address of source row 0 relative to words[0]
    const rowWords = rowLen >> 2;
    const firstByte = x + ((first[0] as number) - rowShift) * srcStride;
    const endRow = (first[outSize - 1] as number) + (count[outSize - 1] as number) - rowShift;
    const lastByte = x + (endRow - 1) * srcStride + rowWords * 4 - 1;
    if ((x & 3) === 0 && firstByte >= 0 && lastByte >> 2 < words.length) {
      const ws = srcStride >> 2;
      for (let yy = 0; yy < outSize; yy++) {
        const k = VERTICAL_WORD_KERNELS[count[yy] as number] as VerticalWordKernel;
        const q = (x + ((first[yy] as number) - rowShift) * srcStride) >> 2;
        k(words, q, ws, dst, dstOff + yy * dstStride, rowWords, cw, yy * ksize);
      }
      done = rowWords * 4;
    }
  }
  if (done < rowLen) {
    kernel(
      src,
      srcOff + done,
      srcStride,
      rowShift,
      dst,
      dstOff + done,
      dstStride,
      rowLen - done,
      start,
      weights,
      outSize,
    );
  }
}

function plain(a: Uint8Array): Uint8Array {
  return a.constructor === Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * {@link resizeRgb8} written as the direct port of Pillow's loops (variable tap counts, clip after every shift).
 * Slower; kept as the fallback for filters outside the fast kernels' bounds ({@link AxisWindows.unclipped}) and
 * as the reference the fast path is tested against.
 */
export function resizeRgb8Reference(
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
