/**
 * The agent's e-stop path reaches the home move: an e-stop while `reset` runs its gated move stops it (no further
 * goal after the hold) instead of finishing it. EdgeAgent on the emulated ALOHA starting at the ViperX sleep pose,
 * the demo bundle, a manual clock.
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../src/agent/edge-agent.js';
import { resolveConfig } from '../../src/config/load.js';
import type { EmulatedAlohaArms } from '../../src/robots/aloha/dynamixel-transport.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import { VIPERX_SLEEP_POSE } from '../../src/robots/dynamixel/emulator/viperx-bus.js';
import { Instruction } from '../../src/robots/dynamixel/packet.js';
import type { AlohaRobot } from '../aloha/helpers.js';

let agent: EdgeAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

describe('EdgeAgent: e-stop during the home move', () => {
  it('emergencyStop mid-reset aborts the gated move and holds; the reset from the sleep pose had been moving', async () => {
    const clock = new ManualClock(0);
    const config = resolveConfig({}, { maxSteps: 10, statusIntervalMs: 0 });
    agent = await clock.runUntil(
      EdgeAgent.create(config, {
        clock,
        warn: () => {},
        plugins: [alohaPlugin.with({ emulator: { initialArm: VIPERX_SLEEP_POSE } })],
      }),
      // The model loads and runs its start-up inference in a worker thread: real time with no timer due here.
      { minIdleMs: 30_000 },
    );
    const a = agent;
    const aloha = (a.robot as AlohaRobot).environment;
    const arms = aloha.transport as EmulatedAlohaArms;
    const syncWrites = () =>
      arms.emulators.left.received.filter((p) => p.instruction === Instruction.SyncWrite).length;
    const start = await aloha.measure();
    const reset = a.environment.reset();
    await clock.advance(600);
    const moving = syncWrites();
    expect(moving).toBeGreaterThan(20); // ~30 gated targets so far
    const mid = await aloha.measure();
    expect(mid.positions[1]! - start.positions[1]!).toBeGreaterThan(0.3); // the shoulder left the sleep pose
    a.emergencyStop('api', 'test e-stop');
    await clock.runUntil(reset);
    expect(a.environment.lastResetOutcome).toMatchObject({
      kind: 'aborted',
      reason: 'e-stop (api: test e-stop)',
    });
    // The hold: where the arms are (within the servo limits by now: one Sync Write per arm).
    expect(syncWrites()).toBe(moving + 1);
    await clock.advance(3000);
    expect(syncWrites()).toBe(moving + 1);
    const after = await aloha.measure();
    expect(Math.abs(after.positions[1]! - mid.positions[1]!)).toBeLessThan(0.1);
    // A reset with the e-stop latched holds where the arms are instead of moving home.
    await clock.runUntil(a.environment.reset());
    expect(a.environment.lastResetOutcome).toEqual({ kind: 'held', reason: 'e-stop latched' });
    await clock.advance(3000);
    const held = await aloha.measure();
    expect(Math.abs(held.positions[1]! - after.positions[1]!)).toBeLessThan(0.02);
  }, 60_000);
});
