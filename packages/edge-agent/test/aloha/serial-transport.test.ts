/**
 * ALOHA over real serial ports: the ALOHA plugin's serial transport opens socat ptys served by two ViperX bus
 * emulators (emulateAloha); cameras are ffmpeg's lavfi test source through the MJPEG pipe a webcam uses.
 */
import { type NDArray, realClock } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import type { AlohaCameraConfig } from '../../src/robots/aloha/config.js';
import { emulateAloha } from '../../src/robots/aloha/emulate.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import { OperatingMode, XRegister } from '../../src/robots/dynamixel/control-table.js';
import { radiansToCounts } from '../../src/robots/dynamixel/viperx.js';
import type { AlohaRobot } from './helpers.js';
import { gatedEnvironment } from './helpers.js';

const HOME = [0, -0.96, 1.16, 0, -0.3, 0];

describe('ALOHA serial transport over pty-served emulators', () => {
  it('sets the followers up, resets through the gate, applies an action and observes it', async () => {
    const emu = await emulateAloha({ arm: { initialArm: [0.2, -0.5, 0.5, 0, 0, 0] } });
    const test: AlohaCameraConfig = { kind: 'testsrc', width: 32, height: 24 };
    try {
      const serial = { portLeft: emu.left.devicePath, portRight: emu.right.devicePath };
      const connect = (cameras: Record<string, AlohaCameraConfig>) =>
        alohaPlugin.with({ resetTiming: { armMs: 100, gripperCloseMs: 60, gripperOpenMs: 40 } }).connect({
          config: { transport: 'serial', serial, cameras },
          clock: realClock,
          controlHz: 50,
          // Real clock over socat ptys on a shared machine: one bus read can take > 100 ms, which the watchdog
          // (tested on its own) would answer with a hold; not what this test is about.
          safetyOverrides: { watchdog: { jointStaleMs: 1000 } },
          warn: () => {},
        });
      // Generated frames belong to the emulator; a required camera needs a source.
      await expect(connect({ cam_high: { kind: 'generated' } })).rejects.toMatchObject({
        code: 'CONFIG_MISMATCH',
        context: { camera: 'cam_high', kind: 'generated' },
      });
      await expect(connect({ cam_high: test })).rejects.toMatchObject({
        code: 'CONFIG_MISMATCH',
        context: { camera: 'cam_left_wrist', transport: 'serial' },
      });
      const robot = (await connect({
        cam_high: test,
        cam_left_wrist: test,
        cam_right_wrist: test,
      })) as AlohaRobot;
      const env = gatedEnvironment(robot, realClock, { resetSpeedFraction: 1 });
      try {
        expect(robot.description).toMatch(/^serial: .*follower_left.*follower_right/);
        expect(Object.keys(robot.cameras).sort()).toEqual(['cam_high', 'cam_left_wrist', 'cam_right_wrist']);
        expect(robot.cameraDescriptions.cam_low).toBe('none');
        for (const side of ['left', 'right'] as const) {
          const e = emu[side].emulator;
          expect(e.servo(9)!.get(XRegister.OperatingMode)).toBe(OperatingMode.CurrentBasedPosition);
          expect(e.servo(2)!.get(XRegister.OperatingMode)).toBe(OperatingMode.Position);
          expect(e.servo(1)!.torqueEnabled).toBe(true);
        }
        await env.reset();
        expect(env.lastResetOutcome).toMatchObject({ kind: 'done', segments: 3 });
        await robot.read(); // after the last Sync Write of the reset (see below)
        HOME.forEach((q, j) => {
          expect(emu.left.emulator.servo([1, 2, 4, 6, 7, 8][j]!)!.get(XRegister.GoalPosition)).toBe(
            radiansToCounts(q),
          );
        });
        expect(emu.right.emulator.servo(9)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(1.491));
        for (const cam of Object.values(robot.cameras)) await cam.nextFrame(10_000, true);
        const target = [0.1, -0.9, 1.0, 0.05, -0.25, 0.1];
        const action = [...target, 0, ...HOME, 1];
        // The gate's per-tick steps (π/50 rad, 0.04 gripper) reach the target over a few ticks.
        for (let tick = 0; tick < 40; tick++) {
          await env.getObservation();
          await env.applyAction({ actions: action });
          if (env.lastSent?.every((x, i) => x === action[i])) break;
        }
        expect(Array.from(env.lastSent ?? [])).toEqual(action);
        // A Sync Write has no reply; the next bus read (answered after it on the same line) orders them.
        const obs = await env.getObservation();
        expect(emu.left.emulator.servo(8)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(0.1));
        expect(emu.left.emulator.servo(9)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(-0.6213));
        expect((obs.state as NDArray).shape).toEqual([14]);
        const full = await robot.environment.getObservation();
        expect((full.images as Record<string, NDArray>).cam_right_wrist?.shape).toEqual([3, 224, 224]);
        // cam_low has no source with serial: left out (openpi masks it).
        expect(Object.keys(full.images as object).sort()).toEqual([
          'cam_high',
          'cam_left_wrist',
          'cam_right_wrist',
        ]);
      } finally {
        env.close();
        await robot.close();
      }
    } finally {
      await emu.close();
    }
  }, 60_000);
});
