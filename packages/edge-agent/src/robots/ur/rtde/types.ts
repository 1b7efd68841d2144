/**
 * RTDE (UR Real-Time Data Exchange, TCP 30004) data types and the variables this package knows.
 *
 * Every value is big-endian on the wire. Sizes in bytes: BOOL 1 (0/1), UINT8 1, UINT32 4, INT32 4, UINT64 8,
 * DOUBLE 8, VECTOR3D 24 (3 doubles), VECTOR6D 48, VECTOR6INT32 24, VECTOR6UINT32 24.
 */

export const RTDE_TYPE_SIZES = {
  BOOL: 1,
  UINT8: 1,
  UINT32: 4,
  INT32: 4,
  UINT64: 8,
  DOUBLE: 8,
  VECTOR3D: 24,
  VECTOR6D: 48,
  VECTOR6INT32: 24,
  VECTOR6UINT32: 24,
} as const;

export type RtdeType = keyof typeof RTDE_TYPE_SIZES;

/**
 * A decoded value: numbers for scalars (UINT64 as a bigint: the digital I/O bit fields need all 64 bits), booleans
 * for BOOL, arrays for vectors.
 */
export type RtdeValue = number | bigint | boolean | readonly number[];

export function isRtdeType(name: string): name is RtdeType {
  return Object.hasOwn(RTDE_TYPE_SIZES, name);
}

const VECTOR6D_OUTPUTS = [
  'target_q',
  'target_qd',
  'target_qdd',
  'target_current',
  'target_moment',
  'actual_q',
  'actual_qd',
  'actual_current',
  'joint_control_output',
  'actual_TCP_pose',
  'actual_TCP_speed',
  'actual_TCP_force',
  'target_TCP_pose',
  'target_TCP_speed',
  'joint_temperatures',
  'tcp_offset',
  'actual_joint_voltage',
  'ft_raw_wrench',
] as const;

function registers(prefix: string, type: RtdeType, from: number, to: number): [string, RtdeType][] {
  const out: [string, RtdeType][] = [];
  for (let i = from; i <= to; i++) out.push([`${prefix}${i}`, type]);
  return out;
}

/** Controller → client variables (output recipe) and their types. */
export const RTDE_OUTPUT_TYPES: Readonly<Record<string, RtdeType>> = Object.freeze(
  Object.fromEntries<RtdeType>([
    ['timestamp', 'DOUBLE'],
    ...VECTOR6D_OUTPUTS.map((n): [string, RtdeType] => [n, 'VECTOR6D']),
    ['actual_execution_time', 'DOUBLE'],
    ['robot_mode', 'INT32'],
    ['joint_mode', 'VECTOR6INT32'],
    ['safety_mode', 'INT32'],
    ['safety_status', 'INT32'],
    ['actual_tool_accelerometer', 'VECTOR3D'],
    ['speed_scaling', 'DOUBLE'],
    ['target_speed_fraction', 'DOUBLE'],
    ['actual_momentum', 'DOUBLE'],
    ['actual_main_voltage', 'DOUBLE'],
    ['actual_robot_voltage', 'DOUBLE'],
    ['actual_robot_current', 'DOUBLE'],
    ['actual_digital_input_bits', 'UINT64'],
    ['actual_digital_output_bits', 'UINT64'],
    ['runtime_state', 'UINT32'],
    ['elbow_position', 'VECTOR3D'],
    ['elbow_velocity', 'VECTOR3D'],
    ['robot_status_bits', 'UINT32'],
    ['safety_status_bits', 'UINT32'],
    ['analog_io_types', 'UINT32'],
    ['standard_analog_input0', 'DOUBLE'],
    ['standard_analog_input1', 'DOUBLE'],
    ['standard_analog_output0', 'DOUBLE'],
    ['standard_analog_output1', 'DOUBLE'],
    ['io_current', 'DOUBLE'],
    ['euromap67_input_bits', 'UINT32'],
    ['euromap67_output_bits', 'UINT32'],
    ['tool_mode', 'UINT32'],
    ['tool_analog_input_types', 'UINT32'],
    ['tool_analog_input0', 'DOUBLE'],
    ['tool_analog_input1', 'DOUBLE'],
    ['tool_output_voltage', 'INT32'],
    ['tool_output_current', 'DOUBLE'],
    ['tool_temperature', 'DOUBLE'],
    ['tcp_force_scalar', 'DOUBLE'],
    ['output_bit_registers0_to_31', 'UINT32'],
    ['output_bit_registers32_to_63', 'UINT32'],
    ['payload', 'DOUBLE'],
    ['payload_cog', 'VECTOR3D'],
    ['payload_inertia', 'VECTOR6D'], // Ixx, Iyy, Izz, Ixy, Ixz, Iyz (kg·m²); ur_rtde's receive recipe names it
    ['script_control_line', 'UINT32'],
    ...registers('output_bit_register_', 'BOOL', 64, 127),
    ...registers('output_int_register_', 'INT32', 0, 47),
    ...registers('output_double_register_', 'DOUBLE', 0, 47),
    ...registers('input_bit_register_', 'BOOL', 64, 127),
    ...registers('input_int_register_', 'INT32', 0, 47),
    ...registers('input_double_register_', 'DOUBLE', 0, 47),
    ['input_bit_registers0_to_31', 'UINT32'],
    ['input_bit_registers32_to_63', 'UINT32'],
  ]),
);

