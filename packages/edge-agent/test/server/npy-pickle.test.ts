/**
 * The recording file writer (src/server/npy-pickle.ts) against real numpy: every NDArray dtype (extremes, NaN,
 * signed zeros, subnormals, 0-d and empty shapes, large buffers) and every value kind an observation holds, written
 * as `.npy` object files and read back by `.venv/bin/python test/python/npy_record_reader.py` with
 * `np.load(path, allow_pickle=True).item()`. One Python process reads all files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOpenpiEdgeError } from '../../../client/src/errors.js';
import { fromHalfBits } from '../../../client/src/float16.js';
import {
  type DType,
  type NDArray,
  type NumericDType,
  ndarray,
  npScalar,
  type TypedArray,
  type Value,
} from '../../../client/src/ndarray.js';
import { flattenDict, npyObjectFile, npyObjectHeader, pickleValue } from '../../src/server/npy-pickle.js';
import { type Described, type DescribedFile, describeFiles, runReader } from './npy-reader.js';

/** One array per dtype, with the values numpy must read back. */
const ARRAYS: Record<string, NDArray> = {
  bool: ndarray('bool', [2, 3], Uint8Array.of(1, 0, 1, 1, 0, 0)),
  int8: ndarray('int8', [4], Int8Array.of(-128, 127, 0, -1)),
  uint8: ndarray('uint8', [3], Uint8Array.of(0, 255, 7)),
  int16: ndarray('int16', [2], Int16Array.of(-32768, 32767)),
  uint16: ndarray('uint16', [2], Uint16Array.of(0, 65535)),
  int32: ndarray('int32', [2, 1], Int32Array.of(-(2 ** 31), 2 ** 31 - 1)),
  uint32: ndarray('uint32', [2], Uint32Array.of(0, 2 ** 32 - 1)),
  int64: ndarray('int64', [3], BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n)),
  uint64: ndarray('uint64', [2], BigUint64Array.of(0n, 2n ** 64n - 1n)),
  // 1, -2, inf, -inf, nan, smallest subnormal, largest finite
  float16: ndarray('float16', [7], Uint16Array.of(0x3c00, 0xc000, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x7bff)),
  float32: ndarray(
    'float32',
    [5],
    Float32Array.of(1.5, -0, 3.4028234663852886e38, Math.fround(1e-45), Number.NaN),
  ),
  float64: ndarray(
    'float64',
    [2, 2],
    Float64Array.of(Math.PI, Number.NEGATIVE_INFINITY, Number.MIN_VALUE, -0),
  ),
  zero_d: ndarray('float64', [], Float64Array.of(2.5)),
  empty: ndarray('int32', [0, 3], new Int32Array(0)),
  three_d: ndarray('uint8', [2, 3, 1], Uint8Array.of(1, 2, 3, 4, 5, 6)),
  // over the writer's 1 KiB small-copy threshold: kept as a view, copied once at the end
  large: ndarray(
    'float32',
    [50, 32],
    Float32Array.from({ length: 1600 }, (_, i) => i / 7),
  ),
  image: ndarray(
    'uint8',
    [3, 224, 224],
    Uint8Array.from({ length: 3 * 224 * 224 }, (_, i) => (i * 31) % 256),
  ),
  unicode: ndarray('unicode', [3], ['', 'hé', '😀x'], 2),
};

/** A float as the reader writes it. */
function floatJson(x: number): number | string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  return x;
}

const DTYPE_STR: Record<Exclude<DType, 'unicode'>, string> = {
  bool: '|b1',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
};

/** What numpy must hold for `a`. */
function expectedArray(a: NDArray): Described {
  const base = { type: 'ndarray' as const, shape: [...a.shape], c_contiguous: true, writeable: true };
  if (a.dtype === 'unicode') return { ...base, dtype: `<U${a.itemChars}`, values: [...(a.data as string[])] };
  const dtype = a.dtype as NumericDType;
  const values = Array.from(a.data as TypedArray, (x: number | bigint): boolean | number | string => {
    if (dtype === 'bool') return x !== 0;
    if (dtype === 'float16') return floatJson(fromHalfBits(x as number));
    if (dtype.startsWith('float')) return floatJson(x as number);
    return String(x);
  });
  return { ...base, dtype: DTYPE_STR[dtype], values };
}

