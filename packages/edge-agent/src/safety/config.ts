/**
 * Safety configuration: joint limits, rate limits and watchdog thresholds, validated with zod. The per-robot
 * defaults belong to the robot plugins (robots/<name>/safety-defaults.ts); this module knows no robot by name.
 * Units: joint positions in radians, gripper positions in the policy's normalised action units (0 = closed,
 * 1 = open), velocities in those units per second, times in milliseconds. Every knob is documented in docs/safety.md.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { z } from 'zod';
import { FAULT_CODES } from './faults.js';

const finite = z.number();

/** One action dimension: its position range, its speed limit and the margin beyond which a target is rejected. */
const JointLimitObject = z
  .object({
    /** Joint name used in fault records, e.g. `left_waist`. */
    name: z.string().min(1),
    /** `joint`: an arm joint in rad. `gripper`: a gripper in normalised action units (0 closed, 1 open). */
    kind: z.enum(['joint', 'gripper']),
    /** Lowest position the command may take (rad, or normalised for grippers). */
    min: finite,
    /** Highest position the command may take (rad, or normalised for grippers). */
    max: finite,
    /** Largest speed a command may ask for (rad/s, or normalised units/s); divided by the control rate per tick. */
    maxVelocity: finite.positive(),
    /**
     * A target further than this beyond [min, max] is not clamped but rejected as ACTION_OUT_OF_RANGE
     * (same unit as min/max). A policy that far outside the joint range is broken (wrong norm stats or layout).
     */
    rejectMargin: finite.nonnegative(),
  })
  .strict();

export const JointLimitSchema = JointLimitObject.refine((j) => j.min < j.max, {
  message: 'min must be < max',
  path: ['max'],
});

export type JointLimit = z.output<typeof JointLimitSchema>;

export const WatchdogConfigSchema = z
  .object({
    /** Joint states older than this (ms) are stale: hold. */
    jointStaleMs: finite.positive(),
    /** A camera frame older than this (ms) is stale: hold. */
    cameraStaleMs: finite.positive(),
    /** A broker stall (no action ready) longer than this (ms) is a fault: hold. */
    policyStallMs: finite.nonnegative(),
    /** Cameras that must be present and fresh every tick (names as in the observation). */
    requiredCameras: z.array(z.string().min(1)),
  })
  .strict();

export type WatchdogConfig = z.output<typeof WatchdogConfigSchema>;

export const SafetyConfigSchema = z
  .object({
    /** Robot name, for messages. */
    robot: z.string().min(1),
    /** Control loop rate (Hz): one `filter`/`step` call per tick. Converts velocities to per-tick steps. */
    controlRateHz: finite.positive().max(10_000),
    /** One entry per action dimension, in action order. */
    joints: z.array(JointLimitSchema).min(1).max(256),
    watchdog: WatchdogConfigSchema,
    /** Fault codes that also latch the e-stop (so motion resumes only after an explicit reset). */
    latchOn: z.array(z.enum(FAULT_CODES)),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.joints.forEach((j, i) => {
      if (seen.has(j.name)) {
        ctx.addIssue({
          code: 'custom',
          message: `duplicate joint name '${j.name}'`,
          path: ['joints', i, 'name'],
        });
      }
      seen.add(j.name);
    });
  });

export type SafetyConfig = z.output<typeof SafetyConfigSchema>;

/** URDF velocity limit of the ViperX 300 and UR5e joints (rad/s): the default `maxVelocity` of {@link armJoint}. */
export const ARM_MAX_VELOCITY = Math.PI;
/**
 * Gripper speed limit in normalised units/s: full travel in 0.5 s, the speed of openpi's own ALOHA reset (gripper
 * close -> open over 0.5 s). The default `maxVelocity` of {@link gripperJoint}.
 */
export const GRIPPER_MAX_VELOCITY = 2;
/** Rejection margin beyond the position range (rad for joints, normalised for grippers). */
export const REJECT_MARGIN = 0.5;

