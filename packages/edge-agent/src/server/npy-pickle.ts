/**
 * A small Python pickle encoder (protocol 3) and the `.npy` file around it, for the recording files openpi's
 * `PolicyRecorder` writes: `np.save(path, np.asarray(flat_dict))`, i.e. a 0-d **object** array whose one element is
 * a dict. numpy stores object arrays as a pickle after the `.npy` header, so
 * `np.load(path, allow_pickle=True).item()` gives the dict back.
 *
 * What it encodes (exactly what an observation or a policy result can hold, see `Value` in @openpi-edge/client):
 *
 * | JS value                                  | Python value after unpickling                                  |
 * |-------------------------------------------|----------------------------------------------------------------|
 * | plain object                              | `dict` (string keys, insertion order)                          |
 * | string                                    | `str`                                                          |
 * | safe-integer number (not -0)              | `int`                                                          |
 * | other number (fraction, ±0, NaN, ±inf)    | `float`  (the msgpack codec's rule: Python would have sent one) |
 * | bigint                                    | `int` (any size)                                               |
 * | boolean / null                            | `bool` / `None`                                                |
 * | array                                     | `list`                                                         |
 * | Uint8Array                                | `bytes`                                                        |
 * | NDArray (bool, int8..uint64, float16/32/64, unicode) | `numpy.ndarray`, C order, same dtype and shape      |
 * | NumpyScalar                               | numpy scalar (`np.float32(1.5)`); `float64` → `float` and `unicode` → `str`, as on the wire |
 *
 * Anything else (undefined, functions, Maps, other typed arrays) is refused with ENCODE_FAILED naming its key path.
 *
 * Pickle layout, as CPython's pickler and numpy's reducers produce it (checked against `pickletools.dis`):
 * - ndarray: `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')`, then BUILD with the
 *   `ndarray.__setstate__` tuple `(1, shape, dtype, False, raw_bytes)` (for the object array: a list of objects
 *   instead of bytes).
 * - dtype: `numpy.dtype(typestr, False, True)` (typestr `f8`, `u1`, `b1`, `U5`, `O8`), then BUILD with
 *   `(3, byteorder, None, None, None, elsize, alignment, flags)`: `-1, -1, 0` for numeric dtypes, `4n, 4, 8` for
 *   `<U{n}`, `-1, -1, 63` for object.
 * - numpy scalar: `numpy.core.multiarray.scalar(dtype, raw_bytes)`; float16 scalars as `numpy.float16(value)`
 *   instead (numpy rounds the float; no half-precision bit packing here).
 * `numpy.core.multiarray` is what numpy 1.x pickles name; numpy 2 keeps `_reconstruct` and `scalar` importable
 * there without a warning for old pickles, so the files load in both.
 * Globals and dtypes are memoized (BINPUT/BINGET), so a file with many arrays names each only once.
 *
 * Strings are written as UTF-8; a JS string holding a lone surrogate (never produced by the msgpack decoder, which
 * reads valid UTF-8) would become U+FFFD. Sizes: one bytes/str object up to 4 GiB (protocol 3's limit).
 */
import { endianness } from 'node:os';
import {
  dtypeString,
  isNDArray,
  isNumericDType,
  isNumpyScalar,
  itemSize,
  type NDArray,
  type NumericDType,
  type NumpyScalar,
  OpenpiEdgeError,
  sizeOf,
  type TypedArray,
  type Value,
} from '@openpi-edge/client';

/** Pickle opcodes used here (names as in CPython's pickle.py / pickletools). */
const OP = {
  PROTO: 0x80,
  STOP: 0x2e, // .
  MARK: 0x28, // (
  NONE: 0x4e, // N
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a, // J  int32
  BININT1: 0x4b, // K  uint8
  BININT2: 0x4d, // M  uint16
  LONG1: 0x8a, // two's complement, little-endian, 1-byte length
  LONG4: 0x8b, // same, 4-byte length
  BINFLOAT: 0x47, // G  float64, big-endian
  BINUNICODE: 0x58, // X  utf-8, 4-byte length
  SHORT_BINBYTES: 0x43, // C  1-byte length (protocol 3)
  BINBYTES: 0x42, // B  4-byte length (protocol 3)
  EMPTY_TUPLE: 0x29, // )
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  TUPLE: 0x74, // t  from the last MARK
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  APPENDS: 0x65, // e
  EMPTY_DICT: 0x7d, // }
  SETITEMS: 0x75, // u
  GLOBAL: 0x63, // c  "module\nname\n"
  REDUCE: 0x52, // R
  BUILD: 0x62, // b
  BINPUT: 0x71, // q  1-byte memo index
  LONG_BINPUT: 0x72, // r  4-byte memo index
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
} as const;

