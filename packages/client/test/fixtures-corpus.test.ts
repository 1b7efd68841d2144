/**
 * The msgpack-numpy fixture corpus (fixtures/msgpack-numpy, written by openpi's own codec through
 * scripts/gen_msgpack_fixtures.py): every fixture decodes to the described value and re-encodes to the same
 * bytes; the generator reproduces the committed corpus byte for byte; and values encoded here decode in Python
 * (openpi_client.msgpack_numpy) to the same description.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dtypeString } from '../src/dtype.js';
import { fromHalfBits, roundToHalf } from '../src/float16.js';
import { packNumpy, unpackNumpy } from '../src/msgpack-numpy.js';
import {
  isNDArray,
  isNumpyScalar,
  type NDArray,
  ndarray,
  npScalar,
  type TypedArray,
  type Value,
  zeros,
} from '../src/ndarray.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const corpusDir = join(root, 'fixtures/msgpack-numpy');
const python = join(root, '.venv/bin/python');
const generator = join(root, 'scripts/gen_msgpack_fixtures.py');
const LARGE = 4096; // same cut-off as the generator

interface Fixture {
  name: string;
  description: string;
  hex: string;
  expected: unknown;
  roundtrip: 'exact' | 'native-order';
  reencoded_hex?: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

function fl(x: number): number | string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  return x;
}

function intEl(x: number | bigint): number | string {
  const big = BigInt(x);
  return big > BigInt(Number.MAX_SAFE_INTEGER) || big < -BigInt(Number.MAX_SAFE_INTEGER)
    ? big.toString()
    : Number(x);
}

function rawBytes(a: NDArray): Uint8Array {
  if (a.dtype === 'unicode') {
    const chars = a.itemChars ?? 1;
    const strs = a.data as string[];
    const out = new Uint8Array(4 * chars * strs.length);
    const dv = new DataView(out.buffer);
    strs.forEach((s, i) => {
      Array.from(s).forEach((ch, j) => {
        dv.setUint32(4 * (i * chars + j), ch.codePointAt(0) ?? 0, true);
      });
    });
    return out;
  }
  const t = a.data as TypedArray;
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

function elements(a: NDArray): unknown[] {
  switch (a.dtype) {
    case 'unicode':
      return [...(a.data as string[])];
    case 'bool':
      return Array.from(a.data as Uint8Array, (b) => b !== 0);
    case 'float16':
      return Array.from(a.data as Uint16Array, (h) => fl(fromHalfBits(h)));
    case 'float32':
    case 'float64':
      return Array.from(a.data as Float32Array, fl);
    case 'int64':
    case 'uint64':
      return Array.from(a.data as BigInt64Array, intEl);
    default:
      return Array.from(a.data as Int32Array, intEl);
  }
}

/** The same tagged-JSON description as the generator's `describe`, built from our decoding. */
function describeValue(v: Value): unknown {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && !Object.is(v, -0) ? { int: String(v) } : { float: fl(v) };
  }
  if (typeof v === 'bigint') return { int: String(v) };
  if (typeof v === 'string') return { str: v };
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return { list: v.map(describeValue) };
  if (isNumpyScalar(v)) {
    if (v.dtype === 'float64') return { float: fl(v.value as number) };
    if (v.dtype === 'unicode') return { str: v.value };
    const value =
      typeof v.value === 'boolean'
        ? v.value
        : v.dtype === 'float32'
          ? fl(Math.fround(v.value as number)) // what np.float32(x).item() gives
          : v.dtype === 'float16'
            ? fl(roundToHalf(v.value as number))
            : intEl(v.value as number | bigint);
    return { scalar: { dtype: dtypeString(v.dtype), value } };
  }
  if (isNDArray(v)) {
    const raw = rawBytes(v);
    const els = elements(v);
    const d: Record<string, unknown> = { dtype: dtypeString(v.dtype, v.itemChars), shape: [...v.shape] };
    if (els.length > LARGE) {
      d.sha256 = createHash('sha256').update(raw).digest('hex');
      d.head = els.slice(0, 16);
    } else {
      d.data = hex(raw);
      d.values = els;
    }
    return { ndarray: d };
  }
  return { dict: Object.entries(v).map(([k, x]) => [k, describeValue(x)]) };
}

const fixtures: Fixture[] = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(corpusDir, f), 'utf8')) as Fixture);

