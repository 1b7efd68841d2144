/**
 * ALOHA on the in-memory emulator, every motion through the SafetyGate: the reset (RobotEnvironment.reset, the
 * robot's reset plan as gated moves) from the ViperX sleep pose (outside the servo limits), an aborted reset, one
 * Sync Write per arm per command, and images without a bus read.
 */
import { ManualClock, type NDArray } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { pickFrames } from '../../src/agent/images-on-demand.js';
import { framesToImages } from '../../src/inference/raw-frames.js';
import { GeneratedCamera } from '../../src/io/cameras/generated-camera.js';
import { ALOHA_CAMERA_NAMES, type AlohaCameraName } from '../../src/robots/aloha/constants.js';
import {
  createEmulatedAlohaArms,
  type EmulatedAlohaArms,
} from '../../src/robots/aloha/dynamixel-transport.js';
import { AlohaEnvironment } from '../../src/robots/aloha/environment.js';
import type { AlohaPluginExtras } from '../../src/robots/aloha/plugin.js';
import { XRegister } from '../../src/robots/dynamixel/control-table.js';
import { VIPERX_SLEEP_POSE } from '../../src/robots/dynamixel/emulator/viperx-bus.js';
import { Instruction, type InstructionPacket } from '../../src/robots/dynamixel/packet.js';
import { radiansToCounts } from '../../src/robots/dynamixel/viperx.js';
import type { GateDecision } from '../../src/safety/gate.js';
import { connectEmulatedAloha, gatedEnvironment } from './helpers.js';

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

/** The ALOHA plugin on its emulator (arms at `initialArm`), a RobotEnvironment with the robot's gate. */
async function setup(initialArm: readonly number[] = VIPERX_SLEEP_POSE, extras: AlohaPluginExtras = {}) {
  const clock = new ManualClock(0);
  const { robot, aloha, arms } = await clock.runUntil(
    connectEmulatedAloha(clock, { emulator: { initialArm }, ...extras }),
  );
  const env = gatedEnvironment(robot, clock);
  const close = async (): Promise<void> => {
    env.close();
    await robot.close();
  };
  return { clock, robot, aloha, arms, env, close };
}