const MULTIARRAY = 'numpy.core.multiarray';
/** Byte order of typed arrays on this host, as numpy writes it. */
const HOST_ORDER = endianness() === 'LE' ? '<' : '>';
const MAX_U32 = 0xffff_ffff;

/**
 * numpy's type string without byte order (`dtype.kind + str(itemsize)`, e.g. `f4`) of a numeric dtype: the wire
 * dtype string (packages/client/src/dtype.ts) without its byte-order character.
 */
const typestr = (d: NumericDType): string => dtypeString(d).slice(1);

/** Accumulates the pickle as small writes into a scratch buffer plus large byte runs kept as views. */
class PickleWriter {
  private readonly chunks: Uint8Array[] = [];
  private scratch = Buffer.allocUnsafe(4096);
  private pos = 0;
  private total = 0;
  private readonly memo = new Map<string, number>();

  private reserve(n: number): void {
    if (this.pos + n <= this.scratch.length) return;
    this.flushScratch();
    if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(n, 2 * this.scratch.length));
  }

  private flushScratch(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.scratch.subarray(0, this.pos));
    this.total += this.pos;
    this.scratch = Buffer.allocUnsafe(this.scratch.length);
    this.pos = 0;
  }

  op(code: number): void {
    this.reserve(1);
    this.scratch[this.pos++] = code;
  }

  u8(code: number, v: number): void {
    this.reserve(2);
    this.scratch[this.pos++] = code;
    this.scratch[this.pos++] = v;
  }

  u16(code: number, v: number): void {
    this.reserve(3);
    this.scratch[this.pos] = code;
    this.scratch.writeUInt16LE(v, this.pos + 1);
    this.pos += 3;
  }

  u32(code: number, v: number): void {
    this.reserve(5);
    this.scratch[this.pos] = code;
    this.scratch.writeUInt32LE(v, this.pos + 1);
    this.pos += 5;
  }

  i32(code: number, v: number): void {
    this.reserve(5);
    this.scratch[this.pos] = code;
    this.scratch.writeInt32LE(v, this.pos + 1);
    this.pos += 5;
  }

  f64be(code: number, v: number): void {
    this.reserve(9);
    this.scratch[this.pos] = code;
    this.scratch.writeDoubleBE(v, this.pos + 1);
    this.pos += 9;
  }

  /** Raw bytes: copied into the scratch when small, else kept as a view until `finish()` copies it once. */
  raw(bytes: Uint8Array): void {
    if (bytes.byteLength <= 1024) {
      this.reserve(bytes.byteLength);
      this.scratch.set(bytes, this.pos);
      this.pos += bytes.byteLength;
      return;
    }
    this.flushScratch();
    this.chunks.push(bytes);
    this.total += bytes.byteLength;
  }

  /** Emits `ref` once (through `emit`), memoized under `key`; later uses fetch it from the memo. */
  memoized(key: string, emit: () => void): void {
    const idx = this.memo.get(key);
    if (idx !== undefined) {
      if (idx < 256) this.u8(OP.BINGET, idx);
      else this.u32(OP.LONG_BINGET, idx);
      return;
    }
    emit();
    const n = this.memo.size;
    this.memo.set(key, n);
    if (n < 256) this.u8(OP.BINPUT, n);
    else this.u32(OP.LONG_BINPUT, n);
  }

  /** The whole pickle as one Buffer, `prefix` (e.g. the .npy header) first. */
  finish(prefix?: Uint8Array): Buffer {
    this.flushScratch();
    const parts = prefix === undefined ? this.chunks : [prefix, ...this.chunks];
    return Buffer.concat(parts, this.total + (prefix?.byteLength ?? 0));
  }
}

function fail(path: string, message: string, context: Record<string, unknown> = {}): never {
  throw new OpenpiEdgeError(
    'ENCODE_FAILED',
    `cannot pickle ${path === '' ? 'the value' : `'${path}'`}: ${message}`,
    {
      key: path,
      ...context,
    },
  );
}