describe('msgpack-numpy fixture corpus (bytes from openpi_client.msgpack_numpy)', () => {
  it('holds the whole matrix', () => {
    const names = fixtures.map((f) => f.name);
    for (const n of [
      'openpi_special_floats',
      'aloha_observation',
      'actions_response',
      'big_endian',
      'scalars',
    ]) {
      expect(names).toContain(n);
    }
    expect(names.filter((n) => n.startsWith('openpi_'))).toHaveLength(20);
  });

  for (const f of fixtures) {
    it(`${f.name}: decodes to the described value and re-encodes to the same bytes`, () => {
      const bytes = fromHex(f.hex);
      const v = unpackNumpy(bytes, { keepFloatType: true });
      expect(describeValue(v)).toEqual(f.expected);
      expect(describeValue(unpackNumpy(bytes, { keepFloatType: true, copy: true }))).toEqual(f.expected);
      const again = hex(packNumpy(v));
      if (f.roundtrip === 'exact') expect(again).toBe(f.hex);
      else expect(again).toBe(f.reencoded_hex);
    });
  }
});

describe('fixture generator', () => {
  it('regenerates the committed corpus byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'msgpack-fixtures-'));
    try {
      const r = spawnSync(python, [generator, dir], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const committed = readdirSync(corpusDir).sort();
      expect(readdirSync(dir).sort()).toEqual(committed);
      for (const f of committed) {
        expect(readFileSync(join(dir, f)).equals(readFileSync(join(corpusDir, f))), f).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function alohaObservation(): { [key: string]: Value } {
  const images: { [key: string]: Value } = {};
  ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'].forEach((cam, c) => {
    const img = zeros('uint8', [3, 224, 224]);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 13 + c * 71) & 0xff;
    images[cam] = img;
  });
  const state = ndarray(
    'float32',
    [14],
    Float32Array.from({ length: 14 }, (_, i) => Math.sin(i) * 0.5),
  );
  return { state, images, prompt: 'fold the towel' };
}

describe('TypeScript-encoded payloads decoded by openpi_client.msgpack_numpy', () => {
  it('decode in Python to the same values', () => {
    const payloads: Value[] = [
      1,
      -1,
      2 ** 40,
      -(2 ** 40),
      Number.MAX_SAFE_INTEGER,
      2n ** 64n - 1n,
      -(2n ** 63n),
      1.5,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      1e300,
      npScalar('float64', 3),
      '',
      'h\u00e9llo \u2713 \u{1f916}',
      'x'.repeat(70000),
      new Uint8Array([0, 1, 255]),
      null,
      true,
      [1, [2, [3, {}]]],
      { b: 1, a: { c: [null, false] } },
      npScalar('bool', true),
      npScalar('int8', -128),
      npScalar('uint64', 2n ** 64n - 1n),
      npScalar('int64', -3),
      npScalar('float32', 0.1),
      npScalar('float16', 0.1),
      npScalar('unicode', 'u'),
      ndarray('bool', [2], new Uint8Array([1, 0])),
      ndarray('int8', [3], new Int8Array([-128, 0, 127])),
      ndarray('uint16', [2], new Uint16Array([0, 65535])),
      ndarray('int32', [2, 2], new Int32Array([1, -2, 3, -4])),
      ndarray('uint32', [1], new Uint32Array([2 ** 32 - 1])),
      ndarray('int64', [2], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])),
      ndarray('uint64', [1], new BigUint64Array([2n ** 64n - 1n])),
      ndarray('float16', [2], new Uint16Array([0x3c00, 0x7e00])),
      ndarray('float32', [3], new Float32Array([Number.NaN, Number.POSITIVE_INFINITY, -0])),
      ndarray('float64', [], new Float64Array([2.5])),
      ndarray('float64', [0, 3], new Float64Array(0)),
      ndarray('unicode', [3], ['asdf', '\u00e9', '\u{1f916}x'], 4),
      alohaObservation(),
      {
        actions: ndarray(
          'float32',
          [50, 14],
          Float32Array.from({ length: 700 }, (_, i) => i / 7),
        ),
        server_timing: { infer_ms: 12.5, prev_total_ms: 20.25 },
      },
    ];
    const r = spawnSync(python, [generator, '--describe'], {
      input: JSON.stringify(payloads.map((p) => hex(packNumpy(p)))),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const described = JSON.parse(r.stdout) as { ok?: unknown; error?: string }[];
    expect(described).toHaveLength(payloads.length);
    payloads.forEach((p, i) => {
      expect(described[i], `payload ${i}`).toEqual({ ok: describeValue(p) });
    });
  });
});
