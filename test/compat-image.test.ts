/**
 * Parity of @openpi-edge/client/node image tools with openpi's real `openpi_client.image_tools` (and Pillow's JPEG
 * decoder), run in the repo's .venv. One Python process writes every case (frames from a fixed seed) as raw bytes
 * plus a manifest; the tests compare byte for byte. (Sources are imported by path: the root vitest config's
 * `resolve.conditions` does not reach vitest's SSR resolver, so the `source` export condition is not applied.)
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NDArray } from '../packages/client/src/index.js';
import { convertToUint8, decodeJpeg, resizeWithPad, splitMjpeg } from '../packages/client/src/node/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const script = join(root, 'test', 'python', 'openpi_image_ref.py');

interface ArrayRef {
  file: string;
  dtype: string;
  shape: number[];
}
interface Manifest {
  pillow: string;
  numpy: string;
  resize: { name: string; height: number; width: number; input: ArrayRef; expected: ArrayRef }[];
  resize_hfirst: { name: string; height: number; width: number; input: ArrayRef; expected: ArrayRef }[];
  errors: { name: string; shape: number[]; height: number; width: number; raised: string }[];
  uint8: { name: string; input: ArrayRef; expected: ArrayRef }[];
  jpeg: { name: string; jpeg: string; pillow: ArrayRef }[];
}

let dir = '';
let manifest: Manifest;

function load(ref: ArrayRef): NDArray {
  const buf = readFileSync(join(dir, ref.file));
  const bytes = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  switch (ref.dtype) {
    case 'uint8':
      return { dtype: 'uint8', shape: ref.shape, data: bytes };
    case 'float16':
      return { dtype: 'float16', shape: ref.shape, data: new Uint16Array(bytes.buffer) };
    case 'float32':
      return { dtype: 'float32', shape: ref.shape, data: new Float32Array(bytes.buffer) };
    case 'float64':
      return { dtype: 'float64', shape: ref.shape, data: new Float64Array(bytes.buffer) };
    default:
      throw new Error(`unexpected dtype ${ref.dtype} in manifest`);
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; differing: number } {
  let max = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (d > 0) differing++;
    if (d > max) max = d;
  }
  return { max, differing };
}

beforeAll(() => {
  if (!existsSync(python)) throw new Error(`${python} missing: run scripts/python-env.sh`);
  dir = mkdtempSync(join(tmpdir(), 'openpi-image-ref-'));
  execFileSync(python, [script, 'cases', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('resizeWithPad vs openpi image_tools.resize_with_pad (Pillow BILINEAR)', () => {
  it('matches every case bit for bit', () => {
    expect(manifest.resize.length).toBeGreaterThan(20);
    const report: string[] = [];
    for (const c of manifest.resize) {
      const input = load(c.input);
      const expected = load(c.expected);
      const got = resizeWithPad(input, c.height, c.width);
      expect(got.shape, c.name).toEqual(expected.shape);
      const { max, differing } = maxAbsDiff(got.data as Uint8Array, expected.data as Uint8Array);
      report.push(`${c.name}: max |diff| ${max}, ${differing} differing`);
      expect({ name: c.name, max, differing }).toEqual({ name: c.name, max: 0, differing: 0 });
    }
    console.log(`Pillow ${manifest.pillow}\n${report.join('\n')}`);
  });

  it('refuses (BAD_SHAPE) exactly the geometries where openpi raises', () => {
    expect(manifest.errors.length).toBeGreaterThan(0);
    for (const c of manifest.errors) {
      expect(c.raised, c.name).toMatch(/height and width must be > 0/);
      const img = {
        dtype: 'uint8' as const,
        shape: c.shape,
        data: new Uint8Array(c.shape.reduce((a, b) => a * b, 1)),
      };
      expect(() => resizeWithPad(img, c.height, c.width), c.name).toThrow(
        expect.objectContaining({ code: 'BAD_SHAPE' }),
      );
    }
  });

  it("passOrder 'horizontal-first' matches Pillow <= 12's order (two single-axis Pillow resizes)", () => {
    expect(manifest.resize_hfirst.length).toBeGreaterThan(20);
    for (const c of manifest.resize_hfirst) {
      const got = resizeWithPad(load(c.input), c.height, c.width, { passOrder: 'horizontal-first' });
      const { max, differing } = maxAbsDiff(got.data as Uint8Array, load(c.expected).data as Uint8Array);
      expect({ name: c.name, max, differing }).toEqual({ name: c.name, max: 0, differing: 0 });
    }
  });

  it('the two pass orders really differ on tall reductions (so the order is tested, not assumed)', () => {
    const c = manifest.resize.find((r) => r.name === 'tall720x300');
    if (c === undefined) throw new Error('case tall720x300 missing from the manifest');
    const a = resizeWithPad(load(c.input), c.height, c.width);
    const b = resizeWithPad(load(c.input), c.height, c.width, { passOrder: 'horizontal-first' });
    expect(maxAbsDiff(a.data as Uint8Array, b.data as Uint8Array).differing).toBeGreaterThan(0);
  });
});

describe('convertToUint8 vs openpi image_tools.convert_to_uint8 (numpy)', () => {
  it('matches numpy for in-range values of float16/32/64', () => {
    for (const c of manifest.uint8.filter((u) => u.name.startsWith('inrange'))) {
      const got = convertToUint8(load(c.input));
      expect(got.dtype).toBe('uint8');
      expect(Array.from(got.data as Uint8Array), c.name).toEqual(
        Array.from(load(c.expected).data as Uint8Array),
      );
    }
  });

  it("'numpy-x86' reproduces numpy's x86-64 result for out-of-range values, NaN and inf", () => {
    for (const c of manifest.uint8.filter((u) => u.name.startsWith('outofrange'))) {
      const got = convertToUint8(load(c.input), { outOfRange: 'numpy-x86' });
      expect(Array.from(got.data as Uint8Array), c.name).toEqual(
        Array.from(load(c.expected).data as Uint8Array),
      );
    }
  });
});

describe('decodeJpeg vs Pillow decode of the same bytes', () => {
  it('gives the same dimensions and differs by at most 1 per channel value', async () => {
    const report: string[] = [];
    for (const c of manifest.jpeg) {
      const bytes = readFileSync(join(dir, c.jpeg));
      const got = await decodeJpeg(bytes);
      const expected = load(c.pillow);
      expect(got.shape, c.name).toEqual(expected.shape);
      const { max, differing } = maxAbsDiff(got.data, expected.data as Uint8Array);
      report.push(`${c.name}: max |diff| ${max}, ${differing}/${got.data.length} differing`);
      expect(max, c.name).toBeLessThanOrEqual(1);
    }
    console.log(report.join('\n'));
  });
});

describe('splitMjpeg on a real ffmpeg MJPEG pipe', () => {
  it('yields the 10 frames of `ffmpeg -f lavfi testsrc -f mjpeg -`, each decoding to 480x640 like Pillow', async () => {
    const ff = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc=size=640x480:rate=30',
        '-frames:v',
        '10',
        '-f',
        'mjpeg',
        '-',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((res, rej) => {
      ff.on('error', rej);
      ff.on('close', res);
    });
    const frames: Uint8Array[] = [];
    const gen = splitMjpeg(ff.stdout);
    let r = await gen.next();
    while (r.done !== true) {
      frames.push(r.value);
      r = await gen.next();
    }
    expect(await exited).toBe(0);
    expect(r.value).toMatchObject({ frames: 10, skippedBytes: 0, droppedFrames: 0 });
    expect(frames.length).toBe(10);
    const paths = frames.map((f, i) => {
      const p = join(dir, `ffmpeg-${i}.jpg`);
      writeFileSync(p, f);
      return p;
    });
    const shapes = JSON.parse(execFileSync(python, [script, 'decode', ...paths], { encoding: 'utf8' })) as {
      shapes: number[][];
    };
    let max = 0;
    for (const [i, f] of frames.entries()) {
      expect(f[0] === 0xff && f[1] === 0xd8 && f[f.length - 2] === 0xff && f[f.length - 1] === 0xd9).toBe(
        true,
      );
      const got = await decodeJpeg(f);
      expect(got.shape).toEqual([480, 640, 3]);
      expect(shapes.shapes[i]).toEqual([480, 640, 3]);
      const pil = new Uint8Array(readFileSync(`${paths[i]}.pil.bin`));
      max = Math.max(max, maxAbsDiff(got.data, pil).max);
    }
    console.log(`ffmpeg MJPEG frames: sharp vs Pillow decode max |diff| ${max}`);
    expect(max).toBeLessThanOrEqual(1);
  });
});
