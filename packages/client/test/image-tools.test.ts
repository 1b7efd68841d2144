/**
 * Exact-value tests of the Node image tools: openpi's padding geometry, Pillow's two-pass fixed-point rounding on
 * hand-computed pixels, error contracts, layout helpers, convertToUint8 policies and JPEG decode errors.
 * (Parity against openpi's Python code itself lives in test/compat-image.test.ts.)
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isOpenpiEdgeError } from '../src/errors.js';
import type { NDArray } from '../src/ndarray.js';
import {
  chwToHwc,
  convertToUint8,
  decodeJpeg,
  hwcToChw,
  MjpegSplitter,
  resizedSize,
  resizeWithPad,
  resizeWithPadSharp,
} from '../src/node/index.js';
import { bilinearCoefficients } from '../src/node/pillow-resample.js';

function u8(shape: number[], fill: (i: number) => number = () => 0): NDArray<'uint8'> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = fill(i);
  return { dtype: 'uint8', shape, data };
}

/** Rows [from, to) of an [H, W, 3] image as per-row "all equal to v" flags. */
function rowsAll(img: NDArray<'uint8'>, from: number, to: number, v: number): boolean {
  const w = img.shape[1] as number;
  for (let y = from; y < to; y++)
    for (let i = 0; i < w * 3; i++) if (img.data[y * w * 3 + i] !== v) return false;
  return true;
}

function thrown(fn: () => unknown): { code: string; message: string; context: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    if (isOpenpiEdgeError(e)) return { code: e.code, message: e.message, context: { ...e.context } };
    throw e;
  }
  throw new Error('expected a throw');
}

describe('resizedSize (openpi geometry)', () => {
  it.each([
    [480, 640, 168, 224, 28, 0],
    [376, 672, 125, 224, 49, 0],
    [720, 1280, 126, 224, 49, 0],
    [1080, 1920, 126, 224, 49, 0],
    [256, 256, 224, 224, 0, 0],
    [640, 480, 224, 168, 0, 28],
  ])('%ix%i -> %ix%i, pad top %i left %i', (h, w, rh, rw, top, left) => {
    expect(resizedSize(h, w, 224, 224)).toEqual({ height: rh, width: rw, padTop: top, padLeft: left });
  });
});

