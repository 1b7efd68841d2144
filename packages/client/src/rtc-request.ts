/**
 * The real-time chunking entry a request carries (docs/rtc.md): the executing chunk's rows from the request's
 * moment on, and how many of them will execute before the new chunk can take over. A policy that supports it
 * (the edge agent's bundles) generates the new chunk as a continuation of these rows; other openpi policies ignore
 * the key (openpi's input transforms pick the keys they know).
 */
import { OpenpiEdgeError } from './errors.js';
import { isNDArray, type NDArray } from './ndarray.js';
import type { Obs } from './policy.js';

/** Observation key of the entry. */
export const RTC_OBS_KEY = 'rtc';

/** How the policy ties the new chunk to the previous one. */
export type RtcRequestMode = 'guidance' | 'inpaint';

/**
 * `{prev_actions: float [n, D], delay, mode?}` for an observation taken while row `fromRow` of `results.actions`
 * executes: `prev_actions` = rows `fromRow..` (a copy, so the message carries only them), `delay` clamped to
 * `[0, n]`. BAD_SHAPE when the chunk is not a float `[H, D]` array or `fromRow` is outside it.
 */
export function rtcEntry(results: Obs, fromRow: number, delay: number, mode?: RtcRequestMode): Obs {
  const actions = results.actions;
  if (
    !isNDArray(actions) ||
    actions.shape.length !== 2 ||
    (actions.dtype !== 'float32' && actions.dtype !== 'float64')
  ) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      'real-time chunking: the executing chunk has no float [H, D] actions',
      {
        key: 'actions',
      },
    );
  }
  const [h, d] = actions.shape as [number, number];
  if (!Number.isInteger(fromRow) || fromRow < 0 || fromRow >= h) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `real-time chunking: row ${fromRow} outside the chunk's ${h} rows`,
      {
        row: fromRow,
        rows: h,
      },
    );
  }
  const n = h - fromRow;
  const src = actions.data as Float32Array | Float64Array;
  const prev: NDArray = {
    dtype: actions.dtype,
    shape: [n, d],
    data: src.slice(fromRow * d, h * d),
  } as NDArray;
  return {
    prev_actions: prev,
    delay: Math.max(0, Math.min(n, Math.ceil(delay))),
    ...(mode === undefined ? {} : { mode }),
  };
}
