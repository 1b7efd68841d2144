/** Robotiq 2F-85 over Modbus RTU: driver, register map, Modbus RTU framing and master, emulator. */
export { appendCrc, crc16Modbus, hasValidCrc } from './crc.js';
export { RobotiqEmulator, type RobotiqEmulatorOptions, type RobotiqEmulatorStats } from './emulator.js';
export {
  type GripperModelOptions,
  type InjectedObject,
  Robotiq2F85Model,
  speedUnitsPerMs,
} from './emulator-model.js';
export {
  type ActivateOptions,
  type MoveTarget,
  RobotiqGripper,
  type RobotiqGripperOptions,
} from './gripper.js';
export {
  decodeFrame,
  EXCEPTION_BIT,
  encodeFrame,
  exceptionName,
  functionName,
  ModbusExceptionCode,
  ModbusFunction,
  type RtuFrame,
  RtuFramer,
} from './modbus-rtu.js';
export {
  Action,
  decodeStatus,
  describeFault,
  encodeCommand,
  FAULTS,
  INPUT_REGISTER_BASE,
  OUTPUT_REGISTER_BASE,
  ROBOTIQ_BAUD_RATE,
  ROBOTIQ_SLAVE_ID,
  type RobotiqActivation,
  type RobotiqFault,
  type RobotiqObject,
  type RobotiqStatus,
} from './registers.js';
export { type ModbusMasterStats, ModbusRtuMaster, type ModbusRtuMasterOptions } from './rtu-master.js';
export { type EmulatedRobotiq, emulateRobotiqOnPty, serveRobotiqOnPort } from './serve-pty.js';