describe('resizeWithPad', () => {
  it('480x640 -> 224x224: 168 rows of content with 28 black rows above and below', () => {
    const out = resizeWithPad(
      u8([480, 640, 3], () => 255),
      224,
      224,
    ) as NDArray<'uint8'>;
    expect(out.shape).toEqual([224, 224, 3]);
    expect(rowsAll(out, 0, 28, 0)).toBe(true);
    expect(rowsAll(out, 28, 196, 255)).toBe(true);
    expect(rowsAll(out, 196, 224, 0)).toBe(true);
  });

  it('376x672 -> 224x224: 125 rows of content, 49 black above and 50 below (odd row at the bottom)', () => {
    const out = resizeWithPad(
      u8([376, 672, 3], () => 200),
      224,
      224,
    ) as NDArray<'uint8'>;
    expect(rowsAll(out, 0, 49, 0)).toBe(true);
    expect(rowsAll(out, 49, 174, 200)).toBe(true);
    expect(rowsAll(out, 174, 224, 0)).toBe(true);
    expect(rowsAll(out, 48, 49, 0) && !rowsAll(out, 173, 174, 0)).toBe(true);
  });

  it('returns the input itself when it already has the target size (any dtype, as openpi does)', () => {
    const img = u8([224, 224, 3]);
    expect(resizeWithPad(img, 224, 224)).toBe(img);
    const f: NDArray<'float32'> = {
      dtype: 'float32',
      shape: [2, 224, 224, 3],
      data: new Float32Array(2 * 224 * 224 * 3),
    };
    expect(resizeWithPad(f, 224, 224)).toBe(f);
  });

  it('rounds after each pass like Pillow: 2x2 -> 1x1 gives 26, not the exact mean 25.5', () => {
    // Per channel c: [[10, 21], [30, 41]] + c. Horizontal: (10+21)/2 -> 16 (half rounds up), (30+41)/2 -> 36;
    // vertical: (16+36)/2 = 26.
    const px = [10, 21, 30, 41];
    const img = u8([2, 2, 3], (i) => (px[Math.floor(i / 3)] as number) + (i % 3));
    // ratio = max(2/1, 2/1) = 2 -> 1x1, no padding when the target is 1x1.
    const out = resizeWithPad(img, 1, 1) as NDArray<'uint8'>;
    expect(Array.from(out.data)).toEqual([26, 27, 28]);
  });

  it('keeps leading batch dims and resizes every image independently', () => {
    const img = u8([2, 3, 48, 64, 3], (i) => (i * 7919) % 251);
    const out = resizeWithPad(img, 24, 24) as NDArray<'uint8'>;
    expect(out.shape).toEqual([2, 3, 24, 24, 3]);
    const one = 48 * 64 * 3;
    const single = resizeWithPad(
      { dtype: 'uint8', shape: [48, 64, 3], data: img.data.subarray(4 * one, 5 * one) },
      24,
      24,
    ) as NDArray<'uint8'>;
    expect(Array.from(out.data.subarray(4 * 24 * 24 * 3, 5 * 24 * 24 * 3))).toEqual(Array.from(single.data));
  });

  it('an empty batch gives an empty result of the target shape', () => {
    const out = resizeWithPad(u8([0, 480, 640, 3]), 224, 224);
    expect(out.shape).toEqual([0, 224, 224, 3]);
    expect(out.data.length).toBe(0);
  });

  it('refuses non-uint8 images with BAD_DTYPE naming the dtype', () => {
    const f: NDArray<'float32'> = {
      dtype: 'float32',
      shape: [48, 64, 3],
      data: new Float32Array(48 * 64 * 3),
    };
    const e = thrown(() => resizeWithPad(f, 224, 224));
    expect(e.code).toBe('BAD_DTYPE');
    expect(e.message).toContain('float32');
    expect(e.context.dtype).toBe('float32');
  });

  it('refuses CHW input with BAD_SHAPE and points at chwToHwc', () => {
    const e = thrown(() => resizeWithPad(u8([3, 480, 640]), 224, 224));
    expect(e.code).toBe('BAD_SHAPE');
    expect(e.message).toContain('chwToHwc');
    expect(e.context.shape).toEqual([3, 480, 640]);
  });

  it.each([[[480, 640, 4]], [[480, 640, 1]], [[480, 640]]])('refuses shape %j with BAD_SHAPE', (shape) => {
    expect(thrown(() => resizeWithPad(u8(shape), 224, 224)).code).toBe('BAD_SHAPE');
  });

  it('refuses data whose length does not match the shape', () => {
    const bad: NDArray<'uint8'> = { dtype: 'uint8', shape: [48, 64, 3], data: new Uint8Array(10) };
    expect(thrown(() => resizeWithPad(bad, 224, 224)).code).toBe('BAD_SHAPE');
  });

  it('refuses a geometry whose resized side would be 0 pixels (PIL raises there)', () => {
    const e = thrown(() => resizeWithPad(u8([1, 399, 3]), 224, 224));
    expect(e.code).toBe('BAD_SHAPE');
    expect(e.context.resized).toEqual([0, 224]);
  });

  it.each([
    [0, 224],
    [224, 1.5],
    [-1, 10],
  ])('refuses target %d x %d with BAD_ARGUMENT', (h, w) => {
    expect(thrown(() => resizeWithPad(u8([48, 64, 3]), h, w)).code).toBe('BAD_ARGUMENT');
  });
});

