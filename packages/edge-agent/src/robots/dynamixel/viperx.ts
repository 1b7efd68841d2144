/**
 * ViperX 300 6DOF (ALOHA follower, Interbotix `aloha_vx300s` motor config) on a direct Dynamixel bus:
 * servo IDs, shadow servos, drive modes and limits, unit conversions, and {@link ViperXArm}, which reads joint
 * state in radians and commands joints the way Interbotix's xs_sdk does. Facts: Interbotix's vx300s motor config and the ROBOTIS e-manual.
 *
 * Direction: the servos themselves flip sign via Drive Mode bit 0 (shoulder, elbow, wrist_angle masters), so the
 * conversion is the same for every joint: rad = (counts − 2048)·π/2048. Shadows (IDs 3, 5) follow their masters
 * through Secondary ID; they are never sent goals, but EEPROM items (Operating Mode, Drive Mode, limits) are written
 * to their own IDs.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import {
  type GripperConstants,
  type GripperGeometry,
  PUPPET_GRIPPER,
} from '../../transforms/aloha-gripper.js';
import type { DynamixelBus } from './bus.js';
import { decodeLE, encodeLE } from './bytes.js';
import { ModelNumber, OperatingMode, XRegister } from './control-table.js';

// The gripper constant sets the models were trained with live with openpi's transforms; re-exported for the driver's users.
export { type GripperConstants, type GripperGeometry, PUPPET_GRIPPER };

export const ARM_JOINT_NAMES = [
  'waist',
  'shoulder',
  'elbow',
  'forearm_roll',
  'wrist_angle',
  'wrist_rotate',
] as const;
export type ArmJointName = (typeof ARM_JOINT_NAMES)[number];

export interface ViperXServo {
  /** Joint name; shadows are `<joint>_shadow`. */
  name: string;
  id: number;
  modelNumber: number;
  /** Drive Mode (10) as configured by Interbotix (bit 0 = reverse). */
  driveMode: number;
  /** Min / Max Position Limit (52 / 48), counts. */
  minPosition: number;
  maxPosition: number;
  /** For a shadow: the master ID it follows (its Secondary ID). */
  shadowOf?: number;
}

/** The nine servos of one `aloha_vx300s` follower arm. */
export const VIPERX_SERVOS: readonly ViperXServo[] = [
  {
    name: 'waist',
    id: 1,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 0,
    minPosition: 0,
    maxPosition: 4095,
  },
  {
    name: 'shoulder',
    id: 2,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 1,
    minPosition: 841,
    maxPosition: 2867,
  },
  {
    name: 'shoulder_shadow',
    id: 3,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 0,
    minPosition: 841,
    maxPosition: 2867,
    shadowOf: 2,
  },
  {
    name: 'elbow',
    id: 4,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 1,
    minPosition: 898,
    maxPosition: 3094,
  },
  {
    name: 'elbow_shadow',
    id: 5,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 0,
    minPosition: 898,
    maxPosition: 3094,
    shadowOf: 4,
  },
  {
    name: 'forearm_roll',
    id: 6,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 0,
    minPosition: 0,
    maxPosition: 4095,
  },
  {
    name: 'wrist_angle',
    id: 7,
    modelNumber: ModelNumber.XM540_W270,
    driveMode: 1,
    minPosition: 830,
    maxPosition: 3504,
  },
  {
    name: 'wrist_rotate',
    id: 8,
    modelNumber: ModelNumber.XM430_W350,
    driveMode: 0,
    minPosition: 0,
    maxPosition: 4095,
  },
  {
    name: 'gripper',
    id: 9,
    modelNumber: ModelNumber.XM430_W350,
    driveMode: 0,
    minPosition: 0,
    maxPosition: 4095,
  },
];
/** Master IDs of the six arm joints, in {@link ARM_JOINT_NAMES} order. */
export const VIPERX_ARM_IDS: readonly number[] = [1, 2, 4, 6, 7, 8];
/** Gripper servo ID. */
export const VIPERX_GRIPPER_ID = 9;
/** Shadow IDs (Secondary ID = master). */
export const VIPERX_SHADOW_IDS: readonly number[] = [3, 5];
/** Current Limit (38) of the gripper in the motor config: 200 × 2.69 mA ≈ 538 mA. */
export const VIPERX_GRIPPER_CURRENT_LIMIT = 200;

