/**
 * openpi's msgpack-numpy encoding (openpi_client/msgpack_numpy.py), byte for byte.
 *
 * Wire form (see docs/protocol.md "## Codec"):
 * - ndarray  -> map of 4 entries with **bin** keys, in this order: `__ndarray__`: true, `data`: bin (C-order
 *   element bytes, native byte order), `dtype`: str (numpy `dtype.str`, e.g. `<f4`), `shape`: array of ints.
 * - numpy scalar -> map of 3 bin-keyed entries: `__npgeneric__`: true, `data`: the value as a plain msgpack value,
 *   `dtype`: str. Like Python, `float64` scalars are written as plain float64 and `unicode` scalars as plain str
 *   (np.float64 and np.str_ subclass float and str, so msgpack never calls openpi's hook for them).
 * - everything else as Python's msgpack (use_bin_type=True) writes it: str -> str, Uint8Array -> bin, lists ->
 *   array, plain objects -> map with str keys in insertion order, null -> nil, booleans, ints in the smallest
 *   format (unsigned formats for non-negative values), floats as float64.
 *
 * JS numbers: a safe integer (|n| <= 2^53 - 1, not -0) encodes as a msgpack int, like a Python int; anything else
 * (fractions, -0, NaN, +-Infinity, integral values beyond 2^53) as float64, like a Python float. A Python float
 * with an integral value (1.0) therefore needs `npScalar('float64', 1)` to travel as a float; decoding with
 * `keepFloatType: true` produces exactly that, so decode -> encode reproduces Python's bytes.
 *
 * The encoder and decoder are written here rather than delegated to msgpackr: msgpackr writes integers beyond
 * 32 bits as float64 (Python would read a float, not an int) and bigints always as 8 bytes, and it cannot
 * report which key path of a malformed message is wrong.
 */
import { byteSwap, dtypeString, HOST_LITTLE_ENDIAN, parseDtype } from './dtype.js';
import { OpenpiEdgeError } from './errors.js';
import { roundToHalf } from './float16.js';
import {
  type DataOf,
  type DType,
  isNDArray,
  isNumpyScalar,
  type NDArray,
  type NumericDType,
  type NumpyScalar,
  npScalar,
  sizeOf,
  type TypedArray,
  typedArrayCtor,
  type Value,
} from './ndarray.js';

/** Options of {@link unpackNumpy}. */
export interface UnpackOptions {
  /**
   * Copy array data out of the message. Default false: where the element alignment allows, an array's typed
   * array is a view over the message bytes (mutating one mutates the other; the message stays alive as long as
   * the array does). Unaligned, byte-swapped and bool arrays needing normalization are always copied.
   */
  copy?: boolean;
  /**
   * Decode a msgpack float whose value is integral (Python `1.0`) as `npScalar('float64', 1)`, so that packing
   * the result reproduces the original bytes. Default false: every float decodes to a plain number.
   */
  keepFloatType?: boolean;
  /** Deepest nesting of arrays and maps accepted. Default 512. */
  maxDepth?: number;
}

/** Options of {@link packNumpy}. */
export interface PackOptions {
  /** Deepest nesting of arrays and objects accepted (guards against cycles). Default 512. */
  maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 512;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const K_NDARRAY = enc('__ndarray__');
const K_NPGENERIC = enc('__npgeneric__');
const K_DATA = enc('data');
const K_DTYPE = enc('dtype');
const K_SHAPE = enc('shape');

type Path = (string | number)[];

function formatPath(path: Path): string {
  if (path.length === 0) return '<root>';
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder

const TWO_32 = 2 ** 32;

class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  readonly path: Path = [];
  readonly maxDepth: number;

  constructor(capacity: number, maxDepth: number) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.maxDepth = maxDepth;
  }

