/**
 * AlohaEnvironment over the emulator transport: two in-memory ViperX bus emulators behind the real Dynamixel
 * driver, motion and cameras on one manual clock.
 */
import { ManualClock, type NDArray, type Obs } from '@openpi-edge/client';
import { hwcToChw, resizeWithPad } from '@openpi-edge/client/node';
import { describe, expect, it } from 'vitest';
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
import type { AlohaArmsTransport } from '../../src/robots/aloha/transport.js';
import { XRegister } from '../../src/robots/dynamixel/control-table.js';
import { Instruction } from '../../src/robots/dynamixel/packet.js';
import { countsToRadians, radiansToCounts } from '../../src/robots/dynamixel/viperx.js';
import { ROS2_TYPES } from '../../src/ros2/messages.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';

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

  it('applyAction writes arm goals and un-normalised gripper angles; the emulated servos get there', async () => {
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
      await env.applyAction({ actions: { dtype: 'float32', shape: [14], data: action } });
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

  it('reset: gripper reboot, 1 s arm interpolation at 50 Hz to the metadata pose, grippers close then open', async () => {
    const clock = new ManualClock(0);
    const start = [0.3, -0.4, 0.5, -0.2, 0.2, -0.3];
    const inner = createEmulatedAlohaArms({ clock, emulator: { initialArm: start } });
    const arms: Array<{ t: number; side: string; q: number[] }> = [];
    const grippers: Array<{ t: number; side: string; a: number }> = [];
    const calls: string[] = [];
    const recording: AlohaArmsTransport = {
      kind: inner.kind,
      description: inner.description,
      capabilities: inner.capabilities,
      start: () => inner.start(),
      read: () => inner.read(),
      writeArm: (side, q) => {
        arms.push({ t: clock.now(), side, q: Array.from(q) });
        return inner.writeArm(side, q);
      },
      writeGripper: (side, a) => {
        grippers.push({ t: clock.now(), side, a });
        return inner.writeGripper(side, a);
      },
      rebootGrippers: () => {
        calls.push(`reboot@${clock.now()}`);
        return inner.rebootGrippers();
      },
      setTorque: (e) => inner.setTorque(e),
      close: () => inner.close(),
    };
    const pose = resetPoseFromMetadata({ reset_pose: [0, -1.5, 1.5, 0, 0, 0, 0.5] });
    expect(pose).toEqual([0, -1.5, 1.5, 0, 0, 0]);
    const env = new AlohaEnvironment({
      transport: recording,
      cameras: small(clock),
      clock,
      resetPose: pose!,
    });
    await clock.runUntil(env.start());
    const rebootsBefore = inner.emulators.left.received.filter(
      (p) => p.instruction === Instruction.Reboot,
    ).length;
    await clock.runUntil(env.reset());
    expect(calls).toEqual(['reboot@0']);
    expect(inner.emulators.left.received.filter((p) => p.instruction === Instruction.Reboot).length).toBe(
      rebootsBefore + 1,
    );
    const left = arms.filter((a) => a.side === 'left');
    expect(left).toHaveLength(50);
    expect(left.map((a) => a.t)).toEqual(Array.from({ length: 50 }, (_, i) => i * 20));
    const startQ = start.map(quantise);
    left[0]!.q.forEach((q, j) => {
      expect(q).toBeCloseTo(startQ[j]! + (pose![j]! - startQ[j]!) / 50, 9);
    });
    expect(left[49]!.q).toEqual(pose);
    const lg = grippers.filter((g) => g.side === 'left');
    expect(lg).toHaveLength(75); // 1000 ms closing + 500 ms opening at 20 ms
    expect(lg[0]!.t).toBe(1000);
    expect(lg[49]!.a).toBeCloseTo(-0.6213, 9);
    expect(lg[74]!.a).toBeCloseTo(1.491, 9);
    expect(lg[50]!.t).toBe(2000);
    expect(lg[74]!.t).toBe(2480);
    expect(clock.now()).toBe(2500);
    await clock.advance(2000);
    const m = await env.measure();
    for (let j = 0; j < 6; j++) {
      expect(Math.abs(m.positions[j]! - pose![j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
      expect(Math.abs(m.positions[7 + j]! - pose![j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
    }
    expect(m.positions[6]).toBeCloseTo(1, 3); // gripper open, in action units
    await env.close();
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

  it('rejects malformed actions with the key, shape and index', async () => {
    const clock = new ManualClock(0);
    const { environment: env, close } = await clock.runUntil(
      createAlohaEnvironment({ transport: 'emulator', clock }),
    );
    try {
      await expect(env.applyAction({ actions: [1, 2, 3] })).rejects.toMatchObject({
        code: 'BAD_SHAPE',
        context: { key: 'actions', shape: [3] },
      });
      await expect(env.applyAction({ action: [] })).rejects.toMatchObject({
        code: 'BAD_OBSERVATION',
        context: { key: 'actions', keys: ['action'] },
      });
      const nan = new Array(14).fill(0);
      nan[9] = Number.NaN;
      await expect(env.applyAction({ actions: nan })).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        context: { key: 'actions', index: 9 },
      });
      expect(env.lastCommand).toBeNull();
    } finally {
      await close();
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
      await env.applyAction({ actions: [0.5, -0.5, 0.5, 0, 0, 0, 1, 0, -0.96, 1.16, 0, -0.3, 0, 1] });
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