/** An arm joint's limits (rad) with the default speed limit and reject margin: for robot plugins' safety defaults. */
export function armJoint(name: string, min: number, max: number): JointLimit {
  return { name, kind: 'joint', min, max, maxVelocity: ARM_MAX_VELOCITY, rejectMargin: REJECT_MARGIN };
}

/** A gripper in normalised units [0, 1] with the default speed limit and reject margin. */
export function gripperJoint(name: string): JointLimit {
  return {
    name,
    kind: 'gripper',
    min: 0,
    max: 1,
    maxVelocity: GRIPPER_MAX_VELOCITY,
    rejectMargin: REJECT_MARGIN,
  };
}

/** Freezes a defaults object (and everything in it) so no caller can change a robot's defaults. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const JointOverrideSchema = JointLimitObject.omit({ name: true, kind: true }).partial().strict();

/** Changes to a robot's defaults, e.g. from a config file. Unknown keys and joint names are rejected. */
export const SafetyOverridesSchema = z
  .object({
    /** Control loop rate (Hz). */
    controlRateHz: finite.positive().max(10_000).optional(),
    /** Sets `maxVelocity` (rad/s) of every arm joint. */
    maxJointVelocity: finite.positive().optional(),
    /** Sets `maxVelocity` (normalised units/s) of every gripper. */
    maxGripperVelocity: finite.positive().optional(),
    /** Per-joint changes by joint name; applied after the two settings above. */
    joints: z.record(z.string(), JointOverrideSchema).optional(),
    watchdog: WatchdogConfigSchema.partial().strict().optional(),
    latchOn: z.array(z.enum(FAULT_CODES)).optional(),
  })
  .strict();

export type SafetyOverrides = z.input<typeof SafetyOverridesSchema>;

function fail(what: string, error: z.ZodError, context: Record<string, unknown>): never {
  const issues = error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  throw new OpenpiEdgeError(
    'BAD_ARGUMENT',
    `invalid ${what}${first ? ` at '${first.path}': ${first.message}` : ''}`,
    { ...context, issues },
  );
}

/** Validates a complete safety config (throws BAD_ARGUMENT naming the offending key). Returns a fresh copy. */
export function parseSafetyConfig(input: unknown): SafetyConfig {
  const r = SafetyConfigSchema.safeParse(input);
  if (!r.success) fail('safety config', r.error, {});
  return r.data;
}

/**
 * A robot's safety defaults (its plugin's) with `overrides` applied (the config file's `safety` section; docs/safety.md
 * "Knobs"). Throws BAD_ARGUMENT on an unknown key or joint name, or a value out of range.
 */
export function applySafetyOverrides(base: SafetyConfig, overrides: unknown = {}): SafetyConfig {
  const robot = base.robot;
  const r = SafetyOverridesSchema.safeParse(overrides);
  if (!r.success) fail('safety overrides', r.error, { robot });
  const o = r.data;
  const names = new Set(base.joints.map((j) => j.name));
  for (const name of Object.keys(o.joints ?? {})) {
    if (!names.has(name)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `safety overrides name unknown joint '${name}' for ${robot}`,
        {
          robot,
          joint: name,
          known: [...names],
        },
      );
    }
  }
  const joints = base.joints.map((j) => {
    const speed = j.kind === 'joint' ? o.maxJointVelocity : o.maxGripperVelocity;
    return { ...j, ...(speed !== undefined ? { maxVelocity: speed } : {}), ...o.joints?.[j.name] };
  });
  return parseSafetyConfig({
    robot: base.robot,
    controlRateHz: o.controlRateHz ?? base.controlRateHz,
    joints,
    watchdog: { ...base.watchdog, ...o.watchdog },
    latchOn: o.latchOn ?? base.latchOn,
  });
}

/** Largest change per control tick for each action dimension: `maxVelocity / controlRateHz`. */
export function perTickLimits(config: SafetyConfig): Float64Array {
  return Float64Array.from(config.joints, (j) => j.maxVelocity / config.controlRateHz);
}
