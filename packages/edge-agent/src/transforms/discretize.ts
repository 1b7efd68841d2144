/**
 * pi05's state discretization for the prompt: `np.digitize(state, np.linspace(-1, 1, 257)[:-1]) - 1`.
 * The bin edges are exactly k/128 - 1 (k = 0..255), so a value maps to the k with edge_k <= x < edge_{k+1}:
 * x < -1 -> -1, x >= 0.9921875 (incl. +inf) -> 255, NaN -> 255 (numpy sorts NaN after every edge).
 */

/** Lower edge of bin k (exact in float64). */
const edge = (k: number): number => k / 128 - 1;

/** One value's bin, exactly as numpy's digitize (no float rounding of `(x + 1) * 128`). */
export function discretizeValue(x: number): number {
  if (Number.isNaN(x) || x >= edge(255)) return 255;
  if (x < -1) return -1;
  // (x + 1) * 128 can round up onto an edge (e.g. x = -1e-17 gives exactly 128.0): correct by comparing with edges.
  let k = Math.min(255, Math.max(0, Math.floor((x + 1) * 128)));
  while (k > 0 && x < edge(k)) k--;
  while (k < 255 && x >= edge(k + 1)) k++;
  return k;
}

/** Bins of every value of a normalized, unpadded state. */
export function discretizeState(state: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: state.length }, (_, i) => discretizeValue(state[i] as number));
}
