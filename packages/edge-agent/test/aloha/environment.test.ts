/**
 * AlohaEnvironment over the emulator transport: two in-memory ViperX bus emulators behind the real Dynamixel
 * driver, motion and cameras on one manual clock.
 */
import { ManualClock, type NDArray, type Obs } from '@openpi-edge/client';
import { hwcToChw, resizeWithPad } from '@openpi-edge/client/node';
import { describe, expect, it } from 'vitest';
import { NO_ACTION } from '../../src/agent/guarded-agent.js';
import { GeneratedCamera, generatedPattern } from '../../src/io/cameras/generated-camera.js';
import { RosImageCamera } from '../../src/io/cameras/ros-image-camera.js';
import {
  ALOHA_CAMERA_NAMES,
  type AlohaCameraName,
  resetPoseFromMetadata,
} from '../../src/robots/aloha/constants.js';
import { createAlohaEnvironment } from '../../src/robots/aloha/create.js';
import { createEmulatedAlohaArms } from '../../src/robots/aloha/dynamixel-transport.js';
import { AlohaEnvironment } from '../../src/robots/aloha/environment.js';
import { XRegister } from '../../src/robots/dynamixel/control-table.js';
import { Instruction } from '../../src/robots/dynamixel/packet.js';
import { countsToRadians, radiansToCounts } from '../../src/robots/dynamixel/viperx.js';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { ROS2_TYPES } from '../../src/ros2/messages.js';
import { type GateDecision, SafeCommand, SafetyGate } from '../../src/safety/gate.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';
import { connectEmulatedAloha, gateCommand, gatedEnvironment } from './helpers.js';

const RAD_PER_COUNT = Math.PI / 2048;
const ARM_IDS = [1, 2, 4, 6, 7, 8];

/** openpi's numbers written out: vx300s finger geometry and PUPPET position constants. */
function openpiGripperState(angle: number): number {
  const finger = 0.022 * Math.sin(angle) + Math.sqrt(0.036 ** 2 - (0.022 * Math.cos(angle)) ** 2);
  return (finger - 0.01844) / (0.058 - 0.01844);
}
const quantise = (rad: number) => countsToRadians(radiansToCounts(rad));

function small(clock: ManualClock): Record<AlohaCameraName, GeneratedCamera> {
  return Object.fromEntries(
    ALOHA_CAMERA_NAMES.map((name) => [
      name,
      new GeneratedCamera({ name, clock, width: 64, height: 48, fps: 30 }),
    ]),
  ) as Record<AlohaCameraName, GeneratedCamera>;
}

