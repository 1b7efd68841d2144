/** The msgpack-numpy decoder: {@link unpackNumpy} (wire form and speed notes: msgpack-numpy.ts). */
import { byteSwap, HOST_LITTLE_ENDIAN, parseDtype, type WireDType } from './dtype.js';
import { OpenpiEdgeError } from './errors.js';
import {
  BK_DTYPE,
  BK_SHAPE,
  canonicalScalar,
  DEFAULT_MAX_DEPTH,
  describe,
  describeValue,
  formatPath,
  K_DATA,
  K_DTYPE,
  K_NDARRAY,
  K_NPGENERIC,
  K_SHAPE,
  MAX_SAFE_BIG,
  MIN_SAFE_BIG,
  ND_PREFIX,
  normalizeBool,
  type Path,
  SCRATCH,
  SCRATCH_U8,
} from './msgpack-wire.js';
import {
  type DataOf,
  type DType,
  isNumpyScalar,
  type NDArray,
  type NumericDType,
  type NumpyScalar,
  npScalar,
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
