/** Small observation builders for the adapter and pipeline tests. */
import type { NDArray } from '@openpi-edge/client';

/** A deterministic uint8 image with the given shape (values depend on the position and `seed`). */
export function image(shape: number[], seed = 1): NDArray<'uint8'> {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'uint8', shape, data: Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 31) & 255) };
}

export function f32(values: number[], shape = [values.length]): NDArray<'float32'> {
  return { dtype: 'float32', shape, data: Float32Array.from(values) };
}

export function f64(values: number[], shape = [values.length]): NDArray<'float64'> {
  return { dtype: 'float64', shape, data: Float64Array.from(values) };
}

/** Runs fn and returns what it threw (fails the test when nothing was thrown). */
export function thrown(fn: () => unknown): {
  code: string;
  message: string;
  context: Record<string, unknown>;
} {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string; context: Record<string, unknown> };
  }
  throw new Error('expected a throw');
}
