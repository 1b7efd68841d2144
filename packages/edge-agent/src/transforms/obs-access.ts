/**
 * Reading typed values out of an observation dict, with BAD_OBSERVATION errors that name the key, the dtype
 * and the shape. Shared by the robot adapters and the prompt handling.
 */
import { isNDArray, isNumpyScalar, type NDArray, OpenpiEdgeError, type Value } from '@openpi-edge/client';

/** Throws BAD_OBSERVATION naming `key`. */
export function badObservation(key: string, message: string, context: Record<string, unknown> = {}): never {
  throw new OpenpiEdgeError('BAD_OBSERVATION', `observation key '${key}': ${message}`, { key, ...context });
}

/** `obs[key]` as an NDArray; BAD_OBSERVATION if the key is missing or holds something else. */
export function requireArray(obs: { readonly [key: string]: Value }, key: string): NDArray {
  if (!(key in obs)) badObservation(key, 'missing', { present: Object.keys(obs) });
  const v = obs[key];
  if (!isNDArray(v)) badObservation(key, `expected a numpy array, got ${describeValue(v)}`);
  return v;
}

/** A short description of a value's type for error messages. */
export function describeValue(v: Value | undefined): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'None';
  if (isNDArray(v)) return `array ${v.dtype}[${v.shape.join(', ')}]`;
  if (isNumpyScalar(v)) return `numpy scalar ${v.dtype}`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (Array.isArray(v)) return `list(${v.length})`;
  return typeof v === 'object' ? 'dict' : typeof v;
}

/**
 * The elements of a numeric array as float64 values. Every float32/int value converts exactly (int64 beyond 2^53
 * rounds, as numpy's float64 promotion does). BAD_OBSERVATION for bool, unicode and float16 arrays.
 */
export function toFloat64(key: string, arr: NDArray): Float64Array {
  switch (arr.dtype) {
    case 'float64':
      return Float64Array.from(arr.data as Float64Array);
    case 'float32':
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return Float64Array.from(arr.data as ArrayLike<number>);
    case 'int64':
    case 'uint64':
      return Float64Array.from(arr.data as BigInt64Array | BigUint64Array, (b) => Number(b));
    case 'float16':
    case 'bool':
    case 'unicode':
      return badObservation(key, `expected a float32/float64/integer array, got dtype ${arr.dtype}`, {
        dtype: arr.dtype,
        shape: arr.shape,
      });
  }
}

/**
 * `obs[key]` as a float64 vector. `length` checks the element count; a 0-d array counts as one element only
 * when `allowScalar` is set (openpi's DROID gripper position). Any other rank is BAD_OBSERVATION.
 */
export function requireVector(
  obs: { readonly [key: string]: Value },
  key: string,
  options: { length?: number; allowScalar?: boolean } = {},
): Float64Array {
  const arr = requireArray(obs, key);
  const rankOk = arr.shape.length === 1 || (options.allowScalar === true && arr.shape.length === 0);
  if (!rankOk) {
    badObservation(key, `expected a 1-D vector, got shape [${arr.shape.join(', ')}]`, {
      dtype: arr.dtype,
      shape: arr.shape,
    });
  }
  const values = toFloat64(key, arr);
  if (options.length !== undefined && values.length !== options.length) {
    badObservation(key, `expected ${options.length} elements, got shape [${arr.shape.join(', ')}]`, {
      dtype: arr.dtype,
      shape: arr.shape,
      expected: options.length,
    });
  }
  return values;
}
