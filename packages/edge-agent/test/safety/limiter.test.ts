import { describe, expect, it } from 'vitest';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { parseSafetyConfig } from '../../src/safety/config.js';
import { type LimiterResult, SafetyLimiter } from '../../src/safety/limiter.js';

/** Two joints (rad) and a gripper (normalised), 10 Hz so per-tick steps are round numbers. */
function small(): SafetyLimiter {
  return new SafetyLimiter(
    parseSafetyConfig({
      robot: 'test',
      controlRateHz: 10,
      joints: [
        { name: 'a', kind: 'joint', min: -1, max: 1, maxVelocity: 1, rejectMargin: 0.5 }, // 0.1 rad/tick
        { name: 'b', kind: 'joint', min: -2, max: 0.5, maxVelocity: 2, rejectMargin: 0.5 }, // 0.2 rad/tick
        { name: 'g', kind: 'gripper', min: 0, max: 1, maxVelocity: 5, rejectMargin: 0.25 }, // 0.5 /tick
      ],
      watchdog: { jointStaleMs: 100, cameraStaleMs: 500, policyStallMs: 250, requiredCameras: [] },
      latchOn: [],
    }),
  );
}

function ok(r: LimiterResult): Extract<LimiterResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.faults)}`);
  return r;
}

function rejected(r: LimiterResult): Extract<LimiterResult, { ok: false }> {
  if (r.ok) throw new Error(`expected a fault, got command ${Array.from(r.command)}`);
  return r;
}

const zero = [0, 0, 0];

describe('SafetyLimiter', () => {
  it('passes a command inside all limits unchanged', () => {
    const r = ok(small().filter([0.05, -0.1, 0.3], zero, 0));
    expect(Array.from(r.command)).toEqual([0.05, -0.1, 0.3]);
    expect(r.limited).toEqual([]);
  });

  it('clamps to the upper and lower position limits and reports both', () => {
    const l = small();
    ok(l.filter([0.95, -1.95, 0], [0.95, -1.95, 0], 0));
    const r = ok(l.filter([1.2, -2.3, 0], [0.95, -1.95, 0], 1));
    expect(Array.from(r.command)).toEqual([1, -2, 0]);
    expect(r.limited).toEqual([
      { kind: 'position', index: 0, name: 'a', requested: 1.2, applied: 1, limit: 1 },
      { kind: 'position', index: 1, name: 'b', requested: -2.3, applied: -2, limit: -2 },
    ]);
  });

  it('clamps the gripper to [0, 1]', () => {
    const l = small();
    ok(l.filter([0, 0, 0.9], [0, 0, 0.9], 0));
    expect(Array.from(ok(l.filter([0, 0, 1.2], null, 1)).command)).toEqual([0, 0, 1]);
    expect(ok(l.filter([0, 0, 0.8], null, 2)).command[2]).toBe(0.8);
    const low = ok(l.filter([0, 0, -0.2], null, 3));
    expect(low.command[2]).toBeCloseTo(0.3, 12);
    expect(low.limited.map((e) => e.kind)).toEqual(['position', 'rate']);
  });

  it('rate-limits the first command relative to the measured position', () => {
    const r = ok(small().filter([1, -1, 1], [0.5, 0, 0], 0));
    expect(r.command[0]).toBeCloseTo(0.6, 12);
    expect(r.command[1]).toBeCloseTo(-0.2, 12);
    expect(r.command[2]).toBeCloseTo(0.5, 12);
    expect(r.limited).toEqual([
      { kind: 'rate', index: 0, name: 'a', requested: 1, applied: r.command[0], limit: 0.1 },
      { kind: 'rate', index: 1, name: 'b', requested: -1, applied: r.command[1], limit: 0.2 },
      { kind: 'rate', index: 2, name: 'g', requested: 1, applied: 0.5, limit: 0.5 },
    ]);
  });

  it('rate-limits later commands relative to the last command sent, not the measured position', () => {
    const l = small();
    ok(l.filter([0, 0, 0], zero, 0));
    const r = ok(l.filter([1, 0, 0], [0.9, 0, 0], 1));
    expect(r.command[0]).toBeCloseTo(0.1, 12);
    const r2 = ok(l.filter([1, 0, 0], [0.9, 0, 0], 2));
    expect(r2.command[0]).toBeCloseTo(0.2, 12);
  });

  it('forgetLast makes the next command start from the measured position again', () => {
    const l = small();
    ok(l.filter([0, 0, 0], zero, 0));
    l.forgetLast();
    expect(l.lastSafe()).toBeNull();
    expect(ok(l.filter([0.8, 0, 0], [0.75, 0, 0], 1)).command[0]).toBe(0.8);
  });

  it('a measured position outside the limits still yields a first command inside them', () => {
    const r = ok(small().filter([0.9, 0, 0], [1.3, 0, 0], 0));
    expect(r.command[0]).toBe(1);
    expect(r.limited.at(-1)).toMatchObject({ kind: 'position', index: 0, applied: 1 });
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'rejects the whole command on %s and holds the last safe command',
    (bad) => {
      const l = small();
      ok(l.filter([0.1, 0.1, 0.5], [0.1, 0.1, 0.5], 0));
      const r = rejected(l.filter([0.2, bad, 0.6], [0.1, 0.1, 0.5], 7));
      expect(Array.from(r.command ?? [])).toEqual([0.1, 0.1, 0.5]);
      expect(r.faults).toEqual([
        {
          code: 'ACTION_NON_FINITE',
          message: `test: action b (index 1) is ${bad}`,
          atMs: 7,
          index: 1,
          name: 'b',
          value: bad,
        },
      ]);
      // State unchanged: the next good command is rate-limited from the held one.
      expect(ok(l.filter([1, 0.1, 0.5], null, 8)).command[0]).toBeCloseTo(0.2, 12);
    },
  );

  it('reports every non-finite value, and holds null when nothing was sent yet', () => {
    const r = rejected(small().filter([Number.NaN, 0, Number.POSITIVE_INFINITY], zero, 0));
    expect(r.command).toBeNull();
    expect(r.faults.map((f) => [f.code, f.index])).toEqual([
      ['ACTION_NON_FINITE', 0],
      ['ACTION_NON_FINITE', 2],
    ]);
  });

  it('faults a wrong-length command (short and long)', () => {
    const l = small();
    for (const cmd of [[0, 0], [0, 0, 0, 0], []]) {
      const r = rejected(l.filter(cmd, zero, 3));
      expect(r.faults).toEqual([
        {
          code: 'ACTION_LENGTH',
          message: `test: action has ${cmd.length} values, expected 3`,
          atMs: 3,
          value: cmd.length,
          limit: 3,
        },
      ]);
    }
  });

  it('rejects a target beyond the margin, clamps one within it', () => {
    const l = small();
    expect(ok(l.filter([1.5, 0, 0], [1, 0, 0], 0)).command[0]).toBe(1);
    const r = rejected(l.filter([1.5000001, 0, -0.3], [1, 0, 0], 1));
    expect(r.faults).toMatchObject([
      { code: 'ACTION_OUT_OF_RANGE', index: 0, name: 'a', value: 1.5000001, limit: 1.5 },
      { code: 'ACTION_OUT_OF_RANGE', index: 2, name: 'g', value: -0.3, limit: -0.25 },
    ]);
    expect(Array.from(r.command ?? [])).toEqual([1, 0, 0]);
  });

  it('faults a missing measured position when there is no last command', () => {
    const l = small();
    const r = rejected(l.filter([0, 0, 0], null, 5));
    expect(r.faults).toMatchObject([{ code: 'JOINT_STATE_MISSING', atMs: 5 }]);
    expect(r.command).toBeNull();
  });

  it('faults an invalid measured position (length, NaN)', () => {
    const l = small();
    expect(rejected(l.filter(zero, [0, 0], 0)).faults).toMatchObject([
      { code: 'JOINT_STATE_INVALID', value: 2, limit: 3 },
    ]);
    expect(rejected(l.filter(zero, [0, Number.NaN, 0], 0)).faults).toMatchObject([
      { code: 'JOINT_STATE_INVALID', index: 1, name: 'b' },
    ]);
  });

  it('accepts Float32Array actions and returns Float64Array commands it does not alias', () => {
    const l = new SafetyLimiter(safetyConfigFor('aloha'));
    const measured = new Float64Array(14);
    const action = new Float32Array(14).fill(0.01);
    const r = ok(l.filter(action, measured, 0));
    expect(r.command).toBeInstanceOf(Float64Array);
    expect(r.command[0]).toBeCloseTo(0.01, 7);
    r.command.fill(99);
    expect(l.lastSafe()?.[0]).toBeCloseTo(0.01, 7);
  });

  it('limits ALOHA joints to π/50 rad per tick and grippers to 2/50 per tick', () => {
    const l = new SafetyLimiter(safetyConfigFor('aloha'));
    const action = new Float64Array(14);
    action.fill(0.5);
    const r = ok(l.filter(action, new Float64Array(14), 0));
    expect(r.command[0]).toBeCloseTo(Math.PI / 50, 15);
    expect(r.command[6]).toBeCloseTo(0.04, 15);
    expect(r.command[13]).toBeCloseTo(0.04, 15);
  });
});
