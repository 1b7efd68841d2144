/** UR5e safety defaults (docs/safety.md), for the UR5 robot plugin (robots/ur5/plugin.ts, docs/ur5.md). */
import { armJoint, deepFreeze, gripperJoint, type SafetyConfig } from '../../safety/config.js';

/**
 * UR5e defaults: 7 dims `[6 joints, gripper]` (openpi's UR5 layout), `ur_description` limits (±2π, elbow ±π,
 * π rad/s). The control rate and gripper range are not given by the sources: 50 Hz and [0, 1] normalised.
 */
export const UR5_SAFETY_DEFAULTS: Readonly<SafetyConfig> = deepFreeze({
  robot: 'ur5',
  controlRateHz: 50,
  joints: [
    armJoint('shoulder_pan', -2 * Math.PI, 2 * Math.PI),
    armJoint('shoulder_lift', -2 * Math.PI, 2 * Math.PI),
    armJoint('elbow', -Math.PI, Math.PI),
    armJoint('wrist_1', -2 * Math.PI, 2 * Math.PI),
    armJoint('wrist_2', -2 * Math.PI, 2 * Math.PI),
    armJoint('wrist_3', -2 * Math.PI, 2 * Math.PI),
    gripperJoint('gripper'),
  ],
  watchdog: {
    jointStaleMs: 100,
    cameraStaleMs: 500,
    policyStallMs: 250,
    requiredCameras: ['base_rgb', 'wrist_rgb'],
  },
  latchOn: [],
} satisfies SafetyConfig);

/**
 * The arm's 6 joints of a 7-dim UR5 safety config (limits and speeds unchanged, no cameras): what the servo
 * worker's per-cycle gate checks (ur/servo-loop.ts).
 */
export function armSafety(safety: SafetyConfig): SafetyConfig {
  return {
    ...safety,
    joints: safety.joints.slice(0, 6),
    watchdog: { ...safety.watchdog, requiredCameras: [] },
  };
}