function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

class PickleEncoder {
  constructor(readonly w: PickleWriter) {}

  global(module: string, name: string): void {
    this.w.memoized(`global:${module}.${name}`, () => {
      this.w.op(OP.GLOBAL);
      this.w.raw(Buffer.from(`${module}\n${name}\n`, 'latin1'));
    });
  }

  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.byteLength > MAX_U32)
      fail('', `a string of ${b.byteLength} bytes exceeds pickle protocol 3's 4 GiB`);
    this.w.u32(OP.BINUNICODE, b.byteLength);
    this.w.raw(b);
  }

  bytes(b: Uint8Array, path: string): void {
    if (b.byteLength < 256) this.w.u8(OP.SHORT_BINBYTES, b.byteLength);
    else if (b.byteLength <= MAX_U32) this.w.u32(OP.BINBYTES, b.byteLength);
    else fail(path, `${b.byteLength} bytes exceed pickle protocol 3's 4 GiB per bytes object`);
    this.w.raw(b);
  }

  /** A Python int from a safe integer, in the smallest opcode (as CPython's pickler picks). */
  int(n: number): void {
    if (n >= 0 && n < 256) this.w.u8(OP.BININT1, n);
    else if (n >= 0 && n < 65536) this.w.u16(OP.BININT2, n);
    else if (n >= -(2 ** 31) && n < 2 ** 31) this.w.i32(OP.BININT, n);
    else this.bigint(BigInt(n));
  }

  /** A Python int of any size: LONG1/LONG4 hold its minimal two's complement, little-endian. */
  bigint(n: bigint): void {
    if (n >= -(2n ** 31n) && n < 2n ** 31n) {
      this.int(Number(n));
      return;
    }
    const out: number[] = [];
    let x = n;
    for (;;) {
      const byte = Number(x & 0xffn);
      out.push(byte);
      x >>= 8n; // arithmetic shift: negative values stay negative
      if ((x === 0n && byte < 0x80) || (x === -1n && byte >= 0x80)) break;
    }
    if (out.length < 256) this.w.u8(OP.LONG1, out.length);
    else this.w.u32(OP.LONG4, out.length);
    this.w.raw(Uint8Array.from(out));
  }

  float(x: number): void {
    this.w.f64be(OP.BINFLOAT, x);
  }

  tuple(items: (() => void)[]): void {
    if (items.length === 0) {
      this.w.op(OP.EMPTY_TUPLE);
      return;
    }
    if (items.length > 3) this.w.op(OP.MARK);
    for (const item of items) item();
    this.w.op(
      items.length === 1
        ? OP.TUPLE1
        : items.length === 2
          ? OP.TUPLE2
          : items.length === 3
            ? OP.TUPLE3
            : OP.TUPLE,
    );
  }

  /** `numpy.dtype(typestr, False, True)` + its `__setstate__` tuple, memoized per dtype. */
  dtype(typestr: string, order: '<' | '>' | '|', elsize: number, alignment: number, flags: number): void {
    this.w.memoized(`dtype:${order}${typestr}`, () => {
      this.global('numpy', 'dtype');
      this.tuple([() => this.str(typestr), () => this.w.op(OP.NEWFALSE), () => this.w.op(OP.NEWTRUE)]);
      this.w.op(OP.REDUCE);
      this.w.op(OP.MARK);
      this.int(3);
      this.str(order);
      this.w.op(OP.NONE);
      this.w.op(OP.NONE);
      this.w.op(OP.NONE);
      this.int(elsize);
      this.int(alignment);
      this.int(flags);
      this.w.op(OP.TUPLE);
      this.w.op(OP.BUILD);
    });
  }

  numericDtype(dtype: NumericDType): void {
    this.dtype(typestr(dtype), itemSize(dtype) === 1 ? '|' : HOST_ORDER, -1, -1, 0);
  }

  /** `_reconstruct(ndarray, (0,), b'b')` then BUILD with `(1, shape, dtype, False, data)`. */
  ndarrayHead(shape: readonly number[], dtype: () => void, data: () => void): void {
    this.global(MULTIARRAY, '_reconstruct');
    this.tuple([
      () => this.global('numpy', 'ndarray'),
      () => this.tuple([() => this.int(0)]),
      () => this.bytes(Uint8Array.of(0x62), ''),
    ]);
    this.w.op(OP.REDUCE);
    this.w.op(OP.MARK);
    this.int(1);
    this.tuple(shape.map((d) => () => this.int(d)));
    dtype();
    this.w.op(OP.NEWFALSE); // C order
    data();
    this.w.op(OP.TUPLE);
    this.w.op(OP.BUILD);
  }

  ndarray(a: NDArray, path: string): void {
    const n = sizeOf(a.shape);
    if (a.data.length !== n) {
      fail(
        path,
        `${a.dtype} data has ${a.data.length} elements but shape [${a.shape.join(', ')}] needs ${n}`,
        {
          dtype: a.dtype,
          shape: a.shape,
        },
      );
    }
    if (a.dtype === 'unicode') {
      const strings = a.data as string[];
      const chars = Math.max(1, a.itemChars ?? Math.max(0, ...strings.map((s) => [...s].length)));
      const points = new Uint32Array(n * chars);
      strings.forEach((s, i) => {
        let j = 0;
        for (const ch of s) {
          if (j === chars) fail(path, `element ${i} has more than ${chars} characters`, { itemChars: chars });
          points[i * chars + j++] = ch.codePointAt(0) as number;
        }
      });
      this.ndarrayHead(
        a.shape,
        () => this.dtype(`U${chars}`, HOST_ORDER, 4 * chars, 4, 8),
        () => this.bytes(bytesOf(points), path),
      );
      return;
    }
    if (!isNumericDType(a.dtype)) fail(path, `unsupported dtype '${String(a.dtype)}'`, { dtype: a.dtype });
    const dtype = a.dtype as NumericDType;
    this.ndarrayHead(
      a.shape,
      () => this.numericDtype(dtype),
      () => this.bytes(bytesOf(a.data as TypedArray), path),
    );
  }

  scalar(s: NumpyScalar, path: string): void {
    const { dtype, value } = s;
    if (dtype === 'unicode') {
      this.str(String(value));
      return;
    }
    if (dtype === 'float64') {
      this.float(Number(value));
      return;
    }
    if (dtype === 'float16') {
      this.global('numpy', 'float16');
      this.tuple([() => this.float(Number(value))]);
      this.w.op(OP.REDUCE);
      return;
    }
    if (!isNumericDType(dtype)) fail(path, `unsupported scalar dtype '${String(dtype)}'`, { dtype });
    const raw = Buffer.alloc(itemSize(dtype));
    const le = HOST_ORDER === '<';
    const asBig = (): bigint => (typeof value === 'bigint' ? value : BigInt(Number(value)));
    switch (dtype) {
      case 'bool':
        raw[0] = value === true || (typeof value !== 'boolean' && Number(value) !== 0) ? 1 : 0;
        break;
      case 'int8':
        raw.writeInt8(Number(value));
        break;
      case 'uint8':
        raw.writeUInt8(Number(value));
        break;
      case 'int16':
        le ? raw.writeInt16LE(Number(value)) : raw.writeInt16BE(Number(value));
        break;
      case 'uint16':
        le ? raw.writeUInt16LE(Number(value)) : raw.writeUInt16BE(Number(value));
        break;
      case 'int32':
        le ? raw.writeInt32LE(Number(value)) : raw.writeInt32BE(Number(value));
        break;
      case 'uint32':
        le ? raw.writeUInt32LE(Number(value)) : raw.writeUInt32BE(Number(value));
        break;
      case 'int64':
        le ? raw.writeBigInt64LE(asBig()) : raw.writeBigInt64BE(asBig());
        break;
      case 'uint64':
        le ? raw.writeBigUInt64LE(asBig()) : raw.writeBigUInt64BE(asBig());
        break;
      case 'float32':
        le ? raw.writeFloatLE(Number(value)) : raw.writeFloatBE(Number(value));
        break;
    }
    this.global(MULTIARRAY, 'scalar');
    this.tuple([() => this.numericDtype(dtype), () => this.bytes(raw, path)]);
    this.w.op(OP.REDUCE);
  }

  value(v: Value | undefined, path: string): void {
    if (v === null) {
      this.w.op(OP.NONE);
      return;
    }
    switch (typeof v) {
      case 'string':
        this.str(v);
        return;
      case 'boolean':
        this.w.op(v ? OP.NEWTRUE : OP.NEWFALSE);
        return;
      case 'number':
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
        else this.float(v);
        return;
      case 'bigint':
        this.bigint(v);
        return;
      case 'object':
        break;
      default:
        fail(path, `a ${typeof v} has no Python equivalent here`, { type: typeof v });
    }
    if (Array.isArray(v)) {
      this.w.op(OP.EMPTY_LIST);
      if (v.length === 0) return;
      this.w.op(OP.MARK);
      v.forEach((item, i) => {
        this.value(item, `${path}[${i}]`);
      });
      this.w.op(OP.APPENDS);
      return;
    }
    if (v instanceof Uint8Array && !isNDArray(v)) {
      this.bytes(v, path);
      return;
    }
    if (isNDArray(v)) {
      this.ndarray(v, path);
      return;
    }
    if (isNumpyScalar(v)) {
      this.scalar(v, path);
      return;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      fail(path, `a ${(v as object).constructor?.name ?? 'object'} has no Python equivalent here`, {
        type: (v as object).constructor?.name,
      });
    }
    this.dict(v as { [key: string]: Value }, path);
  }

  dict(d: { readonly [key: string]: Value | undefined }, path: string): void {
    this.w.op(OP.EMPTY_DICT);
    const keys = Object.keys(d);
    if (keys.length === 0) return;
    this.w.op(OP.MARK);
    for (const k of keys) {
      this.str(k);
      this.value(d[k], path === '' ? k : `${path}/${k}`);
    }
    this.w.op(OP.SETITEMS);
  }
}

