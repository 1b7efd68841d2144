/** The UR5 plugin's view of its arm, whatever the transport (RTDE: ur/ur-arm.ts, ROS 2: ros2-arm.ts). */
import type { RobotFault } from '../interface.js';

/** What the UR5 robot needs of its arm, whatever the transport. Joint order shoulder_pan … wrist_3 (rad). */
export interface Ur5ArmLink {
  readonly description: string;
  /** Connected read-only: `move` refuses, nothing is ever sent. */
  readonly dryRun: boolean;
  /** Newest joints and when they were measured (ms, the plugin's clock; -Infinity before the first). */
  read(): { q: Float64Array; stampMs: number };
  /** Streams toward q (6 rad, already through the safety gate) to be reached over periodMs. */
  move(q: ArrayLike<number>, periodMs: number): void;
  /** Stops where the arm is now. */
  hold(): Promise<void>;
  /** Faults now (latched ones included), each naming what is wrong and how to clear it. */
  faults(atMs: number): RobotFault[];
  /** The user's explicit resume after clearing the cause; rejects naming what is still wrong. */
  resume(options?: { unlockProtectiveStop?: boolean }): Promise<void>;
  close(): Promise<void>;
}
