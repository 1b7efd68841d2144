export { ALOHA_SAFETY_DEFAULTS, UR5_SAFETY_DEFAULTS, JointLimitSchema, SafetyConfigSchema, SafetyOverridesSchema, WatchdogConfigSchema, parseSafetyConfig, perTickLimits, safetyConfigFor, type JointLimit, type SafetyConfig, type SafetyOverrides, type SafetyRobot, type WatchdogConfig } from './safety/config.js';
export { FAULT_CODES, type FaultCode, type LimitEvent, type SafetyFault } from './safety/faults.js';
export { SafetyLimiter, type JointVector, type LimiterResult } from './safety/limiter.js';
export { Watchdog, type PolicyHealth, type WatchdogInput } from './safety/watchdog.js';
export { EStop, type EStopCause, type EStopEvent, type EStopOptions, type EStopResetResult, type EStopSource } from './safety/estop.js';
export { attachKeyboard, attachSignals, type AttachKeyboardOptions, type AttachSignalsOptions, type KeyboardStream, type SignalTarget } from './safety/estop-inputs.js';
export { SafetyGate, type GateDecision, type GateInput, type MeasuredJoints, type SafetyCounters, type SafetyGateOptions } from './safety/gate.js';
