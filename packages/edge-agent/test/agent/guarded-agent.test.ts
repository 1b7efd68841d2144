/**
 * GuardedAgent + PolicyMonitor on a virtual clock, over the real ActionChunkBroker / AsyncActionChunkBroker and a
 * policy whose calls the test settles by hand.
 */
import { describe, expect, it } from 'vitest';
import { ActionChunkBroker } from '../../../client/src/action-chunk-broker.js';
import { AsyncActionChunkBroker } from '../../../client/src/async-action-chunk-broker.js';
import { ManualClock } from '../../../client/src/clock.js';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import { isNDArray, ndarray } from '../../../client/src/ndarray.js';
import type { BasePolicy, Obs } from '../../../client/src/policy.js';
import { GuardedAgent, NO_ACTION } from '../../src/agent/guarded-agent.js';
import { PolicyMonitor } from '../../src/agent/policy-monitor.js';

const H = 4;

/** Chunk k: row r = [k * 100 + r] (one dimension). Calls are settled by the test (or at once when `auto`). */
class HandPolicy implements BasePolicy {
  readonly calls: { resolve: () => void; reject: (e: unknown) => void; k: number }[] = [];
  resets = 0;
  auto = false;

  infer(_obs: Obs): Promise<Obs> {
    const k = this.calls.length;
    const chunk = ndarray(
      'float64',
      [H, 1],
      Float64Array.from({ length: H }, (_, r) => k * 100 + r),
    );
    return new Promise<Obs>((resolve, reject) => {
      this.calls.push({ resolve: () => resolve({ actions: chunk }), reject, k });
      if (this.auto) this.calls[k]?.resolve();
    });
  }

  reset(): void {
    this.resets += 1;
  }
}

function value(action: Obs): number | null {
  const a = action.actions;
  return isNDArray(a) ? Number((a.data as Float64Array)[0]) : null;
}

function setup(policy: BasePolicy, timeoutMs = 100) {
  const clock = new ManualClock();
  const monitor = new PolicyMonitor(clock);
  const broker = new ActionChunkBroker(policy, H);
  const agent = new GuardedAgent(broker, { timeoutMs, clock, monitor });
  return { clock, monitor, agent };
}

describe('GuardedAgent', () => {
  it('passes rows through when the policy answers in time, and reports a healthy policy', async () => {
    const p = new HandPolicy();
    p.auto = true;
    const { agent, monitor } = setup(p);
    const rows = [];
    for (let i = 0; i < 2 * H; i++) rows.push(value(await agent.getAction({})));
    expect(rows).toEqual([0, 1, 2, 3, 100, 101, 102, 103]);
    expect(monitor.health()).toEqual({ stallMs: 0 });
    expect(agent.timeouts + agent.failures).toBe(0);
  });

  it('turns a failed inference into NO_ACTION with a POLICY error, then re-infers from a reset broker', async () => {
    const p = new HandPolicy();
    const { agent, monitor } = setup(p);
    const first = agent.getAction({});
    await Promise.resolve();
    p.calls[0]?.reject(new OpenpiEdgeError('CONNECTION_CLOSED', 'server went away', {}));
    expect(await first).toBe(NO_ACTION);
    expect(agent.failures).toBe(1);
    expect(monitor.health().error).toMatchObject({ code: 'CONNECTION_CLOSED' });
    p.auto = true;
    expect(value(await agent.getAction({}))).toBe(100);
    expect(p.resets).toBe(1);
    expect(monitor.health()).toEqual({ stallMs: 0 });
  });

  it('never waits past the deadline: holds while a late call runs, drops its result and starts over', async () => {
    const p = new HandPolicy();
    const { agent, monitor, clock } = setup(p, 100);
    const first = agent.getAction({});
    await clock.advance(100);
    expect(await first).toBe(NO_ACTION);
    expect(agent.timeouts).toBe(1);
    await clock.advance(150);
    expect(monitor.health().stallMs).toBe(250);
    // Still pending: no new call reaches the policy.
    expect(await agent.getAction({})).toBe(NO_ACTION);
    expect(p.calls).toHaveLength(1);
    p.calls[0]?.resolve();
    await clock.flush();
    expect(monitor.health()).toEqual({ stallMs: 0 });
    p.auto = true;
    // The late chunk (rows 0..) is dropped: the broker was reset and asks again.
    expect(value(await agent.getAction({}))).toBe(100);
    expect(p.resets).toBe(1);
  });

  it('reset() waits for a pending call, then resets the broker', async () => {
    const p = new HandPolicy();
    const { agent, clock } = setup(p, 50);
    const first = agent.getAction({});
    await clock.advance(50);
    expect(await first).toBe(NO_ACTION);
    let done = false;
    const r = agent.reset().then(() => {
      done = true;
    });
    await clock.flush();
    expect(done).toBe(false);
    p.calls[0]?.resolve();
    await r;
    expect(p.resets).toBe(1);
  });
});