const VALUES: Record<string, Value> = {
  str: 'héllo wörld 😀',
  str_empty: '',
  int_small: 0,
  int_255: 255,
  int_256: 256,
  int_65535: 65535,
  int_65536: 65536,
  int_neg: -1,
  int_min32: -(2 ** 31),
  int_2_31: 2 ** 31,
  int_max_safe: Number.MAX_SAFE_INTEGER,
  int_min_safe: Number.MIN_SAFE_INTEGER,
  big_small: 127n,
  big_2_31: 2n ** 31n,
  big_neg_2_31_minus_1: -(2n ** 31n) - 1n,
  big_128_bits: 2n ** 127n - 1n,
  big_neg_2_63: -(2n ** 63n),
  big_2_64: 2n ** 64n,
  big_huge: 2n ** 2100n + 12345n, // 263 bytes: LONG4
  big_neg_huge: -(2n ** 2100n),
  float: 1.5,
  float_neg_zero: -0,
  float_nan: Number.NaN,
  float_inf: Number.POSITIVE_INFINITY,
  float_2_53: 2 ** 53, // not a safe integer: Python sent a float
  float_tiny: 5e-324,
  true: true,
  false: false,
  none: null,
  list: [1, 'x', [2.5, null], [], { k: 'v' }],
  list_empty: [],
  bytes: Uint8Array.of(0, 1, 255),
  bytes_empty: new Uint8Array(0),
  bytes_300: Uint8Array.from({ length: 300 }, (_, i) => i % 256),
  dict: { nested: { deeper: 1 }, 'slash/key': 'kept' },
  dict_empty: {},
  sc_bool: npScalar('bool', true),
  sc_int8: npScalar('int8', -5),
  sc_uint8: npScalar('uint8', 200),
  sc_int16: npScalar('int16', -300),
  sc_uint16: npScalar('uint16', 60000),
  sc_int32: npScalar('int32', -70000),
  sc_uint32: npScalar('uint32', 4e9),
  sc_int64: npScalar('int64', -(2n ** 62n)),
  sc_uint64: npScalar('uint64', 2n ** 64n - 1n),
  sc_float16: npScalar('float16', 0.1),
  sc_float32: npScalar('float32', Math.fround(0.1)),
  sc_float64: npScalar('float64', 1), // a Python float with an integral value
  sc_unicode: npScalar('unicode', 'abc'),
};

