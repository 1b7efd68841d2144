import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AsyncActionChunkBroker,
  type AsyncActionChunkBrokerOptions,
  type AsyncBrokerEvent,
} from '../src/async-action-chunk-broker.js';
import { ManualClock } from '../src/clock.js';
import { isOpenpiEdgeError } from '../src/errors.js';
import { type NDArray, ndarray } from '../src/ndarray.js';
import type { BasePolicy, Obs } from '../src/policy.js';

/**
 * Call c takes `latency(c)` ms of virtual time (resolved when the clock is advanced) and returns a chunk whose
 * row k is `actions[k] = [c, k]`. `fail(c)` makes call c reject after its latency.
 */
class SlowPolicy implements BasePolicy {
  calls: { at: number; t: unknown }[] = [];
  resets = 0;
  active = 0;
  maxActive = 0;
  constructor(
    private readonly clock: ManualClock,
    private readonly rows: number,
    private readonly latency: (c: number) => number,
    private readonly fail: (c: number) => boolean = () => false,
  ) {}
  async infer(obs: Obs): Promise<Obs> {
    const c = this.calls.length;
    this.calls.push({ at: this.clock.now(), t: obs.t });
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await this.clock.sleep(this.latency(c));
    } finally {
      this.active -= 1;
    }
    if (this.fail(c)) throw new Error(`inference ${c} failed`);
    const data = new Float64Array(this.rows * 2);
    for (let k = 0; k < this.rows; k++) data.set([c, k], 2 * k);
    return { actions: ndarray('float64', [this.rows, 2], data) };
  }
  reset(): void {
    this.resets += 1;
  }
}

type Row = [chunk: number, row: number];
const rowOf = (o: Obs): Row => {
  const d = (o.actions as NDArray).data as Float64Array;
  return [d[0] as number, d[1] as number];
};

interface Harness {
  clock: ManualClock;
  policy: SlowPolicy;
  broker: AsyncActionChunkBroker;
  events: AsyncBrokerEvent[];
  /** One control step: infer (must resolve without time moving unless `first`), then advance one period. */
  step(t: number, first?: boolean): Promise<Row>;
}

function harness(
  latency: (c: number) => number,
  opts: Partial<AsyncActionChunkBrokerOptions> & { rows?: number; fail?: (c: number) => boolean } = {},
): Harness {
  const clock = new ManualClock(1000);
  const horizon = opts.actionHorizon ?? 10;
  const policy = new SlowPolicy(clock, opts.rows ?? horizon, latency, opts.fail);
  const events: AsyncBrokerEvent[] = [];
  const broker = new AsyncActionChunkBroker(policy, {
    stepPeriodMs: 10,
    safetyMarginMs: 0,
    ...opts,
    actionHorizon: horizon,
    clock,
    onEvent: (e) => events.push(e),
  });
  const period = broker.stepPeriodMs;
  return {
    clock,
    policy,
    broker,
    events,
    async step(t, first = false) {
      const p = broker.infer({ t });
      let out: Obs;
      if (first) {
        out = await clock.runUntil(p);
      } else {
        let done = false;
        void p.then(() => {
          done = true;
        });
        await clock.flush();
        // Never waits for inference: the call settled while virtual time stood still.
        expect(done).toBe(true);
        out = await p;
      }
      await clock.advance(period);
      return rowOf(out);
    },
  };
}

