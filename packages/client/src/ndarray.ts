import { OpenpiEdgeError } from './errors.js';

/**
 * An n-dimensional array in numpy's model: a dtype, a C-order shape and a flat typed array.
 * This is what openpi's msgpack-numpy encoding carries; see msgpack-numpy.ts for the wire form.
 */
export type NumericDType =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'float32'
  | 'float64';

/** `unicode` is numpy's `<U{n}`: fixed-width UTF-32 strings, n code points per element. */
export type DType = NumericDType | 'unicode';

export interface DataOf {
  bool: Uint8Array; // one byte per element, 0 or 1
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  float16: Uint16Array; // raw IEEE half bits (Node 20 has no Float16Array)
  float32: Float32Array;
  float64: Float64Array;
  unicode: string[]; // one JS string per element (trailing NULs stripped, as numpy does)
}

export interface NDArray<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DataOf[D];
  /** For `unicode`: characters per element (the n of `<U{n}`). Absent for numeric dtypes. */
  readonly itemChars?: number;
}

export type TypedArray = Exclude<DataOf[NumericDType], never>;

/** A numpy scalar (`np.float32(1.5)`, `np.int64(3)`, `np.bool_(True)`), kept distinct so it re-encodes as one. */
export interface NumpyScalar {
  readonly __npgeneric__: true;
  readonly dtype: NumericDType | 'unicode';
  readonly value: number | bigint | boolean | string;
}

/** Every value openpi's msgpack-numpy can carry. `Uint8Array` is msgpack bin (Python bytes). */
export type Value =
  | NDArray
  | NumpyScalar
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Value[]
  | { [key: string]: Value };

const CTORS = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

/** Every numeric dtype, in numpy's order of kinds and sizes (bool, ints, floats). */
export const NUMERIC_DTYPES: readonly NumericDType[] = Object.freeze(Object.keys(CTORS) as NumericDType[]);

/** Whether `dtype` names a numeric dtype (not `unicode`, not an unknown string). */
export function isNumericDType(dtype: string): dtype is NumericDType {
  return Object.hasOwn(CTORS, dtype);
}

/** Bytes per element of a numeric dtype. */
export function itemSize(dtype: NumericDType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

export function typedArrayCtor<D extends NumericDType>(dtype: D): (typeof CTORS)[D] {
  return CTORS[dtype];
}

/** Number of elements of a shape (1 for a 0-d array). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isNDArray(v: unknown): v is NDArray {
  return (
    typeof v === 'object' &&
    v !== null &&
    'dtype' in v &&
    'shape' in v &&
    'data' in v &&
    Array.isArray((v as { shape: unknown }).shape)
  );
}

export function isNumpyScalar(v: unknown): v is NumpyScalar {
  return typeof v === 'object' && v !== null && (v as { __npgeneric__?: unknown }).__npgeneric__ === true;
}

function checkShape(shape: readonly number[], where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `${where}: shape [${shape.join(', ')}] has an invalid dimension ${d}`,
        {
          shape,
        },
      );
    }
  }
}

/** Builds an NDArray, checking that the data holds exactly prod(shape) elements. */
export function ndarray<D extends DType>(
  dtype: D,
  shape: readonly number[],
  data: DataOf[D],
  itemChars?: number,
): NDArray<D> {
  checkShape(shape, 'ndarray');
  const n = sizeOf(shape);
  if (data.length !== n) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `ndarray: ${dtype} data has ${data.length} elements but shape [${shape.join(', ')}] needs ${n}`,
      { dtype, shape, elements: data.length },
    );
  }
  if (dtype === 'unicode') {
    const chars = itemChars ?? Math.max(1, ...(data as string[]).map((s) => [...s].length));
    return { dtype, shape: [...shape], data, itemChars: chars };
  }
  return { dtype, shape: [...shape], data };
}

/** Allocates a zero-filled numeric array. */
export function zeros<D extends NumericDType>(dtype: D, shape: readonly number[]): NDArray<D> {
  checkShape(shape, 'zeros');
  const Ctor = CTORS[dtype];
  return { dtype, shape: [...shape], data: new Ctor(sizeOf(shape)) as DataOf[D] };
}

/** `numpy.float32(value)`-style scalar. */
export function npScalar(dtype: NumpyScalar['dtype'], value: NumpyScalar['value']): NumpyScalar {
  return { __npgeneric__: true, dtype, value };
}

/**
 * `x[i, ...]`: the i-th slice along the first axis, as a view where the dtype allows (typed arrays share memory).
 * Throws BAD_SHAPE for 0-d arrays or an out-of-range index, naming both.
 */
export function indexFirstAxis<D extends DType>(arr: NDArray<D>, i: number): NDArray<D> {
  const first = arr.shape[0];
  if (first === undefined) {
    throw new OpenpiEdgeError('BAD_SHAPE', 'cannot index a 0-d array along its first axis', {
      shape: arr.shape,
    });
  }
  if (!Number.isInteger(i) || i < 0 || i >= first) {
    throw new OpenpiEdgeError('BAD_SHAPE', `index ${i} is out of bounds for axis 0 with size ${first}`, {
      shape: arr.shape,
      index: i,
    });
  }
  const rest = arr.shape.slice(1);
  const n = sizeOf(rest);
  const data = Array.isArray(arr.data)
    ? arr.data.slice(i * n, (i + 1) * n)
    : (arr.data as TypedArray).subarray(i * n, (i + 1) * n);
  return arr.itemChars === undefined
    ? { dtype: arr.dtype, shape: rest, data: data as DataOf[D] }
    : { dtype: arr.dtype, shape: rest, data: data as DataOf[D], itemChars: arr.itemChars };
}
