/**
 * The shared contract suite every robot plugin passes (robots/interface.ts, docs/robots.md): run against each
 * plugin's emulator in CI, and against hardware when an `OPENPI_EDGE_TEST_*` variable names a device (see the
 * plugin's contract test file). Real clock, real drivers; no timed assertions (waits are bounded polls).
 */
import { realClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { RobotEnvironment } from '../../src/agent/robot-environment.js';
import type { Robot } from '../../src/robots/interface.js';
import { parseSafetyConfig } from '../../src/safety/config.js';
import { type GateDecision, SafetyGate } from '../../src/safety/gate.js';
import { checkTarget } from '../../src/safety/move-plan.js';

export interface ContractSubject {
  robot: Robot;
  /** Makes the robot report a fault (a servo error, a protective stop...) from now on. Absent on hardware. */
  injectFault?: () => Promise<void> | void;
}

/** Resolves once `predicate` holds (polled every 10 ms); rejects naming `what` after `ms`. */
async function until(predicate: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await predicate())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Counts the robot's motion writes (wraps `write`). */
function countWrites(robot: Robot): { n: number } {
  const count = { n: 0 };
  const write = robot.write.bind(robot);
  robot.write = (c) => {
    count.n += 1;
    return write(c);
  };
  return count;
}

export function describeRobotContract(name: string, setup: () => Promise<ContractSubject>): void {
  describe(`robot plugin contract: ${name}`, () => {
    let subject: ContractSubject | undefined;
    const open = async (): Promise<ContractSubject> => {
      subject = await setup();
      return subject;
    };
    afterEach(async () => {
      await subject?.robot.close();
      subject = undefined;
    });

    it('layout matches its safety config; readings are finite, sized and stamped', async () => {
      const { robot } = await open();
      expect(robot.safety.robot).toBe(robot.name);
      expect(robot.layout.joints).toEqual(robot.safety.joints.map((j) => j.name));
      for (const cam of robot.layout.cameras) {
        if (cam.required) expect(robot.cameras[cam.name], cam.name).toBeDefined();
      }
      expect(
        robot.safety.watchdog.requiredCameras.every((c) => robot.layout.cameras.some((x) => x.name === c)),
      ).toBe(true);
      const a = await robot.read();
      const b = await robot.read();
      expect(a.positions.length).toBe(robot.layout.joints.length);
      expect(a.state.length).toBe(robot.layout.stateDim);
      expect([...a.positions, ...a.state].every(Number.isFinite)).toBe(true);
      expect(b.stampMs).toBeGreaterThanOrEqual(a.stampMs);
      expect(Math.abs(realClock.now() - b.stampMs)).toBeLessThan(robot.safety.watchdog.jointStaleMs * 10);
    });

    it('write takes only SafeCommands the gate issued for this robot', async () => {
      const { robot } = await open();
      const writes = countWrites(robot);
      const j = await robot.read();
      await expect(robot.write(j.positions as never)).rejects.toMatchObject({ code: 'UNSAFE_TARGET' });
      await expect(robot.write({ positions: j.positions } as never)).rejects.toMatchObject({
        code: 'UNSAFE_TARGET',
      });
      const other = parseSafetyConfig({ ...robot.safety, robot: `${robot.name}-other` });
      const foreign = new SafetyGate(other, { clock: realClock }).motionStep({
        target: j.positions,
        joints: { positions: j.positions, stampMs: j.stampMs },
      });
      expect(foreign.kind).toBe('move');
      await expect(
        robot.write((foreign as Extract<GateDecision, { kind: 'move' }>).safe),
      ).rejects.toMatchObject({
        code: 'UNSAFE_TARGET',
      });
      expect(writes.n).toBe(3); // three attempts, all refused before reaching the driver
    });

    it('follows gated targets: a small move of the first joint arrives', async () => {
      const { robot } = await open();
      const gate = new SafetyGate(robot.safety, { clock: realClock });
      const start = await robot.read();
      const target = start.positions.slice();
      const limit = robot.safety.joints[0];
      const delta = 0.05;
      target[0] =
        (target[0] as number) + ((target[0] as number) + delta <= (limit?.max ?? 0) ? delta : -delta);
      checkTarget(robot.safety, target);
      for (let i = 0; i < 10; i++) {
        const j = await robot.read();
        const d = gate.motionStep({ target, joints: { positions: j.positions, stampMs: j.stampMs } });
        expect(d.kind).toBe('move');
        if (d.kind === 'move') await robot.write(d.safe);
        await new Promise((r) => setTimeout(r, 1000 / robot.safety.controlRateHz));
      }
      await until(
        async () => Math.abs(((await robot.read()).positions[0] as number) - (target[0] as number)) < 0.01,
        'joint 0 to reach the target',
      );
    });

    it('reset plan: every target inside the limits; the gated reset completes and ends at the last target', async () => {
      const { robot } = await open();
      const plan = robot.resetPlan(await robot.read());
      expect(plan.length).toBeGreaterThan(0);
      for (const seg of plan) checkTarget(robot.safety, seg.target, seg.label);
      const gate = new SafetyGate(robot.safety, { clock: realClock });
      const env = new RobotEnvironment(robot, gate, { clock: realClock, resetSpeedFraction: 1 });
      await env.reset();
      expect(env.lastResetOutcome?.kind).toBe('done');
      const last = plan.at(-1)?.target as Float64Array;
      const joints = robot.safety.joints;
      await until(async () => {
        const p = (await robot.read()).positions;
        return joints.every(
          (jl, i) => jl.kind !== 'joint' || Math.abs((p[i] as number) - (last[i] as number)) < 0.02,
        );
      }, 'the arm joints to reach the reset target');
      env.close();
    });

    it('an e-stop during the reset holds within one control tick: no further target', async () => {
      const { robot } = await open();
      const gate = new SafetyGate(robot.safety, { clock: realClock });
      const env = new RobotEnvironment(robot, gate, { clock: realClock });
      const writes = countWrites(robot);
      const reset = env.reset();
      await until(() => writes.n >= 5, 'the reset to move');
      gate.estop.trigger('api', 'contract test');
      const atTrigger = writes.n;
      await reset;
      expect(env.lastResetOutcome?.kind).toBe('aborted');
      // At most the write already in flight when the e-stop fired.
      expect(writes.n - atTrigger).toBeLessThanOrEqual(1);
      const after = writes.n;
      await new Promise((r) => setTimeout(r, 200));
      expect(writes.n).toBe(after);
      env.close();
    });

    it('a robot fault holds the gate (ROBOT_FAULT) and nothing new is written', async () => {
      const s = await open();
      if (s.injectFault === undefined) return; // hardware: faults are not injected (asserted on the emulator in CI)
      const { robot } = s;
      const gate = new SafetyGate(robot.safety, { clock: realClock });
      const first = await robot.read();
      const ok = gate.motionStep({ target: first.positions, joints: first, robotFaults: robot.faults() });
      expect(ok.kind).toBe('move');
      await s.injectFault();
      await until(async () => {
        await robot.read();
        return robot.faults().length > 0;
      }, 'the robot to report the fault');
      const j = await robot.read();
      const d = gate.step({
        action: j.positions,
        joints: { positions: j.positions, stampMs: realClock.now() },
        robotFaults: robot.faults(),
      });
      expect(d.kind).toBe('hold');
      if (d.kind === 'hold') expect(d.faults.map((f) => f.code)).toContain('ROBOT_FAULT');
    });

    it('hold and close are safe to repeat', async () => {
      const { robot } = await open();
      await robot.hold();
      await robot.hold();
      await robot.close();
      await robot.close();
    });
  });
}