/** Client → controller variables (input recipes) and their types. */
export const RTDE_INPUT_TYPES: Readonly<Record<string, RtdeType>> = Object.freeze(
  Object.fromEntries<RtdeType>([
    ['speed_slider_mask', 'UINT32'],
    ['speed_slider_fraction', 'DOUBLE'],
    ['standard_digital_output_mask', 'UINT8'],
    ['standard_digital_output', 'UINT8'],
    ['configurable_digital_output_mask', 'UINT8'],
    ['configurable_digital_output', 'UINT8'],
    ['tool_digital_output_mask', 'UINT8'],
    ['tool_digital_output', 'UINT8'],
    ['standard_analog_output_mask', 'UINT8'],
    ['standard_analog_output_type', 'UINT8'],
    ['standard_analog_output_0', 'DOUBLE'],
    ['standard_analog_output_1', 'DOUBLE'],
    ['external_force_torque', 'VECTOR6D'],
    ['input_bit_registers0_to_31', 'UINT32'],
    ['input_bit_registers32_to_63', 'UINT32'],
    ...registers('input_bit_register_', 'BOOL', 64, 127),
    ...registers('input_int_register_', 'INT32', 0, 47),
    ...registers('input_double_register_', 'DOUBLE', 0, 47),
  ]),
);

/** `robot_mode` values. */
export const ROBOT_MODE = {
  NO_CONTROLLER: -1,
  DISCONNECTED: 0,
  CONFIRM_SAFETY: 1,
  BOOTING: 2,
  POWER_OFF: 3,
  POWER_ON: 4,
  IDLE: 5,
  BACKDRIVE: 6,
  RUNNING: 7,
  UPDATING_FIRMWARE: 8,
} as const;

/** `safety_mode` values. */
export const SAFETY_MODE = {
  NORMAL: 1,
  REDUCED: 2,
  PROTECTIVE_STOP: 3,
  RECOVERY: 4,
  SAFEGUARD_STOP: 5,
  SYSTEM_EMERGENCY_STOP: 6,
  ROBOT_EMERGENCY_STOP: 7,
  VIOLATION: 8,
  FAULT: 9,
  VALIDATE_JOINT_ID: 10,
  UNDEFINED: 11,
  AUTOMATIC_MODE_SAFEGUARD_STOP: 12,
  SYSTEM_THREE_POSITION_ENABLING_STOP: 13,
} as const;

/** `runtime_state` values. */
export const RUNTIME_STATE = {
  STOPPING: 0,
  STOPPED: 1,
  PLAYING: 2,
  PAUSING: 3,
  PAUSED: 4,
  RESUMING: 5,
} as const;

/** `robot_status_bits`: bit 0 power on, 1 program running, 2 teach button pressed, 3 power button pressed. */
export const ROBOT_STATUS_BIT = {
  POWER_ON: 0,
  PROGRAM_RUNNING: 1,
  TEACH_BUTTON: 2,
  POWER_BUTTON: 3,
} as const;

/**
 * `safety_status_bits`: 0 normal, 1 reduced, 2 protective stop, 3 recovery, 4 safeguard stop, 5 system emergency
 * stop, 6 robot emergency stop, 7 emergency stop, 8 violation, 9 fault, 10 stopped due to safety.
 */
export const SAFETY_STATUS_BIT = {
  NORMAL_MODE: 0,
  REDUCED_MODE: 1,
  PROTECTIVE_STOPPED: 2,
  RECOVERY_MODE: 3,
  SAFEGUARD_STOPPED: 4,
  SYSTEM_EMERGENCY_STOPPED: 5,
  ROBOT_EMERGENCY_STOPPED: 6,
  EMERGENCY_STOPPED: 7,
  VIOLATION: 8,
  FAULT: 9,
  STOPPED_DUE_TO_SAFETY: 10,
} as const;

/** The name of an enum value (`ROBOT_MODE`, `SAFETY_MODE`, `RUNTIME_STATE`), or `UNKNOWN(n)`. */
export function enumName(table: Readonly<Record<string, number>>, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return `UNKNOWN(${value})`;
}
