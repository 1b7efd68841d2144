/**
 * A policy worker that crashes mid-run does not end the run: the crash is reported (WORKER_CRASHED), the worker is
 * restarted, the loop keeps ticking meanwhile (the gate holds when the chunk runs out), and motion resumes with the
 * restarted worker's chunks. Emulated ALOHA, the demo bundle in a real WorkerPolicy, the real clock; counts and
 * outcomes only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../src/agent/edge-agent.js';
import { DEMO_BUNDLE_DIR, resolveConfig } from '../../src/config/load.js';
import type { AgentConfigFile } from '../../src/config/schema.js';
import { WorkerPolicy } from '../../src/inference/worker-policy.js';
import type { GateDecision } from '../../src/safety/gate.js';

let agent: EdgeAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

describe('EdgeAgent with a crashing policy worker', () => {
  it('runs every step through a crash, restarts the worker and moves again', async () => {
    const events: string[] = [];
    const policy = await WorkerPolicy.load(DEMO_BUNDLE_DIR, {
      executionProviders: [{ name: 'cpu', threads: 1 }],
      seed: 3,
      testHooks: { ops: true },
      onEvent: (e) => events.push(e.type),
    });
    const config = resolveConfig({}, {
      robot: 'aloha',
      maxSteps: 250,
      statusIntervalMs: 0,
      reset: false,
      // A chunk from the restarted worker must be followed: the watchdog's stall limit is not what is tested here.
      safety: { watchdog: { policyStallMs: 5000 } },
    } as AgentConfigFile);
    agent = await EdgeAgent.create(config, { policy, warn: () => {} });
    const decisions: { step: number; d: GateDecision }[] = [];
    const a = agent;
    a.environment.onDecision = (d, phase) => {
      if (phase === 'step') decisions.push({ step: a.stats.steps, d });
    };
    const run = a.run();
    while (a.stats.steps < 60) await new Promise((r) => setTimeout(r, 10));
    const crashAt = a.stats.steps;
    await expect(policy.testOp('__crash')).rejects.toMatchObject({ code: 'WORKER_CRASHED' });
    const summary = await run;
    expect(events).toContain('crashed');
    expect(events).toContain('restarted');
    expect(summary.workerRestarts).toBeGreaterThanOrEqual(1);
    const before = decisions.filter((x) => x.step < crashAt);
    const after = decisions.filter((x) => x.step > crashAt);
    expect(before.some((x) => x.d.kind === 'move')).toBe(true);
    // Moves after the crash: the restarted worker served chunks and the loop followed them.
    expect(after.filter((x) => x.d.kind === 'move').length).toBeGreaterThan(10);
    expect(summary.run.totalSteps).toBe(250);
  }, 120_000);
});