const EXPECTED_VALUES: Record<string, Described> = {
  str: { type: 'str', value: 'héllo wörld 😀' },
  str_empty: { type: 'str', value: '' },
  int_small: { type: 'int', value: '0' },
  int_255: { type: 'int', value: '255' },
  int_256: { type: 'int', value: '256' },
  int_65535: { type: 'int', value: '65535' },
  int_65536: { type: 'int', value: '65536' },
  int_neg: { type: 'int', value: '-1' },
  int_min32: { type: 'int', value: String(-(2 ** 31)) },
  int_2_31: { type: 'int', value: String(2 ** 31) },
  int_max_safe: { type: 'int', value: String(Number.MAX_SAFE_INTEGER) },
  int_min_safe: { type: 'int', value: String(Number.MIN_SAFE_INTEGER) },
  big_small: { type: 'int', value: '127' },
  big_2_31: { type: 'int', value: String(2n ** 31n) },
  big_neg_2_31_minus_1: { type: 'int', value: String(-(2n ** 31n) - 1n) },
  big_128_bits: { type: 'int', value: String(2n ** 127n - 1n) },
  big_neg_2_63: { type: 'int', value: String(-(2n ** 63n)) },
  big_2_64: { type: 'int', value: String(2n ** 64n) },
  big_huge: { type: 'int', value: String(2n ** 2100n + 12345n) },
  big_neg_huge: { type: 'int', value: String(-(2n ** 2100n)) },
  float: { type: 'float', value: 1.5 },
  float_neg_zero: { type: 'float', value: -0 },
  float_nan: { type: 'float', value: 'nan' },
  float_inf: { type: 'float', value: 'inf' },
  float_2_53: { type: 'float', value: 2 ** 53 },
  float_tiny: { type: 'float', value: 5e-324 },
  true: { type: 'bool', value: true },
  false: { type: 'bool', value: false },
  none: { type: 'None' },
  list: {
    type: 'list',
    items: [
      { type: 'int', value: '1' },
      { type: 'str', value: 'x' },
      { type: 'list', items: [{ type: 'float', value: 2.5 }, { type: 'None' }] },
      { type: 'list', items: [] },
      { type: 'dict', keys: ['k'], items: { k: { type: 'str', value: 'v' } } },
    ],
  },
  list_empty: { type: 'list', items: [] },
  bytes: { type: 'bytes', hex: '0001ff' },
  bytes_empty: { type: 'bytes', hex: '' },
  bytes_300: { type: 'bytes', hex: Buffer.from(VALUES.bytes_300 as Uint8Array).toString('hex') },
  dict: {
    type: 'dict',
    keys: ['nested', 'slash/key'],
    items: {
      nested: { type: 'dict', keys: ['deeper'], items: { deeper: { type: 'int', value: '1' } } },
      'slash/key': { type: 'str', value: 'kept' },
    },
  },
  dict_empty: { type: 'dict', keys: [], items: {} },
  sc_bool: { type: 'npscalar', class: 'bool_', dtype: '|b1', value: true },
  sc_int8: { type: 'npscalar', class: 'int8', dtype: '|i1', value: '-5' },
  sc_uint8: { type: 'npscalar', class: 'uint8', dtype: '|u1', value: '200' },
  sc_int16: { type: 'npscalar', class: 'int16', dtype: '<i2', value: '-300' },
  sc_uint16: { type: 'npscalar', class: 'uint16', dtype: '<u2', value: '60000' },
  sc_int32: { type: 'npscalar', class: 'int32', dtype: '<i4', value: '-70000' },
  sc_uint32: { type: 'npscalar', class: 'uint32', dtype: '<u4', value: '4000000000' },
  sc_int64: { type: 'npscalar', class: 'int64', dtype: '<i8', value: String(-(2n ** 62n)) },
  sc_uint64: { type: 'npscalar', class: 'uint64', dtype: '<u8', value: String(2n ** 64n - 1n) },
  sc_float16: { type: 'npscalar', class: 'float16', dtype: '<f2', value: 0.0999755859375 },
  sc_float32: { type: 'npscalar', class: 'float32', dtype: '<f4', value: Math.fround(0.1) },
  sc_float64: { type: 'float', value: 1 },
  sc_unicode: { type: 'str', value: 'abc' },
};