describe('AsyncActionChunkBroker', () => {
  it('blocks for the first chunk only, then switches chunks skipping the rows whose time passed', async () => {
    const h = harness(() => 35);
    const first = h.broker.infer({ t: 0 });
    let done = false;
    void first.then(() => {
      done = true;
    });
    await h.clock.advance(34);
    expect(done).toBe(false);
    await h.clock.advance(1);
    expect(done).toBe(true);
    const rows: Row[] = [rowOf(await first)];
    await h.clock.advance(10);
    for (let t = 1; t < 14; t++) rows.push(await h.step(t));
    // Expected latency 35 ms at 10 ms/step: request when <= 3 rows remain, i.e. right after row 6 (t=6).
    // The chunk requested at t=6 arrives 35 ms later; the next step (t=10) is 40 ms after the request -> row 4.
    expect(rows).toEqual([
      ...Array.from({ length: 10 }, (_, k): Row => [0, k]),
      [1, 4],
      [1, 5],
      [1, 6],
      [1, 7],
    ]);
    expect(h.policy.calls.map((c) => c.t)).toEqual([0, 6, 12]); // chunk 1 reaches its row 6 at t=12
    const chunk = h.events.find((e) => e.type === 'chunk' && !e.blocking);
    expect(chunk).toMatchObject({ startRow: 4, skippedRows: 4, latencyMs: 35 });
    expect(h.broker.stats()).toMatchObject({ chunks: 2, skippedRows: 4, stalls: 0, heldSteps: 0 });
  });

  it('holds the last action while stalled and reports the stall with its duration', async () => {
    const latencies = [10, 55, 10];
    const h = harness((c) => latencies[c] ?? 10, { actionHorizon: 8 });
    const rows: Row[] = [await h.step(0, true)];
    for (let t = 1; t < 13; t++) rows.push(await h.step(t));
    // Request after row 6 (1 row left <= 10 ms); 55 ms latency -> row 7 at t=7, then held until the chunk
    // arrives at t=6 + 5.5 -> used at t=12, 60 ms after the request: rows 0-5 skipped, it starts at row 6.
    expect(rows).toEqual([
      ...Array.from({ length: 8 }, (_, k): Row => [0, k]),
      [0, 7],
      [0, 7],
      [0, 7],
      [0, 7],
      [1, 6],
    ]);
    const stallEvents = h.events.filter((e) => e.type === 'stall-start' || e.type === 'stall-end');
    expect(stallEvents).toEqual([
      { type: 'stall-start', at: h.policy.calls[1]!.at + 20 },
      { type: 'stall-end', at: h.policy.calls[1]!.at + 60, durationMs: 40, heldSteps: 4 },
    ]);
    expect(h.broker.stats()).toMatchObject({
      stalls: 1,
      stallMs: 40,
      heldSteps: 4,
      skippedRows: 6,
      staleChunks: 0,
    });
  });

  it('drops a chunk whose rows all lie in the past instead of following its last row, and requests afresh', async () => {
    const latencies = [10, 75, 10];
    const h = harness((c) => latencies[c] ?? 10, { actionHorizon: 4 });
    const rows: Row[] = [await h.step(0, true)];
    for (let t = 1; t < 12; t++) rows.push(await h.step(t));
    // Request at t=2 (1 row left); chunk 1's rows are due at t=2..5 but it arrives at t=9.5 and is looked at at
    // t=10 (row 8 due): stale. It is dropped, row [0, 3] stays held, and a fresh request goes out at t=10 with
    // that step's observation; it arrives at t=11 and starts at row 1. No row of chunk 1 is ever returned.
    expect(rows).toEqual([[0, 0], [0, 1], [0, 2], ...Array.from({ length: 8 }, (): Row => [0, 3]), [2, 1]]);
    expect(h.policy.calls.map((c) => c.t).slice(0, 3)).toEqual([0, 2, 10]);
    const requestedAt = h.policy.calls[1]!.at;
    const dropped = h.events.filter((e) => e.type === 'chunk-dropped');
    expect(dropped).toEqual([
      {
        type: 'chunk-dropped',
        at: requestedAt + 80,
        reason: 'stale',
        latencyMs: 75,
        requestedAt,
        dueRow: 8,
        // the last row (3) was due at requestedAt + 30
        lateMs: 50,
      },
    ]);
    // The drop comes before the fresh request of the same step; the stall lasts until the fresh chunk is used.
    const types = h.events.map((e) => e.type);
    expect(types.indexOf('chunk-dropped')).toBeLessThan(types.lastIndexOf('request'));
    expect(h.events.filter((e) => e.type === 'stall-start' || e.type === 'stall-end')).toEqual([
      { type: 'stall-start', at: requestedAt + 20 },
      { type: 'stall-end', at: requestedAt + 90, durationMs: 70, heldSteps: 7 },
    ]);
    expect(
      h.events.filter((e) => e.type === 'chunk').map((e) => (e as { startRow: number }).startRow),
    ).toEqual([0, 1]);
    expect(h.broker.stats()).toMatchObject({
      chunks: 2,
      staleChunks: 1,
      stalls: 1,
      heldSteps: 7,
      skippedRows: 1,
    });
  });

  it('uses a late chunk whose last row is due now, and drops one whose last row was due a step ago', async () => {
    // Request at t=2 with 1 row left (horizon 4): row k of the new chunk is due at t=2+k, the last one at t=5.
    const onTime = harness((c) => (c === 1 ? 25 : 10), { actionHorizon: 4 });
    const a: Row[] = [await onTime.step(0, true)];
    for (let t = 1; t < 6; t++) a.push(await onTime.step(t));
    // arrives at t=4.5, used at t=5: row 3 (rows 0-2 skipped)
    expect(a).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 3],
      [1, 3],
    ]);
    expect(onTime.broker.stats()).toMatchObject({ staleChunks: 0, skippedRows: 3 });

    const late = harness((c) => (c === 1 ? 35 : 10), { actionHorizon: 4 });
    const b: Row[] = [await late.step(0, true)];
    for (let t = 1; t < 7; t++) b.push(await late.step(t));
    // arrives at t=5.5, looked at at t=6: row 4 would be due, past the last row -> dropped, still held
    expect(b).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 3],
      [0, 3],
      [0, 3],
    ]);
    expect(late.events.filter((e) => e.type === 'chunk-dropped')).toMatchObject([{ dueRow: 4, lateMs: 10 }]);
    expect(late.broker.stats()).toMatchObject({ staleChunks: 1, chunks: 1 });
  });

  it('moves the request earlier as the measured latency grows (p90 and EWMA)', async () => {
    const latencies = [20, 60, 60, 60, 60];
    const h = harness((c) => latencies[c] ?? 60, { actionHorizon: 20 });
    await h.step(0, true);
    for (let t = 1; t < 60; t++) await h.step(t);
    const remaining = h.events.flatMap((e) => (e.type === 'request' ? [e.remainingRows] : []));
    // 20 ms expected -> request at 2 rows left; once 60 ms is measured (p90) -> at 6 rows left.
    expect(remaining.slice(0, 3)).toEqual([2, 6, 6]);
    expect(h.broker.stats().stalls).toBe(1); // the first 60 ms chunk came 40 ms too late

    const e = harness((c) => latencies[c] ?? 60, {
      actionHorizon: 20,
      latencyEstimator: 'ewma',
      ewmaAlpha: 0.5,
    });
    await e.step(0, true);
    for (let t = 1; t < 80; t++) await e.step(t);
    const ewmaRemaining = e.events.flatMap((x) => (x.type === 'request' ? [x.remainingRows] : []));
    // EWMA 20 -> 40 -> 50 -> 55: request at 2, 4, 5, 5 rows left.
    expect(ewmaRemaining.slice(0, 4)).toEqual([2, 4, 5, 5]);
  });

  it('reset drops an in-flight result, resets the inner policy and blocks for a fresh chunk', async () => {
    const h = harness(() => 45, { actionHorizon: 6 });
    await h.step(0, true);
    for (let t = 1; t < 4; t++) await h.step(t);
    expect(h.policy.calls).toHaveLength(2); // requested at t=1 (5 rows left), due at t=5.5: in flight
    expect(h.policy.active).toBe(1);
    await h.broker.reset();
    expect(h.policy.resets).toBe(1);
    const next = await h.step(4, true);
    expect(next).toEqual([2, 0]);
    expect(h.events.filter((e) => e.type === 'discarded')).toHaveLength(1);
    expect(h.broker.stats()).toMatchObject({ discarded: 1, chunks: 2 });
    expect(h.policy.maxActive).toBe(1);
    for (let t = 5; t < 10; t++) expect((await h.step(t))[0]).toBe(2);
  });

  it('reset also drops a result that arrived but was not used yet', async () => {
    const h = harness(() => 15, { actionHorizon: 4 });
    await h.step(0, true);
    await h.step(1);
    await h.step(2); // request at t=2 (1 row left), arrives at t=3.5
    await h.clock.advance(6);
    expect(h.policy.active).toBe(0);
    await h.broker.reset();
    expect(await h.step(3, true)).toEqual([2, 0]);
    expect(h.broker.stats()).toMatchObject({ discarded: 1, chunks: 2 });
  });

  it('reports a failed background inference and retries on the next step, holding meanwhile', async () => {
    const h = harness(() => 15, { actionHorizon: 4, fail: (c) => c === 1 });
    const rows: Row[] = [await h.step(0, true)];
    for (let t = 1; t < 8; t++) rows.push(await h.step(t));
    const errors = h.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as { error: unknown }).error)).toContain('inference 1 failed');
    // call 1 at t=2 fails at t=3.5; retried at t=4 (the held step); arrives t=5.5 -> used at t=6.
    expect(h.policy.calls.map((c) => c.t)).toEqual([0, 2, 4, 6]);
    expect(rows).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 3],
      [0, 3],
      [2, 2],
      [2, 3],
    ]);
    expect(h.broker.stats()).toMatchObject({ errors: 1, stalls: 1, heldSteps: 2 });
  });

  it('rejects a first chunk shorter than the horizon naming the key, and bad options', async () => {
    const h = harness(() => 1, { actionHorizon: 5, rows: 3 });
    const err = await h.clock.runUntil(h.broker.infer({})).catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'BAD_SHAPE')).toBe(true);
    expect(err).toMatchObject({ context: { key: 'actions', shape: [3, 2] } });
    const p = h.policy;
    expect(() => new AsyncActionChunkBroker(p, { actionHorizon: 5 })).toThrow(/stepPeriodMs or controlHz/);
    expect(() => new AsyncActionChunkBroker(p, { actionHorizon: 5, controlHz: 0 })).toThrow(/stepPeriodMs/);
    expect(new AsyncActionChunkBroker(p, { actionHorizon: 5, controlHz: 50 }).stepPeriodMs).toBe(20);
  });

  it('property: rows come from chunks or repeat the held action, never go back in time, never await inference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 250 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.boolean(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(5, 10, 20),
        fc.constantFrom<'p90' | 'ewma'>('p90', 'ewma'),
        async (lat, fails, horizon, period, latencyEstimator) => {
          const h = harness((c) => lat[c % lat.length] ?? 0, {
            actionHorizon: horizon,
            rows: horizon + 2,
            stepPeriodMs: period,
            safetyMarginMs: period,
            latencyEstimator,
            // never fail the blocking first call: it is the one allowed to throw to the caller
            fail: (c) => c > 0 && (fails[c % Math.max(1, fails.length)] ?? false),
          });
          let prev: Row = await h.step(0, true);
          expect(prev).toEqual([0, 0]);
          for (let t = 1; t < 60; t++) {
            const now = h.clock.now();
            const row = await h.step(t);
            const [c, k] = row;
            expect(c).toBeLessThan(h.policy.calls.length);
            expect(k).toBeLessThan(horizon);
            if (c === prev[0]) {
              // same chunk: either the next row, or the held last row
              const held = k === prev[1];
              expect(held ? k === horizon - 1 : k === prev[1] + 1).toBe(true);
            } else {
              // a new chunk is newer and starts at the row due now, which must be one of its executable rows:
              // a chunk whose rows are all in the past is never followed
              expect(c).toBeGreaterThan(prev[0]);
              const due = Math.round((now - h.policy.calls[c]!.at) / period);
              expect(due).toBeLessThan(horizon);
              expect(k).toBe(Math.max(0, due));
            }
            prev = row;
          }
          expect(h.policy.maxActive).toBe(1);
          for (const e of h.events) {
            if (e.type !== 'chunk-dropped') continue;
            expect(e.dueRow).toBeGreaterThanOrEqual(horizon);
            expect(e.lateMs).toBeCloseTo(e.at - e.requestedAt - (horizon - 1) * period, 9);
          }
          expect(h.broker.stats().staleChunks).toBe(
            h.events.filter((e) => e.type === 'chunk-dropped').length,
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
