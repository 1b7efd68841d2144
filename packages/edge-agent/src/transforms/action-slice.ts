/** Action chunk helpers shared by the robot output adapters. */
import { type NDArray, OpenpiEdgeError } from '@openpi-edge/client';
import type { ActionChunk } from './types.js';

/** Checks that `actions` is a 2-D `[H, D]` float chunk and returns (H, D). BAD_SHAPE otherwise. */
export function chunkShape(actions: NDArray, where: string): [number, number] {
  const [h, d] = actions.shape;
  if (actions.shape.length !== 2 || h === undefined || d === undefined) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `${where}: expected an action chunk [H, D], got shape [${actions.shape.join(', ')}]`,
      {
        shape: actions.shape,
      },
    );
  }
  return [h, d];
}

/** Action chunk values as float64 (`float32` converts exactly); BAD_DTYPE for other dtypes. */
export function chunkToFloat64(actions: NDArray, where: string): ActionChunk {
  const [h, d] = chunkShape(actions, where);
  if (actions.dtype !== 'float32' && actions.dtype !== 'float64') {
    throw new OpenpiEdgeError(
      'BAD_DTYPE',
      `${where}: expected float32 or float64 actions, got ${actions.dtype}`,
      {
        dtype: actions.dtype,
        shape: actions.shape,
      },
    );
  }
  return {
    dtype: 'float64',
    shape: [h, d],
    data: Float64Array.from(actions.data as Float32Array | Float64Array),
  };
}

/** `actions[:, :dim]` as a new float64 chunk (openpi's output adapters). BAD_SHAPE when D < dim. */
export function sliceActions(actions: ActionChunk, dim: number): ActionChunk {
  const [h, d] = chunkShape(actions, 'output adapter');
  if (d < dim) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `output adapter: actions have ${d} columns, need at least ${dim}`,
      {
        shape: actions.shape,
        outputDim: dim,
      },
    );
  }
  const out = new Float64Array(h * dim);
  for (let r = 0; r < h; r++) out.set(actions.data.subarray(r * d, r * d + dim), r * dim);
  return { dtype: 'float64', shape: [h, dim], data: out };
}