/** A protocol-3 pickle of `value` (see the module comment for the mapping). Throws ENCODE_FAILED. */
export function pickleValue(value: Value): Buffer {
  const w = new PickleWriter();
  const e = new PickleEncoder(w);
  w.u8(OP.PROTO, 3);
  e.value(value, '');
  w.op(OP.STOP);
  return w.finish();
}

/** The `.npy` version 1.0 header numpy writes for a 0-d object array (`descr '|O'`, shape `()`), 64-byte aligned. */
export function npyObjectHeader(): Buffer {
  const dict = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
  const unpadded = 10 + dict.length + 1; // magic (6) + version (2) + length (2) + dict + '\n'
  const padded = Math.ceil(unpadded / 64) * 64;
  const header = Buffer.alloc(padded, 0x20);
  header.write('\x93NUMPY', 0, 'latin1');
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(padded - 10, 8);
  header.write(dict, 10, 'latin1');
  header[padded - 1] = 0x0a;
  return header;
}

/**
 * The bytes of `np.save(path, np.asarray(value, dtype=object))` for a 0-d object array holding `value`:
 * `np.load(path, allow_pickle=True).item()` returns it. Throws ENCODE_FAILED (naming the key path) for a value the
 * encoder cannot represent. Array bytes are copied once, so the caller may reuse its buffers afterwards.
 */
export function npyObjectFile(value: Value): Buffer {
  const w = new PickleWriter();
  const e = new PickleEncoder(w);
  w.u8(OP.PROTO, 3);
  e.ndarrayHead(
    [],
    () => e.dtype('O8', '|', -1, -1, 63),
    () => {
      w.op(OP.EMPTY_LIST);
      e.value(value, '');
      w.op(OP.APPEND);
    },
  );
  w.op(OP.STOP);
  return w.finish(npyObjectHeader());
}

/**
 * openpi's `flax.traverse_util.flatten_dict(d, sep="/")`: nested dicts become one level with `/`-joined keys, in
 * insertion order; other values (arrays, lists, scalars) are leaves; empty dicts vanish (flax's default).
 */
export function flattenDict(
  d: { readonly [key: string]: Value },
  prefix = '',
  out: { [key: string]: Value } = {},
): { [key: string]: Value } {
  for (const [k, v] of Object.entries(d)) {
    const key = prefix === '' ? k : `${prefix}/${k}`;
    if (isPlainDict(v)) flattenDict(v, key, out);
    else out[key] = v;
  }
  return out;
}

function isPlainDict(v: Value): v is { [key: string]: Value } {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  if (isNDArray(v) || isNumpyScalar(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
