/**
 * Generator of packages/client/src/node/pillow-kernels-unrolled.ts (the unrolled inner loops of the exact Pillow
 * resize). `node --import tsx packages/client/test/pillow-kernels.gen.ts` rewrites the file; image-tools.test.ts
 * checks that the committed file equals this generator's output.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Largest tap count with unrolled kernels; wider filters use the generic loops of pillow-kernels.ts. */
export const MAX_UNROLLED_TAPS = 12;

const range = (n: number): number[] => [...Array(n).keys()];
const plus = (base: string, off: number): string => (off === 0 ? base : `(${base} + ${off}) | 0`);
const weightDecls = (k: number, indent: string): string =>
  range(k)
    .map((t) => `${indent}const w${t} = w[${plus('k', t)}] as number;`)
    .join('\n');
/** `(2^21 + sum of terms) | 0`; 2097152 = HALF. */
const fixedSum = (terms: string[]): string => `(2097152 + ${terms.join(' + ')}) | 0`;

function horizontal(k: number): string {
  const sum = (c: number): string =>
    fixedSum(range(k).map((t) => `Math.imul(src[${plus('p', 3 * t + c)}] as number, w${t})`));
  return `
const h${k}: HorizontalKernel = (src, srcOff, srcStride, dst, dstOff, dstStride, rows, start, w, outSize) => {
  const ss = srcStride | 0;
  const ds = dstStride | 0;
  const n = rows | 0;
  for (let xx = 0; xx < outSize; xx = (xx + 1) | 0) {
    const k = Math.imul(xx, ${k});
${weightDecls(k, '    ')}
    let p = (srcOff + Math.imul(start[xx] as number, 3)) | 0;
    let o = (dstOff + Math.imul(xx, 3)) | 0;
    for (let r = 0; r < n; r = (r + 1) | 0) {
      dst[o] = (${sum(0)}) >> 22;
      dst[(o + 1) | 0] = (${sum(1)}) >> 22;
      dst[(o + 2) | 0] = (${sum(2)}) >> 22;
      p = (p + ss) | 0;
      o = (o + ds) | 0;
    }
  }
};
`;
}

/** Column kernel reading the window's 3k bytes, which start at byte `phase` of word `q`, as whole words. */
function horizontalWords(k: number, phase: number): string {
  const words = Math.ceil((phase + 3 * k) / 4);
  const byte = (j: number): string => {
    const b = phase + j;
    const shift = (b & 3) * 8;
    const word = `u${b >> 2}`;
    if (shift === 0) return `(${word} & 255)`;
    if (shift === 24) return `(${word} >>> 24)`;
    return `((${word} >>> ${shift}) & 255)`;
  };
  const sum = (c: number): string => fixedSum(range(k).map((t) => `Math.imul(${byte(3 * t + c)}, w${t})`));
  return `
const hw${k}p${phase}: HorizontalWordKernel = (src, q0, srcStride, dst, o0, dstStride, rows, w, k) => {
${weightDecls(k, '  ')}
  let q = q0 | 0;
  let o = o0 | 0;
  for (let r = 0; r < rows; r = (r + 1) | 0) {
${range(words)
  .map((i) => `    const u${i} = src[${plus('q', i)}] as number;`)
  .join('\n')}
    dst[o] = (${sum(0)}) >> 22;
    dst[(o + 1) | 0] = (${sum(1)}) >> 22;
    dst[(o + 2) | 0] = (${sum(2)}) >> 22;
    q = (q + srcStride) | 0;
    o = (o + dstStride) | 0;
  }
};
`;
}

function vertical(k: number): string {
  const rowsDecl = range(k)
    .map((t) =>
      t === 0
        ? '    const p0 = (srcOff + Math.imul((start[yy] as number) - rowShift, srcStride)) | 0;'
        : `    const p${t} = (p${t - 1} + srcStride) | 0;`,
    )
    .join('\n');
  const sum = fixedSum(range(k).map((t) => `Math.imul(src[(p${t} + i) | 0] as number, w${t})`));
  return `
const v${k}: VerticalKernel = (src, srcOff, srcStride, rowShift, dst, dstOff, dstStride, rowLen, start, w, outSize) => {
  const len = rowLen | 0;
  for (let yy = 0; yy < outSize; yy = (yy + 1) | 0) {
    const k = Math.imul(yy, ${k});
${weightDecls(k, '    ')}
${rowsDecl}
    const o = (dstOff + Math.imul(yy, dstStride)) | 0;
    for (let i = 0; i < len; i = (i + 1) | 0) {
      dst[(o + i) | 0] = (${sum}) >> 22;
    }
  }
};
`;
}