describe('RobotEnvironment.reset of ALOHA from outside the servo limits', () => {
  it('the emulator at the ViperX sleep pose (shoulder 712 < 841 counts) resets to the home pose', async () => {
    const { clock, aloha, env, close } = await setup();
    const before = await aloha.measure();
    expect(radiansToCounts(before.positions[1]!)).toBeLessThan(841); // the sleep pose really is outside
    const decisions: GateDecision[] = [];
    env.onDecision = (d) => decisions.push(d);
    await clock.runUntil(env.reset());
    expect(env.lastResetOutcome).toMatchObject({ kind: 'done', segments: 3 });
    // Every target went through the gate and was let through (the start clamped into the limits).
    expect(decisions.length).toBeGreaterThan(50);
    expect(decisions.every((d) => d.kind === 'move')).toBe(true);
    await clock.advance(2000);
    const m = await aloha.measure();
    for (let j = 0; j < 6; j++) {
      expect(Math.abs(m.positions[j]! - POSE[j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
      expect(Math.abs(m.positions[7 + j]! - POSE[j]!)).toBeLessThanOrEqual(RAD_PER_COUNT);
    }
    await close();
  });

  it('hold at the sleep pose sends no arm goal the servos would refuse (gripper goal only)', async () => {
    const { clock, robot, arms, close } = await setup();
    const n = goalPackets(arms, 'left').length;
    await clock.runUntil(robot.hold());
    const sent = goalPackets(arms, 'left').slice(n);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.instruction).toBe(Instruction.Write); // the gripper's Goal Position
    await close();
  });

  it('aborting mid-reset writes no further goal and holds where the arms were', async () => {
    const { clock, aloha, arms, env, close } = await setup();
    const reset = env.reset();
    await clock.advance(500); // halfway through the ~1 s arm move
    const atAbort = await aloha.measure();
    const written = goalPackets(arms, 'left').length;
    env.abortReset('test abort');
    await clock.runUntil(reset);
    expect(env.lastResetOutcome).toEqual({ kind: 'aborted', reason: 'test abort', faults: [] });
    // exactly one more goal per arm: the hold
    expect(goalPackets(arms, 'left').length).toBe(written + 1);
    await clock.advance(3000); // past where the reset would have ended
    expect(goalPackets(arms, 'left').length).toBe(written + 1);
    expect(goalPackets(arms, 'right').length).toBe(written + 1);
    const after = await aloha.measure();
    for (let j = 0; j < 6; j++) {
      // near where it was at the abort (the servo finishes the one step it had), far from the home pose
      expect(Math.abs(after.positions[j]! - atAbort.positions[j]!)).toBeLessThan(0.1);
    }
    expect(Math.abs(after.positions[1]! - POSE[1]!)).toBeGreaterThan(0.3);
    // a later reset is not affected by the old abort
    await clock.runUntil(env.reset());
    expect(env.lastResetOutcome?.kind).toBe('done');
    await close();
  });

  it('abortReset() stops the gripper phase too', async () => {
    const { clock, arms, env, close } = await setup(POSE);
    const reset = env.reset();
    await clock.advance(1300); // the arm segment takes 1 s (openpi's minimum), then the grippers close
    const written = goalPackets(arms, 'right').length;
    env.abortReset('e-stop');
    await clock.runUntil(reset);
    await clock.advance(2000);
    expect(env.lastResetOutcome).toMatchObject({ kind: 'aborted', reason: 'e-stop' });
    expect(goalPackets(arms, 'right').length).toBe(written + 1);
    await close();
  });

  it('an e-stop during the reset aborts it with the gate holding (E_STOP): no further goal', async () => {
    const { clock, arms, env, close } = await setup();
    const reset = env.reset();
    await clock.advance(400);
    const written = goalPackets(arms, 'left').length;
    env.gate.estop.trigger('api', 'test e-stop');
    await clock.runUntil(reset);
    expect(env.lastResetOutcome).toMatchObject({ kind: 'aborted' });
    expect(goalPackets(arms, 'left').length).toBe(written + 1); // the hold
    await clock.advance(3000);
    expect(goalPackets(arms, 'left').length).toBe(written + 1);
    // With the e-stop latched a reset does not move: it holds where the arms are.
    await clock.runUntil(env.reset());
    expect(env.lastResetOutcome).toEqual({ kind: 'held', reason: 'e-stop latched' });
    await close();
  });
});

describe('ALOHA writes and images', () => {
  it('a gated command is one Sync Write per arm: 6 joints + gripper at Goal Position, no single writes', async () => {
    const { clock, aloha, arms, env, close } = await setup(POSE);
    const action = [...POSE, 0.25, ...POSE, 0.75];
    // The gate moves the grippers at most 2/s (0.04 per tick): one tick after another until the target is sent.
    for (let tick = 0; tick < 30 && aloha.lastCommand?.[13] !== 0.75; tick++) {
      await clock.runUntil(env.getObservation());
      const n = { left: arms.emulators.left.received.length, right: arms.emulators.right.received.length };
      await clock.runUntil(env.applyAction({ actions: action }));
      for (const side of ['left', 'right'] as const) {
        const sent = arms.emulators[side].received.slice(n[side]);
        expect(sent).toHaveLength(1);
        const p = sent[0]!;
        expect(p.instruction).toBe(Instruction.SyncWrite);
        expect(p.params[0]! | (p.params[1]! << 8)).toBe(XRegister.GoalPosition.address);
        expect(p.params[2]! | (p.params[3]! << 8)).toBe(4);
        const ids = Array.from({ length: 7 }, (_, i) => p.params[4 + 5 * i]);
        expect(ids).toEqual([1, 2, 4, 6, 7, 8, 9]);
      }
      await clock.advance(20);
    }
    expect(Array.from(env.lastSent ?? [])).toEqual(action);
    expect(env.tally.holds).toBe(0);
    await clock.advance(2000);
    const m = await aloha.measure();
    expect(m.positions[6]).toBeCloseTo(0.25, 3);
    expect(m.positions[13]).toBeCloseTo(0.75, 3);
    await close();
  });

  it('an out-of-limit arm target: the gate clamps it to a goal the servos take; the driver itself refuses one (BAD_ARGUMENT naming the joint), gripper included', async () => {
    const { clock, aloha, arms, env, robot, close } = await setup(POSE);
    const bad = [0, -2.05, 1.16, 0, -0.3, 0]; // shoulder at the sleep pose: 712 < 841 counts
    // Through the gate (what the agent does): clamped into the servo limits, rate-limited, accepted by the servos.
    const decisions: GateDecision[] = [];
    env.onDecision = (d) => decisions.push(d);
    for (let tick = 0; tick < 30; tick++) {
      await clock.runUntil(env.getObservation());
      await clock.runUntil(env.applyAction({ actions: [...bad, 0.5, ...POSE, 0.5] }));
      await clock.advance(20);
    }
    expect(decisions.every((d) => d.kind === 'move')).toBe(true);
    const shoulder = robot.safety.joints[1]!;
    expect(env.lastSent?.[1]).toBe(shoulder.min);
    expect(radiansToCounts(shoulder.min)).toBeGreaterThanOrEqual(841);
    expect(arms.emulators.left.servo(2)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(shoulder.min));
    expect(
      decisions.some(
        (d) =>
          d.kind === 'move' && d.limited.some((l) => l.kind === 'position' && l.name === 'left_shoulder'),
      ),
    ).toBe(true);
    // The driver underneath refuses such a goal outright and sends nothing, not even the gripper's.
    const n = arms.emulators.left.received.length;
    const err = await clock.runUntil(arms.writeJoints!('left', bad, 0)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_ARGUMENT', context: { joint: 'shoulder', id: 2 } });
    expect(arms.emulators.left.received.length).toBe(n);
    expect(aloha.lastCommand?.[1]).toBe(shoulder.min);
    await close();
  });

  it("captureImages: the observation images without a bus read; the agent's frame path (pickFrames + conversion) gives the same images", async () => {
    const { clock, robot, aloha: env, arms, close } = await setup(POSE);
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
    // What the agent hands the policy: frames picked on the loop (no bus read), converted off it.
    const raw = pickFrames(robot);
    expect(arms.emulators.left.received.length).toBe(n);
    expect(Object.keys(raw.frames)).toEqual([...ALOHA_CAMERA_NAMES]);
    const viaAgent = await clock.runUntil(framesToImages(raw));
    for (const name of ALOHA_CAMERA_NAMES) {
      expect(Buffer.from(viaAgent[name]!.data).equals(Buffer.from(expected[name]!.data))).toBe(true);
    }
    await close();
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
