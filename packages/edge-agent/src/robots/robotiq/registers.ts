/**
 * Robotiq 2F-85 register map and bit layout, shared by the driver ((gripper.ts)) and the emulator.
 *
 * Protocol summary (what the driver and the emulator implement):
 *
 * - Line: RS-485 through a USB adapter, 115200 bit/s, 8 data bits, no parity, 1 stop bit. Modbus RTU, the gripper
 *   is slave 9 by default. A frame is `slave id, function, data..., CRC-16/Modbus` (CRC low byte first, see
 *   ./crc.ts); frames are separated by 3.5 characters of silence (1.75 ms above 19200 bit/s). Register values are
 *   big-endian 16-bit words: register `n` carries bytes `2n` (high) and `2n + 1` (low) of the tables below.
 * - Commands, "robot output": 3 holding registers from 0x03E8, written with function 0x10 (write multiple
 *   registers). Bytes: 0 action request (bit 0 rACT activate, bit 3 rGTO go to the requested position, bit 4 rATR
 *   automatic release, bit 5 rARD release direction: 0 closing, 1 opening), 1 and 2 reserved (0), 3 rPR position
 *   request (0 fully open .. 255 fully closed; 2F-85 stroke 85 mm), 4 rSP speed (0..255, 20..150 mm/s on a 2F-85),
 *   5 rFR force (0..255).
 * - Status, "robot input": 3 input registers from 0x07D0, read with function 0x04 (read input registers). Bytes:
 *   0 gripper status (bit 0 gACT, bit 3 gGTO, bits 4-5 gSTA 0 reset / 1 activating / 3 activation complete, bits
 *   6-7 gOBJ 0 moving / 1 stopped on an object while opening / 2 stopped on an object while closing / 3 at the
 *   requested position), 1 reserved, 2 fault status (gFLT, {@link FAULTS}), 3 position request echo, 4 position
 *   (0..255), 5 motor current (x 10 mA).
 * - Activation: write rACT=0 (clears a previous activation and any fault), then rACT=1, then poll the status until
 *   gSTA=3; a real gripper makes a full open/close stroke to calibrate, which takes a few seconds. Every command
 *   after it keeps rACT=1 and sets rGTO=1 with position, speed and force; rGTO=0 stops the fingers where they are.
 * - Errors: a slave answers a request it refuses with `function | 0x80` and an exception code (01 illegal function,
 *   02 illegal data address, 03 illegal data value; see ./modbus-rtu.ts), and does not answer at all a frame whose
 *   CRC is wrong or that is addressed to another slave.
 *
 * Example frames (slave 9): activation request `09 10 03 E8 00 03 06 01 00 00 00 00 00 + CRC`; close at full speed
 * and force `09 10 03 E8 00 03 06 09 00 00 FF FF FF + CRC`; status read `09 04 07 D0 00 03 B1 CE`.
 */

/** Default Modbus slave id of a Robotiq gripper. */
export const ROBOTIQ_SLAVE_ID = 9;
/** Default line rate (bit/s). */
export const ROBOTIQ_BAUD_RATE = 115_200;
/** First "robot output" (command) holding register. */
export const OUTPUT_REGISTER_BASE = 0x03e8;
/** First "robot input" (status) input register. */
export const INPUT_REGISTER_BASE = 0x07d0;
/** Registers in each block (6 bytes). */
export const REGISTER_COUNT = 3;
/** Finger stroke of a 2F-85 (mm): position 0 is 85 mm open, 255 is closed. */
export const STROKE_MM = 85;

/** Bits of the action request byte (byte 0 of the robot output). */
export const Action = {
  /** rACT: 1 activates the gripper; 0 resets it (clears activation and faults). */
  ACTIVATE: 0x01,
  /** rGTO: 1 moves to the requested position; 0 stops. */
  GO_TO: 0x08,
  /** rATR: automatic (emergency) release, slow move in the rARD direction ignoring position/speed/force. */
  AUTO_RELEASE: 0x10,
  /** rARD: automatic release direction, 0 closing, 1 opening. */
  RELEASE_OPEN: 0x20,
} as const;

/** The six command bytes, as numbers 0..255. */
export interface RobotiqCommand {
  action: number;
  position: number;
  speed: number;
  force: number;
}

/** Command bytes → the 3 robot output registers (big-endian words; bytes 1 and 2 are reserved, 0). */
export function encodeCommand(cmd: RobotiqCommand): [number, number, number] {
  return [(cmd.action & 0xff) << 8, cmd.position & 0xff, ((cmd.speed & 0xff) << 8) | (cmd.force & 0xff)];
}

/** The 3 robot output registers → command bytes (what the emulator applies). */
export function decodeCommand(regs: readonly number[]): RobotiqCommand {
  const r0 = regs[0] ?? 0;
  const r1 = regs[1] ?? 0;
  const r2 = regs[2] ?? 0;
  return { action: r0 >> 8, position: r1 & 0xff, speed: r2 >> 8, force: r2 & 0xff };
}

