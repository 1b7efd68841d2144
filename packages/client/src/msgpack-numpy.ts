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
 *
 * Speed (bench/codec.bench.ts): the cost that matters is copying array bytes, so both directions touch them at
 * most once. packNumpy walks the value once, validating it and recording a flat list of write operations with the
 * exact message length; then it allocates once (or uses the caller's `into` buffer) and runs the list, array
 * bytes going out with one `set()` each. unpackNumpy recognises openpi's fixed ndarray layout in place (no
 * intermediate key/value objects) and returns array data as views of the message where alignment allows.
 */
import { byteSwap, dtypeString, HOST_LITTLE_ENDIAN, parseDtype, type WireDType } from './dtype.js';
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
  /**
   * A caller-owned buffer to encode into, to reuse one buffer across messages instead of allocating a fresh one
   * per message. When the message fits, packNumpy returns `into.subarray(0, length)`: a view that the next
   * packNumpy into the same buffer overwrites, so hand it only to consumers that copy or finish with it first
   * (a browser `WebSocket.send` copies; Node `ws` may still hold it after `send` returns until the callback).
   * When it does not fit, a fresh buffer is allocated as without `into` (`result.buffer !== into.buffer` tells).
   * `into` must not overlap the bytes of any array in the value.
   */
  into?: Uint8Array;
}

const DEFAULT_MAX_DEPTH = 512;
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** msgpack bin8 of an ASCII key, the form openpi's marker keys take on the wire. */
const binKey = (k: string): Uint8Array => Uint8Array.of(0xc4, k.length, ...ascii(k));
const K_NDARRAY = ascii('__ndarray__');
const K_NPGENERIC = ascii('__npgeneric__');
const K_DATA = ascii('data');
const K_DTYPE = ascii('dtype');
const K_SHAPE = ascii('shape');
/** fixmap(4), b"__ndarray__": true, b"data": (the bin follows). */
const ND_PREFIX = Uint8Array.of(0x84, ...binKey('__ndarray__'), 0xc3, ...binKey('data'));
/** fixmap(3), b"__npgeneric__": true, b"data": (the value follows). */
const SC_PREFIX = Uint8Array.of(0x83, ...binKey('__npgeneric__'), 0xc3, ...binKey('data'));
const BK_DTYPE = binKey('dtype');
const BK_SHAPE = binKey('shape');

const NUMERIC_DTYPES: readonly NumericDType[] = [
  'bool',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float16',
  'float32',
  'float64',
];
/**
 * Per numeric dtype, the bytes between an ndarray's data and its shape array: b"dtype", the dtype str (fixstr,
 * this machine's byte order), b"shape".
 */
const ND_MIDDLE = new Map<string, Uint8Array>(
  NUMERIC_DTYPES.map((d) => {
    const s = dtypeString(d);
    return [d, Uint8Array.of(...BK_DTYPE, 0xa0 | s.length, ...ascii(s), ...BK_SHAPE)];
  }),
);

type Path = (string | number)[];

