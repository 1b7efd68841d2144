/**
 * ALOHA constants: the two gripper generations, ROS namespaces, cameras, poses, rates. Values from Interbotix /
 * Trossen ALOHA and openpi's aloha_real; the gripper constant sets live in transforms/aloha-gripper.ts and the ViperX
 * driver.
 */

import { VX300S_GRIPPER } from '../../transforms/aloha-gripper.js';
import {
  ALOHA_VX300S_GRIPPER,
  FOLLOWER_GRIPPER,
  type GripperConstants,
  type GripperGeometry,
  PUPPET_GRIPPER,
} from '../dynamixel/viperx.js';

/**
 * A gripper generation: the OPEN/CLOSE constants that map finger position (state) and gripper angle (action) to
 * 0 = closed … 1 = open, and the swing-arm geometry that turns a motor angle into the finger position those
 * constants were measured with.
 */
export interface AlohaGripperProfile {
  readonly name: AlohaGeneration;
  readonly constants: GripperConstants;
  readonly geometry: GripperGeometry;
}

/** `openpi`: ACT / openpi aloha_real (ROS 1, PUPPET_*, `vx300s` geometry); `trossen`: Trossen ROS 2 ALOHA (FOLLOWER_*). */
export type AlohaGeneration = 'openpi' | 'trossen';

export { VX300S_GRIPPER };

export const ALOHA_GRIPPER_PROFILES: Readonly<Record<AlohaGeneration, AlohaGripperProfile>> = {
  openpi: { name: 'openpi', constants: PUPPET_GRIPPER, geometry: VX300S_GRIPPER },
  trossen: { name: 'trossen', constants: FOLLOWER_GRIPPER, geometry: ALOHA_VX300S_GRIPPER },
};

/** Follower arm namespaces: Trossen ROS 2 ALOHA (`follower_*`) and ACT/openpi ROS 1 (`puppet_*`). */
export const ALOHA_NAMESPACES: Readonly<Record<AlohaGeneration, { left: string; right: string }>> = {
  trossen: { left: 'follower_left', right: 'follower_right' },
  openpi: { left: 'puppet_left', right: 'puppet_right' },
};

/** The four cameras openpi's ALOHA observation carries, in order. */
export const ALOHA_CAMERA_NAMES = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'] as const;
export type AlohaCameraName = (typeof ALOHA_CAMERA_NAMES)[number];

/** Image topic of a RealSense camera under Trossen ALOHA (realsense2_camera >= 4.55 layout). */
export function alohaImageTopic(camera: string): string {
  return `/${camera}/camera/color/image_rect_raw`;
}

/** Home pose of one arm (rad): waist, shoulder, elbow, forearm_roll, wrist_angle, wrist_rotate. */
export const ALOHA_DEFAULT_RESET_POSE: readonly number[] = [0, -0.96, 1.16, 0, -0.3, 0];

/** ALOHA's control rate (Hz): DT = 0.02 s. */
export const ALOHA_CONTROL_HZ = 50;

export type AlohaSide = 'left' | 'right';
export const ALOHA_SIDES: readonly AlohaSide[] = ['left', 'right'];

/** Arm reset over 1 s, then grippers close over 1 s and open over 0.5 s (openpi's order; ms). */
export const ALOHA_RESET_TIMING = { armMs: 1000, gripperCloseMs: 1000, gripperOpenMs: 500 } as const;

/**
 * The reset pose a policy server advertises in its metadata (`reset_pose`, openpi ALOHA configs send 6+ values):
 * its first 6 values, or undefined when absent or malformed.
 */
export function resetPoseFromMetadata(metadata: unknown): number[] | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const raw = (metadata as Record<string, unknown>).reset_pose;
  let values: unknown[] | undefined;
  if (Array.isArray(raw)) values = raw;
  else if (typeof raw === 'object' && raw !== null && ArrayBuffer.isView((raw as { data?: unknown }).data)) {
    values = Array.from((raw as { data: ArrayLike<number> }).data);
  }
  if (values === undefined || values.length < 6) return undefined;
  const pose = values.slice(0, 6);
  return pose.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (pose as number[]) : undefined;
}
