/**
 * RobotEnvironment over the ALOHA plugin on its in-memory bus emulator (real driver, packets, CRC), on a manual
 * clock: the gate decides, and what reaches the servos is exactly the gate's command or the last safe one.
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { ndarray } from '../../../client/src/ndarray.js';
import { NO_ACTION } from '../../src/agent/guarded-agent.js';
import { PolicyMonitor } from '../../src/agent/policy-monitor.js';
import { RobotEnvironment } from '../../src/agent/robot-environment.js';
import { Instruction } from '../../src/robots/dynamixel/packet.js';
import type { Robot } from '../../src/robots/interface.js';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { type GateDecision, SafetyGate } from '../../src/safety/gate.js';
import { connectEmulatedAloha, type EmulatedAlohaRobot } from '../aloha/helpers.js';

let robot: Robot | undefined;
let env: RobotEnvironment | undefined;
afterEach(async () => {
  env?.close();
  env = undefined;
  await robot?.close();
  robot = undefined;
});

const POSE = [0, -0.96, 1.16, 0, -0.3, 0];

async function setup(clock: ManualClock): Promise<
  EmulatedAlohaRobot & {
    env: RobotEnvironment;
    gate: SafetyGate;
    monitor: PolicyMonitor;
    decisions: GateDecision[];
    phases: string[];
  }
> {
  const emulated = await clock.runUntil(
    connectEmulatedAloha(clock, { resetTiming: { armMs: 40, gripperCloseMs: 40, gripperOpenMs: 40 } }),
  );
  robot = emulated.robot;
  const monitor = new PolicyMonitor(clock);
  const gate = new SafetyGate(emulated.robot.safety, { clock });
  env = new RobotEnvironment(emulated.robot, gate, { clock, monitor, prompt: 'fold' });
  const decisions: GateDecision[] = [];
  const phases: string[] = [];
  env.onDecision = (d, phase) => {
    decisions.push(d);
    phases.push(phase);
  };
  return { ...emulated, env, gate, monitor, decisions, phases };
}

const act = (v: number[]) => ({ actions: ndarray('float64', [v.length], Float64Array.from(v)) });

/** One control tick as the runtime runs it: observe, act, 20 ms. */
async function tick(clock: ManualClock, e: RobotEnvironment, action: object): Promise<void> {
  await clock.runUntil(e.getObservation());
  await clock.runUntil(e.applyAction(action as never));
  await clock.advance(20);
}

