/**
 * What openpi's msgpack-numpy encoder (msgpack-encode.ts) and decoder (msgpack-decode.ts) share: the marker
 * keys and constant byte runs of the wire form (docs/protocol.md "## Codec"), key-path formatting for errors,
 * the 8-byte conversion scratch, and scalar validation. Internal: the package exports only packNumpy/unpackNumpy.
 */
import { dtypeString } from './dtype.js';
import { roundToHalf } from './float16.js';
import { NUMERIC_DTYPES, type NumericDType } from './ndarray.js';

export const DEFAULT_MAX_DEPTH = 512;
export const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** msgpack bin8 of an ASCII key, the form openpi's marker keys take on the wire. */
export const binKey = (k: string): Uint8Array => Uint8Array.of(0xc4, k.length, ...ascii(k));
export const K_NDARRAY = ascii('__ndarray__');
export const K_NPGENERIC = ascii('__npgeneric__');
export const K_DATA = ascii('data');
export const K_DTYPE = ascii('dtype');
export const K_SHAPE = ascii('shape');
/** fixmap(4), b"__ndarray__": true, b"data": (the bin follows). */
export const ND_PREFIX = Uint8Array.of(0x84, ...binKey('__ndarray__'), 0xc3, ...binKey('data'));
/** fixmap(3), b"__npgeneric__": true, b"data": (the value follows). */
export const SC_PREFIX = Uint8Array.of(0x83, ...binKey('__npgeneric__'), 0xc3, ...binKey('data'));
export const BK_DTYPE = binKey('dtype');
export const BK_SHAPE = binKey('shape');

/**
 * Per numeric dtype, the bytes between an ndarray's data and its shape array: b"dtype", the dtype str (fixstr,
 * this machine's byte order), b"shape".
 */
export const ND_MIDDLE = new Map<string, Uint8Array>(
  NUMERIC_DTYPES.map((d) => {
    const s = dtypeString(d);
    return [d, Uint8Array.of(...BK_DTYPE, 0xa0 | s.length, ...ascii(s), ...BK_SHAPE)];
  }),
);

export type Path = (string | number)[];

export function formatPath(path: Path): string {
  if (path.length === 0) return '<root>';
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** An 8-byte scratch for float and 64-bit integer conversions (never held across user code). */
export const SCRATCH = new DataView(new ArrayBuffer(8));
export const SCRATCH_U8 = new Uint8Array(SCRATCH.buffer);

export const MIN_SAFE_BIG = BigInt(Number.MIN_SAFE_INTEGER);
export const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
  return typeof v;
}

export function normalizeBool(bytes: Uint8Array): Uint8Array {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! > 1) {
      const copy = new Uint8Array(bytes.length);
      for (let j = 0; j < bytes.length; j++) copy[j] = bytes[j]! === 0 ? 0 : 1;
      return copy;
    }
  }
  return bytes;
}

export const INT_RANGE: Partial<Record<NumericDType, [bigint, bigint]>> = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** Checks a scalar's value against its dtype and returns it in canonical form (what `.item()` gives in Python). */
export function canonicalScalar(
  dtype: NumericDType,
  value: unknown,
  fail: (msg: string) => never,
): number | bigint | boolean {
  if (dtype === 'bool') {
    if (typeof value === 'boolean') return value;
    if (value === 0 || value === 1) return value === 1;
    return fail(`bool scalar holds ${describeValue(value)}`);
  }
  const range = INT_RANGE[dtype];
  if (range !== undefined) {
    let big: bigint;
    if (typeof value === 'bigint') big = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
    else return fail(`${dtype} scalar holds ${describeValue(value)}, not an integer`);
    if (big < range[0] || big > range[1]) return fail(`${dtype} scalar value ${big} is out of range`);
    return typeof value === 'number' ? value : Number.isSafeInteger(Number(big)) ? Number(big) : big;
  }
  if (typeof value !== 'number') return fail(`${dtype} scalar holds ${describeValue(value)}, not a number`);
  if (dtype === 'float32') return Math.fround(value);
  if (dtype === 'float16') return roundToHalf(value);
  return value;
}

export function describeValue(v: unknown): string {
  return typeof v === 'string'
    ? `a string`
    : typeof v === 'object'
      ? describe(v)
      : `${typeof v} ${String(v)}`;
}