/** Encoder counts per revolution, and the count at 0 rad. */
export const COUNTS_PER_REV = 4096;
export const CENTER_COUNTS = 2048;

/** Position counts → radians: (counts − 2048)·π/2048. */
export function countsToRadians(counts: number): number {
  return ((counts - CENTER_COUNTS) * Math.PI) / CENTER_COUNTS;
}
/** Radians → position counts: round(rad·2048/π) + 2048. */
export function radiansToCounts(rad: number): number {
  return Math.round((rad * CENTER_COUNTS) / Math.PI) + CENTER_COUNTS;
}
/** Present/Goal Velocity units (0.229 rpm) → rad/s. */
export function velocityToRadPerSec(raw: number): number {
  return (raw * 0.229 * 2 * Math.PI) / 60;
}
/** Present Current units (2.69 mA) → mA, what Interbotix reports as effort. */
export function currentToMilliamps(raw: number): number {
  return raw * 2.69;
}

/**
 * Position limits (rad) of the six arm joints in {@link ARM_JOINT_NAMES} order: the masters' Min/Max Position
 * Limit converted with {@link countsToRadians} (a goal that rounds to a count inside is accepted by the driver).
 */
export function viperxArmLimits(
  servos: readonly ViperXServo[] = VIPERX_SERVOS,
): Array<{ min: number; max: number }> {
  return VIPERX_ARM_IDS.map((id) => {
    const s = servos.find((x) => x.id === id);
    if (!s) throw new OpenpiEdgeError('BAD_ARGUMENT', `servo map has no id ${id}`, { id });
    return { min: countsToRadians(s.minPosition), max: countsToRadians(s.maxPosition) };
  });
}

/** `aloha_vx300s`: horn radius 0.0275 m, arm length 0.035 m. */
export const ALOHA_VX300S_GRIPPER: GripperGeometry = { hornRadius: 0.0275, armLength: 0.035 };

/** Gripper motor angle (rad) → linear finger position (m, the `left_finger` joint): r·sinθ + √(L² − r²cos²θ). */
export function gripperAngleToFinger(angle: number, g: GripperGeometry = ALOHA_VX300S_GRIPPER): number {
  const r = g.hornRadius;
  const c = r * Math.cos(angle);
  return r * Math.sin(angle) + Math.sqrt(g.armLength ** 2 - c * c);
}

/** Finger separation d (m, both fingers) → gripper motor angle (rad): π/2 − acos((r² + (d/2)² − L²)/(2·r·d/2)). */
export function fingerSeparationToGripperAngle(d: number, g: GripperGeometry = ALOHA_VX300S_GRIPPER): number {
  const r = g.hornRadius;
  const h = d / 2;
  return Math.PI / 2 - Math.acos((r * r + h * h - g.armLength ** 2) / (2 * r * h));
}

/** Trossen ALOHA (ROS 2, `aloha/constants.py`) FOLLOWER_* constants. */
export const FOLLOWER_GRIPPER: GripperConstants = {
  positionOpen: 0.0579,
  positionClose: 0.044,
  jointOpen: 1.6214,
  jointClose: 0.6197,
};

/** Finger position (m) → normalized 0 = closed, 1 = open (not clamped, as in ALOHA). */
export function normalizeGripperPosition(x: number, c: GripperConstants): number {
  return (x - c.positionClose) / (c.positionOpen - c.positionClose);
}
/** Normalized → finger position (m). */
export function unnormalizeGripperPosition(u: number, c: GripperConstants): number {
  return u * (c.positionOpen - c.positionClose) + c.positionClose;
}
/** Gripper motor angle (rad) → normalized 0 = closed, 1 = open. */
export function normalizeGripperJoint(angle: number, c: GripperConstants): number {
  return (angle - c.jointClose) / (c.jointOpen - c.jointClose);
}
/** Normalized → gripper motor angle (rad): what a normalized gripper action becomes on the wire. */
export function unnormalizeGripperJoint(u: number, c: GripperConstants): number {
  return u * (c.jointOpen - c.jointClose) + c.jointClose;
}

/** One read of the arm: arm joints + gripper angle (7 entries, Interbotix joint_states order 0–6). */
export interface ViperXState {
  /** rad: 6 arm joints then the gripper motor angle. */
  position: Float64Array;
  /** rad/s, same order. */
  velocity: Float64Array;
  /** mA (Present Current × 2.69), same order. */
  effort: Float64Array;
  /** Linear `left_finger` position (m) from the gripper angle. */
  fingerPosition: number;
}