  fail(
    message: string,
    context: Record<string, unknown> = {},
    code: 'ENCODE_FAILED' | 'BAD_SHAPE' = 'ENCODE_FAILED',
  ): never {
    const path = formatPath(this.path);
    throw new OpenpiEdgeError(code, `cannot encode ${path}: ${message}`, { path, ...context });
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  header(tag8: number, tag16: number, tag32: number, n: number): void {
    this.ensure(5);
    if (n < 0x100 && tag8 !== 0) {
      this.buf[this.pos++] = tag8;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = tag16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = tag32;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  arrayHeader(n: number): void {
    if (n < 16) this.u8(0x90 | n);
    else this.header(0, 0xdc, 0xdd, n);
  }

  mapHeader(n: number): void {
    if (n < 16) this.u8(0x80 | n);
    else this.header(0, 0xde, 0xdf, n);
  }

  bin(bytes: Uint8Array): void {
    this.header(0xc4, 0xc5, 0xc6, bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  float64(x: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.view.setFloat64(this.pos, x);
    this.pos += 8;
  }

  /** A safe integer in Python msgpack's smallest format. */
  int(n: number): void {
    this.ensure(9);
    const b = this.buf;
    if (n >= 0) {
      if (n < 0x80) b[this.pos++] = n;
      else if (n < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = n;
      } else if (n < 0x10000) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, n);
        this.pos += 2;
      } else if (n < TWO_32) {
        b[this.pos++] = 0xce;
        this.view.setUint32(this.pos, n);
        this.pos += 4;
      } else {
        b[this.pos++] = 0xcf;
        this.view.setUint32(this.pos, Math.floor(n / TWO_32));
        this.view.setUint32(this.pos + 4, n >>> 0);
        this.pos += 8;
      }
    } else if (n >= -32) b[this.pos++] = n & 0xff;
    else if (n >= -0x80) {
      b[this.pos++] = 0xd0;
      this.view.setInt8(this.pos++, n);
    } else if (n >= -0x8000) {
      b[this.pos++] = 0xd1;
      this.view.setInt16(this.pos, n);
      this.pos += 2;
    } else if (n >= -0x80000000) {
      b[this.pos++] = 0xd2;
      this.view.setInt32(this.pos, n);
      this.pos += 4;
    } else {
      b[this.pos++] = 0xd3;
      this.view.setBigInt64(this.pos, BigInt(n));
      this.pos += 8;
    }
  }

  bigint(n: bigint): void {
    if (n >= -(2n ** 63n) && n < 2n ** 64n) {
      if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
        this.int(Number(n));
      } else {
        this.ensure(9);
        if (n >= 0n) {
          this.buf[this.pos++] = 0xcf;
          this.view.setBigUint64(this.pos, n);
        } else {
          this.buf[this.pos++] = 0xd3;
          this.view.setBigInt64(this.pos, n);
        }
        this.pos += 8;
      }
      return;
    }
    this.fail(`integer ${n} does not fit msgpack's 64-bit range`, { value: n.toString() });
  }

  number(x: number): void {
    if (Number.isSafeInteger(x) && !Object.is(x, -0)) this.int(x);
    else this.float64(x);
  }

  /** UTF-8 str in the smallest header, refusing lone surrogates (Python's msgpack refuses them too). */
  str(s: string): void {
    const n = s.length;
    const max = n * 3;
    const hdr = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    this.ensure(hdr + max);
    const b = this.buf;
    const start = this.pos + hdr;
    let p = start;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c;
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const lo = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || lo < 0xdc00 || lo > 0xdfff) {
          this.fail(`string has a lone surrogate at index ${i}`, { index: i });
        }
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        b[p++] = 0xf0 | (c >> 18);
        b[p++] = 0x80 | ((c >> 12) & 0x3f);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      } else {
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      }
    }
    const len = p - start;
    const need = len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
    if (need < hdr) b.copyWithin(this.pos + need, start, p);
    if (need === 1) b[this.pos] = 0xa0 | len;
    else if (need === 2) {
      b[this.pos] = 0xd9;
      b[this.pos + 1] = len;
    } else if (need === 3) {
      b[this.pos] = 0xda;
      this.view.setUint16(this.pos + 1, len);
    } else {
      b[this.pos] = 0xdb;
      this.view.setUint32(this.pos + 1, len);
    }
    this.pos += need + len;
  }

  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.str(v);
        return;
      case 'boolean':
        this.u8(v ? 0xc3 : 0xc2);
        return;
      case 'bigint':
        this.bigint(v);
        return;
      case 'object':
        break;
      default:
        this.fail(`a ${typeof v} has no msgpack form`, { type: typeof v });
    }
    if (v === null) {
      this.u8(0xc0);
      return;
    }
    if (depth >= this.maxDepth) {
      this.fail(`nesting deeper than ${this.maxDepth} (a cycle?)`, { maxDepth: this.maxDepth });
    }
    if (v instanceof Uint8Array) {
      this.bin(v);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      this.fail(
        `a bare ${v.constructor.name} has no dtype or shape; wrap it with ndarray(dtype, shape, data)`,
        {
          type: v.constructor.name,
        },
      );
    }
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (let i = 0; i < v.length; i++) {
        this.path.push(i);
        this.value(v[i], depth + 1);
        this.path.pop();
      }
      return;
    }
    if (isNumpyScalar(v)) {
      this.scalar(v);
      return;
    }
    if (isNDArray(v)) {
      this.ndarray(v);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      this.fail(`a ${name} is not a plain object, array, ndarray or numpy scalar`, { type: name });
    }
    const keys = Object.keys(v);
    this.mapHeader(keys.length);
    for (const k of keys) {
      this.str(k);
      this.path.push(k);
      this.value((v as Record<string, unknown>)[k], depth + 1);
      this.path.pop();
    }
  }

  scalar(s: NumpyScalar): void {
    const { dtype, value } = s;
    if (dtype === 'unicode') {
      if (typeof value !== 'string') this.fail(`unicode scalar holds a ${typeof value}`, { dtype });
      this.str(value);
      return;
    }
    if (dtype === 'float64') {
      if (typeof value !== 'number') this.fail(`float64 scalar holds a ${typeof value}`, { dtype });
      this.float64(value);
      return;
    }
    let str: string;
    try {
      str = dtypeString(dtype);
    } catch {
      this.fail(`unknown scalar dtype ${JSON.stringify(dtype)}`, { dtype });
    }
    this.mapHeader(3);
    this.bin(K_NPGENERIC);
    this.u8(0xc3);
    this.bin(K_DATA);
    this.path.push('data');
    writeScalarData(this, dtype, value);
    this.path.pop();
    this.bin(K_DTYPE);
    this.str(str);
  }

  ndarray(a: NDArray): void {
    const { dtype, shape, data } = a;
    let dtypeStr: string;
    try {
      dtypeStr = dtypeString(dtype, a.itemChars);
      if (dtype !== 'unicode') typedArrayCtor(dtype);
    } catch {
      this.fail(`unknown ndarray dtype ${JSON.stringify(dtype)}`, { dtype });
    }
    if (!Array.isArray(shape)) this.fail('ndarray shape is not an array', { dtype });
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        this.fail(
          `ndarray shape [${shape.join(', ')}] has an invalid dimension ${d}`,
          { dtype, shape },
          'BAD_SHAPE',
        );
      }
    }
    const n = sizeOf(shape);
    let bytes: Uint8Array;
    if (dtype === 'unicode') {
      const u = this.unicodeBytes(a as NDArray<'unicode'>, n);
      bytes = u.bytes;
      dtypeStr = dtypeString('unicode', u.chars);
    } else {
      const Ctor = typedArrayCtor(dtype as NumericDType);
      if (!(data instanceof Ctor)) {
        this.fail(`${dtype} data must be a ${Ctor.name}, got ${describe(data)}`, { dtype, shape });
      }
      const td = data as TypedArray;
      if (td.length !== n) {
        this.fail(
          `${dtype} data has ${td.length} elements but shape [${shape.join(', ')}] needs ${n}`,
          { dtype, shape, elements: td.length },
          'BAD_SHAPE',
        );
      }
      bytes = new Uint8Array(td.buffer, td.byteOffset, td.byteLength);
      if (dtype === 'bool') bytes = normalizeBool(bytes);
    }
    this.mapHeader(4);
    this.bin(K_NDARRAY);
    this.u8(0xc3);
    this.bin(K_DATA);
    this.bin(bytes);
    this.bin(K_DTYPE);
    this.str(dtypeStr);
    this.bin(K_SHAPE);
    this.arrayHeader(shape.length);
    for (const d of shape) this.int(d);
  }

  /** numpy `<U{n}`: n UTF-32 code units per element, NUL padded. */
  unicodeBytes(a: NDArray<'unicode'>, n: number): { bytes: Uint8Array; chars: number } {
    const data: unknown = a.data;
    if (!Array.isArray(data) || data.length !== n || !data.every((s) => typeof s === 'string')) {
      this.fail(`unicode data must be ${n} strings for shape [${a.shape.join(', ')}]`, {
        dtype: 'unicode',
        shape: a.shape,
      });
    }
    const points = (data as string[]).map((s) => Array.from(s, (ch) => ch.codePointAt(0) ?? 0));
    const longest = points.reduce((m, p) => Math.max(m, p.length), 0);
    const chars = a.itemChars ?? Math.max(1, longest);
    if (!Number.isSafeInteger(chars) || chars < 0 || longest > chars) {
      this.fail(`unicode itemChars ${chars} is smaller than the longest element (${longest} characters)`, {
        dtype: 'unicode',
        shape: a.shape,
        itemChars: chars,
      });
    }
    const out = new Uint8Array(4 * chars * n);
    const dv = new DataView(out.buffer);
    points.forEach((p, i) => {
      p.forEach((cp, j) => {
        dv.setUint32(4 * (i * chars + j), cp, HOST_LITTLE_ENDIAN);
      });
    });
    return { bytes: out, chars };
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
  return typeof v;
}

