/**
 * LoopStats / SampleSeries: bounded memory on long runs (a `--max-steps 0` run pushes a sample per step forever)
 * and the accuracy of what the bounded structures report, against exact percentiles of the same samples.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../../test/mulberry32.js';
import { isOpenpiEdgeError } from '../../../client/src/errors.js';
import type { StepTelemetry } from '../../../runtime/src/telemetry.js';
import { LoopStats, type Percentiles, percentiles, SampleSeries } from '../../src/agent/loop-stats.js';

/** The bound the histogram states: 1% relative, plus 1e-4 ms absolute for samples that count as 0. */
const REL = 0.01 * (1 + 1e-9);
const ABS = 1e-4;

function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function step(i: number, periodMs: number, jitterMs: number, actMs: number): StepTelemetry {
  return {
    episode: 0,
    step: i,
    tick: i,
    scheduledAt: i * 20,
    startedAt: i * 20 + jitterMs,
    observeMs: 0,
    actMs,
    applyMs: 0,
    stepMs: actMs,
    periodMs,
    jitterMs,
  };
}

/** Numbers a series holds: `retained` for a SampleSeries, the length for an array (what LoopStats used to keep). */
function held(series: unknown): number {
  const s = series as { retained?: number; length?: number };
  return s.retained ?? s.length ?? Number.NaN;
}

function expectWithin(approx: Percentiles, exact: Percentiles): void {
  for (const k of ['p50', 'p90', 'p99'] as const) {
    const err = Math.abs(approx[k] - exact[k]);
    if (!(err <= REL * Math.abs(exact[k]) + ABS)) {
      throw new Error(`${k}: ${approx[k]} vs exact ${exact[k]} (error ${err})`);
    }
  }
  expect(approx.n).toBe(exact.n);
  expect(approx.max).toBe(exact.max);
  expect(approx.mean).toBeCloseTo(exact.mean, 6);
}

describe('LoopStats', () => {
  it('holds a fixed number of values after 1,000,000 steps and chunks, with exact n, max and mean', () => {
    const stats = new LoopStats();
    const fresh = new LoopStats();
    const u = mulberry32(1);
    let maxPeriod = Number.NEGATIVE_INFINITY;
    let sumPeriod = 0;
    const N = 1_000_000;
    for (let i = 0; i < N; i++) {
      const period = i === 0 ? Number.NaN : 20 + normal(u);
      if (i > 0) {
        maxPeriod = Math.max(maxPeriod, period);
        sumPeriod += period;
      }
      stats.onStep(step(i, period, Math.abs(normal(u)), 0.2 + u()));
      stats.onBroker({
        type: 'chunk',
        at: i,
        latencyMs: 90 + 10 * u(),
        startRow: 0,
        skippedRows: 0,
        blocking: false,
      });
      if (i % 10 === 0) stats.onBroker({ type: 'stall-end', at: i, durationMs: u() * 50, heldSteps: 1 });
    }
    const bound = 4096 + 2 * 1498 + 1;
    for (const k of ['periods', 'jitters', 'actMs', 'chunkLatencies', 'stalls'] as const) {
      // as much as right after construction, whatever the number of samples
      expect(held(stats[k]), k).toBe(held(fresh[k]));
      expect(held(stats[k]), k).toBeLessThanOrEqual(bound);
    }
    expect(stats.steps).toBe(N);
    const p = percentiles(stats.periods);
    expect(p.n).toBe(N - 1); // the first step has no period
    expect(p.max).toBe(maxPeriod);
    expect(p.mean).toBeCloseTo(sumPeriod / (N - 1), 9);
    expect(p.p50).toBeCloseTo(20, 0);
    expect(percentiles(stats.chunkLatencies).n).toBe(N);
    expect(percentiles(stats.stalls).n).toBe(N / 10);
  });

  it('run-long percentiles are within 1% of the exact ones on random data; recent windows are exact', () => {
    const u = mulberry32(7);
    const sources: Record<string, () => number> = {
      'loop period ~ N(20, 1) ms': () => 20 + normal(u),
      'latency, log-normal with a heavy tail': () => Math.exp(4 + 0.8 * normal(u)),
      'uniform 0-100 ms': () => 100 * u(),
      'wide: 1 µs to 100 s, signed, some zeros': () =>
        u() < 0.05 ? 0 : (u() < 0.2 ? -1 : 1) * 10 ** (-3 + 8 * u()),
      'two modes (held ticks vs inference ticks)': () => (u() < 0.9 ? 0.05 + 0.01 * u() : 120 + 30 * u()),
    };
    for (const [name, draw] of Object.entries(sources)) {
      const series = new SampleSeries({ recentCapacity: 1000 });
      const all: number[] = [];
      for (let i = 0; i < 200_000; i++) {
        const v = draw();
        series.push(v);
        all.push(v);
      }
      try {
        expectWithin(percentiles(series), percentiles(all));
        for (const w of [1, 250, 1000, 5000])
          expect(series.recent(w)).toEqual(percentiles(all.slice(-Math.min(w, 1000))));
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
    }
  });

  it('property: within the stated bound for any finite samples, exact while the ring holds all of them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e7, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 64 }),
        (values, capacity) => {
          const series = new SampleSeries({ recentCapacity: capacity });
          for (const v of values) series.push(v);
          const exact = percentiles(values);
          if (values.length <= capacity) expect(percentiles(series)).toEqual(exact);
          else expectWithin(percentiles(series), exact);
          expect(series.recent(capacity)).toEqual(percentiles(values.slice(-capacity)));
          expect(series.last).toBe(values.at(-1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps percentiles(array) and recent(array) for callers that pass arrays; empty is NaN', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1, unsorted input
    expect(percentiles(values)).toEqual({ p50: 51, p90: 91, p99: 100, max: 100, mean: 50.5, n: 100 });
    const stats = new LoopStats();
    expect(stats.recent(values, 10)).toEqual(percentiles(values.slice(-10)));
    expect(percentiles([])).toEqual({
      p50: Number.NaN,
      p90: Number.NaN,
      p99: Number.NaN,
      max: Number.NaN,
      mean: Number.NaN,
      n: 0,
    });
    expect(percentiles(new SampleSeries()).n).toBe(0);
    expect(stats.recent(stats.periods).n).toBe(0);
  });

  it('serves the status window from the ring, ignores NaN periods, counts stale chunks; rejects a bad capacity', () => {
    const stats = new LoopStats({ recentCapacity: 8 });
    for (let i = 0; i < 20; i++) stats.onStep(step(i, i === 0 ? Number.NaN : i, 0, 1));
    expect(stats.recent(stats.periods, 5)).toMatchObject({ p50: 17, max: 19, n: 5 });
    // a window larger than the ring is served from the whole ring
    expect(stats.recent(stats.periods, 250)).toMatchObject({ n: 8, max: 19, p50: 16 });
    expect(percentiles(stats.periods)).toMatchObject({ n: 19, max: 19, mean: 10 });
    stats.onBroker({
      type: 'chunk-dropped',
      at: 0,
      reason: 'stale',
      latencyMs: 900,
      requestedAt: -900,
      dueRow: 45,
      lateMs: 420,
    });
    expect(stats.staleChunks).toBe(1);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      let err: unknown;
      try {
        new SampleSeries({ recentCapacity: bad });
      } catch (e) {
        err = e;
      }
      expect(isOpenpiEdgeError(err, 'BAD_ARGUMENT'), String(bad)).toBe(true);
    }
  });
});
