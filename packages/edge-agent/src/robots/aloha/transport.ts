/**
 * How the ALOHA environment talks to the two follower arms, whatever is underneath (xs_sdk over ROS 2, a direct
 * Dynamixel bus per arm, or the bus emulator in memory). Units: rad for joints and the gripper motor angle, m for
 * the finger position, ms (monotonic, the environment's clock) for stamps.
 */
import type { AlohaSide } from './constants.js';

export interface AlohaArmState {
  /** Six arm joints (rad): waist, shoulder, elbow, forearm_roll, wrist_angle, wrist_rotate. */
  readonly arm: Float64Array;
  /** Gripper motor angle (rad), joint_states index 6. */
  readonly gripperAngle: number;
  /** Linear `left_finger` position (m), joint_states index 7: what ALOHA's observation normalises. */
  readonly fingerPosition: number;
  /** Velocities (rad/s) of the 6 joints + gripper; empty when the source has none. */
  readonly velocity: Float64Array;
  /** Efforts (mA) of the 6 joints + gripper; empty when the source has none. */
  readonly effort: Float64Array;
  /** When this state was measured or received (ms, environment clock). */
  readonly stampMs: number;
}

export interface AlohaArmsState {
  readonly left: AlohaArmState;
  readonly right: AlohaArmState;
}

export interface AlohaTransportCapabilities {
  /** `rebootGrippers` does something (xs_sdk `reboot_motors`, or a Dynamixel Reboot). */
  readonly reboot: boolean;
}

export interface AlohaArmsTransport {
  /** `emulator` | `serial` | `ros2` | `sim` (gym-aloha in MuJoCo, sim-transport.ts), plus detail (ports,
   *  namespaces) for error context. */
  readonly kind: 'emulator' | 'serial' | 'ros2' | 'sim';
  readonly description: string;
  readonly capabilities: AlohaTransportCapabilities;
  /**
   * Follower setup: reboot grippers, arm in position mode, gripper in current-based position mode,
   * torque on; resolves once both arms reported a state. Must be awaited before anything else.
   */
  start(): Promise<void>;
  /** The newest state of both arms (read now over a bus; the last received over ROS 2). */
  read(): Promise<AlohaArmsState>;
  /** Goal positions (rad) of one arm's six joints. */
  writeArm(side: AlohaSide, positions: ArrayLike<number>): Promise<void>;
  /** Gripper goal as a motor angle (rad). */
  writeGripper(side: AlohaSide, angle: number): Promise<void>;
  /**
   * Six arm goals (rad) and the gripper goal (motor angle, rad) of one arm in one command when the transport can
   * (a Dynamixel bus: one Sync Write). Optional: without it the environment calls `writeArm` then `writeGripper`.
   */
  writeJoints?(side: AlohaSide, positions: ArrayLike<number>, gripperAngle: number): Promise<void>;
  /** Clears gripper faults (overload shutdowns) by rebooting the gripper servos, torque back on. No-op without
   *  the capability. */
  rebootGrippers(): Promise<void>;
  /** Torque on/off for arms and grippers of both sides. */
  setTorque(enabled: boolean): Promise<void>;
  /**
   * Faults of the link itself that reads cannot show (the sim's bridge process exited), each a ROBOT_FAULT hold in
   * the gate. Optional; cheap (called every tick).
   */
  faults?(): readonly { readonly code: string; readonly message: string; readonly atMs: number }[];
  /** Releases ports / subscriptions. Torque is left as it is (the arms keep holding). Idempotent. */
  close(): Promise<void>;
}
