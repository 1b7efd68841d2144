import { isOpenpiEdgeError } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { Normalizer, type NormStats, padToDim, parseNormStats } from '../../src/index.js';
import { expectF64, flat, V } from './vectors.js';

const N = V.norm;
const stats: NormStats = parseNormStats({ norm_stats: { state: N.stats } });

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('parseNormStats', () => {
  it('reads openpi norm_stats.json text into float64 vectors, q01/q99 optional or null', () => {
    const text = JSON.stringify({
      norm_stats: {
        state: { mean: [0.5, -1], std: [2, 3], q01: null, q99: null },
        actions: { mean: [1], std: [0.25] },
      },
    });
    const s = parseNormStats(text);
    expect(Array.from(s.state?.mean ?? [])).toEqual([0.5, -1]);
    expect(s.state?.mean).toBeInstanceOf(Float64Array);
    expect(s.state?.q01).toBeUndefined();
    expect(s.actions?.q99).toBeUndefined();
    expect(Array.from(s.actions?.std ?? [])).toEqual([0.25]);
  });

  it('keeps every float64 bit of the JSON numbers', () => {
    expectF64(stats.state?.mean ?? [], N.stats.mean);
    expectF64(stats.state?.q99 ?? [], N.stats.q99);
  });

  it.each([
    ['{"norm_stats": {"state": {"mean": [1], "std": ["x"]}}}', 'norm_stats.state.std[0]'],
    ['{"norm_stats": {"state": {"std": [1]}}}', 'norm_stats.state.mean'],
    ['{"stats": {}}', 'norm_stats'],
    ['{"norm_stats": {"actions": {"mean": [1, 2], "std": [1, 2], "q01": [0]}}}', 'norm_stats.actions.q01'],
    ['{"norm_stats": {"actions": {"mean": [1, 2], "std": [1]}}}', 'norm_stats.actions.std'],
  ])('rejects %s naming %s', (text, field) => {
    const e = thrown(() => parseNormStats(text));
    expect(isOpenpiEdgeError(e, 'BAD_ARGUMENT')).toBe(true);
    expect((e as Error).message).toContain(field);
    expect((e as { context: { field: string } }).context.field).toBe(field);
  });

  it('rejects text that is not JSON', () => {
    expect(() => parseNormStats('{"norm_stats": ', 'bundle/norm_stats.json')).toThrow(
      /bundle\/norm_stats.json: not valid JSON/,
    );
  });
});

describe('Normalizer', () => {
  it('z-score: (x - mean[:d]) / (std[:d] + 1e-6), bit-identical to numpy, also for d < len(stats)', () => {
    const n = new Normalizer(stats, 'zscore');
    expectF64(n.normalize('state', N.x14), N.zscore_norm_x14);
    expectF64(n.normalize('state', N.x10), N.zscore_norm_x10);
  });

  it('quantile: (x - q01) / (q99 - q01 + 1e-6) * 2 - 1, bit-identical to numpy', () => {
    const n = new Normalizer(stats, 'quantile');
    expectF64(n.normalize('state', N.x14), N.quantile_norm_x14);
    expectF64(n.normalize('state', N.x10), N.quantile_norm_x10);
  });

  it('z-score unnormalize pads mean with 0 and std with 1.0 to the data dim', () => {
    const n = new Normalizer(stats, 'zscore');
    const y = N.y32 as number[][];
    const rows = Float64Array.from(flat(y));
    n.unnormalizeRows('state', rows, 32, 'float32');
    expectF64(rows, flat(N.zscore_unnorm_y32));
    expectF64(n.unnormalize('state', N.x14), N.zscore_unnorm_x14);
    // padded dims: x * (1 + 1e-6) + 0
    expect(rows[31]).toBe((y[0]?.[31] as number) * (1 + 1e-6));
  });

  it('quantile unnormalize touches only the first len(q01) dims', () => {
    const n = new Normalizer(stats, 'quantile');
    const rows = Float64Array.from(flat(N.y32));
    n.unnormalizeRows('state', rows, 32, 'float32');
    expectF64(rows, flat(N.quantile_unnorm_y32));
    expect(rows[20]).toBe(N.y32[0][20]);
    expectF64(n.unnormalize('state', N.x14), N.quantile_unnorm_x14);
  });

  it('quantile unnormalize of float32 data rounds (x + 1) to float32 first, as numpy does', () => {
    const n = new Normalizer(stats, 'quantile');
    const rows = Float64Array.from(flat(N.y32));
    n.unnormalizeRows('state', rows, 32, 'float64');
    // Treating the float32 model output as float64 is measurably different from openpi.
    expect(Array.from(rows).filter((v, i) => v !== flat(N.quantile_unnorm_y32)[i]).length).toBeGreaterThan(0);
  });

  it('normalize then unnormalize returns the input up to rounding', () => {
    for (const mode of ['zscore', 'quantile'] as const) {
      const n = new Normalizer(stats, mode);
      const back = n.unnormalize('state', n.normalize('state', N.x14));
      for (const [i, v] of back.entries()) expect(v).toBeCloseTo(N.x14[i], 12);
    }
  });

  it('passes keys without stats through unchanged (openpi Normalize is non-strict)', () => {
    const n = new Normalizer(stats, 'zscore');
    expect(n.has('actions')).toBe(false);
    expect(Array.from(n.normalize('actions', [1.5, -2]))).toEqual([1.5, -2]);
    expect(Array.from(n.unnormalize('actions', [1.5, -2]))).toEqual([1.5, -2]);
  });

  it('quantile mode without q01/q99 fails at construction, naming the field', () => {
    const noQ = parseNormStats({ norm_stats: { state: { mean: [0], std: [1] } } });
    expect(() => new Normalizer(noQ, 'zscore')).not.toThrow();
    const e = thrown(() => new Normalizer(noQ, 'quantile'));
    expect(isOpenpiEdgeError(e, 'BAD_ARGUMENT')).toBe(true);
    expect((e as Error).message).toContain('norm_stats.state.q01');
  });

  it('rejects data longer than the stats (normalize) or shorter (unnormalize) with BAD_SHAPE', () => {
    const n = new Normalizer(stats, 'zscore');
    expect(() => n.normalize('state', new Float64Array(15))).toThrow(/15 dims but norm_stats.state has 14/);
    expect(() => n.unnormalize('state', new Float64Array(13))).toThrow(/13 dims but norm_stats.state has 14/);
  });
});

describe('padToDim', () => {
  it('right-pads with the value and never truncates', () => {
    expect(Array.from(padToDim([1, 2], 4))).toEqual([1, 2, 0, 0]);
    expect(Array.from(padToDim([1, 2], 3, 1.0))).toEqual([1, 2, 1]);
    expect(Array.from(padToDim([1, 2, 3], 2))).toEqual([1, 2, 3]);
  });
});