describe('resizeWithPadSharp (approximate)', () => {
  it('has the exact path geometry and black padding, values near the exact ones on a smooth image', async () => {
    const img = u8([376, 672, 3], (i) => Math.floor(i / 3 / 672) % 200);
    const a = resizeWithPad(img, 224, 224) as NDArray<'uint8'>;
    const b = (await resizeWithPadSharp(img, 224, 224)) as NDArray<'uint8'>;
    expect(b.shape).toEqual([224, 224, 3]);
    expect(rowsAll(b, 0, 49, 0) && rowsAll(b, 174, 224, 0)).toBe(true);
    let max = 0;
    for (let i = 0; i < a.data.length; i++)
      max = Math.max(max, Math.abs((a.data[i] as number) - (b.data[i] as number)));
    expect(max).toBeLessThanOrEqual(8);
  });

  it('shares the error contract of the exact path', async () => {
    await expect(resizeWithPadSharp(u8([3, 480, 640]), 224, 224)).rejects.toMatchObject({
      code: 'BAD_SHAPE',
    });
    const f: NDArray<'float32'> = {
      dtype: 'float32',
      shape: [48, 64, 3],
      data: new Float32Array(48 * 64 * 3),
    };
    await expect(resizeWithPadSharp(f, 224, 224)).rejects.toMatchObject({ code: 'BAD_DTYPE' });
  });
});

describe('bilinearCoefficients (Pillow fixed point)', () => {
  it('640 -> 224: 22-bit weights that sum to ~2^22 per output, support ~2.86 source pixels each side', () => {
    const c = bilinearCoefficients(640, 224);
    expect(c.ksize).toBe(7);
    for (let i = 0; i < 224; i++) {
      let sum = 0;
      for (let t = 0; t < (c.count[i] as number); t++) sum += c.weights[i * c.ksize + t] as number;
      expect(Math.abs(sum - 2 ** 22)).toBeLessThanOrEqual(c.count[i] as number);
    }
    // Output 0: centre 1.4286, taps 0..4 (bounds rounded from centre -/+ support).
    expect([c.first[0], c.count[0]]).toEqual([0, 4]);
  });

  it('upscaling keeps support 1: at most 3 taps, weights only on the two nearest pixels', () => {
    const c = bilinearCoefficients(100, 224);
    expect(c.ksize).toBe(3);
    expect(Math.max(...c.count)).toBeLessThanOrEqual(3);
  });
});

describe('convertToUint8', () => {
  it('truncates 255*x computed in the array precision (float32)', () => {
    const x = new Float32Array([0, 0.5, 1, 1 / 255, 0.999, 0.1]);
    const out = convertToUint8({ dtype: 'float32', shape: [6], data: x });
    expect(out.dtype).toBe('uint8');
    expect(Array.from(out.data as Uint8Array)).toEqual([0, 127, 255, 1, 254, 25]);
  });

  it("'clamp' (default) clamps out-of-range values and maps NaN to 0", () => {
    const x = new Float64Array([
      -0.5,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1.003,
    ]);
    const out = convertToUint8({ dtype: 'float64', shape: [6], data: x });
    expect(Array.from(out.data as Uint8Array)).toEqual([0, 255, 0, 255, 0, 255]);
  });

  it("'numpy-x86' wraps modulo 256 like numpy on x86-64 (NaN/inf -> 0)", () => {
    const x = new Float64Array([-1 / 255, 257 / 255, 1.01, Number.NaN, Number.POSITIVE_INFINITY, 1e10]);
    const out = convertToUint8({ dtype: 'float64', shape: [6], data: x }, { outOfRange: 'numpy-x86' });
    expect(Array.from(out.data as Uint8Array)).toEqual([255, 1, 1, 0, 0, 0]);
  });

  it('float16 multiplies in half precision (255 * 100 rounds to 25504 before the cast)', () => {
    // 100 in IEEE half = 0x5640; 0.5 = 0x3800.
    const out = convertToUint8(
      { dtype: 'float16', shape: [2], data: new Uint16Array([0x5640, 0x3800]) },
      { outOfRange: 'numpy-x86' },
    );
    expect(Array.from(out.data as Uint8Array)).toEqual([25504 % 256, 127]);
  });

  it('returns non-float arrays unchanged (same object)', () => {
    const i: NDArray<'int32'> = { dtype: 'int32', shape: [2], data: new Int32Array([300, -1]) };
    expect(convertToUint8(i)).toBe(i);
    const u = u8([2, 2, 3]);
    expect(convertToUint8(u)).toBe(u);
  });

  it('refuses an unknown policy with BAD_ARGUMENT', () => {
    const f: NDArray<'float32'> = { dtype: 'float32', shape: [1], data: new Float32Array(1) };
    expect(thrown(() => convertToUint8(f, { outOfRange: 'wrap' as never })).code).toBe('BAD_ARGUMENT');
  });
});

