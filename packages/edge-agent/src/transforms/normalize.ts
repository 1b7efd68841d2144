/**
 * openpi's `Normalize` / `Unnormalize` (`transforms.py`), z-score or quantile, computed in float64 because the stats
 * loaded from JSON are float64 (numpy promotes the data to float64 too). No clipping anywhere.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { NormStats, NormStatsEntry } from './norm-stats.js';

/** `zscore`: (x - mean) / (std + 1e-6). `quantile`: (x - q01) / (q99 - q01 + 1e-6) * 2 - 1. */
export type NormalizationMode = 'zscore' | 'quantile';

/** openpi's epsilon in both modes. */
const EPS = 1e-6;

/**
 * Normalizes and unnormalizes vectors by key with one set of stats. Keys without stats pass through unchanged,
 * as in openpi (its input `Normalize` is non-strict; its output `Unnormalize` only ever sees keys it has stats for).
 */
export class Normalizer {
  readonly mode: NormalizationMode;
  readonly stats: NormStats;

  /** Quantile mode needs q01 and q99 for every key: BAD_ARGUMENT naming the key otherwise (openpi: ValueError). */
  constructor(stats: NormStats, mode: NormalizationMode) {
    if (mode !== 'zscore' && mode !== 'quantile') {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `unknown normalization mode ${String(mode)}`, { mode });
    }
    if (mode === 'quantile') {
      for (const [key, e] of Object.entries(stats)) {
        for (const q of ['q01', 'q99'] as const) {
          if (e[q] === undefined) {
            throw new OpenpiEdgeError(
              'BAD_ARGUMENT',
              `quantile normalization needs norm_stats.${key}.${q}, which is missing`,
              {
                field: `norm_stats.${key}.${q}`,
                mode,
              },
            );
          }
        }
      }
    }
    this.mode = mode;
    this.stats = stats;
  }

  /** Whether `key` has stats (and is therefore transformed). */
  has(key: string): boolean {
    return key in this.stats;
  }

  /**
   * openpi's `Normalize` of one vector of dim d (float64 result): stats sliced to `[:d]`. A vector longer than the
   * stats is BAD_SHAPE (numpy fails to broadcast). Returns a copy of `x` when `key` has no stats.
   */
  normalize(key: string, x: ArrayLike<number>): Float64Array {
    const e = this.stats[key];
    const d = x.length;
    const out = Float64Array.from(x);
    if (e === undefined) return out;
    if (d > e.mean.length) throw lengthError(key, 'normalize', d, e.mean.length);
    if (this.mode === 'zscore') {
      for (let i = 0; i < d; i++)
        out[i] = ((out[i] as number) - (e.mean[i] as number)) / ((e.std[i] as number) + EPS);
    } else {
      const { q01, q99 } = quantiles(e);
      for (let i = 0; i < d; i++) {
        const lo = q01[i] as number;
        out[i] = (((out[i] as number) - lo) / ((q99[i] as number) - lo + EPS)) * 2.0 - 1.0;
      }
    }
    return out;
  }

  /**
   * openpi's `Unnormalize` of one vector (a state, or one action row), float64 result. z-score: mean padded with 0
   * and std with 1.0 to the vector's dim; quantile: only the first len(q01) dims, the rest unchanged. A vector
   * shorter than the stats is BAD_SHAPE.
   *
   * `sourceDtype` is the dtype the values had in openpi: for `float32` data numpy computes quantile's
   * `(x + 1.0) / 2.0` in float32 (a Python float scalar does not promote), and only then goes to float64.
   * Default `'float64'`.
   */
  unnormalize(
    key: string,
    x: ArrayLike<number>,
    sourceDtype: 'float32' | 'float64' = 'float64',
  ): Float64Array {
    const out = Float64Array.from(x);
    this.unnormalizeInPlace(key, out, sourceDtype);
    return out;
  }

  /**
   * The exact inverse of {@link unnormalize} (float64 `sourceDtype`) for one vector of any dim: z-score with mean
   * padded by 0 and std by 1.0, quantile on the first len(q01) dims (the rest unchanged). Real-time chunking maps
   * executed actions back into the model's space with it.
   */
  normalizeLikeUnnormalize(key: string, x: ArrayLike<number>): Float64Array {
    const out = Float64Array.from(x);
    const e = this.stats[key];
    if (e === undefined) return out;
    if (this.mode === 'zscore') {
      for (let i = 0; i < out.length; i++) {
        const std = i < e.std.length ? (e.std[i] as number) : 1.0;
        const mean = i < e.mean.length ? (e.mean[i] as number) : 0.0;
        out[i] = ((out[i] as number) - mean) / (std + EPS);
      }
    } else {
      const { q01, q99 } = quantiles(e);
      for (let i = 0; i < Math.min(q01.length, out.length); i++) {
        const lo = q01[i] as number;
        out[i] = (((out[i] as number) - lo) / ((q99[i] as number) - lo + EPS)) * 2.0 - 1.0;
      }
    }
    return out;
  }

  /** {@link unnormalize} for every row of a row-major `[rows, dim]` buffer, in place. */
  unnormalizeRows(
    key: string,
    data: Float64Array,
    dim: number,
    sourceDtype: 'float32' | 'float64' = 'float64',
  ): void {
    for (let r = 0; r * dim < data.length; r++) {
      this.unnormalizeInPlace(key, data.subarray(r * dim, (r + 1) * dim), sourceDtype);
    }
  }

  private unnormalizeInPlace(key: string, out: Float64Array, sourceDtype: 'float32' | 'float64'): void {
    const e = this.stats[key];
    if (e === undefined) return;
    const d = out.length;
    if (d < e.mean.length) throw lengthError(key, 'unnormalize', d, e.mean.length);
    if (this.mode === 'zscore') {
      for (let i = 0; i < d; i++) {
        const std = i < e.std.length ? (e.std[i] as number) : 1.0;
        const mean = i < e.mean.length ? (e.mean[i] as number) : 0.0;
        out[i] = (out[i] as number) * (std + EPS) + mean;
      }
    } else {
      const { q01, q99 } = quantiles(e);
      const f32 = sourceDtype === 'float32';
      for (let i = 0; i < q01.length; i++) {
        const lo = q01[i] as number;
        const shifted = f32 ? Math.fround((out[i] as number) + 1.0) : (out[i] as number) + 1.0;
        out[i] = (shifted / 2.0) * ((q99[i] as number) - lo + EPS) + lo;
      }
    }
  }
}

function quantiles(e: NormStatsEntry): { q01: Float64Array; q99: Float64Array } {
  // Checked in the constructor for quantile mode.
  return { q01: e.q01 as Float64Array, q99: e.q99 as Float64Array };
}

function lengthError(key: string, op: string, d: number, n: number): OpenpiEdgeError {
  return new OpenpiEdgeError(
    'BAD_SHAPE',
    `${op} '${key}': data has ${d} dims but norm_stats.${key} has ${n}${op === 'normalize' ? ' (data longer than stats)' : ' (data shorter than stats)'}`,
    { key, dims: d, statsDims: n },
  );
}
