/**
 * The gate's joint ranges, tightened to what the ViperX servos accept. The ALOHA safety defaults are the URDF
 * limits; a few of them reach one encoder count past the servos' Min/Max Position_Limit once rounded to counts
 * (waist / forearm_roll / wrist_rotate at +π = 4096 counts > 4095; elbow at +92° = 3095 counts > 3094), and the
 * driver refuses such a goal (BAD_ARGUMENT), which would stop the loop exactly when the gate clamps to a limit.
 * Each arm joint's range becomes the intersection of its configured range and the servo's, one count inside.
 */

import { parseSafetyConfig, type SafetyConfig } from '../../safety/config.js';
import { countsToRadians, VIPERX_SERVOS } from '../dynamixel/viperx.js';

/** Servo range (rad) of each ViperX arm joint by name, one encoder count inside the position limits. */
export function viperxJointRanges(): Map<string, { min: number; max: number }> {
  const out = new Map<string, { min: number; max: number }>();
  for (const s of VIPERX_SERVOS) {
    if (s.shadowOf !== undefined || s.name === 'gripper') continue;
    out.set(s.name, { min: countsToRadians(s.minPosition + 1), max: countsToRadians(s.maxPosition - 1) });
  }
  return out;
}

/**
 * `config` with every `left_<joint>` / `right_<joint>` range intersected with the servo range. Grippers (normalised
 * units) and unknown names are left as they are. Returns a validated copy.
 */
export function withServoLimits(config: SafetyConfig): SafetyConfig {
  const ranges = viperxJointRanges();
  const joints = config.joints.map((j) => {
    const r = j.kind === 'joint' ? ranges.get(j.name.replace(/^(left|right)_/, '')) : undefined;
    return r === undefined ? j : { ...j, min: Math.max(j.min, r.min), max: Math.min(j.max, r.max) };
  });
  return parseSafetyConfig({ ...config, joints });
}
