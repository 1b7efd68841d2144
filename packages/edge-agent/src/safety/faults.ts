/**
 * Typed fault and limit records of the safety layer. A fault makes the gate hold the last safe command;
 * a limit event only records that a command was clamped or slowed. Codes are documented in docs/safety.md.
 */

/** Every fault code, in the order the gate checks them. */
export const FAULT_CODES = [
  'E_STOP', // the e-stop latch is set (source and reason in the record)
  'ROBOT_FAULT', // the robot reported a fault: servo error, protective stop, lost link (name = the robot's own code)
  'JOINT_STATE_MISSING', // no joint state received yet
  'JOINT_STATE_INVALID', // joint state of the wrong length or with a non-finite position
  'JOINT_STATE_STALE', // joint state older than watchdog.jointStaleMs (or stamped in the future by more)
  'CAMERA_MISSING', // a required camera has no frame
  'CAMERA_STALE', // a camera frame older than watchdog.cameraStaleMs (or stamped in the future by more)
  'POLICY_ERROR', // the broker reported an error
  'POLICY_STALL', // the broker reported a stall longer than watchdog.policyStallMs
  'ACTION_MISSING', // the policy delivered no action this tick
  'ACTION_LENGTH', // the action does not have one value per configured joint
  'ACTION_NON_FINITE', // NaN or ±Infinity in the action
  'ACTION_OUT_OF_RANGE', // a target further than rejectMargin outside [min, max]
] as const;

export type FaultCode = (typeof FAULT_CODES)[number];

/** One fault. Optional fields are present where they apply (see each code). */
export interface SafetyFault {
  readonly code: FaultCode;
  /** Human-readable, names the joint / camera / source and the numbers. */
  readonly message: string;
  /** Clock reading (ms) of the tick that found it. */
  readonly atMs: number;
  /** Action dimension (joint faults). */
  readonly index?: number;
  /** Joint or camera name. */
  readonly name?: string;
  /** The offending value: position (rad / normalised), length, age (ms) or stall (ms). */
  readonly value?: number;
  /** The limit it broke, in the same unit as `value`. */
  readonly limit?: number;
  /** E_STOP: what triggered it (`signal`, `keyboard`, `ros2`, `fault`, ...). */
  readonly source?: string;
}

/** One clamp or slow-down applied to an otherwise valid command. */
export interface LimitEvent {
  /** `position`: clamped into [min, max]. `rate`: shortened to the per-tick step. */
  readonly kind: 'position' | 'rate';
  readonly index: number;
  readonly name: string;
  /** The value before this limit (rad / normalised). */
  readonly requested: number;
  /** The value after it. */
  readonly applied: number;
  /** The bound that applied: min or max for `position`, the per-tick step for `rate`. */
  readonly limit: number;
}