/** One output row of the vertical pass, reading 4 bytes of each source row per load (offsets in words). */
function verticalWords(k: number): string {
  const rowsDecl = range(k)
    .map((t) => (t === 0 ? '  const p0 = q0 | 0;' : `  const p${t} = (p${t - 1} + srcStride) | 0;`))
    .join('\n');
  const lane = (t: number, b: number): string =>
    b === 0 ? `(u${t} & 255)` : b === 3 ? `(u${t} >>> 24)` : `((u${t} >>> ${8 * b}) & 255)`;
  const sum = (b: number): string => fixedSum(range(k).map((t) => `Math.imul(${lane(t, b)}, w${t})`));
  return `
const vw${k}: VerticalWordKernel = (src, q0, ${k === 1 ? '_srcStride' : 'srcStride'}, dst, o0, rowWords, w, k) => {
${weightDecls(k, '  ')}
${rowsDecl}
  const len = rowWords | 0;
  let o = o0 | 0;
  for (let i = 0; i < len; i = (i + 1) | 0) {
${range(k)
  .map((t) => `    const u${t} = src[(p${t} + i) | 0] as number;`)
  .join('\n')}
    dst[o] = (${sum(0)}) >> 22;
    dst[(o + 1) | 0] = (${sum(1)}) >> 22;
    dst[(o + 2) | 0] = (${sum(2)}) >> 22;
    dst[(o + 3) | 0] = (${sum(3)}) >> 22;
    o = (o + 4) | 0;
  }
};
`;
}

/** Adds `m` taps (from tap `t0` of each output's window) to int32 sums: the chunks of a wide horizontal filter. */
function horizontalAcc(m: number): string {
  const sum = (c: number): string =>
    range(m)
      .map((t) => `Math.imul(src[${plus('p', 3 * t + c)}] as number, w${t})`)
      .join(' + ');
  return `
const ha${m}: HorizontalAccKernel = (src, srcOff, srcStride, acc, rows, start, w, taps, t0, outSize) => {
  const ss = srcStride | 0;
  const as = Math.imul(outSize, 3);
  for (let xx = 0; xx < outSize; xx = (xx + 1) | 0) {
    const k = (Math.imul(xx, taps) + t0) | 0;
${weightDecls(m, '    ')}
    let p = (srcOff + Math.imul((start[xx] as number) + t0, 3)) | 0;
    let a = Math.imul(xx, 3);
    for (let r = 0; r < rows; r = (r + 1) | 0) {
      acc[a] = ((acc[a] as number) + ${sum(0)}) | 0;
      acc[(a + 1) | 0] = ((acc[(a + 1) | 0] as number) + ${sum(1)}) | 0;
      acc[(a + 2) | 0] = ((acc[(a + 2) | 0] as number) + ${sum(2)}) | 0;
      p = (p + ss) | 0;
      a = (a + as) | 0;
    }
  }
};
`;
}

/** Adds `m` source rows (from byte `p0`, `srcStride` apart) to an int32 row: the chunks of a wide vertical filter. */
function verticalAcc(m: number): string {
  const rowsDecl = range(m)
    .map((t) => (t === 0 ? '  const p0 = q0 | 0;' : `  const p${t} = (p${t - 1} + srcStride) | 0;`))
    .join('\n');
  const sum = range(m)
    .map((t) => `Math.imul(src[(p${t} + i) | 0] as number, w${t})`)
    .join(' + ');
  return `
const va${m}: VerticalAccKernel = (src, q0, ${m === 1 ? '_srcStride' : 'srcStride'}, acc, rowLen, w, k) => {
${weightDecls(m, '  ')}
${rowsDecl}
  for (let i = 0; i < rowLen; i = (i + 1) | 0) {
    acc[i] = ((acc[i] as number) + ${sum}) | 0;
  }
};
`;
}