export interface ViperXArmOptions {
  /** Servo map. Default {@link VIPERX_SERVOS}. */
  servos?: readonly ViperXServo[];
  /** Gripper geometry for {@link ViperXState.fingerPosition}. Default {@link ALOHA_VX300S_GRIPPER}. */
  gripper?: GripperGeometry;
}

/** First address and length of the Sync Read block: Present Current (126, 2) + Velocity (128, 4) + Position (132, 4). */
const STATE_ADDRESS = XRegister.PresentCurrent.address;
const STATE_LENGTH = 10;

export class ViperXArm {
  readonly servos: readonly ViperXServo[];
  private readonly gripper: GripperGeometry;
  private readonly masters: readonly ViperXServo[];

  constructor(
    readonly bus: DynamixelBus,
    options: ViperXArmOptions = {},
  ) {
    this.servos = options.servos ?? VIPERX_SERVOS;
    this.gripper = options.gripper ?? ALOHA_VX300S_GRIPPER;
    this.masters = [...VIPERX_ARM_IDS, VIPERX_GRIPPER_ID].map((id) => this.byId(id));
  }

  private byId(id: number): ViperXServo {
    const s = this.servos.find((x) => x.id === id);
    if (!s) throw new OpenpiEdgeError('BAD_ARGUMENT', `servo map has no id ${id}`, { id });
    return s;
  }

