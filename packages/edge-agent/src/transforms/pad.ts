/** openpi's `pad_to_dim(x, target_dim, axis=-1, value=0.0)` for a vector. */

/** Right-pads `x` with `value` to `targetDim`; never truncates (a longer `x` comes back as an unchanged copy). */
export function padToDim(x: ArrayLike<number>, targetDim: number, value = 0.0): Float64Array {
  const out = new Float64Array(Math.max(x.length, targetDim)).fill(value);
  for (let i = 0; i < x.length; i++) out[i] = x[i] as number;
  return out;
}