describe('chwToHwc / hwcToChw', () => {
  it('moves the channel axis with leading dims kept, and round-trips', () => {
    const chw: NDArray<'float32'> = {
      dtype: 'float32',
      shape: [2, 3, 4, 5],
      data: Float32Array.from({ length: 120 }, (_, i) => i),
    };
    const hwc = chwToHwc(chw);
    expect(hwc.shape).toEqual([2, 4, 5, 3]);
    expect(hwc.data).toBeInstanceOf(Float32Array);
    // hwc[n=1, y=2, x=3, c=1] == chw[n=1, c=1, y=2, x=3]
    expect(hwc.data[60 + (2 * 5 + 3) * 3 + 1]).toBe(chw.data[60 + 1 * 20 + 2 * 5 + 3]);
    const back = hwcToChw(hwc);
    expect(back.shape).toEqual([2, 3, 4, 5]);
    expect(Array.from(back.data)).toEqual(Array.from(chw.data));
  });

  it('refuses rank < 3 with BAD_SHAPE', () => {
    expect(thrown(() => chwToHwc(u8([3, 4]))).code).toBe('BAD_SHAPE');
    expect(thrown(() => hwcToChw(u8([12]))).code).toBe('BAD_SHAPE');
  });
});

describe('decodeJpeg', () => {
  it('decodes sharp-encoded 4:4:4 q100 JPEG to [H, W, 3] close to the source', async () => {
    const src = u8([37, 53, 3], (i) => (Math.floor(i / 3) % 53) * 4 + (i % 3) * 20);
    const jpeg = await sharp(src.data, { raw: { width: 53, height: 37, channels: 3 } })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .toBuffer();
    const out = await decodeJpeg(jpeg);
    expect(out.shape).toEqual([37, 53, 3]);
    let max = 0;
    for (let i = 0; i < out.data.length; i++)
      max = Math.max(max, Math.abs((out.data[i] as number) - (src.data[i] as number)));
    expect(max).toBeLessThanOrEqual(8);
  });

  it('expands greyscale JPEG to three equal channels', async () => {
    const jpeg = await sharp(new Uint8Array(16 * 8).fill(90), { raw: { width: 16, height: 8, channels: 1 } })
      .jpeg()
      .toBuffer();
    const out = await decodeJpeg(jpeg);
    expect(out.shape).toEqual([8, 16, 3]);
    expect(out.data[0]).toBe(out.data[1]);
    expect(out.data[1]).toBe(out.data[2]);
  });

  it('IMAGE_DECODE_FAILED naming the byte count for non-JPEG bytes', async () => {
    await expect(decodeJpeg(new Uint8Array([1, 2, 3, 4, 5]))).rejects.toMatchObject({
      code: 'IMAGE_DECODE_FAILED',
      context: { byteLength: 5 },
    });
  });

  it('IMAGE_DECODE_FAILED for a JPEG cut short', async () => {
    const jpeg = await sharp(u8([64, 64, 3], (i) => i % 256).data, {
      raw: { width: 64, height: 64, channels: 3 },
    })
      .jpeg()
      .toBuffer();
    const cut = jpeg.subarray(0, 200);
    await expect(decodeJpeg(cut)).rejects.toMatchObject({
      code: 'IMAGE_DECODE_FAILED',
      context: { byteLength: 200 },
    });
  });

  it('refuses images above maxPixels before decoding', async () => {
    const jpeg = await sharp(u8([64, 64, 3]).data, { raw: { width: 64, height: 64, channels: 3 } })
      .jpeg()
      .toBuffer();
    await expect(decodeJpeg(jpeg, { maxPixels: 1000 })).rejects.toMatchObject({
      code: 'IMAGE_DECODE_FAILED',
    });
  });
});

