/** The msgpack-numpy encoder: {@link packNumpy} (wire form and speed notes: msgpack-numpy.ts). */
import { dtypeString, HOST_LITTLE_ENDIAN } from './dtype.js';
import { OpenpiEdgeError } from './errors.js';
import {
  BK_DTYPE,
  BK_SHAPE,
  canonicalScalar,
  DEFAULT_MAX_DEPTH,
  describe,
  formatPath,
  MAX_SAFE_BIG,
  MIN_SAFE_BIG,
  ND_MIDDLE,
  ND_PREFIX,
  normalizeBool,
  type Path,
  SC_PREFIX,
  SCRATCH,
  SCRATCH_U8,
} from './msgpack-wire.js';
import {
  isNDArray,
  isNumpyScalar,
  type NDArray,
  type NumericDType,
  type NumpyScalar,
  type TypedArray,
  typedArrayCtor,
  type Value,
} from './ndarray.js';

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

const TWO_32 = 2 ** 32;
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
