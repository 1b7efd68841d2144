/**
 * The ALOHA `sim` transport against the real bridge process and real MuJoCo (gym-aloha in `.venv-sim`, rendered
 * headless with EGL): start and first state, lock-step (one sim step per tick's target), joints moving to written
 * targets, the gripper's angle <-> finger mapping, rendered camera frames (size, change when the arm moves), the
 * bridge killed (a fault, through the plugin a ROBOT_FAULT hold), and a missing venv / gym-aloha (NOT_CONNECTED
 * naming scripts/sim-env.sh). Needs `bash scripts/sim-env.sh`; without it every test fails saying so.
 */
import { existsSync } from 'node:fs';
import { realClock } from '@openpi-edge/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VX300S_GRIPPER } from '../../src/robots/aloha/constants.js';
import type { AlohaEnvironment } from '../../src/robots/aloha/environment.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import { resolveSimPython, SimAlohaArms } from '../../src/robots/aloha/sim-transport.js';
import { gripperAngleToFinger, PUPPET_GRIPPER } from '../../src/robots/dynamixel/viperx.js';
import { SafetyGate } from '../../src/safety/gate.js';

const PY = resolveSimPython();
const HOME = [0, -0.96, 1.16, 0, -0.3, 0];

function requireVenv(): void {
  if (!existsSync(PY)) {
    throw new Error(
      `the sim tests need .venv-sim (no interpreter at ${PY}): run \`bash scripts/sim-env.sh\``,
    );
  }
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await predicate())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Mean absolute difference of two equally sized byte images. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 7) s += Math.abs((a[i] as number) - (b[i] as number));
  return s / Math.ceil(a.length / 7);
}

describe('ALOHA sim transport (gym-aloha bridge, MuJoCo)', () => {
  let sim: SimAlohaArms;

  beforeAll(async () => {
    requireVenv();
    // Lock-step only: no idle steps, so every sim step below is one of ours.
    sim = new SimAlohaArms({ idleStepping: false, cameras: [{ name: 'cam_high' }], seed: 0 });
    await sim.start();
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
  });

  it('starts at gym-aloha START_ARM_POSE with a stamped, finite state', async () => {
    const s = await sim.read();
    for (const side of ['left', 'right'] as const) {
      const a = s[side];
      expect([...a.arm].map((x) => Number(x.toFixed(4)))).toEqual(HOME);
      // START_ARM_POSE's finger: 0.02239 m.
      expect(a.fingerPosition).toBeCloseTo(0.02239, 5);
      expect(gripperAngleToFinger(a.gripperAngle, VX300S_GRIPPER)).toBeCloseTo(a.fingerPosition, 9);
      expect(a.velocity).toHaveLength(7);
      expect(Math.abs(realClock.now() - a.stampMs)).toBeLessThan(50);
    }
    expect(sim.episode).toMatchObject({ steps: 0, simTimeS: 0, reward: 0, success: false });
    expect(sim.kind).toBe('sim');
  });

  it('one sim step (20 ms) per tick: both arms of a tick in one STEP; joints move toward the targets', async () => {
    const before = sim.episode?.steps ?? 0;
    const merged0 = sim.stats().coalesced;
    const target = [0.3, -0.8, 1.0, 0.1, -0.2, 0.2];
    for (let i = 0; i < 60; i++) {
      // What AlohaEnvironment.send does each tick: left, then right, awaited one after the other.
      await sim.writeJoints('left', target, 0.5);
      await sim.writeJoints('right', HOME, 0.5);
      await new Promise((r) => setTimeout(r, 20));
    }
    // One STEP per tick, less the ticks merged into a queued target (only when the bridge lags 4 ticks behind).
    const expected = () => before + 60 - (sim.stats().coalesced - merged0);
    await until(() => (sim.episode?.steps ?? 0) === expected(), 'one sim step per tick');
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.episode?.steps).toBe(expected()); // nothing more without targets (idle stepping off)
    expect(sim.stats().coalesced - merged0).toBeLessThan(10);
    expect(sim.episode?.simTimeS).toBeCloseTo(expected() * 0.02, 6);
    const s = await sim.refresh();
    target.forEach((x, j) => {
      if (j === 3 || j === 5) return; // forearm_roll / wrist_rotate: kp 10 / 20 with friction loss 30, they creep
      expect(Math.abs((s.left.arm[j] as number) - x), `left joint ${j}`).toBeLessThan(0.05);
    });
    // forearm_roll and wrist_rotate at least moved toward their targets.
    expect(s.left.arm[5] as number).toBeGreaterThan(0.02);
    expect(Math.abs((s.right.arm[0] as number) - 0)).toBeLessThan(0.01);
  }, 30_000);

  it('gripper: motor angle -> finger position through the vx300s geometry, clamped by the sim to [0.021, 0.057] m', async () => {
    const tick = async (angle: number, n: number) => {
      for (let i = 0; i < n; i++) {
        await sim.writeGripper('left', angle);
        await sim.writeGripper('right', PUPPET_GRIPPER.jointClose);
        await until(() => true, 'tick');
        await new Promise((r) => setTimeout(r, 5));
      }
      const steps = sim.episode?.steps ?? 0;
      await until(() => (sim.episode?.steps ?? 0) >= steps, 'the last step');
      return sim.refresh();
    };
    // Angle 0.4349 rad = joint-normalised 0.5; through the geometry x = 0.03924 m (sim-normalised 0.526).
    const mid = 0.5 * (PUPPET_GRIPPER.jointOpen - PUPPET_GRIPPER.jointClose) + PUPPET_GRIPPER.jointClose;
    let s = await tick(mid, 40);
    // Within 1 mm: the finger's position actuator (kp 200) works against friction loss 30.
    expect(Math.abs(s.left.fingerPosition - gripperAngleToFinger(mid, VX300S_GRIPPER))).toBeLessThan(0.001);
    expect(s.left.gripperAngle).toBeCloseTo(mid, 1);
    // Commanded closed (x 0.01844 m, clamped to the actuator's 0.021): stays at or near its closed start 0.02239 m
    // (friction loss 30 on the slide against kp 200 over a 1.4 mm error).
    expect(s.right.fingerPosition).toBeLessThan(0.023);
    s = await tick(PUPPET_GRIPPER.jointOpen, 40);
    expect(Math.abs(s.left.fingerPosition - 0.057)).toBeLessThan(0.001); // open: the actuator's upper limit
  }, 30_000);

  it('renders cam_high 640x480 rgb8 frames (SharedArrayBuffer) that change when the arm moves', async () => {
    const cam = sim.cameras.cam_high;
    if (cam === undefined) throw new Error('no cam_high');
    const first = await cam.nextFrame(10_000, true);
    expect([first.width, first.height, first.step, first.encoding]).toEqual([640, 480, 1920, 'rgb8']);
    expect(first.data.byteLength).toBe(640 * 480 * 3);
    expect(first.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    const atSteps = cam.latestSim?.steps ?? 0;
    // Swing the left arm's waist and shoulder well away.
    for (let i = 0; i < 50; i++) {
      await sim.writeJoints('left', [0.8, -0.3, 0.6, 0, -0.3, 0], 0.5);
      await sim.writeJoints('right', HOME, 0.5);
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => (cam.latestSim?.steps ?? 0) >= atSteps + 40, 'a frame of the moved arm');
    const moved = cam.latest()?.frame;
    if (moved === undefined) throw new Error('no frame');
    expect(moved.seq).toBeGreaterThan(first.seq);
    expect(meanAbsDiff(first.data, moved.data)).toBeGreaterThan(1);
    expect(sim.stats().frames.cam_high).toBeGreaterThan(1);
  }, 30_000);

  it('resetScene(seed) puts the arms back at the start pose and steps restart at 0', async () => {
    await sim.resetScene(1);
    expect(sim.episode).toMatchObject({ steps: 0, simTimeS: 0 });
    const s = await sim.read();
    expect(s.left.arm[0]).toBeCloseTo(0, 6);
  });
});