describe('AlohaEnvironment on the emulator transport', () => {
  it('observation: float32[14] state in openpi layout, four uint8 [3,224,224] images', async () => {
    const clock = new ManualClock(0);
    const left = [0.1, -0.5, 0.6, 0.2, -0.1, 0.3];
    const { environment: env, close } = await clock.runUntil(
      createAlohaEnvironment({
        transport: 'emulator',
        clock,
        emulator: { initialArm: left, initialGripper: 0.5 },
      }),
    );
    try {
      const obs = await env.getObservation();
      const state = obs.state as NDArray<'float32'>;
      expect(state.dtype).toBe('float32');
      expect(state.shape).toEqual([14]);
      for (const k of [0, 7]) {
        for (let j = 0; j < 6; j++) expect(state.data[k + j]).toBeCloseTo(left[j]!, 2);
        expect(state.data[k + 6]).toBeCloseTo(openpiGripperState(quantise(0.5)), 5);
      }
      const images = obs.images as Record<string, NDArray<'uint8'>>;
      expect(Object.keys(images).sort()).toEqual([...ALOHA_CAMERA_NAMES].sort());
      for (const name of ALOHA_CAMERA_NAMES) {
        expect(images[name]!.dtype).toBe('uint8');
        expect(images[name]!.shape).toEqual([3, 224, 224]);
      }
      // 640x480 → 224x168 centred: rows 0..27 are padding; the content is the generated frame, channel-first.
      const cam = env.cameras.cam_high as GeneratedCamera;
      const hwc = resizeWithPad(
        { dtype: 'uint8', shape: [480, 640, 3], data: generatedPattern(640, 480, 0, cam.seed) },
        224,
        224,
      ) as NDArray<'uint8'>;
      const high = images.cam_high!;
      expect(high.data.subarray(0, 28 * 224).every((v) => v === 0)).toBe(true);
      expect(high.data[2 * 224 * 224 + 100 * 224 + 50]).toBe(hwc.data[(100 * 224 + 50) * 3 + 2]);
      expect(high.data).toEqual(hwcToChw(hwc).data);
      expect(obs.prompt).toBeUndefined();
    } finally {
      await close();
    }
  });

  it('send writes a gate-issued command as arm goals and un-normalised gripper angles; the emulated servos get there', async () => {
    const clock = new ManualClock(0);
    const {
      environment: env,
      transport,
      close,
    } = await clock.runUntil(
      createAlohaEnvironment({ transport: 'emulator', clock, prompt: 'fold the towel' }),
    );
    const emulators = (transport as ReturnType<typeof createEmulatedAlohaArms>).emulators;
    try {
      const action = Float32Array.from([
        0.2, -0.8, 1.0, 0.1, -0.2, 0.4, 0.25, -0.2, -0.7, 0.9, -0.1, 0.0, -0.4, 1.0,
      ]);
      await env.send(gateCommand(Array.from(action), await env.measure(), clock));
      for (const [side, k] of [
        ['left', 0],
        ['right', 7],
      ] as const) {
        const emu = emulators[side];
        ARM_IDS.forEach((id, j) => {
          expect(emu.servo(id)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(action[k + j]!));
        });
        const angle = action[k + 6]! * (1.491 - -0.6213) + -0.6213; // openpi's JointSingleCommand value
        expect(emu.servo(9)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(angle));
      }
      await clock.advance(3000);
      const obs = (await env.getObservation()) as Obs;
      const state = (obs.state as NDArray<'float32'>).data;
      for (let j = 0; j < 6; j++) {
        expect(Math.abs(state[j]! - action[j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
        expect(Math.abs(state[7 + j]! - action[7 + j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
      }
      expect(state[13]).toBeCloseTo(openpiGripperState(quantise(1.491)), 4);
      expect(obs.prompt).toBe('fold the towel');
      const measured = await env.measure();
      expect(measured.positions[6]).toBeCloseTo(0.25, 2);
      expect(measured.stampMs).toBe(3000);
      expect(env.lastCommand?.[6]).toBeCloseTo(0.25, 6);
    } finally {
      await close();
    }
  });

  it('send refuses anything the SafetyGate did not issue for ALOHA (UNSAFE_TARGET); nothing reaches the bus', async () => {
    const clock = new ManualClock(0);
    const { aloha: env, arms, robot } = await clock.runUntil(connectEmulatedAloha(clock));
    try {
      const n = { left: arms.emulators.left.received.length, right: arms.emulators.right.received.length };
      const target = [0.1, -0.9, 1.0, 0, -0.3, 0, 0.5, 0.1, -0.9, 1.0, 0, -0.3, 0, 0.5];
      const forged: unknown[] = [
        { positions: Float64Array.from(target), robot: 'aloha', issuedAtMs: 0, length: 14 },
        Float64Array.from(target),
        { actions: target },
        Object.create(SafeCommand.prototype),
        null,
      ];
      for (const f of forged) {
        await expect(env.send(f as SafeCommand)).rejects.toMatchObject({ code: 'UNSAFE_TARGET' });
        await expect(robot.write(f as SafeCommand)).rejects.toMatchObject({ code: 'UNSAFE_TARGET' });
      }
      // Only the gate can mint one.
      expect(() => new SafeCommand(Symbol('mint'), Float64Array.from(target), 'aloha', 0)).toThrow(
        expect.objectContaining({ code: 'UNSAFE_TARGET' }),
      );
      // A real SafeCommand, checked against another robot's limits (UR5: 7 values), is refused too.
      const ur5 = new SafetyGate(safetyConfigFor('ur5'), { clock });
      const other = ur5.motionStep({
        target: [0, 0, 0, 0, 0, 0, 0.5],
        joints: { positions: [0, 0, 0, 0, 0, 0, 0.5], stampMs: 0 },
      });
      expect(other.kind).toBe('move');
      await expect(env.send((other as Extract<GateDecision, { kind: 'move' }>).safe)).rejects.toMatchObject({
        code: 'UNSAFE_TARGET',
        context: { robot: 'aloha', commandRobot: 'ur5' },
      });
      ur5.close();
      expect(arms.emulators.left.received.length).toBe(n.left);
      expect(arms.emulators.right.received.length).toBe(n.right);
      expect(env.lastCommand).toBeNull();
    } finally {
      await robot.close();
    }
  });

  it('reset (RobotEnvironment on the plugin): gripper reboot, 1 s arm move at 50 Hz to the metadata pose, grippers close then open', async () => {
    const clock = new ManualClock(0);
    const start = [0.3, -0.4, 0.5, -0.2, 0.2, -0.3];
    const { robot, arms } = await clock.runUntil(
      connectEmulatedAloha(clock, { emulator: { initialArm: start } }),
    );
    const writes: Array<{ t: number; side: string; q: number[]; a: number }> = [];
    const calls: string[] = [];
    const writeJoints = arms.writeJoints?.bind(arms);
    const reboot = arms.rebootGrippers.bind(arms);
    if (writeJoints === undefined) throw new Error('the emulator transport writes joints in one command');
    arms.writeJoints = (side, q, a) => {
      writes.push({ t: clock.now(), side, q: Array.from(q), a });
      return writeJoints(side, q, a);
    };
    arms.rebootGrippers = () => {
      calls.push(`reboot@${clock.now()}`);
      return reboot();
    };
    const pose = resetPoseFromMetadata({ reset_pose: [0, -1.5, 1.5, 0, 0, 0, 0.5] });
    expect(pose).toEqual([0, -1.5, 1.5, 0, 0, 0]);
    // What the agent does with the server's metadata.
    robot.applyPolicyMetadata?.({ reset_pose: [0, -1.5, 1.5, 0, 0, 0, 0.5] });
    // Full speed: each segment then takes its openpi duration (1000 / 1000 / 500 ms), the distance allows it.
    const env = gatedEnvironment(robot, clock, { resetSpeedFraction: 1 });
    const reboots = () =>
      arms.emulators.left.received.filter((p) => p.instruction === Instruction.Reboot).length;
    const syncWrites = () =>
      arms.emulators.left.received.filter((p) => p.instruction === Instruction.SyncWrite).length;
    const rebootsBefore = reboots();
    const syncBefore = syncWrites();
    await clock.runUntil(env.reset());
    expect(env.lastResetOutcome).toEqual({ kind: 'done', durationMs: 2500, segments: 3 });
    expect(calls).toEqual(['reboot@0']);
    expect(reboots()).toBe(rebootsBefore + 1);
    const left = writes.filter((w) => w.side === 'left');
    // One gated target per control tick: 50 (arms) + 50 (grippers close) + 25 (grippers open), one Sync Write each.
    expect(left).toHaveLength(125);
    expect(syncWrites() - syncBefore).toBe(125);
    expect(left.map((w) => w.t)).toEqual(Array.from({ length: 125 }, (_, i) => i * 20));
    const arm = left.slice(0, 50);
    const startQ = start.map(quantise);
    arm[0]!.q.forEach((q, j) => {
      expect(q).toBeCloseTo(startQ[j]! + (pose![j]! - startQ[j]!) / 50, 9);
    });
    arm[49]!.q.forEach((q, j) => {
      expect(q).toBeCloseTo(pose![j]!, 12);
    });
    // The arms move with the grippers where they are, then stay at the pose while the grippers move.
    expect(new Set(arm.map((w) => w.a)).size).toBe(1);
    for (const w of left.slice(50)) {
      w.q.forEach((q, j) => {
        expect(q).toBeCloseTo(pose![j]!, 12);
      });
    }
    const lg = left.slice(50); // 1000 ms closing + 500 ms opening at 20 ms
    expect(lg).toHaveLength(75);
    expect(lg[0]!.t).toBe(1000);
    expect(lg[49]!.a).toBeCloseTo(-0.6213, 9);
    expect(lg[74]!.a).toBeCloseTo(1.491, 9);
    expect(lg[50]!.t).toBe(2000);
    expect(lg[74]!.t).toBe(2480);
    expect(clock.now()).toBe(2500);
    await clock.advance(2000);
    const m = await robot.environment.measure();
    for (let j = 0; j < 6; j++) {
      expect(Math.abs(m.positions[j]! - pose![j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
      expect(Math.abs(m.positions[7 + j]! - pose![j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
    }
    expect(m.positions[6]).toBeCloseTo(1, 3); // gripper open, in action units
    env.close();
    await robot.close();
  });

  it('a reset pose outside the limits (server metadata) is refused naming the joint; nothing moves', async () => {
    const clock = new ManualClock(0);
    const { robot, aloha, arms } = await clock.runUntil(connectEmulatedAloha(clock));
    try {
      const n = arms.emulators.left.received.length;
      expect(() => robot.applyPolicyMetadata?.({ reset_pose: [0, -2.5, 1.16, 0, -0.3, 0] })).toThrow(
        expect.objectContaining({
          code: 'UNSAFE_TARGET',
          context: expect.objectContaining({ joint: 'left_shoulder', value: -2.5 }),
        }),
      );
      expect(aloha.resetPose).toEqual([0, -0.96, 1.16, 0, -0.3, 0]);
      expect(arms.emulators.left.received.length).toBe(n);
    } finally {
      await robot.close();
    }
  });

  it('a camera without frames is a BAD_OBSERVATION naming it; optional wrist cameras are left out instead', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const node = graph.createNode('cams');
    const wrist = new RosImageCamera({ name: 'cam_left_wrist', node, topic: '/cam_left_wrist/img', clock });
    const cams = { ...small(clock), cam_left_wrist: wrist };
    const transport = createEmulatedAlohaArms({
      clock,
      emulator: { initialArm: [0, -0.96, 1.16, 0, -0.3, 0] },
    });
    const env = new AlohaEnvironment({ transport, cameras: cams, clock, maxCameraAgeMs: 100 });
    await clock.runUntil(env.start());
    const err = await env.getObservation().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'BAD_OBSERVATION',
      context: { camera: 'cam_left_wrist', key: 'images.cam_left_wrist', state: 'missing' },
    });
    graph.deliver('/cam_left_wrist/img', ROS2_TYPES.image, {
      height: 2,
      width: 2,
      encoding: 'rgb8',
      step: 6,
      data: new Uint8Array(12).fill(9),
    });
    await clock.flush();
    const ok = await env.getObservation();
    expect((ok.images as Record<string, NDArray>).cam_left_wrist?.shape).toEqual([3, 224, 224]);
    await clock.advance(150);
    const stale = await env.getObservation().catch((e: unknown) => e);
    expect(stale).toMatchObject({
      code: 'BAD_OBSERVATION',
      context: { camera: 'cam_left_wrist', state: 'stale', ageMs: 150, maxAgeMs: 100 },
    });
    const lenient = new AlohaEnvironment({
      transport,
      cameras: cams,
      clock,
      maxCameraAgeMs: 100,
      optionalCameras: ['cam_left_wrist'],
    });
    const obs = await lenient.getObservation();
    expect(Object.keys(obs.images as object).sort()).toEqual(['cam_high', 'cam_low', 'cam_right_wrist']);
    expect(lenient.missingCameras).toEqual(['cam_left_wrist']);
    expect(() => new AlohaEnvironment({ transport, cameras: cams, optionalCameras: ['cam_high'] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', context: { camera: 'cam_high' } }),
    );
    const { cam_low: _low, ...noLow } = cams;
    expect(() => new AlohaEnvironment({ transport, cameras: noLow })).toThrow(
      expect.objectContaining({
        code: 'BAD_ARGUMENT',
        context: expect.objectContaining({ camera: 'cam_low' }),
      }),
    );
    await env.close();
  });

  it('malformed actions (through the gate) hold naming the fault, the index and the joint; nothing is written', async () => {
    const clock = new ManualClock(0);
    const { robot, aloha, arms } = await clock.runUntil(connectEmulatedAloha(clock));
    const env = gatedEnvironment(robot, clock);
    const decisions: GateDecision[] = [];
    env.onDecision = (d) => decisions.push(d);
    const goals = () =>
      arms.emulators.left.received.filter(
        (p) => p.instruction === Instruction.SyncWrite || p.instruction === Instruction.Write,
      ).length;
    try {
      const n = goals();
      const nan = new Array(14).fill(0);
      nan[9] = Number.NaN;
      const bad = [{ actions: [1, 2, 3] }, { action: [] }, NO_ACTION, { actions: nan }, { actions: 'fold' }];
      for (const action of bad) {
        await env.getObservation();
        await env.applyAction(action as never);
      }
      const faults = decisions.map((d) => {
        expect(d.kind).toBe('hold');
        expect(d.command).toBeNull();
        return d.kind === 'hold' ? d.faults : [];
      });
      expect(faults[0]).toEqual([expect.objectContaining({ code: 'ACTION_LENGTH', value: 3, limit: 14 })]);
      expect(faults[1]).toEqual([expect.objectContaining({ code: 'ACTION_MISSING' })]);
      expect(faults[2]).toEqual([expect.objectContaining({ code: 'ACTION_MISSING' })]);
      expect(faults[3]).toEqual([
        expect.objectContaining({ code: 'ACTION_NON_FINITE', index: 9, name: 'right_elbow' }),
      ]);
      expect(faults[4]).toEqual([expect.objectContaining({ code: 'ACTION_LENGTH', value: 0 })]);
      expect(goals()).toBe(n);
      expect(aloha.lastCommand).toBeNull();
      expect(env.lastSent).toBeNull();
    } finally {
      env.close();
      await robot.close();
    }
  });

  it('hold() commands the measured positions', async () => {
    const clock = new ManualClock(0);
    const {
      environment: env,
      transport,
      close,
    } = await clock.runUntil(createAlohaEnvironment({ transport: 'emulator', clock }));
    const emu = (transport as ReturnType<typeof createEmulatedAlohaArms>).emulators.left;
    try {
      const target = [0.5, -0.5, 0.5, 0, 0, 0, 1, 0, -0.96, 1.16, 0, -0.3, 0, 1];
      await env.send(gateCommand(target, await env.measure(), clock));
      await clock.advance(5); // part of the way
      const midway = emu.servo(1)!.positionAt(clock.now());
      expect(midway).toBeGreaterThan(2048);
      expect(midway).toBeLessThan(radiansToCounts(0.5));
      await env.hold();
      const goal = emu.servo(1)!.get(XRegister.GoalPosition);
      expect(Math.abs(goal - midway)).toBeLessThanOrEqual(1);
    } finally {
      await close();
    }
  });
});
