/**
 * The generic agent's policy handling on the emulated ALOHA (no timed assertions: counts and outcomes only). The
 * real clock: the images are prepared in a worker thread, real I/O that a manual clock would jump over.
 * - the first chunk is fetched before the episode clock starts: a first chunk slower than `policyTimeoutMs` is
 *   used, not dropped forever, and a healthy run has no faults;
 * - a policy that fails every request backs off instead of being asked (with a capture) on every tick;
 * - start-up checks: a configuration the policy cannot serve fails `create` with CONFIG_MISMATCH and the message.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Clock,
  type ClosablePolicy,
  ManualClock,
  type Obs,
  OpenpiEdgeError,
  realClock,
} from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../src/agent/edge-agent.js';
import { DEMO_BUNDLE_DIR, resolveConfig } from '../../src/config/load.js';
import type { AgentConfigFile } from '../../src/config/schema.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';

let agent: EdgeAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

/** A 14-dim policy on the manual clock: each chunk takes `latencyMs`, holds the pose it is given, or throws. */
class ScriptedPolicy implements ClosablePolicy {
  calls = 0;
  failed = 0;
  constructor(
    private readonly clock: Clock,
    private readonly latencyMs: number,
    /** true: every call fails; a number n: the calls after the first n fail. */
    private readonly fail: boolean | number = false,
  ) {}
  async infer(obs: Obs): Promise<Obs> {
    this.calls += 1;
    await this.clock.sleep(this.latencyMs);
    if (this.fail === true || (typeof this.fail === 'number' && this.calls > this.fail)) {
      this.failed += 1;
      throw new OpenpiEdgeError('BAD_OBSERVATION', "observation key 'prompt': missing", {});
    }
    const state = (obs.state as { data: Float32Array }).data;
    const data = new Float64Array(50 * 14);
    for (let r = 0; r < 50; r++) data.set(state, r * 14);
    return { actions: { dtype: 'float64', shape: [50, 14], data } };
  }
  reset(): void {}
  async close(): Promise<void> {}
}

const plugins = [alohaPlugin.with({ resetTiming: { armMs: 100, gripperCloseMs: 100, gripperOpenMs: 100 } })];
const config = (over: Partial<AgentConfigFile> = {}) =>
  resolveConfig({}, { robot: 'aloha', statusIntervalMs: 0, ...over } as AgentConfigFile, plugins);

describe('EdgeAgent: first chunk before the episode clock', () => {
  it('a first chunk slower than policyTimeoutMs is used; no holds, faults none', async () => {
    const policy = new ScriptedPolicy(realClock, 1500);
    agent = await EdgeAgent.create(
      config({ maxSteps: 20, policyTimeoutMs: 1000, broker: 'sync', reset: false }),
      {
        plugins,
        policy,
        warn: () => {},
      },
    );
    const summary = await agent.run();
    expect(summary.policyTimeouts).toBe(0);
    expect(summary.gate.holds).toBe(0);
    expect(Object.values(summary.gate.faults).every((n) => n === 0)).toBe(true);
    expect(summary.gate.moves).toBe(20); // within the first chunk (horizon 25)
    expect(agent.agent.lastPrime).toMatchObject({ ok: true });
  }, 60_000);
});

describe('EdgeAgent: a policy failing every request backs off', () => {
  it('asks the policy a handful of times over 250 ticks, not on every tick; the gate holds', async () => {
    const policy = new ScriptedPolicy(realClock, 5, true);
    agent = await EdgeAgent.create(config({ maxSteps: 250, broker: 'sync', reset: false }), {
      plugins,
      policy,
      startupCheck: false,
      warn: () => {},
    });
    const summary = await agent.run();
    // 250 ticks (5 s at 50 Hz): back-off 200, 400, 800, 1600, 3200 ms after the second failure -> a handful of
    // calls; without it every tick asks (250 calls, each with a capture).
    expect(policy.calls).toBeLessThan(20);
    expect(summary.backoffTicks).toBeGreaterThan(200);
    expect(summary.gate.moves).toBe(0);
    expect(summary.lastPolicyError).toContain("'prompt': missing");
  }, 60_000);
});

describe('EdgeAgent: failures are counted where they happen', () => {
  it("the async broker's failed background requests count as failures next to their POLICY_ERROR holds", async () => {
    // The first chunk arrives; every later (background) request fails.
    const policy = new ScriptedPolicy(realClock, 5, 1);
    agent = await EdgeAgent.create(config({ maxSteps: 150, broker: 'async', reset: false }), {
      plugins,
      policy,
      startupCheck: false,
      warn: () => {},
    });
    const summary = await agent.run();
    expect(policy.failed).toBeGreaterThan(0);
    expect(summary.gate.faults.POLICY_ERROR).toBeGreaterThan(0);
    expect(summary.policyFailures).toBe(policy.failed);
  }, 60_000);
});

describe('EdgeAgent: start-up checks', () => {
  it('a bundle without a default prompt and no --prompt fails at start-up with the policy message', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'no-prompt-'));
    try {
      await cp(DEMO_BUNDLE_DIR, dir, { recursive: true });
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      manifest.default_prompt = null;
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      const err = await EdgeAgent.create(config({ bundle: { dir, providers: ['cpu'] } }), {
        plugins,
        warn: () => {},
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenpiEdgeError);
      expect(err).toMatchObject({ code: 'CONFIG_MISMATCH', context: { what: 'prompt' } });
      expect((err as Error).message).toContain("'prompt': missing");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a policy whose chunks do not fit the robot (action dim) fails at start-up naming both sizes', async () => {
    const clock = new ManualClock(0);
    const bad: ClosablePolicy = {
      infer: async () => ({ actions: { dtype: 'float64', shape: [50, 7], data: new Float64Array(350) } }),
      reset: () => {},
      close: async () => {},
    };
    const err = await clock
      .runUntil(EdgeAgent.create(config(), { clock, plugins, policy: bad, warn: () => {} }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'CONFIG_MISMATCH',
      context: { what: 'action dim', expected: 14, got: 7 },
    });
  }, 60_000);

  it("a reset_pose in the policy's metadata outside the limits is refused naming the joint and value", async () => {
    const clock = new ManualClock(0);
    const policy = Object.assign(new ScriptedPolicy(clock, 1), {
      metadata: { reset_pose: [0, -2.5, 1.16, 0, -0.3, 0] } as Obs,
    });
    const err = await clock
      .runUntil(EdgeAgent.create(config(), { clock, plugins, policy, warn: () => {} }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNSAFE_TARGET', context: { joint: 'left_shoulder', value: -2.5 } });
  }, 60_000);
});
