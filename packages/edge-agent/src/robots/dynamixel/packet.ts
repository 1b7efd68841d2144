/**
 * Dynamixel Protocol 2.0 packets: `FF FF FD 00 | ID | LEN_L LEN_H | INST | params… | CRC_L CRC_H`.
 * LEN counts INST + stuffed params + CRC. A status packet is INST 0x55 followed by an ERR byte and its params.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { hex } from './bytes.js';
import { crc16 } from './crc.js';

/** Instruction codes (e-manual protocol 2.0). */
export const Instruction = {
  Ping: 0x01,
  Read: 0x02,
  Write: 0x03,
  RegWrite: 0x04,
  Action: 0x05,
  FactoryReset: 0x06,
  Reboot: 0x08,
  Clear: 0x10,
  Status: 0x55,
  SyncRead: 0x82,
  SyncWrite: 0x83,
  FastSyncRead: 0x8a,
  BulkRead: 0x92,
  BulkWrite: 0x93,
  FastBulkRead: 0x9a,
} as const;
export type InstructionCode = (typeof Instruction)[keyof typeof Instruction];

/** Packets to this ID reach every device; READ/WRITE to it get no status. */
export const BROADCAST_ID = 0xfe;
/** Highest addressable device ID. */
export const MAX_ID = 252;
/** Largest LEN field accepted (the SDK's receive limit); bigger headers are treated as noise. */
export const MAX_LENGTH_FIELD = 1024;
/** Fixed bytes around the LEN-counted part: 4 header + ID + 2 LEN. Total packet size = LEN + 7. */
export const PACKET_OVERHEAD = 7;

/** Error numbers in bits 0–6 of a status packet's ERR byte. */
export const STATUS_ERROR_NAMES: Readonly<Record<number, string>> = {
  1: 'RESULT_FAIL',
  2: 'INSTRUCTION_ERROR',
  3: 'CRC_ERROR',
  4: 'DATA_RANGE_ERROR',
  5: 'DATA_LENGTH_ERROR',
  6: 'DATA_LIMIT_ERROR',
  7: 'ACCESS_ERROR',
};
/** Error numbers by name, for building status packets. */
export const StatusError = {
  None: 0,
  ResultFail: 1,
  InstructionError: 2,
  CrcError: 3,
  DataRangeError: 4,
  DataLengthError: 5,
  DataLimitError: 6,
  AccessError: 7,
} as const;
/** ERR bit 7: the device has a hardware error; details in Hardware Error Status (address 70). */
export const ALERT_BIT = 0x80;
/** Hardware Error Status (70) bits on X-series. */
export const HARDWARE_ERROR_BITS = {
  INPUT_VOLTAGE: 0x01,
  OVERHEATING: 0x04,
  MOTOR_ENCODER: 0x08,
  ELECTRICAL_SHOCK: 0x10,
  OVERLOAD: 0x20,
} as const;

/** Names of the hardware error bits set in `status` (address 70). */
export function hardwareErrorNames(status: number): string[] {
  return Object.entries(HARDWARE_ERROR_BITS)
    .filter(([, bit]) => (status & bit) !== 0)
    .map(([name]) => name);
}

/** Name of the error number in an ERR byte (`'NONE'` for 0, `'UNKNOWN_ERROR_n'` for undefined numbers). */
export function statusErrorName(err: number): string {
  const n = err & 0x7f;
  return n === 0 ? 'NONE' : (STATUS_ERROR_NAMES[n] ?? `UNKNOWN_ERROR_${n}`);
}

export interface InstructionPacket {
  kind: 'instruction';
  id: number;
  instruction: number;
  /** Parameters after removing byte stuffing. */
  params: Uint8Array;
}
export interface StatusPacket {
  kind: 'status';
  id: number;
  /** The ERR byte: bit 7 alert, bits 0–6 error number. */
  error: number;
  /** Parameters after removing byte stuffing. */
  params: Uint8Array;
}
export type DynamixelPacket = InstructionPacket | StatusPacket;