function normalizeBool(bytes: Uint8Array): Uint8Array {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! > 1) {
      const copy = new Uint8Array(bytes.length);
      for (let j = 0; j < bytes.length; j++) copy[j] = bytes[j]! === 0 ? 0 : 1;
      return copy;
    }
  }
  return bytes;
}

const INT_RANGE: Partial<Record<NumericDType, [bigint, bigint]>> = {
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
function canonicalScalar(
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

function describeValue(v: unknown): string {
  return typeof v === 'string'
    ? `a string`
    : typeof v === 'object'
      ? describe(v)
      : `${typeof v} ${String(v)}`;
}

function writeScalarData(w: Writer, dtype: NumericDType, value: unknown): void {
  const v = canonicalScalar(dtype, value, (msg) => w.fail(msg, { dtype }));
  if (typeof v === 'boolean') w.u8(v ? 0xc3 : 0xc2);
  else if (typeof v === 'bigint') w.bigint(v);
  else if (dtype.startsWith('float')) w.float64(v);
  else w.int(v);
}

/**
 * Encodes a value the way openpi's `msgpack_numpy.packb` encodes the equivalent Python value.
 * Throws ENCODE_FAILED / BAD_SHAPE naming the key path for values that have no such equivalent.
 */
export function packNumpy(value: Value, options: PackOptions = {}): Uint8Array {
  const w = new Writer(estimateSize(value, 0), options.maxDepth ?? DEFAULT_MAX_DEPTH);
  w.value(value, 0);
  return w.buf.subarray(0, w.pos);
}

/** A quick upper bound of the encoded size for typical trees, so large arrays are copied once. */
function estimateSize(v: unknown, depth: number): number {
  if (typeof v === 'string') return 5 + 3 * v.length;
  if (typeof v !== 'object' || v === null || depth > 64) return 9;
  if (v instanceof Uint8Array) return 5 + v.length;
  if (Array.isArray(v)) {
    let n = 5;
    for (const x of v) n += estimateSize(x, depth + 1);
    return n;
  }
  if (isNDArray(v)) {
    const d = v.data as { byteLength?: number; length: number };
    return 64 + (d.byteLength ?? 0) + 16 * v.shape.length;
  }
  let n = 5;
  for (const [k, x] of Object.entries(v)) n += 5 + 3 * k.length + estimateSize(x, depth + 1);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;
  readonly path: Path = [];
  readonly copy: boolean;
  readonly keepFloatType: boolean;
  readonly maxDepth: number;

  constructor(bytes: Uint8Array, options: UnpackOptions) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.copy = options.copy ?? false;
    this.keepFloatType = options.keepFloatType ?? false;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  fail(
    message: string,
    context: Record<string, unknown> = {},
    code: 'BAD_MESSAGE' | 'BAD_SHAPE' | 'BAD_DTYPE' = 'BAD_MESSAGE',
  ): never {
    const path = formatPath(this.path);
    throw new OpenpiEdgeError(code, `bad msgpack-numpy message at ${path}: ${message}`, {
      path,
      offset: this.pos,
      ...context,
    });
  }

  need(n: number, what: string): void {
    const present = this.bytes.length - this.pos;
    if (n > present) {
      this.fail(`${what} declares ${n} bytes but only ${present} are present`, {
        declaredBytes: n,
        presentBytes: present,
      });
    }
  }

  u8(): number {
    this.need(1, 'value');
    return this.bytes[this.pos++]!;
  }
  u16(): number {
    this.need(2, 'length');
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4, 'length');
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  float(x: number): Value {
    if (this.keepFloatType && Number.isInteger(x) && !Object.is(x, -0)) return npScalar('float64', x);
    return x;
  }

  big(v: bigint): number | bigint {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  raw(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(n: number): string {
    const b = this.raw(n, 'str');
    if (n <= 64) {
      let s = '';
      let ascii = true;
      for (let i = 0; i < n; i++) {
        const c = b[i]!;
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        s += String.fromCharCode(c);
      }
      if (ascii) return s;
    }
    try {
      return utf8.decode(b);
    } catch {
      this.pos -= n;
      return this.fail(`str of ${n} bytes is not valid UTF-8`, { declaredBytes: n });
    }
  }

  value(depth: number): Value {
    const t = this.u8();
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t < 0x90) return this.map(t & 0x0f, depth);
    if (t < 0xa0) return this.array(t & 0x0f, depth);
    if (t < 0xc0) return this.str(t & 0x1f);
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.raw(this.u8(), 'bin');
      case 0xc5:
        return this.raw(this.u16(), 'bin');
      case 0xc6:
        return this.raw(this.u32(), 'bin');
      case 0xca: {
        this.need(4, 'float32');
        const x = this.view.getFloat32(this.pos);
        this.pos += 4;
        return this.float(x);
      }
      case 0xcb: {
        this.need(8, 'float64');
        const x = this.view.getFloat64(this.pos);
        this.pos += 8;
        return this.float(x);
      }
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf: {
        this.need(8, 'uint64');
        const v = this.view.getBigUint64(this.pos);
        this.pos += 8;
        return this.big(v);
      }
      case 0xd0: {
        this.need(1, 'int8');
        return this.view.getInt8(this.pos++);
      }
      case 0xd1: {
        this.need(2, 'int16');
        const v = this.view.getInt16(this.pos);
        this.pos += 2;
        return v;
      }
      case 0xd2: {
        this.need(4, 'int32');
        const v = this.view.getInt32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xd3: {
        this.need(8, 'int64');
        const v = this.view.getBigInt64(this.pos);
        this.pos += 8;
        return this.big(v);
      }
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        this.pos--;
        return this.fail(
          t === 0xc1
            ? 'byte 0xc1 is never used in msgpack'
            : `msgpack extension type (0x${t.toString(16)}) is not part of openpi's encoding`,
          { byte: t },
        );
    }
  }

  enter(depth: number, count: number, what: string): void {
    if (depth >= this.maxDepth)
      this.fail(`nesting deeper than ${this.maxDepth}`, { maxDepth: this.maxDepth });
    // every element takes at least one byte (two per map entry): refuse impossible counts before allocating
    const present = this.bytes.length - this.pos;
    const min = what === 'map' ? 2 * count : count;
    if (min > present) {
      this.fail(`${what} declares ${count} entries but only ${present} bytes are present`, {
        declaredEntries: count,
        presentBytes: present,
      });
    }
  }

  array(n: number, depth: number): Value[] {
    this.enter(depth, n, 'array');
    const out: Value[] = new Array(n);
    for (let i = 0; i < n; i++) {
      this.path.push(i);
      out[i] = this.value(depth + 1);
      this.path.pop();
    }
    return out;
  }

  map(n: number, depth: number): Value {
    this.enter(depth, n, 'map');
    const keys: (string | Uint8Array)[] = new Array(n);
    const vals: Value[] = new Array(n);
    let binKeys = false;
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const k = this.value(depth + 1);
      if (typeof k === 'string') keys[i] = k;
      else if (k instanceof Uint8Array) {
        keys[i] = k;
        binKeys = true;
      } else {
        this.pos = at;
        this.fail(
          `map key is ${describeValue(k)}; only str keys (and openpi's bin marker keys) are accepted`,
        );
      }
      this.path.push(typeof k === 'string' ? k : latin1(k));
      vals[i] = this.value(depth + 1);
      this.path.pop();
    }
    if (binKeys) {
      if (keys.some((k) => k instanceof Uint8Array && bytesEqual(k, K_NDARRAY)))
        return this.ndarray(keys, vals);
      if (keys.some((k) => k instanceof Uint8Array && bytesEqual(k, K_NPGENERIC)))
        return this.scalar(keys, vals);
      const k = keys.find((x) => x instanceof Uint8Array) as Uint8Array;
      this.fail(`dict has a bytes key ${JSON.stringify(latin1(k))}; only str keys are accepted`, {
        key: latin1(k),
      });
    }
    const obj: { [key: string]: Value } = {};
    for (let i = 0; i < n; i++) {
      const k = keys[i] as string;
      if (k === '__proto__') {
        Object.defineProperty(obj, k, {
          value: vals[i],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else obj[k] = vals[i]!;
    }
    return obj;
  }

  field(keys: (string | Uint8Array)[], vals: Value[], key: Uint8Array, name: string): Value {
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      if (k instanceof Uint8Array && bytesEqual(k, key)) return vals[i]!;
    }
    return this.fail(`${name} map has no b"${latin1(key)}" entry`, { missing: latin1(key) });
  }

  ndarray(keys: (string | Uint8Array)[], vals: Value[]): NDArray {
    const data = this.field(keys, vals, K_DATA, 'ndarray');
    const dtypeStr = this.field(keys, vals, K_DTYPE, 'ndarray');
    const shapeV = this.field(keys, vals, K_SHAPE, 'ndarray');
    const path = formatPath(this.path);
    if (typeof dtypeStr !== 'string') this.fail(`ndarray dtype is ${describeValue(dtypeStr)}, not a str`);
    const wire = parseDtype(dtypeStr, path);
    if (!(data instanceof Uint8Array)) {
      this.fail(`ndarray data is ${describeValue(data)}, not bin`, { dtype: dtypeStr });
    }
    if (!Array.isArray(shapeV))
      this.fail(`ndarray shape is ${describeValue(shapeV)}, not an array`, { dtype: dtypeStr });
    const shape: number[] = [];
    let n = 1;
    for (const d of shapeV) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        this.fail(
          `ndarray shape has an invalid dimension ${describeValue(d)}`,
          { dtype: dtypeStr, shape: shapeV },
          'BAD_SHAPE',
        );
      }
      shape.push(d);
      n *= d;
    }
    const declared = n * wire.itemBytes;
    if (!Number.isSafeInteger(declared) || declared !== data.length) {
      this.fail(
        `ndarray ${dtypeStr} of shape [${shape.join(', ')}] needs ${declared} bytes but data holds ${data.length}`,
        { dtype: dtypeStr, shape, declaredBytes: declared, presentBytes: data.length },
        'BAD_SHAPE',
      );
    }
    if (wire.dtype === 'unicode') {
      return {
        dtype: 'unicode',
        shape,
        data: this.unicode(data, n, wire.itemChars ?? 0, wire.swapped),
        itemChars: wire.itemChars ?? 0,
      };
    }
    const dtype = wire.dtype as NumericDType;
    const Ctor = typedArrayCtor(dtype);
    let bytes = data;
    const aligned = data.byteOffset % wire.itemBytes === 0;
    if (wire.swapped || this.copy || !aligned) {
      // A fresh buffer at offset 0, whatever `data` is: `slice()` on a Node Buffer is a view (no copy), so the swap
      // below would write into the caller's bytes and the offset would stay unaligned.
      bytes = new Uint8Array(data.byteLength);
      bytes.set(data);
      if (wire.swapped) byteSwap(bytes, wire.itemBytes);
    }
    if (dtype === 'bool') bytes = normalizeBool(bytes);
    const typed = new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n) as DataOf[NumericDType];
    return { dtype, shape, data: typed } as NDArray;
  }

  unicode(data: Uint8Array, n: number, chars: number, swapped: boolean): string[] {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const little = HOST_LITTLE_ENDIAN !== swapped;
    const out: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      let end = chars;
      while (end > 0 && dv.getUint32(4 * (i * chars + end - 1), little) === 0) end--;
      let s = '';
      for (let j = 0; j < end; j++) {
        const cp = dv.getUint32(4 * (i * chars + j), little);
        if (cp > 0x10ffff) {
          this.fail(`unicode element ${i} has code point 0x${cp.toString(16)} beyond U+10FFFF`, {
            element: i,
          });
        }
        s += String.fromCodePoint(cp);
      }
      out[i] = s;
    }
    return out;
  }

  scalar(keys: (string | Uint8Array)[], vals: Value[]): NumpyScalar {
    const data = this.field(keys, vals, K_DATA, 'numpy scalar');
    const dtypeStr = this.field(keys, vals, K_DTYPE, 'numpy scalar');
    if (typeof dtypeStr !== 'string')
      this.fail(`numpy scalar dtype is ${describeValue(dtypeStr)}, not a str`);
    const dtype: DType = parseDtype(dtypeStr, formatPath(this.path)).dtype;
    // a float decoded with keepFloatType is still the plain float the wire carried
    const raw = isNumpyScalar(data) && data.dtype === 'float64' ? data.value : data;
    if (dtype === 'unicode') {
      if (typeof raw !== 'string')
        this.fail(`unicode scalar holds ${describeValue(raw)}`, { dtype: dtypeStr });
      return npScalar('unicode', raw);
    }
    const value = canonicalScalar(dtype, raw, (msg) => this.fail(msg, { dtype: dtypeStr }));
    return npScalar(dtype, value);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < Math.min(b.length, 64); i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * Decodes one msgpack-numpy message the way openpi's `msgpack_numpy.unpackb` does, validating everything:
 * truncated lengths, trailing bytes, extension types, non-str dict keys, dtype strings, shape vs byte count.
 * Throws BAD_MESSAGE / BAD_DTYPE / BAD_SHAPE with the key path (`images.cam_high`), offset and sizes.
 */
export function unpackNumpy(bytes: Uint8Array, options: UnpackOptions = {}): Value {
  if (!(bytes instanceof Uint8Array)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `unpackNumpy needs a Uint8Array, got ${describe(bytes)}`);
  }
  const r = new Reader(bytes, options);
  if (bytes.length === 0) r.fail('empty message');
  const v = r.value(0);
  if (r.pos !== bytes.length) {
    r.fail(`${bytes.length - r.pos} trailing bytes after the message`, {
      trailingBytes: bytes.length - r.pos,
    });
  }
  return v;
}
