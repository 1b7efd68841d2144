/**
 * Inner-loop contracts of the exact Pillow resize (pillow-resample.ts), and the generic loops for filters wider
 * than the unrolled kernels of pillow-kernels-unrolled.ts (generated, same contracts, K = 1..12 taps).
 *
 * Every output value is `(HALF + sum(src * w)) >> PRECISION_BITS` in int32 arithmetic, Pillow's fixed-point
 * formula. Callers guarantee that each sum lies in [0, 2^30) (AxisWindows.unclipped: non-negative weights summing
 * to about 2^22), so the arithmetic never wraps and the shifted value is already in 0..255: no clip is needed.
 * Offsets and strides are in bytes (in words for the word kernels' source).
 */
import { HORIZONTAL_ACC_KERNELS, VERTICAL_ACC_KERNELS } from './pillow-kernels-unrolled.js';

/** Fixed-point fraction bits of the filter weights (Pillow: `32 - 8 - 2`). */
export const PRECISION_BITS = 22;
/** Rounding offset added before the shift (Pillow starts every accumulator at `1 << (PRECISION_BITS - 1)`). */
export const HALF = 1 << (PRECISION_BITS - 1);

/**
 * Horizontal pass over `rows` rows of interleaved 3-channel bytes, column by column: output pixel xx of row r is
 * written at `dstOff + r * dstStride + xx * 3` from the K source pixels starting at
 * `srcOff + r * srcStride + start[xx] * 3`, weighted by `w[xx * K .. xx * K + K)`. Walking a column of rows with
 * the K weights held in registers beats walking along a row (~1.6x measured).
 */
export type HorizontalKernel = (
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rows: number,
  start: Int32Array,
  w: Int32Array,
  outSize: number,
) => void;

/**
 * One output column of the horizontal pass, reading the source as little-endian 32-bit words (one bounds-checked
 * load per 4 bytes instead of per byte, ~15% faster measured): the window of row r is the 3K bytes starting at
 * byte `phase` (fixed per kernel) of word `q + r * srcStride`; output bytes at `o + r * dstStride`; weights
 * `w[k .. k + K)`. `srcStride` counts words. Called per column with that column's own tap count (Pillow's
 * `count`, no zero padding).
 */
export type HorizontalWordKernel = (
  src: Int32Array,
  q: number,
  srcStride: number,
  dst: Uint8Array,
  o: number,
  dstStride: number,
  rows: number,
  w: Int32Array,
  k: number,
) => void;

/**
 * Vertical pass: output row yy (`rowLen` bytes at `dstOff + yy * dstStride`) is the weighted sum of the K source
 * rows starting at row `start[yy] - rowShift` (row i at `srcOff + i * srcStride`), weights `w[yy * K ..)`.
 */
export type VerticalKernel = (
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  rowShift: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rowLen: number,
  start: Int32Array,
  w: Int32Array,
  outSize: number,
) => void;

/**
 * Adds taps `t0 .. t0 + m` of every output's window (m fixed per kernel) to int32 sums: output pixel xx of row r
 * accumulates into `acc[(r * outSize + xx) * 3 + c]`; window and weights as {@link HorizontalKernel} with `taps`
 * weights per output.
 */
export type HorizontalAccKernel = (
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  acc: Int32Array,
  rows: number,
  start: Int32Array,
  w: Int32Array,
  taps: number,
  t0: number,
  outSize: number,
) => void;

/** Adds m source rows (from byte `q`, `srcStride` apart, weights `w[k .. k + m)`) to the int32 row `acc`. */
export type VerticalAccKernel = (
  src: Uint8Array,
  q: number,
  srcStride: number,
  acc: Int32Array,
  rowLen: number,
  w: Int32Array,
  k: number,
) => void;

/** Taps per chunk of a filter wider than the unrolled kernels. */
const CHUNK = HORIZONTAL_ACC_KERNELS.length - 1;

let accScratch = new Int32Array(0);

function accumulator(len: number): Int32Array {
  if (accScratch.length < len) accScratch = new Int32Array(len);
  return accScratch;
}

/**
 * {@link HorizontalKernel} for any tap count `taps` (used above the unrolled sizes): the window summed in chunks of
 * up to CHUNK (12) unrolled taps into int32 sums (the same int32 arithmetic, so the same bytes), then shifted.
 */
export function horizontalGeneric(
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rows: number,
  start: Int32Array,
  w: Int32Array,
  outSize: number,
  taps: number,
): void {
  const rowLen = outSize * 3;
  const acc = accumulator(rows * rowLen);
  acc.fill(HALF, 0, rows * rowLen);
  for (let t0 = 0; t0 < taps; t0 += CHUNK) {
    const kernel = HORIZONTAL_ACC_KERNELS[Math.min(CHUNK, taps - t0)] as HorizontalAccKernel;
    kernel(src, srcOff, srcStride, acc, rows, start, w, taps, t0, outSize);
  }
  for (let r = 0; r < rows; r++) {
    const a = r * rowLen;
    const o = dstOff + r * dstStride;
    for (let i = 0; i < rowLen; i++) dst[o + i] = (acc[a + i] as number) >> PRECISION_BITS;
  }
}

/**
 * {@link VerticalKernel} for any tap count `taps`: each output row summed in chunks of up to CHUNK source rows into
 * an int32 row, then shifted.
 */
export function verticalGeneric(
  src: Uint8Array,
  srcOff: number,
  srcStride: number,
  rowShift: number,
  dst: Uint8Array,
  dstOff: number,
  dstStride: number,
  rowLen: number,
  start: Int32Array,
  w: Int32Array,
  outSize: number,
  taps: number,
): void {
  const acc = accumulator(rowLen);
  for (let yy = 0; yy < outSize; yy++) {
    const base = srcOff + ((start[yy] as number) - rowShift) * srcStride;
    const o = dstOff + yy * dstStride;
    acc.fill(HALF, 0, rowLen);
    for (let t0 = 0; t0 < taps; t0 += CHUNK) {
      const kernel = VERTICAL_ACC_KERNELS[Math.min(CHUNK, taps - t0)] as VerticalAccKernel;
      kernel(src, base + t0 * srcStride, srcStride, acc, rowLen, w, yy * taps + t0);
    }
    for (let i = 0; i < rowLen; i++) dst[o + i] = (acc[i] as number) >> PRECISION_BITS;
  }
}

/**
 * One output row of the vertical pass, reading the K source rows as little-endian 32-bit words: source row t of
 * the window starts at word `q + t * srcStride`, `rowWords` words each (4 output bytes per word, written from byte
 * `o` on); weights `w[k .. k + K)`.
 */
export type VerticalWordKernel = (
  src: Int32Array,
  q: number,
  srcStride: number,
  dst: Uint8Array,
  o: number,
  rowWords: number,
  w: Int32Array,
  k: number,
) => void;
