/** The ALOHA plugin's safety defaults (docs/safety.md); the gate itself knows no robot by name. */
import { armJoint, deepFreeze, gripperJoint, type SafetyConfig } from '../../safety/config.js';

const deg = (d: number): number => (d * Math.PI) / 180;

/** ViperX 300 (ALOHA follower) arm joints, URDF position limits. */
const VX300_ARM: ReadonlyArray<readonly [string, number, number]> = [
  ['waist', -(Math.PI - 1e-5), Math.PI - 1e-5],
  ['shoulder', deg(-106), deg(72)],
  ['elbow', deg(-101), deg(92)],
  ['forearm_roll', -Math.PI, Math.PI],
  ['wrist_angle', deg(-107), deg(128)],
  ['wrist_rotate', -Math.PI, Math.PI],
];

/**
 * ALOHA defaults: 14 dims `[left joints 6, left gripper, right joints 6, right gripper]` (openpi's layout),
 * ViperX 300 URDF limits (π rad/s), 50 Hz (openpi aloha_real `max_hz`), grippers clamped to [0, 1] normalised
 * (= PUPPET_GRIPPER_JOINT_CLOSE..OPEN once the environment maps them to radians). The plugin intersects the ranges
 * with the servo limits (servo-limits.ts).
 */
export const ALOHA_SAFETY_DEFAULTS: Readonly<SafetyConfig> = deepFreeze({
  robot: 'aloha',
  controlRateHz: 50,
  joints: (['left', 'right'] as const).flatMap((side) => [
    ...VX300_ARM.map(([n, lo, hi]) => armJoint(`${side}_${n}`, lo, hi)),
    gripperJoint(`${side}_gripper`),
  ]),
  watchdog: {
    jointStaleMs: 100,
    cameraStaleMs: 500,
    policyStallMs: 250,
    requiredCameras: ['cam_high', 'cam_left_wrist', 'cam_right_wrist'],
  },
  latchOn: [],
} satisfies SafetyConfig);
