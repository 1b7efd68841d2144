/**
 * openpi's `DeltaActions` / `AbsoluteActions` and `make_bool_mask`: for masked dims the model predicts actions
 * relative to the current state; the output side adds the state back to every horizon row.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { chunkShape } from './action-slice.js';
import type { ActionChunk } from './types.js';

/**
 * openpi's `make_bool_mask(*dims)`: a positive n appends n `true`, a negative n appends |n| `false`.
 * `makeBoolMask(6, -1, 6, -1)` is ALOHA's delta mask (joints relative, grippers absolute).
 */
export function makeBoolMask(...dims: number[]): boolean[] {
  const out: boolean[] = [];
  for (const n of dims) {
    if (!Number.isInteger(n)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `makeBoolMask: ${n} is not an integer`, { dims });
    }
    for (let i = 0; i < Math.abs(n); i++) out.push(n > 0);
  }
  return out;
}

/**
 * openpi's `AbsoluteActions`: `actions[:, i] += state[i]` for every i with `mask[i]`, on every row, in float64.
 * `state` is the (unnormalized) state in the same space as the actions; it needs at least `mask.length` entries,
 * and the chunk at least `mask.length` columns. Returns a new chunk.
 */
export function absoluteActions(
  actions: ActionChunk,
  state: ArrayLike<number>,
  mask: readonly boolean[],
): ActionChunk {
  const [h, d] = chunkShape(actions, 'absoluteActions');
  const dims = mask.length;
  if (d < dims || state.length < dims) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `absoluteActions: delta mask has ${dims} dims but actions have ${d} columns and state ${state.length} values`,
      { shape: actions.shape, stateLength: state.length, maskLength: dims },
    );
  }
  const out = Float64Array.from(actions.data);
  for (let r = 0; r < h; r++) {
    // np.where(mask, state, 0) is added to every masked-or-not dim (so -0 + 0 gives +0, as in numpy).
    for (let i = 0; i < dims; i++)
      out[r * d + i] = (out[r * d + i] as number) + (mask[i] ? (state[i] as number) : 0);
  }
  return { dtype: 'float64', shape: [h, d], data: out };
}

/** openpi's `DeltaActions` (training side, for completeness and round-trip tests): subtracts the state instead. */
export function deltaActions(
  actions: ActionChunk,
  state: ArrayLike<number>,
  mask: readonly boolean[],
): ActionChunk {
  // x - s == x + (-s) exactly in IEEE arithmetic, and x - 0 == x + (-0).
  const negated = Float64Array.from(
    { length: state.length },
    (_, i) => -(mask[i] ? (state[i] as number) : 0),
  );
  return absoluteActions(
    actions,
    negated,
    mask.map(() => true),
  );
}
