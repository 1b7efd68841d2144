/**
 * AlohaEnvironment on the in-memory emulator: reset from the ViperX sleep pose (outside the servo limits), an
 * aborted reset, one Sync Write per arm per action, and images without a bus read.
 */
import { ManualClock, type NDArray } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { captureImages } from '../../src/agent/capture-images.js';
import { GeneratedCamera } from '../../src/io/cameras/generated-camera.js';
import { ALOHA_CAMERA_NAMES, type AlohaCameraName } from '../../src/robots/aloha/constants.js';
import {
  createEmulatedAlohaArms,
  type EmulatedAlohaArms,
} from '../../src/robots/aloha/dynamixel-transport.js';
import { AlohaEnvironment } from '../../src/robots/aloha/environment.js';
import { XRegister } from '../../src/robots/dynamixel/control-table.js';
import { Instruction, type InstructionPacket } from '../../src/robots/dynamixel/packet.js';
import { radiansToCounts } from '../../src/robots/dynamixel/viperx.js';
import { VIPERX_SLEEP_POSE } from '../../src/robots/dynamixel/emulator/viperx-bus.js';

const RAD_PER_COUNT = Math.PI / 2048;
const POSE = [0, -0.96, 1.16, 0, -0.3, 0];

function cameras(clock: ManualClock): Record<AlohaCameraName, GeneratedCamera> {
  return Object.fromEntries(
    ALOHA_CAMERA_NAMES.map((name) => [
      name,
      new GeneratedCamera({ name, clock, width: 64, height: 48, fps: 30 }),
    ]),
  ) as Record<AlohaCameraName, GeneratedCamera>;
}

/** Goal packets: Sync Writes and single Writes to Goal Position (116). */
function goalPackets(arms: EmulatedAlohaArms, side: 'left' | 'right'): InstructionPacket[] {
  return arms.emulators[side].received.filter(
    (p) =>
      p.instruction === Instruction.SyncWrite ||
      (p.instruction === Instruction.Write &&
        (p.params[0]! | (p.params[1]! << 8)) === XRegister.GoalPosition.address),
  );
}

async function setup(initialArm: readonly number[] = VIPERX_SLEEP_POSE) {
  const clock = new ManualClock(0);
  const arms = createEmulatedAlohaArms({ clock, emulator: { initialArm } });
  const env = new AlohaEnvironment({ transport: arms, cameras: cameras(clock), clock, resetPose: POSE });
  await clock.runUntil(env.start());
  return { clock, arms, env };
}

