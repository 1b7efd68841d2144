/**
 * numpy dtype strings (`dtype.str`: `<f4`, `|u1`, `<U4`, ...) as openpi's msgpack-numpy carries them, mapped to
 * the dtypes of ndarray.ts. Only what openpi-edge can hold in a typed array is accepted; object (`O`), void
 * (`V`) and complex (`c`) are refused like openpi refuses them, bytes (`S`) and datetimes (`M`/`m`) are refused
 * because openpi-edge has no representation for them.
 */
import { OpenpiEdgeError } from './errors.js';
import type { DType, NumericDType } from './ndarray.js';

/** Byte order of this machine's typed arrays. Every realistic openpi host (x86, ARM) is little-endian. */
export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const HOST_ORDER = HOST_LITTLE_ENDIAN ? '<' : '>';

/** A parsed dtype string. */
export interface WireDType {
  dtype: DType;
  /** Bytes per element (for `unicode`: 4 per character). */
  itemBytes: number;
  /** For `unicode`: characters per element. */
  itemChars?: number;
  /** True when the data is in the other byte order than this machine's (needs a byte swap). */
  swapped: boolean;
}

const NUMERIC: Record<string, NumericDType> = {
  b1: 'bool',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
};

const CODE: Record<NumericDType, string> = {
  bool: '|b1',
  int8: '|i1',
  uint8: '|u1',
  int16: 'i2',
  uint16: 'u2',
  int32: 'i4',
  uint32: 'u4',
  int64: 'i8',
  uint64: 'u8',
  float16: 'f2',
  float32: 'f4',
  float64: 'f8',
};

/** numpy's `dtype.str` for an array of this machine's byte order, e.g. `float32` -> `<f4`, `unicode` n=4 -> `<U4`. */
export function dtypeString(dtype: DType, itemChars?: number): string {
  if (dtype === 'unicode') return `${HOST_ORDER}U${itemChars ?? 1}`;
  const code = CODE[dtype];
  return code.startsWith('|') ? code : `${HOST_ORDER}${code}`;
}

const DTYPE_RE = /^([<>|=]?)([a-zA-Z])(\d+)$/;

/**
 * Parses a numpy dtype string. Throws BAD_DTYPE naming the string and, when given, the key path.
 * Accepts the byte-order prefixes numpy writes (`<`, `>`, `|`) and `=`/none (native).
 */
export function parseDtype(str: string, path = ''): WireDType {
  const m = DTYPE_RE.exec(str);
  const where = path === '' ? '' : ` at ${path}`;
  if (m === null) {
    throw new OpenpiEdgeError('BAD_DTYPE', `unknown dtype string ${JSON.stringify(str)}${where}`, {
      dtype: str,
      path,
    });
  }
  const order = m[1] ?? '';
  const kind = m[2] ?? '';
  const size = Number(m[3]);
  const swapped = order === (HOST_LITTLE_ENDIAN ? '>' : '<');
  if (kind === 'U') {
    if (!Number.isSafeInteger(size)) {
      throw new OpenpiEdgeError('BAD_DTYPE', `unicode dtype ${str}${where} has an invalid width`, {
        dtype: str,
        path,
      });
    }
    return { dtype: 'unicode', itemBytes: 4 * size, itemChars: size, swapped };
  }
  const dtype = NUMERIC[`${kind}${size}`];
  if (dtype !== undefined) {
    return { dtype, itemBytes: size, swapped: swapped && size > 1 };
  }
  const why =
    kind === 'O' || kind === 'V' || kind === 'c'
      ? 'object, void and complex dtypes are not supported (openpi refuses them too)'
      : kind === 'S' || kind === 'M' || kind === 'm'
        ? 'bytes and datetime dtypes have no openpi-edge representation'
        : 'not a dtype openpi-edge supports';
  throw new OpenpiEdgeError('BAD_DTYPE', `unsupported dtype ${JSON.stringify(str)}${where}: ${why}`, {
    dtype: str,
    path,
  });
}

/** Reverses the byte order of every `width`-byte element of `bytes` in place. */
export function byteSwap(bytes: Uint8Array, width: number): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}