describe('ALOHA sim: bridge death and missing environment', () => {
  beforeAll(requireVenv);

  it('bridge killed: a SIM_BRIDGE_EXITED fault naming the signal, the plugin holds the gate (ROBOT_FAULT)', async () => {
    const robot = await alohaPlugin.connect({
      clock: realClock,
      controlHz: 50,
      safetyOverrides: {},
      warn: () => {},
      config: { transport: 'sim' },
    });
    try {
      const env = (robot as unknown as { environment: AlohaEnvironment }).environment;
      const transport = env.transport as SimAlohaArms;
      expect(robot.description).toMatch(/^sim: gym-aloha transfer_cube/);
      expect(Object.keys(robot.cameras).sort()).toEqual(['cam_high', 'cam_left_wrist', 'cam_right_wrist']);
      expect(robot.faults()).toEqual([]);
      const before = await robot.read();
      process.kill(transport.pid as number, 'SIGKILL');
      await until(() => robot.faults().length > 0, 'the fault');
      const [fault] = robot.faults();
      expect(fault?.code).toBe('SIM_BRIDGE_EXITED');
      expect(fault?.message).toMatch(/ALOHA sim bridge exited \(signal SIGKILL\)/);
      // Reads keep the last state with its old stamp; hold and writes do not throw.
      await new Promise((r) => setTimeout(r, 30));
      const after = await robot.read();
      expect([...after.positions]).toEqual([...before.positions]);
      expect(after.stampMs).toBeLessThan(realClock.now() - 20);
      await robot.hold();
      expect(robot.cameras.cam_high?.failure?.message).toMatch(/bridge exited/);
      const gate = new SafetyGate(robot.safety, { clock: realClock });
      const d = gate.step({
        action: after.positions,
        joints: { positions: after.positions, stampMs: realClock.now() },
        robotFaults: robot.faults(),
      });
      expect(d.kind).toBe('hold');
      if (d.kind === 'hold') expect(d.faults.map((f) => f.code)).toContain('ROBOT_FAULT');
    } finally {
      await robot.close();
    }
  }, 60_000);

  it('no interpreter: NOT_CONNECTED naming `bash scripts/sim-env.sh`', async () => {
    const t = new SimAlohaArms({ python: '/nonexistent/.venv-sim/bin/python' });
    await expect(t.start()).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
      message: expect.stringContaining('bash scripts/sim-env.sh'),
      context: expect.objectContaining({ missing: 'python', fix: 'bash scripts/sim-env.sh' }),
    });
    await t.close();
  });

  it('an interpreter without gym-aloha: NOT_CONNECTED naming the module and `bash scripts/sim-env.sh`', async () => {
    // A Python without the simulator packages (the system one; override with OPENPI_EDGE_TEST_BARE_PYTHON).
    const t = new SimAlohaArms({ python: process.env.OPENPI_EDGE_TEST_BARE_PYTHON ?? '/usr/bin/python3' });
    if (!existsSync(t.python))
      throw new Error(`no bare python at ${t.python} (set OPENPI_EDGE_TEST_BARE_PYTHON)`);
    await expect(t.start()).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
      message: expect.stringMatching(/cannot import .*bash scripts\/sim-env\.sh/s),
      context: expect.objectContaining({ missing: 'module', exitCode: 2 }),
    });
    await t.close();
  }, 30_000);
});
