import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SafetyRobot, safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { type JointLimit, perTickLimits } from '../../src/safety/config.js';
import { SafetyGate } from '../../src/safety/gate.js';

class StepClock {
  t = 0;
  now(): number {
    return this.t;
  }
}

/** Rounding slack for `ref ± step` (one ulp of values up to 2π is < 1e-15). */
const EPS = 1e-12;

const badValue = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1e300,
    -1e300,
    4e38,
    -50,
    50,
  ),
  fc.double(),
);

/** Fractions in [0, 1] mapped onto each joint's range widened by `widen` (x the reject margin). */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.noBias(fc.integer({ min: 0, max: 1 << 20 })).map((n) => n / (1 << 20)) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }, // biased to the edges: limits, exact steps
);
const fractions = (dim: number) => fc.array(unit, { minLength: dim, maxLength: dim });
const corruption = fc.array(fc.record({ at: fc.nat(), value: badValue }), { minLength: 1, maxLength: 3 });
const fresh = (max: number, wild: number) =>
  fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max }) }, fc.integer({ min: -wild, max: wild }));

function tickArb(dim: number) {
  return fc.record({
    action: fc.oneof(
      { weight: 12, arbitrary: fc.record({ kind: fc.constant('valid' as const), u: fractions(dim) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('near' as const), u: fractions(dim) }) },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant('corrupt' as const), u: fractions(dim), bad: corruption }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('length' as const), values: fc.array(badValue) }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('none' as const) }) },
    ),
    /** Deliver the action as a Float32Array (what ONNX outputs). */
    float32: fc.boolean(),
    measured: fc.oneof(
      { weight: 10, arbitrary: fc.record({ kind: fc.constant('valid' as const), u: fractions(dim) }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('corrupt' as const), u: fractions(dim), bad: corruption }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('none' as const) }) },
    ),
    dtMs: fc.integer({ min: 0, max: 60 }),
    jointAgeMs: fresh(90, 400),
    cameraAgeMs: fresh(400, 900),
    stallMs: fresh(200, 600),
    policyError: fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, fc.constant('lost connection')),
    estop: fc.oneof(
      { weight: 40, arbitrary: fc.constant('none' as const) },
      { weight: 1, arbitrary: fc.constant('trigger' as const) },
      { weight: 6, arbitrary: fc.constant('reset' as const) },
    ),
  });
}

const scenario = fc
  .record({
    robot: fc.constantFrom<SafetyRobot>('aloha', 'ur5'),
    controlRateHz: fc.integer({ min: 5, max: 500 }),
    latchNonFinite: fc.boolean(),
  })
  .chain((s) => {
    const dim = s.robot === 'aloha' ? 14 : 7;
    return fc.record({
      setup: fc.constant(s),
      ticks: fc.array(tickArb(dim), { minLength: 20, maxLength: 60 }),
    });
  });

/** `u` mapped onto [min - w·margin, max + w·margin] per joint (w < 1: inside the reject margin). */
function spread(joints: readonly JointLimit[], u: readonly number[], w: number): number[] {
  return joints.map((j, i) => {
    const lo = j.min - w * j.rejectMargin;
    const hi = j.max + w * j.rejectMargin;
    return lo + (u[i] as number) * (hi - lo);
  });
}

function corrupt(values: number[], bad: ReadonlyArray<{ at: number; value: number }>): number[] {
  const out = values.slice();
  for (const b of bad) out[b.at % out.length] = b.value;
  return out;
}

/** Plain throw: the property runs ~10^5 checks, too many for `expect`'s overhead. */
function check(ok: boolean, message: string | (() => string)): asserts ok {
  if (!ok) throw new Error(typeof message === 'string' ? message : message());
}

