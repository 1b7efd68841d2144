/**
 * Planned moves that are not the policy's: homing, resets, gripper sequences, scripted example motions. A plan is a
 * straight line in joint space from where the robot is to a target, one waypoint per control tick, every joint
 * arriving together (like openpi's ALOHA reset). Its duration follows the distance: the slowest joint moves at
 * `speedFraction` of its `maxVelocity`, and never faster than the gate allows. Each waypoint still goes through
 * {@link SafetyGate.motionStep}; the plan only decides the targets.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { SafetyConfig } from './config.js';
import type { JointVector } from './limiter.js';

export interface MovePlanOptions {
  /** Fraction of each joint's `maxVelocity` the move uses (0 < f <= 1). Default 0.5. */
  speedFraction?: number;
  /** Shortest duration (ms), e.g. openpi's 1 s arm reset. Default 0. */
  minDurationMs?: number;
  /** What the move is for, in error messages (`reset pose`, `home`...). Default `move target`. */
  what?: string;
}

export interface MovePlan {
  /** One target per control tick, the last one equal to the target. */
  readonly waypoints: readonly Float64Array[];
  /** `waypoints.length` control periods (ms). */
  readonly durationMs: number;
  /** The start the line begins at: the measured position clamped into the limits. */
  readonly from: Float64Array;
}

/**
 * Refuses a target outside the limits with UNSAFE_TARGET naming the joint and the value (a reset pose from server
 * metadata, a user's home pose): a planned move is never clamped silently.
 */
export function checkTarget(config: SafetyConfig, target: JointVector, what = 'move target'): void {
  if (target.length !== config.joints.length) {
    throw new OpenpiEdgeError(
      'UNSAFE_TARGET',
      `${config.robot}: ${what} has ${target.length} values, expected ${config.joints.length}`,
      { robot: config.robot, what, got: target.length, expected: config.joints.length },
    );
  }
  config.joints.forEach((j, i) => {
    const v = target[i] as number;
    if (!Number.isFinite(v) || v < j.min || v > j.max) {
      throw new OpenpiEdgeError(
        'UNSAFE_TARGET',
        `${config.robot}: ${what} ${j.name} = ${v} is outside [${j.min}, ${j.max}]`,
        { robot: config.robot, what, joint: j.name, index: i, value: v, min: j.min, max: j.max },
      );
    }
  });
}

/** A straight-line move from `from` (measured; clamped into the limits) to `target` (checked, never clamped). */
export function planMove(
  config: SafetyConfig,
  from: JointVector,
  target: JointVector,
  options: MovePlanOptions = {},
): MovePlan {
  const what = options.what ?? 'move target';
  checkTarget(config, target, what);
  const fraction = options.speedFraction ?? 0.5;
  if (!(fraction > 0 && fraction <= 1)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `speedFraction must be in (0, 1], got ${fraction}`, {
      speedFraction: fraction,
    });
  }
  if (from.length !== config.joints.length) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${config.robot}: measured position has ${from.length} values, expected ${config.joints.length}`,
      { got: from.length, expected: config.joints.length },
    );
  }
  const start = Float64Array.from(config.joints, (j, i) => {
    const v = from[i] as number;
    if (!Number.isFinite(v)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${config.robot}: measured ${j.name} is ${v}`, {
        joint: j.name,
        value: v,
      });
    }
    return Math.min(j.max, Math.max(j.min, v));
  });
  const periodMs = 1000 / config.controlRateHz;
  let seconds = 0;
  config.joints.forEach((j, i) => {
    seconds = Math.max(
      seconds,
      Math.abs((target[i] as number) - (start[i] as number)) / (j.maxVelocity * fraction),
    );
  });
  const durationMs = Math.max(seconds * 1000, options.minDurationMs ?? 0);
  const n = Math.max(1, Math.ceil(durationMs / periodMs - 1e-9));
  const waypoints: Float64Array[] = [];
  for (let k = 1; k <= n; k++) {
    const t = k / n;
    waypoints.push(Float64Array.from(start, (s, i) => s + ((target[i] as number) - s) * t));
  }
  return { waypoints, durationMs: n * periodMs, from: start };
}
