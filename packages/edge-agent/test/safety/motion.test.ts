/**
 * Every motion through the gate: SafeCommands only the gate mints, planned (non-policy) moves whose duration follows
 * distance and maxVelocity, targets outside the limits refused naming the joint, and the gate's motion step.
 */
import { describe, expect, it } from 'vitest';
import { realClock } from '../../../client/src/clock.js';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { assertSafeCommand, SafeCommand, SafetyGate } from '../../src/safety/gate.js';
import { checkTarget, planMove } from '../../src/safety/move-plan.js';

const ur5 = safetyConfigFor('ur5'); // 7 dims, 50 Hz, pi rad/s joints, gripper 2 /s
const home = [0, -1.5, 1.5, 0, 0, 0, 0];

describe('SafeCommand', () => {
  it('cannot be made outside the gate; plain vectors and look-alikes are refused with UNSAFE_TARGET', () => {
    expect(() => new SafeCommand(Symbol('forged'), new Float64Array(7), 'ur5', 0)).toThrow(
      /only the SafetyGate/,
    );
    expect(() => assertSafeCommand(new Float64Array(7))).toThrow(
      expect.objectContaining({ code: 'UNSAFE_TARGET' }),
    );
    const lookAlike = Object.create(SafeCommand.prototype) as SafeCommand;
    expect(() => assertSafeCommand(lookAlike)).toThrow(expect.objectContaining({ code: 'UNSAFE_TARGET' }));
  });

  it('the gate mints one per move, for its robot; its positions cannot be changed after the check', () => {
    const gate = new SafetyGate(ur5, { clock: realClock });
    const d = gate.motionStep({ target: home, joints: { positions: home, stampMs: realClock.now() } });
    expect(d.kind).toBe('move');
    if (d.kind !== 'move') return;
    assertSafeCommand(d.safe, { robot: 'ur5', dim: 7 });
    expect(() => assertSafeCommand(d.safe, { robot: 'aloha' })).toThrow(/ur5's limits, not aloha's/);
    d.safe.positions[0] = 99; // a copy: the command keeps its checked values
    expect(d.safe.positions[0]).toBe(0);
  });

  it('a hold re-sends the last SafeCommand, or none before the first move', () => {
    const gate = new SafetyGate(ur5, { clock: realClock });
    const joints = { positions: home, stampMs: realClock.now() };
    const none = gate.step({ action: null, joints });
    expect(none).toMatchObject({ kind: 'hold', safe: null });
    const move = gate.motionStep({ target: home, joints });
    const hold = gate.step({
      action: [Number.NaN, 0, 0, 0, 0, 0, 0],
      joints: { ...joints, stampMs: realClock.now() },
    });
    expect(hold.kind).toBe('hold');
    expect(hold.safe).toBe(move.safe);
  });
});

describe('planMove', () => {
  it('duration follows the distance of the slowest joint at speedFraction × maxVelocity', () => {
    const target = [...home];
    target[0] = 1; // 1 rad at 0.5 × pi rad/s = 0.637 s -> 32 ticks at 50 Hz
    const plan = planMove(ur5, home, target, { speedFraction: 0.5 });
    expect(plan.waypoints.length).toBe(Math.ceil((1 / (0.5 * Math.PI)) * 50));
    expect(plan.durationMs).toBeCloseTo(plan.waypoints.length * 20, 9);
    expect(Array.from(plan.waypoints.at(-1) as Float64Array)).toEqual(target);
    const twice = planMove(
      ur5,
      home,
      target.map((x, i) => (i === 0 ? 2 : x)),
      { speedFraction: 0.5 },
    );
    expect(twice.waypoints.length).toBe(Math.ceil((2 / (0.5 * Math.PI)) * 50));
  });

  it('every step stays within one per-tick limit, and a minimum duration stretches the move', () => {
    const target = [2, -1, 1, 0.5, 0.5, 0.5, 1];
    const plan = planMove(ur5, home, target, { speedFraction: 1, minDurationMs: 3000 });
    expect(plan.waypoints.length).toBe(150);
    let prev: Float64Array = Float64Array.from(home);
    for (const w of plan.waypoints) {
      ur5.joints.forEach((j, i) => {
        expect(Math.abs((w[i] as number) - (prev[i] as number))).toBeLessThanOrEqual(
          j.maxVelocity / 50 + 1e-12,
        );
      });
      prev = w;
    }
  });

  it('a start outside the limits begins at the clamped start; a target outside them is refused naming the joint', () => {
    const from = [...home];
    from[2] = 4; // elbow beyond +pi
    const plan = planMove(ur5, from, home);
    expect(plan.from[2]).toBe(Math.PI);
    const bad = [...home];
    bad[2] = -3.5;
    expect(() => planMove(ur5, home, bad, { what: 'home pose' })).toThrow(
      expect.objectContaining({
        code: 'UNSAFE_TARGET',
        message: expect.stringContaining('home pose elbow = -3.5'),
        context: expect.objectContaining({ joint: 'elbow', value: -3.5 }),
      }),
    );
    expect(() => checkTarget(ur5, [0, 0])).toThrow(expect.objectContaining({ code: 'UNSAFE_TARGET' }));
  });
});

describe('SafetyGate.motionStep', () => {
  it('holds on the e-stop, a robot fault and a stale joint state, but not on cameras or the policy', () => {
    const gate = new SafetyGate(ur5, { clock: realClock });
    const fresh = () => ({ positions: home, stampMs: realClock.now() });
    expect(gate.motionStep({ target: home, joints: fresh() }).kind).toBe('move'); // no cameras given: not a fault
    const stale = gate.motionStep({
      target: home,
      joints: { positions: home, stampMs: realClock.now() - 1000 },
    });
    expect(stale.kind === 'hold' && stale.faults.map((f) => f.code)).toEqual(['JOINT_STATE_STALE']);
    const fault = gate.motionStep({
      target: home,
      joints: fresh(),
      robotFaults: [{ code: 'PROTECTIVE_STOP', message: 'safety mode PROTECTIVE_STOP' }],
    });
    expect(fault).toMatchObject({ kind: 'hold', faults: [{ code: 'ROBOT_FAULT', name: 'PROTECTIVE_STOP' }] });
    gate.estop.trigger('api', 'test');
    const held = gate.motionStep({ target: home, joints: fresh() });
    expect(held.kind === 'hold' && held.faults.map((f) => f.code)).toEqual(['E_STOP']);
  });
});