function sameVector(a: Float64Array | null, b: Float64Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

describe('SafetyGate properties', () => {
  it('every emitted command is finite, inside the limits, within one step of the previous; a hold repeats it', () => {
    let moves = 0;
    let firstMoves = 0;
    let rateLimited = 0;
    let clamped = 0;
    let exact = 0;
    let heldAfterMove = 0;
    fc.assert(
      fc.property(scenario, ({ setup, ticks }) => {
        const config = safetyConfigFor(setup.robot, {
          controlRateHz: setup.controlRateHz,
          latchOn: setup.latchNonFinite ? ['ACTION_NON_FINITE'] : [],
        });
        const { joints } = config;
        const clock = new StepClock();
        const gate = new SafetyGate(config, { clock });
        const steps = perTickLimits(config);
        let prev: Float64Array | null = null;
        for (const t of ticks) {
          clock.t += t.dtMs;
          if (t.estop === 'trigger') gate.estop.trigger('api', 'random toggle');
          if (t.estop === 'reset') gate.estop.reset('api');
          const a = t.action;
          let action: number[] | Float32Array | null = null;
          if (a.kind === 'valid') action = spread(joints, a.u, 0.9);
          else if (a.kind === 'near') {
            // Within ±1.5 steps of the last command: exercises both exact moves and rate limiting.
            const base: Float64Array = prev ?? new Float64Array(joints.length);
            action = a.u.map((u, i): number => (base[i] as number) + (3 * u - 1.5) * (steps[i] as number));
          } else if (a.kind === 'corrupt') action = corrupt(spread(joints, a.u, 0.9), a.bad);
          else if (a.kind === 'length')
            action = a.values.length === joints.length ? [...a.values, 0] : a.values;
          if (action !== null && t.float32) action = Float32Array.from(action);
          const m = t.measured;
          const positions =
            m.kind === 'valid'
              ? spread(joints, m.u, 1)
              : m.kind === 'corrupt'
                ? corrupt(spread(joints, m.u, 1), m.bad)
                : null;
          const latchedBefore = gate.estop.latched;
          const d = gate.step({
            action,
            joints: positions === null ? null : { positions, stampMs: clock.t - t.jointAgeMs },
            cameras: Object.fromEntries(
              config.watchdog.requiredCameras.map((c) => [c, clock.t - t.cameraAgeMs]),
            ),
            policy: { stallMs: t.stallMs, error: t.policyError },
          });
          // Independent oracle: the gate must hold exactly when one of these holds.
          const { jointStaleMs, cameraStaleMs, policyStallMs } = config.watchdog;
          const beyond = (v: number, j: JointLimit): boolean =>
            !Number.isFinite(v) || v < j.min - j.rejectMargin || v > j.max + j.rejectMargin;
          const shouldHold: boolean =
            latchedBefore ||
            positions === null ||
            positions.some((v) => !Number.isFinite(v)) ||
            Math.abs(t.jointAgeMs) > jointStaleMs ||
            Math.abs(t.cameraAgeMs) > cameraStaleMs ||
            t.stallMs > policyStallMs ||
            t.policyError !== undefined ||
            action === null ||
            action.length !== joints.length ||
            Array.from(action).some((v, i) => beyond(v, joints[i] as JointLimit));
          check(
            d.kind === (shouldHold ? 'hold' : 'move'),
            () => `${d.kind}, expected the opposite: ${JSON.stringify(d)}`,
          );
          if (d.kind === 'hold') {
            check(d.faults.length > 0, 'hold without faults');
            check(sameVector(d.command, prev), () => `hold ${d.command} != last safe ${prev}`);
            if (prev !== null) heldAfterMove++;
            continue;
          }
          check(!latchedBefore, 'moved while the e-stop was latched');
          check(action !== null, 'moved without an action');
          const sent = action as ArrayLike<number>;
          const cmd: Float64Array = d.command;
          check(cmd.length === joints.length, () => `command length ${cmd.length}`);
          joints.forEach((j, i) => {
            const v = cmd[i] as number;
            check(
              Number.isFinite(v) && v >= j.min && v <= j.max,
              () => `${j.name} = ${v} outside [${j.min}, ${j.max}]`,
            );
            const ref = prev?.[i];
            if (ref === undefined) return;
            const step = steps[i] as number;
            check(Math.abs(v - ref) <= step + EPS, () => `${j.name} moved ${v - ref}, step ${step}`);
            // A target already inside the limits and within one step is sent exactly as given.
            const target = sent[i] as number;
            if (target >= j.min && target <= j.max && Math.abs(target - ref) <= step) {
              check(v === target, () => `${j.name}: sent ${v} for an allowed target ${target}`);
              exact++;
            }
          });
          moves++;
          if (prev === null) firstMoves++;
          rateLimited += d.limited.filter((l) => l.kind === 'rate').length;
          clamped += d.limited.filter((l) => l.kind === 'position').length;
          prev = cmd.slice();
          check(sameVector(gate.lastSafe(), prev), 'lastSafe() is not the command just sent');
        }
      }),
      { numRuns: 200 },
    );
    // The generators must reach every path the property talks about, or it proves little.
    expect(moves).toBeGreaterThan(1500);
    expect(firstMoves).toBeGreaterThan(100);
    expect(rateLimited).toBeGreaterThan(10_000);
    expect(clamped).toBeGreaterThan(4000);
    expect(exact).toBeGreaterThan(1000);
    expect(heldAfterMove).toBeGreaterThan(1000);
  });

  it('an e-stop, once triggered, holds every tick until a reset is accepted', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('step', 'trigger', 'reset'), { maxLength: 60 }), (ops) => {
        const clock = new StepClock();
        const gate = new SafetyGate(safetyConfigFor('ur5', { watchdog: { requiredCameras: [] } }), { clock });
        let latched = false;
        for (const op of ops) {
          if (op === 'trigger') {
            gate.estop.trigger('ros2', 'toggle');
            latched = true;
          } else if (op === 'reset') {
            // With fresh inputs nothing but the latch itself is active, so a reset is always accepted.
            expect(gate.estop.reset('keyboard').ok).toBe(true);
            latched = false;
          } else {
            clock.t += 20;
            const d = gate.step({
              action: new Float64Array(7),
              joints: { positions: new Float64Array(7), stampMs: clock.t },
            });
            expect(d.kind).toBe(latched ? 'hold' : 'move');
          }
          expect(gate.estop.latched).toBe(latched);
        }
      }),
      { numRuns: 200 },
    );
  });
});
