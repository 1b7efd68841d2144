/**
 * The fast resize kernels (pillow-kernels*.ts) against the direct port of Pillow's loops (resizeRgb8Reference),
 * over random geometries, pass orders, buffer alignments, strides and windows; and the generated kernel file
 * against its generator. (Both paths against openpi/Pillow itself: test/compat-image.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../test/mulberry32.js';
import {
  axisWindows,
  bilinearCoefficients,
  type PassOrder,
  resizeRgb8,
  resizeRgb8Reference,
} from '../src/node/pillow-resample.js';
import { GENERATED_PATH, generatePillowKernels } from './pillow-kernels.gen.js';

interface Case {
  inW: number;
  inH: number;
  outW: number;
  outH: number;
  order: PassOrder;
  /** Byte offset of the image inside its buffer (0..3 exercises every word alignment). */
  srcOffset: number;
  /** Extra bytes per source row beyond inW * 3 (0 keeps the stride a multiple of 4 only when inW is). */
  srcPad: number;
  dstOffset: number;
  dstPad: number;
}

/** Runs both implementations on the same noise image; returns the number of differing destination bytes. */
function differingBytes(c: Case, seed: number, asBuffer = false): number {
  const rand = mulberry32(seed);
  const srcStride = c.inW * 3 + c.srcPad;
  const srcLen = c.srcOffset + c.inH * srcStride;
  const srcData = asBuffer ? Buffer.alloc(srcLen) : new Uint8Array(srcLen);
  for (let i = 0; i < srcLen; i++) srcData[i] = Math.floor(rand() * 256);
  const dstStride = c.outW * 3 + c.dstPad;
  const dstLen = c.dstOffset + c.outH * dstStride;
  const fast = new Uint8Array(dstLen).fill(77);
  const ref = new Uint8Array(dstLen).fill(77);
  const src = { data: srcData, offset: c.srcOffset, stride: srcStride };
  resizeRgb8(
    src,
    c.inW,
    c.inH,
    { data: fast, offset: c.dstOffset, stride: dstStride },
    c.outW,
    c.outH,
    c.order,
  );
  resizeRgb8Reference(
    src,
    c.inW,
    c.inH,
    { data: ref, offset: c.dstOffset, stride: dstStride },
    c.outW,
    c.outH,
    c.order,
  );
  let diff = 0;
  for (let i = 0; i < dstLen; i++) if (fast[i] !== ref[i]) diff++;
  return diff;
}

describe('resizeRgb8 (fast kernels) vs resizeRgb8Reference (direct port of Pillow)', () => {
  it('gives identical bytes on 300 random geometries, alignments, strides and both pass orders', () => {
    const rand = mulberry32(20240601);
    const pick = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    const failures: string[] = [];
    for (let n = 0; n < 300; n++) {
      // Mostly camera-like shrinks (taps 2..8: the unrolled kernels), some upscales, some strong shrinks
      // (taps > 8: the generic loops), some one-axis resizes (a single pass).
      const kind = n % 6;
      const inW = pick(1, kind === 5 ? 900 : 320);
      const inH = pick(1, kind === 4 ? 900 : 240);
      const outW = kind === 3 ? inW : pick(1, kind === 1 ? 400 : Math.max(1, Math.min(320, inW)));
      const outH = kind === 2 ? inH : pick(1, kind === 1 ? 400 : Math.max(1, Math.min(240, inH)));
      const c: Case = {
        inW,
        inH,
        outW,
        outH,
        order: rand() < 0.5 ? 'pillow13' : 'horizontal-first',
        srcOffset: pick(0, 3),
        srcPad: rand() < 0.5 ? 0 : pick(1, 5),
        dstOffset: pick(0, 7),
        dstPad: rand() < 0.5 ? 0 : pick(1, 5),
      };
      const d = differingBytes(c, n);
      if (d !== 0) failures.push(`${JSON.stringify(c)}: ${d} bytes differ`);
    }
    expect(failures).toEqual([]);
  });

  it('covers the benchmark geometry (480x640 -> 168x224, word kernels) and a Node Buffer source', () => {
    const base = { srcPad: 0, dstPad: 0, dstOffset: 0 };
    for (const srcOffset of [0, 1, 2, 3]) {
      for (const order of ['pillow13', 'horizontal-first'] as const) {
        const c: Case = { inW: 640, inH: 480, outW: 224, outH: 168, order, srcOffset, ...base };
        expect(differingBytes(c, srcOffset)).toBe(0);
      }
    }
    const tall: Case = {
      inW: 240,
      inH: 1000,
      outW: 100,
      outH: 200,
      order: 'pillow13',
      srcOffset: 0,
      ...base,
    };
    expect(differingBytes(tall, 9)).toBe(0);
    const c: Case = { inW: 640, inH: 480, outW: 224, outH: 168, order: 'pillow13', srcOffset: 0, ...base };
    expect(differingBytes(c, 5, true)).toBe(0);
  });

  it('builds fixed-width windows inside the image whose weights are Pillow weights padded with zeros', () => {
    for (const [inSize, outSize] of [
      [640, 224],
      [480, 168],
      [100, 224],
      [7, 3],
      [1, 5],
      [2000, 3],
    ] as const) {
      const c = bilinearCoefficients(inSize, outSize);
      const w = axisWindows(c);
      expect(w.unclipped).toBe(true);
      expect(w.taps).toBe(Math.max(...c.count));
      for (let i = 0; i < outSize; i++) {
        const s = w.start[i] as number;
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s + w.taps).toBeLessThanOrEqual(inSize);
        for (let t = 0; t < w.taps; t++) {
          const src = s + t - (c.first[i] as number);
          const expected = src >= 0 && src < (c.count[i] as number) ? c.weights[i * c.ksize + src] : 0;
          expect(w.weights[i * w.taps + t]).toBe(expected);
        }
      }
    }
  });

  it('flags windows the unclipped kernels cannot take (a negative weight, or a sum that could pass 255)', () => {
    const base = bilinearCoefficients(10, 4);
    const negative = { ...base, weights: base.weights.map((v, i) => (i === 1 ? -v : v)) };
    expect(axisWindows(negative).unclipped).toBe(false);
    const heavy = { ...base, weights: base.weights.map((v) => v * 2) };
    expect(axisWindows(heavy).unclipped).toBe(false);
  });
});

describe('pillow-kernels-unrolled.ts', () => {
  it('is exactly what its generator (test/pillow-kernels.gen.ts) writes', () => {
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(generatePillowKernels());
  });
});
