/**
 * The agent's e-stop path reaches the home move: an e-stop while `reset` interpolates stops it (no further goal
 * after the hold) instead of finishing the 2.5 s move. Emulated ALOHA starting at the ViperX sleep pose, the demo
 * bundle, a manual clock.
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { AlohaAgent } from '../../src/agent/aloha-agent.js';
import { resolveConfig } from '../../src/config/load.js';
import type { EmulatedAlohaArms } from '../../src/robots/aloha/dynamixel-transport.js';
import { Instruction } from '../../src/robots/dynamixel/packet.js';
import { VIPERX_SLEEP_POSE } from '../../src/robots/dynamixel/emulator/viperx-bus.js';

let agent: AlohaAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

describe('AlohaAgent: e-stop during the home move', () => {
  it('emergencyStop mid-reset aborts the interpolation and holds; the reset from the sleep pose had been moving', async () => {
    const clock = new ManualClock(0);
    const config = resolveConfig({}, { maxSteps: 10, statusIntervalMs: 0 });
    agent = await clock.runUntil(
      AlohaAgent.create(config, {
        clock,
        warn: () => {},
        environment: { emulator: { initialArm: VIPERX_SLEEP_POSE } },
      }),
    );
    const a = agent;
    const arms = a.environment.transport as EmulatedAlohaArms;
    const syncWrites = () =>
      arms.emulators.left.received.filter((p) => p.instruction === Instruction.SyncWrite).length;
    const start = await a.environment.measure();
    const reset = a.gated.reset();
    await clock.advance(600);
    const moving = syncWrites();
    expect(moving).toBeGreaterThan(20); // ~30 interpolation goals so far
    const mid = await a.environment.measure();
    expect(mid.positions[1]! - start.positions[1]!).toBeGreaterThan(0.3); // the shoulder left the sleep pose
    a.emergencyStop('api', 'test e-stop');
    await clock.runUntil(reset);
    expect(a.environment.lastResetOutcome).toBe('aborted');
    expect(syncWrites()).toBe(moving + 1); // the hold
    await clock.advance(3000);
    expect(syncWrites()).toBe(moving + 1);
    const after = await a.environment.measure();
    expect(Math.abs(after.positions[1]! - mid.positions[1]!)).toBeLessThan(0.1);
  }, 60_000);
});