let dir: string;
let loaded: DescribedFile[];
let pickled: { item: Described }[];
/** 300 unicode widths, each used twice: more than 256 memo entries (LONG_BINPUT / LONG_BINGET). */
const MANY: Record<string, Value> = {};
for (let n = 1; n <= 300; n++) {
  const a = ndarray('unicode', [1], ['x'.repeat(n)], n);
  MANY[`a${n}`] = a;
  MANY[`b${n}`] = a;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npy-pickle-'));
  await writeFile(join(dir, 'arrays.npy'), npyObjectFile(ARRAYS));
  await writeFile(join(dir, 'values.npy'), npyObjectFile(VALUES));
  await writeFile(join(dir, 'many.npy'), npyObjectFile(MANY));
  await writeFile(join(dir, 'values.pickle'), pickleValue(VALUES));
  loaded = await describeFiles(['arrays.npy', 'values.npy', 'many.npy'].map((f) => join(dir, f)));
  pickled = (await runReader(['pickle', join(dir, 'values.pickle')])).files as { item: Described }[];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function items(i: number): Record<string, Described> {
  const item = loaded[i]?.item;
  if (item?.type !== 'dict') throw new Error(`file ${i} did not load as a dict: ${JSON.stringify(item)}`);
  return item.items;
}

describe('npyObjectFile read back by numpy (np.load(allow_pickle=True).item())', () => {
  it('is a 0-d object array holding a dict, with numpy’s own header', async () => {
    for (const f of loaded) expect(f.array).toEqual({ type: 'ndarray', dtype: '|O', shape: [] });
    const header = npyObjectHeader();
    expect(header.byteLength % 64).toBe(0);
    // np.save's bytes for the same array (numpy 1.26, format 1.0)
    const dict = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
    expect(header.toString('latin1')).toBe(
      `\x93NUMPY\x01\x00v\x00${dict}${' '.repeat(128 - 11 - dict.length)}\n`,
    );
  });

  for (const name of Object.keys(ARRAYS)) {
    it(`ndarray ${name}: dtype, shape and every value`, () => {
      expect(items(0)[name]).toEqual(expectedArray(ARRAYS[name] as NDArray));
    });
  }

  it('every value kind: str, int (safe and big), float, bool, None, list, bytes, dict, numpy scalars', () => {
    expect(Object.keys(items(1))).toEqual(Object.keys(VALUES)); // insertion order kept
    for (const [name, want] of Object.entries(EXPECTED_VALUES)) expect(items(1)[name], name).toEqual(want);
  });

  it('more than 256 memoized dtypes', () => {
    const got = items(2);
    expect(Object.keys(got)).toHaveLength(600);
    for (const n of [1, 255, 256, 257, 300]) {
      const want = expectedArray(MANY[`a${n}`] as NDArray);
      expect(got[`a${n}`], `a${n}`).toEqual(want);
      expect(got[`b${n}`], `b${n}`).toEqual(want);
    }
  });

  it('pickleValue alone is a plain pickle of the value', () => {
    const item = pickled[0]?.item;
    expect(item?.type).toBe('dict');
    if (item?.type === 'dict') expect(item.items).toEqual(items(1));
  });
});

describe('npyObjectFile refuses what Python has no value for, naming the key path', () => {
  const cases: [string, unknown, string][] = [
    ['undefined', { a: { b: undefined } }, 'a/b'],
    ['a function', { f: () => 1 }, 'f'],
    ['a Map', { m: new Map() }, 'm'],
    ['a bare Float32Array', { x: [1, new Float32Array(2)] }, 'x[1]'],
    ['a too long unicode element', { u: ndarray('unicode', [1], ['abc'], 2) }, 'u'],
    ['a data/shape mismatch', { s: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }, 's'],
  ];
  for (const [what, value, key] of cases) {
    it(what, () => {
      let err: unknown;
      try {
        npyObjectFile(value as Value);
      } catch (e) {
        err = e;
      }
      expect(isOpenpiEdgeError(err, 'ENCODE_FAILED'), String(err)).toBe(true);
      expect((err as { context: { key: string } }).context.key).toBe(key);
      expect((err as Error).message).toContain(`'${key}'`);
    });
  }
});

describe('flattenDict (flax.traverse_util.flatten_dict(sep="/"))', () => {
  it('joins nested dict keys with /, keeps leaves and order, drops empty dicts', () => {
    const img = ndarray('uint8', [1], Uint8Array.of(1));
    const flat = flattenDict({
      inputs: { images: { cam_high: img }, state: [1, 2], 'observation/state': 'x', empty: {} },
      outputs: { actions: null, policy_timing: { infer_ms: 1.5 } },
    });
    expect(Object.keys(flat)).toEqual([
      'inputs/images/cam_high',
      'inputs/state',
      'inputs/observation/state',
      'outputs/actions',
      'outputs/policy_timing/infer_ms',
    ]);
    expect(flat['inputs/images/cam_high']).toBe(img);
    expect(flat['inputs/state']).toEqual([1, 2]);
  });
});