async function jpegOf(w: number, h: number, seed: number): Promise<Uint8Array> {
  const px = u8([h, w, 3], (i) => (i * 31 + seed * 97) % 256);
  return new Uint8Array(
    await sharp(px.data, { raw: { width: w, height: h, channels: 3 } })
      .jpeg()
      .toBuffer(),
  );
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Feeds `bytes` in chunks of 1..maxChunk bytes (deterministic LCG) and collects the frames. */
function splitInChunks(splitter: MjpegSplitter, bytes: Uint8Array, maxChunk: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let seed = 12345;
  for (let i = 0; i < bytes.length; ) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const len = 1 + (seed % maxChunk);
    frames.push(...splitter.push(bytes.subarray(i, i + len)));
    i += len;
  }
  return frames;
}

describe('MjpegSplitter', () => {
  it('returns each frame exactly, whatever the chunking, skipping garbage between frames', async () => {
    const a = await jpegOf(40, 30, 1);
    const b = await jpegOf(17, 9, 2);
    const garbage = new Uint8Array([0x00, 0xff, 0x00, 0xff, 0xd9, 0x12, 0xff, 0xff, 0x34]);
    const stream = concat(garbage, a, garbage, b, garbage);
    for (const maxChunk of [1, 2, 7, 500, stream.length]) {
      const s = new MjpegSplitter();
      const frames = splitInChunks(s, stream, maxChunk);
      expect(frames.map((f) => Array.from(f))).toEqual([Array.from(a), Array.from(b)]);
      expect(s.stats).toEqual({ frames: 2, skippedBytes: 3 * garbage.length, droppedFrames: 0 });
    }
  });

  it('skips an FF D8 .. FF D9 embedded in an APPn segment (thumbnail), unlike a naive FF D9 search', async () => {
    const inner = await jpegOf(8, 8, 3);
    const outer = await jpegOf(24, 16, 4);
    // APP15 segment: FF EF, length (2 bytes, counts itself), payload = a whole JPEG.
    const len = inner.length + 2;
    const app = concat(new Uint8Array([0xff, 0xef, len >> 8, len & 0xff]), inner);
    const withThumb = concat(outer.subarray(0, 2), app, outer.subarray(2));
    const frames = new MjpegSplitter().push(withThumb);
    expect(frames.length).toBe(1);
    expect(Array.from(frames[0] as Uint8Array)).toEqual(Array.from(withThumb));
    expect((await decodeJpeg(frames[0] as Uint8Array)).shape).toEqual([16, 24, 3]);
  });

  it('drops a frame cut short by the next SOI and resyncs on it', async () => {
    const a = await jpegOf(40, 30, 5);
    const b = await jpegOf(20, 10, 6);
    const s = new MjpegSplitter();
    const frames = s.push(concat(a.subarray(0, Math.floor(a.length / 2)), b));
    expect(frames.map((f) => Array.from(f))).toEqual([Array.from(b)]);
    expect(s.stats.droppedFrames).toBe(1);
  });

  it('drops frames above maxFrameBytes and keeps the next small one', async () => {
    const big = await jpegOf(64, 64, 7);
    const small = await jpegOf(4, 4, 8);
    const s = new MjpegSplitter({ maxFrameBytes: small.length });
    const frames = s.push(concat(big, small));
    expect(frames.map((f) => f.length)).toEqual([small.length]);
    expect(s.stats.droppedFrames).toBe(1);
  });

  it('refuses a nonsensical maxFrameBytes with BAD_ARGUMENT', () => {
    expect(thrown(() => new MjpegSplitter({ maxFrameBytes: 0 })).code).toBe('BAD_ARGUMENT');
  });
});