describe('RobotEnvironment (ALOHA plugin, emulator)', () => {
  it('refuses a gate whose limits are for another robot', async () => {
    const clock = new ManualClock(0);
    const { robot: r } = await setup(clock);
    expect(
      () => new RobotEnvironment(r, new SafetyGate(safetyConfigFor('ur5'), { clock }), { clock }),
    ).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT', context: { gate: 'ur5', robot: 'aloha' } }));
  });

  it('observes state and prompt without images, with measured joints in action units', async () => {
    const clock = new ManualClock(0);
    const { env: e, phases } = await setup(clock);
    await clock.runUntil(e.reset());
    expect(e.lastResetOutcome).toMatchObject({ kind: 'done', segments: 3 });
    // Every reset target went through the gate.
    expect(phases.length).toBeGreaterThan(0);
    expect(phases.every((p) => p === 'reset')).toBe(true);
    // Let the emulated grippers finish their travel to OPEN.
    await clock.advance(800);
    const obs = await clock.runUntil(e.getObservation());
    expect(Object.keys(obs).sort()).toEqual(['prompt', 'state']);
    expect(obs.prompt).toBe('fold');
    const m = e.measured;
    expect(m).not.toBeNull();
    // After reset the arms are at the home pose and the grippers open (1.0 normalised).
    for (const k of [0, 7]) {
      POSE.forEach((p, j) => {
        expect(m?.positions[k + j]).toBeCloseTo(p, 2);
      });
      expect(m?.positions[k + 6]).toBeCloseTo(1, 1);
    }
  });

  it('sends moves within one step unchanged, holds on a NaN with the last safe command, sends nothing before a move', async () => {
    const clock = new ManualClock(0);
    const { env: e, decisions, arms } = await setup(clock);
    const syncWrites = () =>
      arms.emulators.left.received.filter((p) => p.instruction === Instruction.SyncWrite).length;
    const before = syncWrites();
    await tick(clock, e, NO_ACTION);
    expect(decisions[0]).toMatchObject({ kind: 'hold', command: null, safe: null });
    expect(e.lastSent).toBeNull();
    expect(syncWrites()).toBe(before); // nothing was sent

    const measured = Array.from(e.measured?.positions ?? []);
    const target = measured.map((x, i) => (i === 0 ? x + 0.01 : x));
    await tick(clock, e, act(target));
    expect(decisions[1]?.kind).toBe('move');
    const sent = Array.from(e.lastSent ?? []);
    expect(sent[0]).toBeCloseTo(target[0] as number, 9);
    expect(syncWrites()).toBe(before + 1);

    await tick(clock, e, act(target.map((x, i) => (i === 3 ? Number.NaN : x))));
    expect(decisions[2]).toMatchObject({ kind: 'hold' });
    expect((decisions[2] as { faults: readonly { code: string }[] }).faults.map((f) => f.code)).toContain(
      'ACTION_NON_FINITE',
    );
    // The hold re-sent the last safe command, nothing else.
    expect(Array.from(decisions[2]?.command ?? [])).toEqual(sent);
    expect(Array.from(e.lastSent ?? [])).toEqual(sent);
    expect(syncWrites()).toBe(before + 2);
    expect(e.tally).toMatchObject({ moves: 1, holds: 2, holdsSent: 1 });
    expect(e.tally.lastFaults).toContain('ACTION_NON_FINITE');
  });

  it('rate-limits a far target to one step per tick and reaches it over ticks; the servos follow', async () => {
    const clock = new ManualClock(0);
    const { env: e } = await setup(clock);
    await clock.runUntil(e.reset());
    await clock.runUntil(e.getObservation());
    // The next command is rate-limited from the reset's last target (the reset pose, waist 0).
    const start = Array.from(e.lastSent ?? []);
    expect(start[0]).toBe(0);
    const target = start.map((x, i) => (i === 0 ? x + 0.3 : x));
    const step = Math.PI / 50;
    const sent: number[] = [];
    for (let t = 0; t < 8; t++) {
      await tick(clock, e, act(target));
      sent.push(e.lastSent?.[0] as number);
    }
    sent.forEach((x, i) => {
      expect(x).toBeCloseTo(Math.min((start[0] as number) + step * (i + 1), target[0] as number), 6);
    });
    // The emulated waist servo moves towards the command (its motion model needs a little time).
    await clock.advance(300);
    await clock.runUntil(e.getObservation());
    expect(e.measured?.positions[0]).toBeGreaterThan((start[0] as number) + 0.2);
  });

  it('with the e-stop latched, holds every tick and reset() holds in place instead of moving home', async () => {
    const clock = new ManualClock(0);
    const { env: e, gate, decisions, aloha } = await setup(clock);
    await clock.runUntil(e.reset());
    await clock.runUntil(e.getObservation());
    const start = Array.from(e.measured?.positions ?? []);
    const moved = start.map((x, i) => (i === 1 ? x + 0.05 : x));
    await clock.runUntil(e.applyAction(act(moved)));
    await clock.advance(200);
    gate.estop.trigger('api', 'test');
    await tick(clock, e, act(start.map((x, i) => (i === 1 ? x + 0.1 : x))));
    expect(decisions.at(-1)).toMatchObject({ kind: 'hold' });
    expect((decisions.at(-1) as { faults: readonly { code: string }[] }).faults[0]?.code).toBe('E_STOP');
    const before = Array.from((await clock.runUntil(aloha.measure())).positions);
    const n = decisions.length;
    await clock.runUntil(e.reset());
    expect(e.lastResetOutcome).toEqual({ kind: 'held', reason: 'e-stop latched' });
    expect(decisions).toHaveLength(n); // no reset target was even asked for
    await clock.advance(200);
    const after = Array.from((await clock.runUntil(aloha.measure())).positions);
    // Still at the moved shoulder, not back at the home pose.
    expect(after[1]).toBeCloseTo(before[1] as number, 2);
    expect(Math.abs((after[1] as number) - POSE[1]!)).toBeGreaterThan(0.03);
  });

  it('a servo that stops answering is a ROBOT_FAULT hold (last good reading kept), cleared by the next good read', async () => {
    const clock = new ManualClock(0);
    const { env: e, decisions, arms } = await setup(clock);
    await tick(clock, e, NO_ACTION);
    const target = Array.from(e.measured?.positions ?? []);
    await tick(clock, e, act(target));
    expect(decisions.at(-1)?.kind).toBe('move');
    // The right elbow's replies are lost for every retry of one read.
    arms.emulators.right.injectFault({ kind: 'drop', count: 3, id: 4 });
    await tick(clock, e, act(target));
    const held = decisions.at(-1);
    expect(held).toMatchObject({ kind: 'hold' });
    const fault = held?.kind === 'hold' ? held.faults.find((f) => f.code === 'ROBOT_FAULT') : undefined;
    expect(fault).toMatchObject({ name: 'SERVO_TIMEOUT' });
    expect(robot?.faults()).toEqual([expect.objectContaining({ code: 'SERVO_TIMEOUT' })]);
    // The hold re-sent the last safe command (one Sync Write on the left bus), nothing new.
    expect(Array.from(held?.command ?? [])).toEqual(target);
    await tick(clock, e, act(target));
    expect(robot?.faults()).toEqual([]);
    expect(decisions.at(-1)?.kind).toBe('move');
  });
});
