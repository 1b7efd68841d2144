/**
 * `@openpi-edge/edge-agent/robot`: what a robot plugin's author needs (docs/robots.md), without the model, server,
 * CLI or built-in robots: the plugin contract, the gate and its SafeCommand, safety configs and planned moves, the
 * generic RobotEnvironment, and camera sources.
 */

// The zod the agent's config schema is built with, for a plugin's `configSchema`: the section joins that schema, and
// an app's plugin need not depend on zod itself.
export { z } from 'zod';
export {
  type GateTally,
  type ResetOutcome,
  RobotEnvironment,
  type RobotEnvironmentOptions,
} from './agent/robot-environment.js';
export {
  type CameraFrame,
  type CameraSource,
  FrameSlot,
  freshFrame,
  type LatestFrame,
} from './io/cameras/camera-source.js';
export { FfmpegCamera, type FfmpegCameraOptions } from './io/cameras/ffmpeg-camera.js';
export { GeneratedCamera, type GeneratedCameraOptions } from './io/cameras/generated-camera.js';
export type {
  AnyRobotPlugin,
  ResetSegment,
  Robot,
  RobotCamera,
  RobotConnectOptions,
  RobotFault,
  RobotFlag,
  RobotJointState,
  RobotLayout,
  RobotPlugin,
} from './robots/interface.js';
export { mergeSection } from './robots/merge-section.js';
export {
  applySafetyOverrides,
  armJoint,
  gripperJoint,
  type JointLimit,
  parseSafetyConfig,
  type SafetyConfig,
  SafetyOverridesSchema,
} from './safety/config.js';
export { FAULT_CODES, type FaultCode, type SafetyFault } from './safety/faults.js';
export {
  assertSafeCommand,
  type GateDecision,
  type MeasuredJoints,
  type RobotReportedFault,
  SafeCommand,
  SafetyGate,
} from './safety/gate.js';
export { checkTarget, type MovePlan, type MovePlanOptions, planMove } from './safety/move-plan.js';
