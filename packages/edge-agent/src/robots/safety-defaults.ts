/**
 * The built-in robots' safety defaults by name, with overrides applied: a convenience for apps and tests that build
 * a gate without a plugin (`safetyConfigFor('ur5', { controlRateHz: 20 })`).
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { applySafetyOverrides, type SafetyConfig } from '../safety/config.js';
import { ALOHA_SAFETY_DEFAULTS } from './aloha/safety-defaults.js';
import { UR5_SAFETY_DEFAULTS } from './ur5/safety-defaults.js';

/** Robots with safety defaults here. */
export type SafetyRobot = 'aloha' | 'ur5';

const DEFAULTS: Readonly<Record<SafetyRobot, Readonly<SafetyConfig>>> = {
  aloha: ALOHA_SAFETY_DEFAULTS,
  ur5: UR5_SAFETY_DEFAULTS,
};

/**
 * The validated config for `robot`: its defaults with `overrides` applied. Throws BAD_ARGUMENT on an unknown
 * robot, key or joint name, or a value out of range.
 */
export function safetyConfigFor(robot: SafetyRobot, overrides: unknown = {}): SafetyConfig {
  const base = Object.hasOwn(DEFAULTS, robot) ? DEFAULTS[robot] : undefined;
  if (base === undefined) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `no safety defaults for robot '${String(robot)}'`, {
      robot,
      known: Object.keys(DEFAULTS),
    });
  }
  return applySafetyOverrides(base, overrides);
}
