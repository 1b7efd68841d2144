import { describe, expect, it } from 'vitest';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import type { LimitEvent, SafetyFault } from '../../src/safety/faults.js';
import { type GateInput, SafetyGate } from '../../src/safety/gate.js';

class StepClock {
  t = 1000;
  now(): number {
    return this.t;
  }
}

const CAMS = { cam_high: 1000, cam_left_wrist: 1000, cam_right_wrist: 1000 };

function aloha(overrides: Parameters<typeof safetyConfigFor>[1] = {}) {
  const clock = new StepClock();
  const gate = new SafetyGate(safetyConfigFor('aloha', overrides), { clock });
  const measured = new Float64Array(14);
  measured[6] = 0.5;
  measured[13] = 0.5;
  const input = (action: GateInput['action'], extra: Partial<GateInput> = {}): GateInput => ({
    action,
    joints: { positions: measured, stampMs: clock.t },
    cameras: CAMS,
    ...extra,
  });
  return { clock, gate, measured, input };
}

describe('SafetyGate', () => {
  it('moves with a valid action and reports limits on limited$ and in the counters', () => {
    const { gate, measured, input } = aloha();
    const limited: LimitEvent[] = [];
    gate.limited$.subscribe((l) => limited.push(l));
    const action = Float32Array.from(measured);
    action[1] = -0.5; // left shoulder: far away -> rate-limited
    action[13] = 1.3; // right gripper: beyond 1 -> clamped, then rate-limited
    const d = gate.step(input(action));
    if (d.kind !== 'move') throw new Error(JSON.stringify(d));
    expect(d.command[1]).toBeCloseTo(-Math.PI / 50, 12);
    expect(d.command[13]).toBeCloseTo(0.54, 12);
    expect(d.limited.map((l) => [l.kind, l.name])).toEqual([
      ['rate', 'left_shoulder'],
      ['position', 'right_gripper'],
      ['rate', 'right_gripper'],
    ]);
    expect(limited).toEqual(d.limited);
    expect(gate.counters()).toMatchObject({
      ticks: 1,
      moves: 1,
      holds: 0,
      positionLimited: 1,
      rateLimited: 2,
    });
    expect(gate.activeFaults()).toEqual([]);
  });

  it('holds null (send nothing) when a fault comes before any command was sent', () => {
    const { gate, input } = aloha();
    expect(gate.step(input(null))).toMatchObject({
      kind: 'hold',
      command: null,
      faults: [{ code: 'ACTION_MISSING' }],
    });
  });

  it('on every fault holds the last safe command and emits typed records on faults$', () => {
    const { gate, clock, measured, input } = aloha();
    const seen: SafetyFault[] = [];
    gate.faults$.subscribe((f) => seen.push(f));
    const first = gate.step(input(Float64Array.from(measured)));
    const safe = Array.from(first.command ?? []);

    const cases: Array<[GateInput, string[]]> = [
      [input(new Float64Array(13)), ['ACTION_LENGTH']],
      [input(Float64Array.from(measured).fill(Number.NaN, 2, 3)), ['ACTION_NON_FINITE']],
      [input(Float64Array.from(measured).fill(9, 0, 1)), ['ACTION_OUT_OF_RANGE']],
      [input(undefined), ['ACTION_MISSING']],
      [input(measured, { joints: null }), ['JOINT_STATE_MISSING']],
      [
        input(measured, { joints: { positions: new Float64Array(9), stampMs: clock.t } }),
        ['JOINT_STATE_INVALID'],
      ],
      [input(measured, { cameras: { cam_high: 1000 } }), ['CAMERA_MISSING', 'CAMERA_MISSING']],
      [input(measured, { policy: { stallMs: 400 } }), ['POLICY_STALL']],
      [input(measured, { policy: { error: new Error('inference failed') } }), ['POLICY_ERROR']],
      [
        input(new Float64Array(3), { joints: null, policy: { stallMs: 400 } }),
        ['JOINT_STATE_MISSING', 'POLICY_STALL', 'ACTION_LENGTH'],
      ],
    ];
    for (const [inp, codes] of cases) {
      const d = gate.step(inp);
      expect(d.kind, codes.join()).toBe('hold');
      expect(Array.from(d.command ?? []), codes.join()).toEqual(safe);
      if (d.kind === 'hold') expect(d.faults.map((f) => f.code)).toEqual(codes);
    }
    expect(seen.map((f) => f.code)).toEqual(cases.flatMap(([, c]) => c));
    expect(seen.find((f) => f.code === 'ACTION_NON_FINITE')).toEqual({
      code: 'ACTION_NON_FINITE',
      message: 'aloha: action left_elbow (index 2) is NaN',
      atMs: 1000,
      index: 2,
      name: 'left_elbow',
      value: Number.NaN,
    });
    expect(seen.find((f) => f.code === 'ACTION_OUT_OF_RANGE')).toMatchObject({
      index: 0,
      name: 'left_waist',
      value: 9,
      limit: Math.PI - 1e-5 + 0.5,
    });
    const counters = gate.counters();
    expect(counters).toMatchObject({ ticks: cases.length + 1, moves: 1, holds: cases.length });
    expect(counters.faults).toMatchObject({
      JOINT_STATE_MISSING: 2,
      POLICY_STALL: 2,
      CAMERA_MISSING: 2,
      E_STOP: 0,
    });
  });

  it('latches the e-stop on the configured fault codes', () => {
    const { gate, measured, input } = aloha({ latchOn: ['ACTION_NON_FINITE'] });
    gate.step(input(measured));
    const bad = Float64Array.from(measured);
    bad[5] = Number.POSITIVE_INFINITY;
    expect(gate.step(input(bad))).toMatchObject({
      kind: 'hold',
      faults: [
        { code: 'E_STOP', source: 'fault' },
        { code: 'ACTION_NON_FINITE', index: 5 },
      ],
    });
    expect(gate.estop.cause?.reason).toContain('ACTION_NON_FINITE');
    // Good actions stay held until a reset; the reset is refused while the last tick had a fault.
    expect(gate.estop.reset()).toMatchObject({ ok: false, faults: [{ code: 'ACTION_NON_FINITE' }] });
    expect(gate.step(input(measured))).toMatchObject({ kind: 'hold', faults: [{ code: 'E_STOP' }] });
    expect(gate.estop.reset()).toEqual({ ok: true, wasLatched: true });
    expect(gate.step(input(measured)).kind).toBe('move');
  });

  it('rejects a bad config with BAD_ARGUMENT', () => {
    const c = { ...safetyConfigFor('ur5'), controlRateHz: -1 };
    expect(() => new SafetyGate(c, { clock: new StepClock() })).toThrow(/controlRateHz/);
  });

  it('close() completes its observables', () => {
    const { gate } = aloha();
    const done: string[] = [];
    gate.faults$.subscribe({ complete: () => done.push('faults') });
    gate.limited$.subscribe({ complete: () => done.push('limited') });
    gate.estop.events$.subscribe({ complete: () => done.push('estop') });
    gate.close();
    expect(done).toEqual(['faults', 'limited', 'estop']);
  });
});