function formatPath(path: Path): string {
  if (path.length === 0) return '<root>';
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** An 8-byte scratch for float and 64-bit integer conversions (never held across user code). */
const SCRATCH = new DataView(new ArrayBuffer(8));
const SCRATCH_U8 = new Uint8Array(SCRATCH.buffer);

// ---------------------------------------------------------------------------------------------------------------
// Encoder

const TWO_32 = 2 ** 32;
const MIN_SAFE_BIG = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_INT64 = -(2n ** 63n);
const LIMIT_UINT64 = 2n ** 64n;

// Write operations recorded by the first pass. `nums[i]` / `objs[i]` carry each one's operand.
const OP_BYTE = 0; // one byte: nums = the byte
const OP_INT = 1; // a safe integer in the smallest format: nums = the integer
const OP_F64 = 2; // float64: nums = the value
const OP_BIG = 3; // an int outside the safe range, 8 bytes: objs = the bigint
const OP_STR = 4; // str: objs = the string (validated), nums = its UTF-8 length
const OP_BIN = 5; // bin header + bytes: objs = the Uint8Array
const OP_RAW = 6; // constant bytes copied verbatim: objs = the Uint8Array
const OP_ARRAY = 7; // array header: nums = the count
const OP_MAP = 8; // map header: nums = the count

/** Bytes of a msgpack int as Python's msgpack writes it (smallest format, unsigned for n >= 0). */
function intBytes(n: number): number {
  if (n >= 0) return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < TWO_32 ? 5 : 9;
  return n >= -32 ? 1 : n >= -0x80 ? 2 : n >= -0x8000 ? 3 : n >= -0x80000000 ? 5 : 9;
}
const strHeaderBytes = (len: number): number => (len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5);
const binHeaderBytes = (len: number): number => (len < 0x100 ? 2 : len < 0x10000 ? 3 : 5);
const countHeaderBytes = (n: number): number => (n < 16 ? 1 : n < 0x10000 ? 3 : 5);

/**
 * Pass 1 of packNumpy: walks the value once, validates it (failing with the key path) and records the write
 * operations and the exact encoded length. The list holds everything pass 2 needs, so pass 2 never reads the
 * caller's objects again (a getter cannot make the two passes disagree).
 */
class Planner {
  // entries [0, count) are this message's; the arrays keep their capacity when a planner is reused
  readonly ops: number[] = [];
  readonly nums: number[] = [];
  readonly objs: unknown[] = [];
  count = 0;
  /** Exact encoded length of the operations so far. */
  length = 0;
  readonly path: Path = [];
  maxDepth = DEFAULT_MAX_DEPTH;

  /** Forgets the last message, dropping its references to the caller's data. */
  reset(maxDepth: number): void {
    for (let i = 0; i < this.count; i++) this.objs[i] = null;
    this.count = 0;
    this.length = 0;
    if (this.path.length !== 0) this.path.length = 0; // only after a failure
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

  private op(op: number, num: number, obj: unknown, bytes: number): void {
    const i = this.count++;
    this.ops[i] = op;
    this.nums[i] = num;
    this.objs[i] = obj;
    this.length += bytes;
  }

  byte(b: number): void {
    this.op(OP_BYTE, b, null, 1);
  }

  raw(bytes: Uint8Array): void {
    this.op(OP_RAW, 0, bytes, bytes.length);
  }

  bin(bytes: Uint8Array): void {
    this.op(OP_BIN, 0, bytes, binHeaderBytes(bytes.length) + bytes.length);
  }

  arrayHeader(n: number): void {
    this.op(OP_ARRAY, n, null, countHeaderBytes(n));
  }

  mapHeader(n: number): void {
    this.op(OP_MAP, n, null, countHeaderBytes(n));
  }

  float64(x: number): void {
    this.op(OP_F64, x, null, 9);
  }

  /** A safe integer in Python msgpack's smallest format. */
  int(n: number): void {
    this.op(OP_INT, n, null, intBytes(n));
  }

  bigint(n: bigint): void {
    if (n >= MIN_INT64 && n < LIMIT_UINT64) {
      if (n >= MIN_SAFE_BIG && n <= MAX_SAFE_BIG) this.int(Number(n));
      else this.op(OP_BIG, 0, n, 9);
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
    let len = n;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) len += 1;
      else if (c >= 0xd800 && c <= 0xdfff) {
        const lo = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || lo < 0xdc00 || lo > 0xdfff) {
          this.fail(`string has a lone surrogate at index ${i}`, { index: i });
        }
        i++;
        len += 2; // two UTF-16 units -> four bytes
      } else len += 2;
    }
    this.op(OP_STR, len, s, strHeaderBytes(len) + len);
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
        this.byte(v ? 0xc3 : 0xc2);
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
      this.byte(0xc0);
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
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
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
    this.raw(SC_PREFIX);
    this.path.push('data');
    const v = canonicalScalar(dtype, value, (msg) => this.fail(msg, { dtype }));
    if (typeof v === 'boolean') this.byte(v ? 0xc3 : 0xc2);
    else if (typeof v === 'bigint') this.bigint(v);
    else if (dtype.startsWith('float')) this.float64(v);
    else this.int(v);
    this.path.pop();
    this.raw(BK_DTYPE);
    this.str(str);
  }

  ndarray(a: NDArray): void {
    const { dtype, shape, data } = a;
    // numeric dtypes: the constant bytes around the dtype str; unicode: the str depends on the width
    const middle = ND_MIDDLE.get(dtype);
    if (middle === undefined && dtype !== 'unicode') {
      this.fail(`unknown ndarray dtype ${JSON.stringify(dtype)}`, { dtype });
    }
    if (!Array.isArray(shape)) this.fail('ndarray shape is not an array', { dtype });
    let n = 1;
    for (let i = 0; i < shape.length; i++) {
      const d: unknown = shape[i];
      if (!Number.isSafeInteger(d) || (d as number) < 0) {
        this.fail(
          `ndarray shape [${shape.join(', ')}] has an invalid dimension ${d}`,
          { dtype, shape },
          'BAD_SHAPE',
        );
      }
      n *= d as number;
    }
    if (middle === undefined) {
      const u = this.unicodeBytes(a as NDArray<'unicode'>, n);
      this.raw(ND_PREFIX);
      this.bin(u.bytes);
      this.raw(BK_DTYPE);
      this.str(dtypeString('unicode', u.chars));
      this.raw(BK_SHAPE);
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
      let bytes = td instanceof Uint8Array ? td : new Uint8Array(td.buffer, td.byteOffset, td.byteLength);
      if (dtype === 'bool') bytes = normalizeBool(bytes);
      this.raw(ND_PREFIX);
      this.bin(bytes);
      this.raw(middle);
    }
    this.arrayHeader(shape.length);
    for (let i = 0; i < shape.length; i++) this.int(shape[i]!);
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

/** Writes a msgpack header: 1-byte `tag8` + u8 (when tag8 is not 0 and n < 256), else tag16 + u16, else tag32 + u32. */
function writeHeader(
  b: Uint8Array,
  p: number,
  tag8: number,
  tag16: number,
  tag32: number,
  n: number,
): number {
  if (n < 0x100 && tag8 !== 0) {
    b[p] = tag8;
    b[p + 1] = n;
    return p + 2;
  }
  if (n < 0x10000) {
    b[p] = tag16;
    b[p + 1] = n >>> 8;
    b[p + 2] = n & 0xff;
    return p + 3;
  }
  b[p] = tag32;
  return writeU32(b, p + 1, n);
}

function writeU32(b: Uint8Array, p: number, n: number): number {
  b[p] = n >>> 24;
  b[p + 1] = (n >>> 16) & 0xff;
  b[p + 2] = (n >>> 8) & 0xff;
  b[p + 3] = n & 0xff;
  return p + 4;
}

/** 8 bytes from SCRATCH (already holding a big-endian value). */
function writeScratch(b: Uint8Array, p: number): number {
  for (let i = 0; i < 8; i++) b[p + i] = SCRATCH_U8[i]!;
  return p + 8;
}

function writeInt(b: Uint8Array, p: number, n: number): number {
  if (n >= 0) {
    if (n < 0x80) {
      b[p] = n;
      return p + 1;
    }
    if (n < 0x100) {
      b[p] = 0xcc;
      b[p + 1] = n;
      return p + 2;
    }
    if (n < 0x10000) return writeHeader(b, p, 0, 0xcd, 0, n);
    if (n < TWO_32) {
      b[p] = 0xce;
      return writeU32(b, p + 1, n);
    }
    b[p] = 0xcf;
    writeU32(b, p + 1, Math.floor(n / TWO_32));
    return writeU32(b, p + 5, n >>> 0);
  }
  if (n >= -32) {
    b[p] = n & 0xff;
    return p + 1;
  }
  if (n >= -0x80) {
    b[p] = 0xd0;
    b[p + 1] = n & 0xff;
    return p + 2;
  }
  if (n >= -0x8000) {
    b[p] = 0xd1;
    b[p + 1] = (n >> 8) & 0xff;
    b[p + 2] = n & 0xff;
    return p + 3;
  }
  if (n >= -0x80000000) {
    b[p] = 0xd2;
    return writeU32(b, p + 1, n >>> 0);
  }
  b[p] = 0xd3;
  SCRATCH.setBigInt64(0, BigInt(n));
  return writeScratch(b, p + 1);
}

/** A validated string (no lone surrogates) of UTF-8 length `len`. */
function writeStr(b: Uint8Array, p: number, s: string, len: number): number {
  if (len < 32) b[p++] = 0xa0 | len;
  else p = writeHeader(b, p, 0xd9, 0xda, 0xdb, len);
  const n = s.length;
  if (len === n) {
    for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
    return p + n;
  }
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      b[p++] = c;
    } else if (c < 0x800) {
      b[p++] = 0xc0 | (c >> 6);
      b[p++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const lo = s.charCodeAt(++i);
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
  return p;
}

/** Pass 2 of packNumpy: runs the planned operations into `b` (exactly `plan.length` bytes). Returns the end. */
function emit(plan: Planner, b: Uint8Array): number {
  const { ops, nums, objs, count } = plan;
  let p = 0;
  for (let i = 0; i < count; i++) {
    const num = nums[i]!;
    switch (ops[i]) {
      case OP_BYTE:
        b[p++] = num;
        break;
      case OP_INT:
        p = writeInt(b, p, num);
        break;
      case OP_F64:
        b[p] = 0xcb;
        SCRATCH.setFloat64(0, num);
        p = writeScratch(b, p + 1);
        break;
      case OP_BIG: {
        const v = objs[i] as bigint;
        b[p] = v >= 0n ? 0xcf : 0xd3;
        if (v >= 0n) SCRATCH.setBigUint64(0, v);
        else SCRATCH.setBigInt64(0, v);
        p = writeScratch(b, p + 1);
        break;
      }
      case OP_STR:
        p = writeStr(b, p, objs[i] as string, num);
        break;
      case OP_BIN: {
        const d = objs[i] as Uint8Array;
        p = writeHeader(b, p, 0xc4, 0xc5, 0xc6, d.length);
        b.set(d, p); // the one copy of array payloads
        p += d.length;
        break;
      }
      case OP_RAW: {
        const d = objs[i] as Uint8Array;
        for (let j = 0; j < d.length; j++) b[p + j] = d[j]!;
        p += d.length;
        break;
      }
      case OP_ARRAY:
        if (num < 16) b[p++] = 0x90 | num;
        else p = writeHeader(b, p, 0, 0xdc, 0xdd, num);
        break;
      default: // OP_MAP
        if (num < 16) b[p++] = 0x80 | num;
        else p = writeHeader(b, p, 0, 0xde, 0xdf, num);
    }
  }
  return p;
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

/**
 * Encodes a value the way openpi's `msgpack_numpy.packb` encodes the equivalent Python value.
 * Throws ENCODE_FAILED / BAD_SHAPE naming the key path for values that have no such equivalent.
 *
 * Returns exactly the message bytes: a fresh buffer of exactly that length (`result.buffer.byteLength ===
 * result.length`), or with `options.into`, a view of the caller's buffer when the message fits (see
 * {@link PackOptions.into}). Array data is copied once, from the typed array into the message.
 */
export function packNumpy(value: Value, options: PackOptions = {}): Uint8Array {
  const { into } = options;
  if (into !== undefined && !(into instanceof Uint8Array)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `packNumpy's into must be a Uint8Array, got ${describe(into)}`);
  }
  // one planner serves every call; a packNumpy re-entered from a getter inside the value gets its own
  const plan = sparePlanner ?? new Planner();
  sparePlanner = undefined;
  plan.reset(options.maxDepth ?? DEFAULT_MAX_DEPTH);
  try {
    plan.value(value, 0);
    const out =
      into !== undefined && into.length >= plan.length
        ? into.subarray(0, plan.length)
        : new Uint8Array(plan.length);
    const end = emit(plan, out);
    if (end !== plan.length) {
      // cannot happen unless the planner and the writer disagree on a size (a bug here, not the caller's)
      throw new OpenpiEdgeError('ENCODE_FAILED', `encoder wrote ${end} bytes for a planned ${plan.length}`, {
        path: '<root>',
        planned: plan.length,
        written: end,
      });
    }
    return out;
  } finally {
    plan.reset(DEFAULT_MAX_DEPTH);
    sparePlanner = plan;
  }
}

let sparePlanner: Planner | undefined;

// ---------------------------------------------------------------------------------------------------------------
// Decoder

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** parseDtype results of numeric dtype strings seen so far (a small set: 12 dtypes x 3 byte-order prefixes). */
const DTYPE_CACHE = new Map<string, WireDType>();
const DTYPE_CACHE_MAX = 64;
interface KnownDtype {
  readonly wire: WireDType;
  readonly str: string;
}
/** The same entries for 3-byte dtype strings, keyed by their bytes (`b0 << 16 | b1 << 8 | b2`). */
const DTYPE_BY_BYTES = new Map<number, KnownDtype>();

/** `b` holds `key` at `p` (bounds are checked by the indexed reads: out of range reads undefined). */
function matchAt(b: Uint8Array, p: number, key: Uint8Array): boolean {
  for (let i = 0; i < key.length; i++) if (b[p + i] !== key[i]) return false;
  return true;
}

// Recently decoded map keys, by a hash of their bytes: KEY_STRS[slot] is the string, KEY_LENS[slot] its byte
// length, KEY_BYTES[slot * KEY_MAX ...] its bytes. Only fixstr keys (< 32 bytes) are kept; a collision overwrites.
const KEY_SLOTS = 256;
const KEY_MAX = 31;
const KEY_STRS: (string | undefined)[] = new Array<string | undefined>(KEY_SLOTS).fill(undefined);
const KEY_LENS = new Uint8Array(KEY_SLOTS);
const KEY_BYTES = new Uint8Array(KEY_SLOTS * KEY_MAX);

class Reader {
  readonly bytes: Uint8Array;
  pos = 0;
  readonly path: Path = [];
  readonly copy: boolean;
  readonly keepFloatType: boolean;
  readonly maxDepth: number;

  constructor(bytes: Uint8Array, options: UnpackOptions) {
    this.bytes = bytes;
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
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }
  u32(): number {
    this.need(4, 'length');
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
  /** Moves the next `n` bytes (big-endian, n <= 8) into SCRATCH. */
  scratch(n: number, what: string): void {
    this.need(n, what);
    const b = this.bytes;
    const p = this.pos;
    for (let i = 0; i < n; i++) SCRATCH_U8[i] = b[p + i]!;
    this.pos = p + n;
  }

  float(x: number): Value {
    if (this.keepFloatType && Number.isInteger(x) && !Object.is(x, -0)) return npScalar('float64', x);
    return x;
  }

  big(v: bigint): number | bigint {
    return v >= MIN_SAFE_BIG && v <= MAX_SAFE_BIG ? Number(v) : v;
  }

  raw(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(n: number): string {
    this.need(n, 'str');
    const b = this.bytes;
    const p = this.pos;
    if (n <= 64) {
      let s = '';
      let i = 0;
      for (; i < n; i++) {
        const c = b[p + i]!;
        if (c >= 0x80) break;
        s += String.fromCharCode(c);
      }
      if (i === n) {
        this.pos = p + n;
        return s;
      }
    }
    try {
      const s = utf8.decode(b.subarray(p, p + n));
      this.pos = p + n;
      return s;
    } catch {
      return this.fail(`str of ${n} bytes is not valid UTF-8`, { declaredBytes: n });
    }
  }

  /**
   * A fixstr map key (n < 32 bytes): the string decoded for the same bytes before when there is one (see
   * {@link KEY_STRS}), else {@link str}. Reusing the string object makes `obj[key] = value` cheap (V8 has already
   * internalised it) and saves building it.
   */
  key(n: number): string {
    const b = this.bytes;
    const p = this.pos;
    if (p + n > b.length) return this.str(n); // reports the truncation
    let h = n;
    for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + b[p + i]!) | 0;
    const slot = (h ^ (h >>> 11)) & (KEY_SLOTS - 1);
    const cached = KEY_STRS[slot];
    if (cached !== undefined && KEY_LENS[slot] === n) {
      const at = slot * KEY_MAX;
      let i = 0;
      while (i < n && KEY_BYTES[at + i] === b[p + i]) i++;
      if (i === n) {
        this.pos = p + n;
        return cached;
      }
    }
    const s = this.str(n);
    KEY_STRS[slot] = s;
    KEY_LENS[slot] = n;
    KEY_BYTES.set(b.subarray(p, p + n), slot * KEY_MAX);
    return s;
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
      case 0xca:
        this.scratch(4, 'float32');
        return this.float(SCRATCH.getFloat32(0));
      case 0xcb:
        this.scratch(8, 'float64');
        return this.float(SCRATCH.getFloat64(0));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        this.scratch(8, 'uint64');
        return this.big(SCRATCH.getBigUint64(0));
      case 0xd0:
        this.need(1, 'int8');
        return (this.bytes[this.pos++]! << 24) >> 24;
      case 0xd1:
        this.scratch(2, 'int16');
        return SCRATCH.getInt16(0);
      case 0xd2:
        this.scratch(4, 'int32');
        return SCRATCH.getInt32(0);
      case 0xd3:
        this.scratch(8, 'int64');
        return this.big(SCRATCH.getBigInt64(0));
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

  /**
   * A map. Fast paths for the two shapes that make up real messages: openpi's ndarray map in its fixed layout
   * (read in place), and dicts with str keys (built directly). Anything else (numpy scalars, ndarray maps in
   * another order, bad keys) is read again from its start by {@link mapGeneric}, which gives the same result
   * as the fast paths for what they accept and reports every error.
   */
  map(n: number, depth: number): Value {
    this.enter(depth, n, 'map');
    if (n === 4 && depth + 1 < this.maxDepth) {
      const a = this.ndarrayInPlace();
      if (a !== undefined) return a;
    }
    const start = this.pos;
    const b = this.bytes;
    const obj: { [key: string]: Value } = {};
    for (let i = 0; i < n; i++) {
      const t = b[this.pos];
      let k: string;
      if (t !== undefined && t >= 0xa0 && t < 0xc0) {
        this.pos++;
        k = this.key(t & 0x1f);
      } else if (t === 0xd9 || t === 0xda || t === 0xdb) {
        k = this.value(depth + 1) as string;
      } else {
        this.pos = start;
        return this.mapGeneric(n, depth);
      }
      this.path.push(k);
      const v = this.value(depth + 1);
      this.path.pop();
      if (k === '__proto__') {
        Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
      } else obj[k] = v;
    }
    return obj;
  }

  /**
   * openpi's ndarray map exactly as its packb writes it, read without materialising keys: b"__ndarray__": true,
   * b"data": bin, b"dtype": fixstr (ASCII), b"shape": fixarray of ints < 2^32. Returns undefined (position
   * unchanged) for anything else, which the generic path then handles.
   */
  ndarrayInPlace(): NDArray | undefined {
    const b = this.bytes;
    const end = b.length;
    let p = this.pos;
    // ND_PREFIX without its leading map byte (already read)
    for (let i = 1; i < ND_PREFIX.length; i++) if (b[p++] !== ND_PREFIX[i]) return undefined;
    const t = b[p];
    let len: number;
    if (t === 0xc4 && p + 2 <= end) {
      len = b[p + 1]!;
      p += 2;
    } else if (t === 0xc5 && p + 3 <= end) {
      len = (b[p + 1]! << 8) | b[p + 2]!;
      p += 3;
    } else if (t === 0xc6 && p + 5 <= end) {
      len = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
      p += 5;
    } else return undefined;
    const dataAt = p;
    p += len;
    if (p > end || !matchAt(b, p, BK_DTYPE)) return undefined;
    p += BK_DTYPE.length;
    const st = b[p++];
    if (st === undefined || st < 0xa0 || st >= 0xc0) return undefined;
    const sl = st & 0x1f;
    // numeric dtype strings are 3 ASCII bytes (`<f4`): look them up by their bytes, without making a string
    let known: KnownDtype | undefined;
    let dtypeStr = '';
    if (sl === 3 && p + 3 <= end) known = DTYPE_BY_BYTES.get((b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!);
    if (known !== undefined) {
      dtypeStr = known.str;
      p += 3;
    } else {
      for (let i = 0; i < sl; i++) {
        const c = b[p++];
        if (c === undefined || c >= 0x80) return undefined;
        dtypeStr += String.fromCharCode(c);
      }
    }
    if (!matchAt(b, p, BK_SHAPE)) return undefined;
    p += BK_SHAPE.length;
    const at = b[p++];
    if (at === undefined || at < 0x90 || at >= 0xa0) return undefined;
    const ndim = at & 0x0f;
    const shape: number[] = [];
    for (let i = 0; i < ndim; i++) {
      const e = b[p];
      if (e === undefined) return undefined;
      if (e < 0x80) {
        shape.push(e);
        p += 1;
      } else if (e === 0xcc && p + 2 <= end) {
        shape.push(b[p + 1]!);
        p += 2;
      } else if (e === 0xcd && p + 3 <= end) {
        shape.push((b[p + 1]! << 8) | b[p + 2]!);
        p += 3;
      } else if (e === 0xce && p + 5 <= end) {
        shape.push(((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0);
        p += 5;
      } else return undefined;
    }
    this.pos = p;
    const wire = known?.wire ?? this.wireDtype(dtypeStr);
    return this.buildNdarray(b, dataAt, len, wire, dtypeStr, shape);
  }

  /** parseDtype, cached for numeric dtypes (errors are never cached and name the current key path). */
  wireDtype(str: string): WireDType {
    const hit = DTYPE_CACHE.get(str);
    if (hit !== undefined) return hit;
    const wire = parseDtype(str, formatPath(this.path));
    if (wire.dtype !== 'unicode' && DTYPE_CACHE.size < DTYPE_CACHE_MAX) {
      DTYPE_CACHE.set(str, wire);
      if (str.length === 3) {
        const code = (str.charCodeAt(0) << 16) | (str.charCodeAt(1) << 8) | str.charCodeAt(2);
        DTYPE_BY_BYTES.set(code, { wire, str });
      }
    }
    return wire;
  }

  /** Any map: keys and values first, then a dict, an ndarray (b"__ndarray__" key) or a numpy scalar. */
  mapGeneric(n: number, depth: number): Value {
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
    if (typeof dtypeStr !== 'string') this.fail(`ndarray dtype is ${describeValue(dtypeStr)}, not a str`);
    const wire = this.wireDtype(dtypeStr);
    if (!(data instanceof Uint8Array)) {
      this.fail(`ndarray data is ${describeValue(data)}, not bin`, { dtype: dtypeStr });
    }
    if (!Array.isArray(shapeV))
      this.fail(`ndarray shape is ${describeValue(shapeV)}, not an array`, { dtype: dtypeStr });
    const shape: number[] = [];
    for (const d of shapeV) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        this.fail(
          `ndarray shape has an invalid dimension ${describeValue(d)}`,
          { dtype: dtypeStr, shape: shapeV },
          'BAD_SHAPE',
        );
      }
      shape.push(d);
    }
    return this.buildNdarray(data, 0, data.length, wire, dtypeStr, shape);
  }

  /**
   * The array of validated fields whose data is `src[at, at + len)`: checks shape x itemsize against the data
   * length, then views the data in place when aligned (and neither swapped nor `copy`), else copies it (see
   * {@link copyElements}), never writing into the message.
   */
  buildNdarray(
    src: Uint8Array,
    at: number,
    len: number,
    wire: WireDType,
    dtypeStr: string,
    shape: number[],
  ): NDArray {
    let n = 1;
    for (let i = 0; i < shape.length; i++) n *= shape[i]!;
    const declared = n * wire.itemBytes;
    if (!Number.isSafeInteger(declared) || declared !== len) {
      this.fail(
        `ndarray ${dtypeStr} of shape [${shape.join(', ')}] needs ${declared} bytes but data holds ${len}`,
        { dtype: dtypeStr, shape, declaredBytes: declared, presentBytes: len },
        'BAD_SHAPE',
      );
    }
    if (wire.dtype === 'unicode') {
      return {
        dtype: 'unicode',
        shape,
        data: this.unicode(src.subarray(at, at + len), n, wire.itemChars ?? 0, wire.swapped),
        itemChars: wire.itemChars ?? 0,
      };
    }
    const dtype = wire.dtype as NumericDType;
    const offset = src.byteOffset + at;
    let typed: DataOf[NumericDType];
    if (wire.swapped || this.copy || offset % wire.itemBytes !== 0) {
      typed = copyElements(src, at, len, dtype, n, wire.swapped ? wire.itemBytes : 1);
    } else {
      // a plain view (src.subarray() of a Node Buffer would make a Buffer)
      typed = new (typedArrayCtor(dtype))(src.buffer as ArrayBuffer, offset, n) as DataOf[NumericDType];
    }
    if (dtype === 'bool') typed = normalizeBool(typed as Uint8Array);
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
    const dtype: DType = this.wireDtype(dtypeStr).dtype;
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

/** Copies up to this many bytes through {@link COPY_STAGE}; larger arrays get their own ArrayBuffer. */
const STAGE_BYTES = 4096;
/** An aligned staging area for small unaligned or byte-swapped arrays (off the JS heap: > 64 bytes). */
const COPY_STAGE = new Uint8Array(STAGE_BYTES);

/**
 * A fresh typed array of `n` elements holding the bytes `src[at, at + len)` in native order (each `swapWidth`
 * bytes reversed when > 1). Small arrays are staged through an aligned scratch and then set() into an array
 * made with `new Ctor(n)`, which V8 keeps on its heap: asking an on-heap typed array for its `.buffer` costs a
 * microsecond, so this path never does. `src` is only read.
 */
function copyElements(
  src: Uint8Array,
  at: number,
  len: number,
  dtype: NumericDType,
  n: number,
  swapWidth: number,
): DataOf[NumericDType] {
  const Ctor = typedArrayCtor(dtype);
  if (len > STAGE_BYTES) {
    const own = new Uint8Array(len);
    own.set(src.subarray(at, at + len));
    if (swapWidth > 1) byteSwap(own, swapWidth);
    return new Ctor(own.buffer, 0, n) as DataOf[NumericDType];
  }
  const stage = COPY_STAGE;
  for (let i = 0; i < len; i++) stage[i] = src[at + i]!;
  if (swapWidth > 1) {
    for (let i = 0; i < len; i += swapWidth) {
      for (let a = i, z = i + swapWidth - 1; a < z; a++, z--) {
        const t = stage[a]!;
        stage[a] = stage[z]!;
        stage[z] = t;
      }
    }
  }
  const out = new Ctor(n) as DataOf[NumericDType];
  (out as Uint8Array).set(new Ctor(stage.buffer, 0, n) as Uint8Array);
  return out;
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
 *
 * Works on any Uint8Array (a Node Buffer included) at any byte offset and never writes into it. Array data is a
 * view over the message where the element alignment allows (see {@link UnpackOptions.copy}); unaligned,
 * byte-swapped (big-endian) and non-0/1 bool data is copied. Bin values (Python bytes) are always views.
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
