/**
 * The async broker's real-time chunking entry: each background request carries the executing chunk's rows from
 * the request's moment on and the expected delay in steps; plain requests (the blocking first one, rtc off) carry
 * nothing.
 */
import { describe, expect, it } from 'vitest';
import { AsyncActionChunkBroker, type AsyncBrokerEvent } from '../src/async-action-chunk-broker.js';
import { ManualClock } from '../src/clock.js';
import { isOpenpiEdgeError } from '../src/errors.js';
import { type NDArray, ndarray } from '../src/ndarray.js';
import type { BasePolicy, Obs } from '../src/policy.js';
import { RTC_OBS_KEY, rtcEntry } from '../src/rtc-request.js';

/** Call c sleeps `latency` ms and returns rows `[c, k]`; records each observation it saw. */
class RecordingPolicy implements BasePolicy {
  seen: Obs[] = [];
  constructor(
    private readonly clock: ManualClock,
    private readonly rows: number,
    private readonly latency: number,
  ) {}
  async infer(obs: Obs): Promise<Obs> {
    const c = this.seen.length;
    this.seen.push(obs);
    await this.clock.sleep(this.latency);
    const data = new Float64Array(this.rows * 2);
    for (let k = 0; k < this.rows; k++) data.set([c, k], 2 * k);
    return { actions: ndarray('float64', [this.rows, 2], data) };
  }
  reset(): void {}
}

async function run(rtc: boolean, steps: number) {
  const clock = new ManualClock(0);
  const policy = new RecordingPolicy(clock, 12, 35);
  const events: AsyncBrokerEvent[] = [];
  const broker = new AsyncActionChunkBroker(policy, {
    actionHorizon: 10,
    stepPeriodMs: 10,
    safetyMarginMs: 0,
    clock,
    rtc,
    onEvent: (e) => events.push(e),
  });
  const served: number[][] = [];
  for (let t = 0; t < steps; t++) {
    const out = t === 0 ? await clock.runUntil(broker.infer({ t })) : await broker.infer({ t });
    served.push(Array.from((out.actions as NDArray).data as Float64Array));
    await clock.advance(10);
  }
  return { policy, events, served };
}

describe('AsyncActionChunkBroker with real-time chunking', () => {
  it('sends the executing rows from the served one on, and the expected delay in steps', async () => {
    const { policy, events } = await run(true, 14);
    expect(policy.seen[0]?.[RTC_OBS_KEY]).toBeUndefined(); // the blocking first chunk continues nothing
    const second = policy.seen[1] as Obs;
    expect(second.t).toBe(6);
    const entry = second[RTC_OBS_KEY] as { prev_actions: NDArray; delay: number };
    // At t=6 row 6 of chunk 0 was served: the new chunk's row 0 is that moment, so rows 6..11 (of 12) go along.
    expect(entry.prev_actions.shape).toEqual([6, 2]);
    expect(Array.from(entry.prev_actions.data as Float64Array).filter((_, i) => i % 2 === 1)).toEqual([
      6, 7, 8, 9, 10, 11,
    ]);
    // Expected latency 35 ms at 10 ms per step: 4 rows execute before the new chunk takes over.
    expect(entry.delay).toBe(4);
    expect(events.find((e) => e.type === 'request')).toMatchObject({ rtcDelay: 4 });
    // The chunk came into use at row 4, the delay the policy was told.
    expect(events.find((e) => e.type === 'chunk' && !e.blocking)).toMatchObject({ startRow: 4 });
    // A copy: the message carries only the rows, not the whole chunk's buffer.
    expect((entry.prev_actions.data as Float64Array).buffer.byteLength).toBe(6 * 2 * 8);
  });

  it('sends plain observations when off', async () => {
    const { policy } = await run(false, 14);
    expect(policy.seen.length).toBeGreaterThan(1);
    for (const o of policy.seen) expect(o[RTC_OBS_KEY]).toBeUndefined();
  });

  it('rtcEntry clamps the delay to the rows and refuses a chunk without float actions', () => {
    const results = { actions: ndarray('float32', [5, 1], Float32Array.from([0, 1, 2, 3, 4])) };
    const e = rtcEntry(results, 3, 7.2, 'inpaint');
    expect(e.delay).toBe(2);
    expect(e.mode).toBe('inpaint');
    expect(Array.from((e.prev_actions as NDArray).data as Float32Array)).toEqual([3, 4]);
    expect(rtcEntry(results, 0, 1.01).delay).toBe(2);
    for (const bad of [() => rtcEntry({ actions: 'x' }, 0, 1), () => rtcEntry(results, 5, 1)]) {
      try {
        bad();
        expect.unreachable();
      } catch (err) {
        expect(isOpenpiEdgeError(err) && err.code === 'BAD_SHAPE').toBe(true);
      }
    }
  });
});
