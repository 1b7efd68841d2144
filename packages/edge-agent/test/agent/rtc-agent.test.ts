/**
 * Real-time chunking in the agent (emulated ALOHA, the demo bundle in its worker, real clock; counts and outcomes,
 * no timed assertions): `--rtc guidance` and `--rtc inpaint` run episodes whose background requests carry the
 * executing chunk, every command still through the gate; `rtc` with the sync broker is refused at config time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../src/agent/edge-agent.js';
import { resolveConfig } from '../../src/config/load.js';
import type { AgentConfigFile } from '../../src/config/schema.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import type { GateDecision } from '../../src/safety/gate.js';

let agent: EdgeAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

const plugins = [alohaPlugin.with({ resetTiming: { armMs: 100, gripperCloseMs: 100, gripperOpenMs: 100 } })];
const config = (over: Partial<AgentConfigFile>) =>
  resolveConfig(
    {},
    {
      robot: 'aloha',
      statusIntervalMs: 0,
      bundle: { providers: ['cpu'], threads: 1, seed: 0 },
      ...over,
    } as AgentConfigFile,
    plugins,
  );

describe('real-time chunking in the agent', () => {
  it.each(['guidance', 'inpaint'] as const)(
    'runs an episode with --rtc %s: tied requests, gated moves',
    async (mode) => {
      agent = await EdgeAgent.create(config({ maxSteps: 150, reset: false, rtc: { mode } }), {
        plugins,
        warn: () => {},
      });
      const delays: number[] = [];
      const broker = agent.broker;
      if (!('addListener' in broker)) throw new Error('expected the async broker');
      broker.addListener((e) => {
        if (e.type === 'request' && e.rtcDelay !== undefined) delays.push(e.rtcDelay);
      });
      let moves = 0;
      let decisions = 0;
      agent.environment.onDecision = (d: GateDecision, phase) => {
        if (phase !== 'step') return;
        decisions += 1;
        if (d.kind === 'move') moves += 1;
      };
      expect(agent.report.control).toContain(`real-time chunking ${mode}`);
      const summary = await agent.run();
      expect(summary.run.totalSteps).toBe(150);
      expect(summary.policyFailures).toBe(0);
      // Background requests after the first chunk continue the executing one (the first, blocking one cannot).
      expect(delays.length).toBeGreaterThanOrEqual(2);
      for (const d of delays) expect(Number.isInteger(d) && d >= 0).toBe(true);
      // Every step's command went through the gate; on a loaded machine the slower guided chunks can stall (holds).
      expect(decisions).toBe(150);
      expect(moves).toBeGreaterThan(0);
    },
  );

  it('refuses rtc with the sync broker, naming both', () => {
    expect(() => config({ broker: 'sync', rtc: { mode: 'guidance' } })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('async broker') }),
    );
  });
});