/** gSTA, with 2 (undocumented) read as still activating. */
export type RobotiqActivation = 'reset' | 'activating' | 'complete';
/** gOBJ; `moving` also when no motion is requested (gGTO=0). */
export type RobotiqObject = 'moving' | 'object-opening' | 'object-closing' | 'at-position';

export interface RobotiqFault {
  /** gFLT byte as read (0 is no fault and decodes to `null`). */
  code: number;
  /** Stable name, e.g. `ACTION_DELAYED`; `UNKNOWN_0xNN` for codes this table lacks. */
  name: string;
  message: string;
}

export interface RobotiqStatus {
  /** gACT: the activation bit is echoed. */
  activated: boolean;
  /** gGTO: a go-to request is being executed. */
  goTo: boolean;
  activation: RobotiqActivation;
  object: RobotiqObject;
  fault: RobotiqFault | null;
  /** Position request echo (0..255). */
  positionRequest: number;
  /** Finger position (0 open .. 255 closed). */
  position: number;
  /** Motor current (mA), byte 5 x 10. */
  currentMa: number;
  /** Clock time (ms) when the reply was read. */
  stampMs: number;
}

/** The six status bytes as a slave holds them (the emulator's view; the driver decodes them to a status). */
export interface RawStatus {
  gACT: boolean;
  gGTO: boolean;
  /** 0 reset, 1 activating, 3 complete. */
  gSTA: number;
  /** 0 moving, 1 object while opening, 2 object while closing, 3 at position. */
  gOBJ: number;
  gFLT: number;
  positionRequest: number;
  position: number;
  /** Motor current in units of 10 mA (0..255). */
  current: number;
}

/** Raw status → the 3 robot input registers. */
export function encodeStatus(s: RawStatus): [number, number, number] {
  const byte0 = (s.gACT ? 0x01 : 0) | (s.gGTO ? 0x08 : 0) | ((s.gSTA & 3) << 4) | ((s.gOBJ & 3) << 6);
  return [
    byte0 << 8,
    ((s.gFLT & 0xff) << 8) | (s.positionRequest & 0xff),
    ((s.position & 0xff) << 8) | (s.current & 0xff),
  ];
}

/** Fault table, gFLT values of the 2F-85. */
export const FAULTS: Readonly<Record<number, { name: string; message: string }>> = {
  5: {
    name: 'ACTION_DELAYED',
    message: 'action delayed: the activation (re-activation) must complete first',
  },
  7: { name: 'ACTIVATION_BIT_NOT_SET', message: 'the activation bit must be set before an action' },
  8: {
    name: 'OVER_TEMPERATURE',
    message: 'minor fault: maximum operating temperature exceeded, let it cool down',
  },
  9: { name: 'NO_COMMUNICATION', message: 'minor fault: no communication for at least 1 second' },
  10: {
    name: 'UNDER_VOLTAGE',
    message: 'major fault: under minimum operating voltage; reset (rACT 0 then 1) needed',
  },
  11: {
    name: 'AUTO_RELEASE_IN_PROGRESS',
    message: 'major fault: automatic release in progress; reset (rACT 0 then 1) needed',
  },
  12: { name: 'INTERNAL_FAULT', message: 'major fault: internal processor fault; reset needed' },
  13: {
    name: 'ACTIVATION_FAULT',
    message: 'major fault: activation fault, check for interference; reset needed',
  },
  14: { name: 'OVERCURRENT', message: 'major fault: overcurrent triggered; reset needed' },
  15: {
    name: 'AUTO_RELEASE_COMPLETED',
    message: 'major fault: automatic release completed; reset (rACT 0 then 1) needed',
  },
};

/** Faults from this code up need a reset (rACT 0 then 1) before the gripper moves again. */
export const FIRST_MAJOR_FAULT = 0x0a;

/** gFLT byte → fault (`null` for 0). */
export function describeFault(code: number): RobotiqFault | null {
  if (code === 0) return null;
  const known = FAULTS[code];
  if (known) return { code, ...known };
  const hex = `0x${code.toString(16).toUpperCase().padStart(2, '0')}`;
  return { code, name: `UNKNOWN_${hex}`, message: `fault status ${hex} (not in the 2F-85 fault table)` };
}

const ACTIVATION: readonly RobotiqActivation[] = ['reset', 'activating', 'activating', 'complete'];
const OBJECT: readonly RobotiqObject[] = ['moving', 'object-opening', 'object-closing', 'at-position'];

/** The 3 robot input registers → status, stamped `stampMs`. */
export function decodeStatus(regs: readonly number[], stampMs: number): RobotiqStatus {
  const r0 = regs[0] ?? 0;
  const r1 = regs[1] ?? 0;
  const r2 = regs[2] ?? 0;
  const byte0 = r0 >> 8;
  return {
    activated: (byte0 & 0x01) !== 0,
    goTo: (byte0 & 0x08) !== 0,
    activation: ACTIVATION[(byte0 >> 4) & 3]!,
    object: OBJECT[(byte0 >> 6) & 3]!,
    fault: describeFault(r1 >> 8),
    positionRequest: r1 & 0xff,
    position: r2 >> 8,
    currentMa: (r2 & 0xff) * 10,
    stampMs,
  };
}