  /** Pings all nine servos; throws `BAD_ARGUMENT` naming any whose model number differs from the map. */
  async verify(): Promise<void> {
    for (const s of this.servos) {
      const ping = await this.bus.ping(s.id);
      if (ping.modelNumber !== s.modelNumber) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `servo ${s.name} (id ${s.id}) is model ${ping.modelNumber}, expected ${s.modelNumber}`,
          { id: s.id, joint: s.name, modelNumber: ping.modelNumber, expected: s.modelNumber },
        );
      }
    }
  }

  /**
   * Writes the EEPROM items of the motor config to every servo, shadows by their own ID: torque off, Drive Mode,
   * position limits, Secondary ID of shadows, gripper Current Limit.
   */
  async configure(): Promise<void> {
    for (const s of this.servos) await this.bus.setTorque(s.id, false);
    for (const s of this.servos) {
      await this.bus.writeRegister(s.id, XRegister.DriveMode, s.driveMode);
      await this.bus.writeRegister(s.id, XRegister.MinPositionLimit, s.minPosition);
      await this.bus.writeRegister(s.id, XRegister.MaxPositionLimit, s.maxPosition);
      await this.bus.writeRegister(s.id, XRegister.SecondaryId, s.shadowOf ?? 255);
    }
    await this.bus.writeRegister(VIPERX_GRIPPER_ID, XRegister.CurrentLimit, VIPERX_GRIPPER_CURRENT_LIMIT);
  }

  /** IDs that carry `group`'s EEPROM items: masters and their shadows. */
  private groupIds(group: 'arm' | 'gripper'): number[] {
    if (group === 'gripper') return [VIPERX_GRIPPER_ID];
    return this.servos.filter((s) => s.id !== VIPERX_GRIPPER_ID).map((s) => s.id);
  }

  /**
   * Sets the operating mode of a group on masters and shadows (EEPROM: torque goes off first, then back to what it
   * was on the masters).
   */
  async setOperatingMode(group: 'arm' | 'gripper', mode: number): Promise<void> {
    const masters = group === 'arm' ? VIPERX_ARM_IDS : [VIPERX_GRIPPER_ID];
    const wasOn: number[] = [];
    for (const id of masters)
      if ((await this.bus.readRegister(id, XRegister.TorqueEnable)) === 1) wasOn.push(id);
    for (const id of masters) await this.bus.setTorque(id, false);
    for (const id of this.groupIds(group)) await this.bus.setOperatingMode(id, mode);
    for (const id of wasOn) await this.bus.setTorque(id, true);
  }

  /** Torque on/off for a group, addressed to masters (shadows follow through Secondary ID). */
  async setTorque(group: 'arm' | 'gripper' | 'all', enabled: boolean): Promise<void> {
    const ids =
      group === 'arm'
        ? VIPERX_ARM_IDS
        : group === 'gripper'
          ? [VIPERX_GRIPPER_ID]
          : [...VIPERX_ARM_IDS, VIPERX_GRIPPER_ID];
    for (const id of ids) await this.bus.setTorque(id, enabled);
  }

  /**
   * ALOHA follower setup: reboot the gripper, arm in position mode, gripper in current-based
   * position mode, torque on.
   */
  async setupFollower(): Promise<void> {
    await this.bus.reboot(VIPERX_GRIPPER_ID);
    await this.setOperatingMode('arm', OperatingMode.Position);
    await this.setOperatingMode('gripper', OperatingMode.CurrentBasedPosition);
    await this.setTorque('arm', true);
    await this.setTorque('gripper', true);
  }

  /** One Sync Read of current, velocity and position from the 7 masters (shadows are not read). */
  async readState(): Promise<ViperXState> {
    const ids = this.masters.map((s) => s.id);
    const data = await this.bus.syncRead(STATE_ADDRESS, STATE_LENGTH, ids);
    const position = new Float64Array(ids.length);
    const velocity = new Float64Array(ids.length);
    const effort = new Float64Array(ids.length);
    ids.forEach((id, i) => {
      const b = data.get(id)!;
      effort[i] = currentToMilliamps(decodeLE(b, 0, 2, true));
      velocity[i] = velocityToRadPerSec(decodeLE(b, 2, 4, true));
      position[i] = countsToRadians(decodeLE(b, 6, 4, true));
    });
    return { position, velocity, effort, fingerPosition: gripperAngleToFinger(position[6]!, this.gripper) };
  }

  /** Goal counts of the six arm joints; `BAD_ARGUMENT` naming the joint when not finite or outside its limits. */
  private armGoals(radians: ArrayLike<number>): Array<[number, number]> {
    if (radians.length !== VIPERX_ARM_IDS.length) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `expected 6 arm joint positions, got ${radians.length}`, {
        shape: [radians.length],
      });
    }
    return VIPERX_ARM_IDS.map((id, i): [number, number] => {
      const s = this.byId(id);
      const rad = radians[i]!;
      const counts = radiansToCounts(rad);
      if (!Number.isFinite(rad) || counts < s.minPosition || counts > s.maxPosition) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `${s.name} goal ${rad} rad (${counts} counts) outside ${s.minPosition}..${s.maxPosition} counts`,
          { joint: s.name, id, value: rad, counts, min: s.minPosition, max: s.maxPosition },
        );
      }
      return [id, counts];
    });
  }

  private gripperGoal(angle: number): number {
    if (!Number.isFinite(angle)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `gripper goal must be finite, got ${angle}`, {
        joint: 'gripper',
        value: angle,
      });
    }
    return radiansToCounts(angle);
  }

  /**
   * Goal positions (rad) of the six arm joints in one Sync Write to the masters. Throws `BAD_ARGUMENT` naming the
   * joint when a value is not finite or outside the servo's position limits (the servo would drop it silently).
   */
  async writeArmPositions(radians: ArrayLike<number>): Promise<void> {
    const values = this.armGoals(radians);
    await this.bus.syncWrite(
      XRegister.GoalPosition.address,
      4,
      values.map(([id, counts]) => ({ id, data: encodeLE(counts, 4) })),
    );
  }

  /**
   * Six arm joint goals (rad) and the gripper goal (motor angle, rad) in ONE Sync Write (7 masters, Goal Position
   * 116, 4 bytes). The gripper runs in current-based position mode, but that mode takes its goal in the same
   * register and units as the arm's position mode (only the range differs: ±256 rev), so one packet serves both.
   * A Sync Write has no status reply: servo errors (e.g. a gripper overload) surface on the next state read, whose
   * Sync Read statuses carry the alert bit. Validation as in {@link writeArmPositions}; nothing is sent on error.
   */
  async writePositions(radians: ArrayLike<number>, gripperAngle: number): Promise<void> {
    const values = this.armGoals(radians);
    values.push([VIPERX_GRIPPER_ID, this.gripperGoal(gripperAngle)]);
    await this.bus.syncWrite(
      XRegister.GoalPosition.address,
      4,
      values.map(([id, counts]) => ({ id, data: encodeLE(counts, 4) })),
    );
  }

  /** Gripper goal as a motor angle (rad; ALOHA runs the gripper in current-based position mode). Acknowledged write. */
  async writeGripper(angle: number): Promise<void> {
    await this.bus.writeRegister(VIPERX_GRIPPER_ID, XRegister.GoalPosition, this.gripperGoal(angle));
  }
}
