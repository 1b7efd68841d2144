/** ALOHA over real serial ports: the driver opens socat ptys served by two ViperX bus emulators (emulateAloha). */
import type { NDArray } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { createAlohaEnvironment } from '../../src/robots/aloha/create.js';
import { OperatingMode, XRegister } from '../../src/robots/dynamixel/control-table.js';
import { radiansToCounts } from '../../src/robots/dynamixel/viperx.js';
import { emulateAloha } from '../../src/robots/aloha/emulate.js';

const HOME = [0, -0.96, 1.16, 0, -0.3, 0];

describe('ALOHA serial transport over pty-served emulators', () => {
  it('sets the followers up, resets, applies an action and observes it', async () => {
    const emu = await emulateAloha({ arm: { initialArm: [0.2, -0.5, 0.5, 0, 0, 0] } });
    const gen = { kind: 'generated', width: 32, height: 24 } as const;
    try {
      const { environment: env, close } = await createAlohaEnvironment({
        transport: 'serial',
        ports: { left: emu.left.devicePath, right: emu.right.devicePath },
        cameras: { cam_high: gen, cam_low: gen, cam_left_wrist: gen, cam_right_wrist: gen },
        resetTiming: { armMs: 100, gripperCloseMs: 60, gripperOpenMs: 40 },
      });
      try {
        for (const side of ['left', 'right'] as const) {
          const e = emu[side].emulator;
          expect(e.servo(9)!.get(XRegister.OperatingMode)).toBe(OperatingMode.CurrentBasedPosition);
          expect(e.servo(2)!.get(XRegister.OperatingMode)).toBe(OperatingMode.Position);
          expect(e.servo(1)!.torqueEnabled).toBe(true);
        }
        await env.reset();
        HOME.forEach((q, j) => {
          expect(emu.left.emulator.servo([1, 2, 4, 6, 7, 8][j]!)!.get(XRegister.GoalPosition)).toBe(
            radiansToCounts(q),
          );
        });
        expect(emu.right.emulator.servo(9)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(1.491));
        const target = [0.1, -0.9, 1.0, 0.05, -0.25, 0.1];
        await env.applyAction({ actions: [...target, 0, ...HOME, 1] });
        expect(emu.left.emulator.servo(8)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(0.1));
        expect(emu.left.emulator.servo(9)!.get(XRegister.GoalPosition)).toBe(radiansToCounts(-0.6213));
        const obs = await env.getObservation();
        expect((obs.state as NDArray).shape).toEqual([14]);
        expect((obs.images as Record<string, NDArray>).cam_right_wrist?.shape).toEqual([3, 224, 224]);
      } finally {
        await close();
      }
    } finally {
      await emu.close();
    }
  });
});
