/**
 * An emulated ViperX 300 6DOF follower bus: the nine servos of `aloha_vx300s` with the EEPROM values Interbotix
 * configures (Baud Rate 3 = 1 Mbps, Return Delay 0, Velocity Limit 131, Drive Modes, position limits, shadows'
 * Secondary IDs, gripper Current Limit 200), starting at the sleep pose.
 */
import { radiansToCounts, VIPERX_GRIPPER_CURRENT_LIMIT, VIPERX_SERVOS } from '../viperx.js';
import { type BusEmulatorOptions, DynamixelBusEmulator } from './bus-emulator.js';
import { SERVO_MODELS } from './models.js';
import { EmulatedServo } from './servo.js';

/** `aloha_vx300s` sleep positions (rad) of the six arm joints; the gripper starts at 0 rad. */
export const VIPERX_SLEEP_POSE: readonly number[] = [0, -2.05, 1.7, 0, -2.0, 0];

export interface ViperXBusOptions extends BusEmulatorOptions {
  /** Initial joint angles (rad) of the six arm joints. Default {@link VIPERX_SLEEP_POSE}. */
  initialArm?: readonly number[];
  /** Initial gripper motor angle (rad). Default 0. */
  initialGripper?: number;
}

export function createViperXBusEmulator(options: ViperXBusOptions = {}): DynamixelBusEmulator {
  const arm = options.initialArm ?? VIPERX_SLEEP_POSE;
  const jointRad: Record<number, number> = {
    1: arm[0]!,
    2: arm[1]!,
    4: arm[2]!,
    6: arm[3]!,
    7: arm[4]!,
    8: arm[5]!,
  };
  jointRad[9] = options.initialGripper ?? 0;
  const servos = VIPERX_SERVOS.map((s) => {
    const model = SERVO_MODELS.get(s.modelNumber)!;
    const rad = jointRad[s.shadowOf ?? s.id] ?? 0;
    return new EmulatedServo({
      id: s.id,
      model,
      initialPosition: radiansToCounts(rad),
      settings: {
        BaudRate: 3,
        ReturnDelayTime: 0,
        VelocityLimit: 131,
        DriveMode: s.driveMode,
        MinPositionLimit: s.minPosition,
        MaxPositionLimit: s.maxPosition,
        SecondaryId: s.shadowOf ?? 255,
        ...(s.id === 9 ? { CurrentLimit: VIPERX_GRIPPER_CURRENT_LIMIT } : {}),
      },
    });
  });
  return new DynamixelBusEmulator(servos, options);
}