/** Inserts `FD` after every `FF FF FD` run in INST + params (stuffing; the receiver removes it). */
export function stuff(payload: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (const b of payload) {
    out.push(b);
    const n = out.length;
    if (n >= 3 && out[n - 3] === 0xff && out[n - 2] === 0xff && out[n - 1] === 0xfd) out.push(0xfd);
  }
  return Uint8Array.from(out);
}

/**
 * Removes stuffing: in the stuffed stream, the byte right after every `FF FF FD` is the inserted `FD`.
 * Inverse of {@link stuff}.
 */
export function unstuff(payload: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < payload.length; i++) {
    if (i >= 3 && payload[i - 3] === 0xff && payload[i - 2] === 0xff && payload[i - 1] === 0xfd) continue;
    out.push(payload[i]!);
  }
  return Uint8Array.from(out);
}

/** Builds a complete packet (header, stuffing, LEN, CRC) from INST and unstuffed params. */
export function buildPacket(id: number, instruction: number, params: ArrayLike<number> = []): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0xfe) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `Dynamixel id must be 0..254, got ${id}`, { id });
  }
  const payload = new Uint8Array(1 + params.length);
  payload[0] = instruction;
  payload.set(Array.from(params), 1);
  const body = stuff(payload);
  const len = body.length + 2;
  if (len > MAX_LENGTH_FIELD) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `Dynamixel packet too long: LEN ${len} > ${MAX_LENGTH_FIELD}`, {
      id,
      instruction,
      byteCount: len,
    });
  }
  const out = new Uint8Array(len + PACKET_OVERHEAD);
  out.set([0xff, 0xff, 0xfd, 0x00, id, len & 0xff, len >> 8], 0);
  out.set(body, 7);
  const crc = crc16(out, 0, out.length - 2);
  out[out.length - 2] = crc & 0xff;
  out[out.length - 1] = crc >> 8;
  return out;
}

/** Builds a status packet (INST 0x55, ERR byte, params). */
export function buildStatusPacket(id: number, error: number, params: ArrayLike<number> = []): Uint8Array {
  return buildPacket(id, Instruction.Status, [error, ...Array.from(params)]);
}

function bad(message: string, bytes: Uint8Array, extra: Record<string, unknown> = {}): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_MESSAGE', message, {
    byteCount: bytes.length,
    bytes: hex(bytes),
    ...extra,
  });
}

/**
 * Parses exactly one complete packet: checks header, LEN against the byte count, CRC (over the stuffed bytes),
 * then removes stuffing. Throws `BAD_MESSAGE` naming the failed check.
 */
export function parsePacket(bytes: Uint8Array): DynamixelPacket {
  if (bytes.length < PACKET_OVERHEAD + 3)
    throw bad(`Dynamixel packet too short: ${bytes.length} bytes`, bytes);
  if (bytes[0] !== 0xff || bytes[1] !== 0xff || bytes[2] !== 0xfd || bytes[3] !== 0x00) {
    throw bad('Dynamixel packet header is not FF FF FD 00', bytes);
  }
  const id = bytes[4]!;
  const len = bytes[5]! | (bytes[6]! << 8);
  if (len + PACKET_OVERHEAD !== bytes.length) {
    throw bad(`Dynamixel LEN ${len} does not match ${bytes.length} bytes (expected LEN + 7)`, bytes, { len });
  }
  if (len < 3) throw bad(`Dynamixel LEN ${len} < 3`, bytes, { len });
  const want = crc16(bytes, 0, bytes.length - 2);
  const got = bytes[bytes.length - 2]! | (bytes[bytes.length - 1]! << 8);
  if (want !== got) {
    throw bad(`Dynamixel CRC mismatch: got 0x${got.toString(16)}, computed 0x${want.toString(16)}`, bytes, {
      id,
    });
  }
  const payload = unstuff(bytes.subarray(7, bytes.length - 2));
  const instruction = payload[0]!;
  if (instruction === Instruction.Status) {
    if (payload.length < 2) throw bad('Dynamixel status packet without ERR byte', bytes, { id });
    return { kind: 'status', id, error: payload[1]!, params: payload.slice(2) };
  }
  return { kind: 'instruction', id, instruction, params: payload.slice(1) };
}