export function generatePillowKernels(): string {
  const ks = range(MAX_UNROLLED_TAPS).map((i) => i + 1);
  let out = `// biome-ignore-all format: generated by packages/client/test/pillow-kernels.gen.ts (edit that, then rerun it)
/**
 * The unrolled inner loops of resizeRgb8 (pillow-resample.ts), for 1..${MAX_UNROLLED_TAPS} filter taps: \`hK\`, \`hwKpP\`,
 * \`vK\`, \`vwK\`, \`haK\` and \`vaK\` are the K-tap instances of the loops documented on HorizontalKernel,
 * HorizontalWordKernel, VerticalKernel, VerticalWordKernel, HorizontalAccKernel and VerticalAccKernel
 * (pillow-kernels.ts). GENERATED: edit packages/client/test/pillow-kernels.gen.ts and rerun it;
 * pillow-resample.test.ts fails when this file and the generator disagree.
 *
 * Every value is \`(2^21 + sum(src * w)) >> 22\`, Pillow's fixed-point formula (2097152 = HALF, 22 =
 * PRECISION_BITS, literals so V8 folds them). The caller guarantees each sum lies in [0, 2^30) (non-negative
 * weights summing to about 2^22: AxisWindows.unclipped), so the int32 arithmetic never wraps and the shift is
 * already in 0..255: no clip. The \`| 0\` on every index and sum tells V8 the arithmetic is int32, which drops its
 * overflow checks; unrolled taps keep the weights in registers (both measured on Node 20, see docs/image-tools.md).
 */
import type {
  HorizontalAccKernel,
  HorizontalKernel,
  HorizontalWordKernel,
  VerticalAccKernel,
  VerticalKernel,
  VerticalWordKernel,
} from './pillow-kernels.js';
`;
  for (const k of ks) out += horizontal(k);
  for (const k of ks) for (const phase of [0, 1, 2, 3]) out += horizontalWords(k, phase);
  for (const k of ks) out += vertical(k);
  for (const k of ks) out += verticalWords(k);
  for (const k of ks) out += horizontalAcc(k);
  for (const k of ks) out += verticalAcc(k);
  out += `
/** Horizontal kernels by tap count (index K; index 0 unused). */
export const HORIZONTAL_KERNELS: readonly (HorizontalKernel | undefined)[] = [undefined, ${ks.map((k) => `h${k}`).join(', ')}];

/** Word-reading horizontal kernels by tap count, then by the window's byte phase in its first word (index K * 4 + phase). */
export const HORIZONTAL_WORD_KERNELS: readonly (HorizontalWordKernel | undefined)[] = [undefined, undefined, undefined, undefined, ${ks.map((k) => [0, 1, 2, 3].map((p) => `hw${k}p${p}`).join(', ')).join(', ')}];

/** Vertical kernels by tap count (index K; index 0 unused). */
export const VERTICAL_KERNELS: readonly (VerticalKernel | undefined)[] = [undefined, ${ks.map((k) => `v${k}`).join(', ')}];

/** Accumulating horizontal chunk kernels by chunk size (index m; index 0 unused). */
export const HORIZONTAL_ACC_KERNELS: readonly (HorizontalAccKernel | undefined)[] = [undefined, ${ks.map((k) => `ha${k}`).join(', ')}];

/** Accumulating vertical chunk kernels by chunk size (index m; index 0 unused). */
export const VERTICAL_ACC_KERNELS: readonly (VerticalAccKernel | undefined)[] = [undefined, ${ks.map((k) => `va${k}`).join(', ')}];

/** Word-reading vertical kernels by tap count (index K; index 0 unused). */
export const VERTICAL_WORD_KERNELS: readonly (VerticalWordKernel | undefined)[] = [undefined, ${ks.map((k) => `vw${k}`).join(', ')}];
`;
  return out;
}

export const GENERATED_PATH = fileURLToPath(
  new URL('../src/node/pillow-kernels-unrolled.ts', import.meta.url),
);

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(GENERATED_PATH, generatePillowKernels());
  console.log(`wrote ${GENERATED_PATH}`);
}