describe('AlohaEnvironment.reset from outside the servo limits', () => {
  it('the emulator at the ViperX sleep pose (shoulder 712 < 841 counts) resets to the home pose', async () => {
    const { clock, env } = await setup();
    const before = await env.measure();
    expect(radiansToCounts(before.positions[1]!)).toBeLessThan(841); // the sleep pose really is outside
    await clock.runUntil(env.reset());
    expect(env.lastResetOutcome).toBe('done');
    await clock.advance(2000);
    const m = await env.measure();
    for (let j = 0; j < 6; j++) {
      expect(Math.abs(m.positions[j]! - POSE[j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
      expect(Math.abs(m.positions[7 + j]! - POSE[j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
    }
    await env.close();
  });

  it('hold at the sleep pose sends no arm goal the servos would refuse (gripper goal only)', async () => {
    const { clock, arms, env } = await setup();
    const n = goalPackets(arms, 'left').length;
    await clock.runUntil(env.hold());
    const sent = goalPackets(arms, 'left').slice(n);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.instruction).toBe(Instruction.Write); // the gripper's Goal Position
    await env.close();
  });

  it('aborting mid-reset writes no further goal and holds where the arms were', async () => {
    const { clock, arms, env } = await setup();
    const abort = new AbortController();
    const reset = env.reset({ signal: abort.signal });
    await clock.advance(500); // halfway through the 1 s arm move
    const atAbort = await env.measure();
    const written = goalPackets(arms, 'left').length;
    abort.abort();
    await clock.runUntil(reset);
    expect(env.lastResetOutcome).toBe('aborted');
    // exactly one more goal per arm: the hold
    expect(goalPackets(arms, 'left').length).toBe(written + 1);
    await clock.advance(3000); // past where the reset would have ended
    expect(goalPackets(arms, 'left').length).toBe(written + 1);
    expect(goalPackets(arms, 'right').length).toBe(written + 1);
    const after = await env.measure();
    for (let j = 0; j < 6; j++) {
      // near where it was at the abort (the servo finishes the one step it had), far from the home pose
      expect(Math.abs(after.positions[j]! - atAbort.positions[j]!)).toBeLessThan(0.1);
    }
    expect(Math.abs(after.positions[1]! - POSE[1]!)).toBeGreaterThan(0.3);
    // a later reset is not affected by the old abort
    await clock.runUntil(env.reset());
    expect(env.lastResetOutcome).toBe('done');
    await env.close();
  });

  it('abortReset() stops the gripper phase too', async () => {
    const { clock, arms, env } = await setup(POSE);
    const reset = env.reset();
    await clock.advance(1300);
    const written = goalPackets(arms, 'right').length;
    env.abortReset('e-stop');
    await clock.runUntil(reset);
    await clock.advance(2000);
    expect(env.lastResetOutcome).toBe('aborted');
    expect(goalPackets(arms, 'right').length).toBe(written + 1);
    await env.close();
  });
});

describe('AlohaEnvironment writes and images', () => {
  it('an action is one Sync Write per arm: 6 joints + gripper at Goal Position, no single writes', async () => {
    const { clock, arms, env } = await setup(POSE);
    const n = arms.emulators.left.received.length;
    const action = [...POSE, 0.25, ...POSE, 0.75];
    await clock.runUntil(env.applyAction({ actions: action }));
    const sent = arms.emulators.left.received.slice(n);
    expect(sent).toHaveLength(1);
    const p = sent[0]!;
    expect(p.instruction).toBe(Instruction.SyncWrite);
    expect(p.params[0]! | (p.params[1]! << 8)).toBe(XRegister.GoalPosition.address);
    expect(p.params[2]! | (p.params[3]! << 8)).toBe(4);
    const ids = Array.from({ length: 7 }, (_, i) => p.params[4 + 5 * i]);
    expect(ids).toEqual([1, 2, 4, 6, 7, 8, 9]);
    await clock.advance(2000);
    const m = await env.measure();
    expect(m.positions[6]).toBeCloseTo(0.25, 3);
    expect(m.positions[13]).toBeCloseTo(0.75, 3);
    await env.close();
  });

  it('an out-of-limit arm goal sends nothing (BAD_ARGUMENT naming the joint), gripper included', async () => {
    const { clock, arms, env } = await setup(POSE);
    const n = arms.emulators.left.received.length;
    const bad = [0, -2.05, 1.16, 0, -0.3, 0];
    const err = await clock
      .runUntil(env.applyAction({ actions: [...bad, 0.5, ...POSE, 0.5] }))
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'BAD_ARGUMENT', context: { joint: 'shoulder', id: 2 } });
    expect(arms.emulators.left.received.length).toBe(n);
    await env.close();
  });

  it('captureImages: the observation images without a bus read; capture-images.ts delegates to it', async () => {
    const { clock, arms, env } = await setup(POSE);
    await clock.advance(40);
    const obs = await clock.runUntil(env.getObservation());
    const n = arms.emulators.left.received.length;
    const images = await clock.runUntil(env.captureImages());
    expect(arms.emulators.left.received.length).toBe(n);
    const expected = obs.images as Record<string, NDArray<'uint8'>>;
    expect(Object.keys(images)).toEqual([...ALOHA_CAMERA_NAMES]);
    for (const name of ALOHA_CAMERA_NAMES) {
      expect(images[name]!.shape).toEqual([3, 224, 224]);
      expect(Buffer.from(images[name]!.data).equals(Buffer.from(expected[name]!.data))).toBe(true);
    }
    const viaAgent = await clock.runUntil(captureImages(env));
    expect(Buffer.from(viaAgent.cam_high!.data).equals(Buffer.from(expected.cam_high!.data))).toBe(true);
    await env.close();
  });

  it('captureImages leaves a stale optional camera out and names a stale required one', async () => {
    const clock = new ManualClock(0);
    const arms = createEmulatedAlohaArms({ clock, emulator: { initialArm: POSE } });
    const cams = cameras(clock);
    const env = new AlohaEnvironment({
      transport: arms,
      cameras: cams,
      clock,
      maxCameraAgeMs: 100,
      optionalCameras: ['cam_low'],
    });
    await clock.runUntil(env.start());
    await clock.advance(40);
    await cams.cam_low.close();
    await clock.advance(200);
    const images = await clock.runUntil(env.captureImages());
    expect(Object.keys(images)).toEqual(['cam_high', 'cam_left_wrist', 'cam_right_wrist']);
    expect(env.missingCameras).toEqual(['cam_low']);
    await cams.cam_high.close();
    await clock.advance(200);
    const err = await clock.runUntil(env.captureImages()).catch((e) => e);
    expect(err).toMatchObject({ code: 'BAD_OBSERVATION', context: { camera: 'cam_high', state: 'stale' } });
    await env.close();
  });
});
