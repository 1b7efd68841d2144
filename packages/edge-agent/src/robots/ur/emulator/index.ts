/** The UR controller emulator's public surface (emulator.ts: in-process; emulator-thread.ts: on a worker thread). */
export { SERIES as UR_SERIES, type UrSeries } from './controller.js';
export { DASHBOARD_BANNER, LOCAL_MODE_REFUSAL, UNLOCK_TOO_EARLY } from './dashboard-server.js';
export {
  UR_DEFAULT_INITIAL_Q,
  UR_DEFAULT_PORTS,
  UrControllerEmulator,
  type UrEmulatorOptions,
  type UrEmulatorPort,
  type UrEmulatorSnapshot,
  type UrTargetListener,
} from './emulator.js';
export { startUrEmulatorThread, type UrEmulatorThread } from './emulator-thread.js';
export { RTDE_CONTROL_PROGRAM, UR_RTDE_COMMAND, UR_RTDE_STATE } from './rtde-control-program.js';
export { SERVO_PROGRAM_MARKER, SERVO_STATE as EMULATED_SERVO_STATE } from './servo-program.js';
