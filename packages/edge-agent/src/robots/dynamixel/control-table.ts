/**
 * X-series control table (Protocol 2.0) as used by XM430-W350, XM540-W270, XL430-W250 and XC430-W150:
 * address, size, signedness, area and access of each item. Addresses below 64 are EEPROM (writable only while
 * Torque Enable is 0). Source: ROBOTIS e-manual control tables.
 */

export interface Register {
  readonly name: string;
  /** Byte address in the control table. */
  readonly address: number;
  /** Size in bytes (1, 2 or 4). */
  readonly size: 1 | 2 | 4;
  /** Two's-complement value. */
  readonly signed: boolean;
  readonly area: 'eeprom' | 'ram';
  readonly access: 'R' | 'RW';
}

function reg(name: string, address: number, size: 1 | 2 | 4, access: 'R' | 'RW', signed = false): Register {
  return { name, address, size, signed, area: address < 64 ? 'eeprom' : 'ram', access };
}

/** The X-series items, by name. */
export const XRegister = {
  ModelNumber: reg('Model Number', 0, 2, 'R'),
  ModelInformation: reg('Model Information', 2, 4, 'R'),
  FirmwareVersion: reg('Firmware Version', 6, 1, 'R'),
  Id: reg('ID', 7, 1, 'RW'),
  BaudRate: reg('Baud Rate', 8, 1, 'RW'),
  ReturnDelayTime: reg('Return Delay Time', 9, 1, 'RW'),
  DriveMode: reg('Drive Mode', 10, 1, 'RW'),
  OperatingMode: reg('Operating Mode', 11, 1, 'RW'),
  SecondaryId: reg('Secondary ID', 12, 1, 'RW'),
  ProtocolType: reg('Protocol Type', 13, 1, 'RW'),
  HomingOffset: reg('Homing Offset', 20, 4, 'RW', true),
  MovingThreshold: reg('Moving Threshold', 24, 4, 'RW'),
  TemperatureLimit: reg('Temperature Limit', 31, 1, 'RW'),
  MaxVoltageLimit: reg('Max Voltage Limit', 32, 2, 'RW'),
  MinVoltageLimit: reg('Min Voltage Limit', 34, 2, 'RW'),
  PwmLimit: reg('PWM Limit', 36, 2, 'RW'),
  CurrentLimit: reg('Current Limit', 38, 2, 'RW'),
  VelocityLimit: reg('Velocity Limit', 44, 4, 'RW'),
  MaxPositionLimit: reg('Max Position Limit', 48, 4, 'RW'),
  MinPositionLimit: reg('Min Position Limit', 52, 4, 'RW'),
  StartupConfiguration: reg('Startup Configuration', 60, 1, 'RW'),
  Shutdown: reg('Shutdown', 63, 1, 'RW'),
  TorqueEnable: reg('Torque Enable', 64, 1, 'RW'),
  Led: reg('LED', 65, 1, 'RW'),
  StatusReturnLevel: reg('Status Return Level', 68, 1, 'RW'),
  RegisteredInstruction: reg('Registered Instruction', 69, 1, 'R'),
  HardwareErrorStatus: reg('Hardware Error Status', 70, 1, 'R'),
  VelocityIGain: reg('Velocity I Gain', 76, 2, 'RW'),
  VelocityPGain: reg('Velocity P Gain', 78, 2, 'RW'),
  PositionDGain: reg('Position D Gain', 80, 2, 'RW'),
  PositionIGain: reg('Position I Gain', 82, 2, 'RW'),
  PositionPGain: reg('Position P Gain', 84, 2, 'RW'),
  Feedforward2ndGain: reg('Feedforward 2nd Gain', 88, 2, 'RW'),
  Feedforward1stGain: reg('Feedforward 1st Gain', 90, 2, 'RW'),
  BusWatchdog: reg('Bus Watchdog', 98, 1, 'RW', true),
  GoalPwm: reg('Goal PWM', 100, 2, 'RW', true),
  GoalCurrent: reg('Goal Current', 102, 2, 'RW', true),
  GoalVelocity: reg('Goal Velocity', 104, 4, 'RW', true),
  ProfileAcceleration: reg('Profile Acceleration', 108, 4, 'RW'),
  ProfileVelocity: reg('Profile Velocity', 112, 4, 'RW'),
  GoalPosition: reg('Goal Position', 116, 4, 'RW', true),
  RealtimeTick: reg('Realtime Tick', 120, 2, 'R'),
  Moving: reg('Moving', 122, 1, 'R'),
  MovingStatus: reg('Moving Status', 123, 1, 'R'),
  PresentPwm: reg('Present PWM', 124, 2, 'R', true),
  PresentCurrent: reg('Present Current', 126, 2, 'R', true),
  PresentVelocity: reg('Present Velocity', 128, 4, 'R', true),
  PresentPosition: reg('Present Position', 132, 4, 'R', true),
  VelocityTrajectory: reg('Velocity Trajectory', 136, 4, 'R', true),
  PositionTrajectory: reg('Position Trajectory', 140, 4, 'R', true),
  PresentInputVoltage: reg('Present Input Voltage', 144, 2, 'R'),
  PresentTemperature: reg('Present Temperature', 146, 1, 'R'),
  BackupReady: reg('Backup Ready', 147, 1, 'R'),
} as const satisfies Record<string, Register>;

/** Operating Mode (11) values. */
export const OperatingMode = {
  Current: 0,
  Velocity: 1,
  Position: 3,
  ExtendedPosition: 4,
  CurrentBasedPosition: 5,
  Pwm: 16,
} as const;
export type OperatingModeValue = (typeof OperatingMode)[keyof typeof OperatingMode];

/** Drive Mode (10) bits. */
export const DriveModeBit = {
  /** Reverse direction of rotation. */
  Reverse: 0x01,
  /** Master/slave dual-joint mode (540 series). */
  Slave: 0x02,
  /** Time-based profile instead of velocity-based. */
  TimeBasedProfile: 0x04,
  /** Torque on by goal update (firmware >= 45). */
  TorqueOnByGoalUpdate: 0x08,
} as const;

/** Model numbers answered by Ping. */
export const ModelNumber = {
  XM430_W350: 1020,
  XM430_W210: 1030,
  XM540_W270: 1120,
  XL430_W250: 1060,
  XC430_W150: 1070,
} as const;

/** Last control-table address the emulated X-series models implement (Backup Ready). */
export const X_TABLE_END = 148;