describe('PolicyMonitor', () => {
  it('reports connection loss as an error until reconnected, and async-broker stalls and errors', async () => {
    const clock = new ManualClock(1000);
    const m = new PolicyMonitor(clock);
    m.connectionEvent({ state: 'connecting', uri: 'ws://h:1' });
    m.connectionEvent({ state: 'connected', uri: 'ws://h:1' });
    expect(m.health()).toEqual({ stallMs: 0 });
    const lost = new OpenpiEdgeError('CONNECTION_CLOSED', 'gone', {});
    m.connectionEvent({ state: 'disconnected', uri: 'ws://h:1', error: lost });
    expect(m.health().error).toBe(lost);
    m.connectionEvent({ state: 'reconnecting', uri: 'ws://h:1', attempt: 1, delayMs: 100 });
    expect(m.health().error).toBeInstanceOf(Error);
    m.connectionEvent({ state: 'connected', uri: 'ws://h:1' });
    expect(m.health().error).toBeUndefined();
    expect(m.lastError).toBeInstanceOf(Error);

    m.brokerEvent({ type: 'stall-start', at: 1000 });
    await clock.advance(300);
    expect(m.health().stallMs).toBe(300);
    m.brokerEvent({ type: 'error', at: 1300, error: lost });
    expect(m.health().error).toBe(lost);
    m.brokerEvent({ type: 'chunk', at: 1310, latencyMs: 90, startRow: 3, skippedRows: 3, blocking: false });
    m.brokerEvent({ type: 'stall-end', at: 1310, durationMs: 310, heldSteps: 15 });
    expect(m.health()).toEqual({ stallMs: 0 });
  });

  it('follows a real AsyncActionChunkBroker: a failing background request is an error until a chunk arrives', async () => {
    const clock = new ManualClock();
    const m = new PolicyMonitor(clock);
    const p = new HandPolicy();
    const broker = new AsyncActionChunkBroker(p, {
      actionHorizon: H,
      stepPeriodMs: 20,
      clock,
      onEvent: (e) => m.brokerEvent(e),
    });
    const agent = new GuardedAgent(broker, { timeoutMs: 1000, clock, monitor: m });
    p.auto = true;
    expect(value(await agent.getAction({}))).toBe(0);
    p.auto = false;
    // Rows 1..3, background request issued near the end; fail it.
    for (let i = 1; i < H; i++) {
      await clock.advance(20);
      expect(value(await agent.getAction({}))).toBe(i);
    }
    expect(p.calls.length).toBeGreaterThan(1);
    p.calls[1]?.reject(new OpenpiEdgeError('CONNECTION_CLOSED', 'gone', {}));
    await clock.flush();
    expect(m.health().error).toMatchObject({ code: 'CONNECTION_CLOSED' });
    // The chunk ran out: the broker holds the last row and reports a stall.
    await clock.advance(20);
    expect(value(await agent.getAction({}))).toBe(3);
    await clock.advance(20);
    expect(value(await agent.getAction({}))).toBe(3);
    expect(m.health().stallMs).toBeGreaterThan(0);
    // The retry succeeds while some of its rows are still due (one answered after all of them, H steps after its
    // request, would be dropped as stale): healthy again.
    p.calls.at(-1)?.resolve();
    await clock.advance(20);
    expect(value(await agent.getAction({}))).not.toBeNull();
    expect(m.health()).toEqual({ stallMs: 0 });
  });
});
