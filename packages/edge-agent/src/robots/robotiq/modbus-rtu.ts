/**
 * Modbus RTU framing: frames (slave id, function code, data, CRC), the requests and replies of the register
 * functions a Robotiq gripper speaks, exception replies, and an incremental framer that finds frames in a byte
 * stream with noise in it.
 *
 * RTU has no start marker and no length field: a frame ends at 3.5 characters of silence. On a pty or behind a
 * USB adapter silence is not observable reliably, so the framer derives a frame's length from its function code
 * (and byte count field) and checks its CRC; a candidate whose CRC fails is abandoned one byte past its start
 * and the search continues, so a real frame that started inside the noise is still found. Only a frame whose
 * length cannot be derived (an unknown function sent to a slave) needs the silence: {@link RtuFramer.flush}.
 */
import { appendCrc, hasValidCrc } from './crc.js';

/** Function codes used here. */
export const ModbusFunction = {
  READ_HOLDING_REGISTERS: 0x03,
  READ_INPUT_REGISTERS: 0x04,
  WRITE_SINGLE_REGISTER: 0x06,
  WRITE_MULTIPLE_REGISTERS: 0x10,
} as const;

/** Set in the function code of a reply that carries an exception code instead of data. */
export const EXCEPTION_BIT = 0x80;

/** Exception codes of the Modbus application protocol. */
export const ModbusExceptionCode = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
  SLAVE_DEVICE_FAILURE: 0x04,
  ACKNOWLEDGE: 0x05,
  SLAVE_DEVICE_BUSY: 0x06,
  MEMORY_PARITY_ERROR: 0x08,
  GATEWAY_PATH_UNAVAILABLE: 0x0a,
  GATEWAY_TARGET_NO_RESPONSE: 0x0b,
} as const;

/** Largest RTU frame (bytes), slave id and CRC included. */
export const MAX_FRAME_BYTES = 256;
/** Most registers one read may ask for (0x7D). */
export const MAX_READ_REGISTERS = 125;
/** Most registers one write multiple may carry (0x7B). */
export const MAX_WRITE_REGISTERS = 123;
/** Slave id 0: every slave applies a write, none answers. */
export const BROADCAST_ID = 0;

const FUNCTION_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ModbusFunction).map(([name, code]) => [code, name]),
);
const EXCEPTION_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ModbusExceptionCode).map(([name, code]) => [code, name]),
);

function hex2(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** `READ_INPUT_REGISTERS (0x04)`; `FUNCTION_0x2B` for codes not in {@link ModbusFunction}. */
export function functionName(fn: number): string {
  const name = FUNCTION_NAMES[fn & ~EXCEPTION_BIT];
  return name ? `${name} (${hex2(fn & ~EXCEPTION_BIT)})` : `FUNCTION_${hex2(fn)}`;
}

/** `ILLEGAL_DATA_ADDRESS`; `EXCEPTION_0x0C` for codes not in {@link ModbusExceptionCode}. */
export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? `EXCEPTION_${hex2(code)}`;
}

/** One frame without its CRC: `data` is everything after the function code. */
export interface RtuFrame {
  slaveId: number;
  fn: number;
  data: Uint8Array;
}

/** Frame → bytes on the wire (CRC appended, low byte first). */
export function encodeFrame(frame: RtuFrame): Uint8Array {
  const body = new Uint8Array(2 + frame.data.length);
  body[0] = frame.slaveId;
  body[1] = frame.fn;
  body.set(frame.data, 2);
  return appendCrc(body);
}

/** Bytes of one whole frame → frame, or `undefined` when shorter than 4 bytes or the CRC does not match. */
export function decodeFrame(bytes: Uint8Array): RtuFrame | undefined {
  if (bytes.length < 4 || !hasValidCrc(bytes)) return undefined;
  return { slaveId: bytes[0]!, fn: bytes[1]!, data: bytes.slice(2, bytes.length - 2) };
}

/** Big-endian 16-bit word at `offset`. */
export function readU16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    out[2 * i] = (v >> 8) & 0xff;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** Read holding/input registers request: address, quantity. */
export function readRegistersRequest(slaveId: number, fn: number, address: number, count: number): RtuFrame {
  return { slaveId, fn, data: words(address, count) };
}

/** Write multiple registers request: address, quantity, byte count, values. */
export function writeMultipleRequest(slaveId: number, address: number, values: readonly number[]): RtuFrame {
  const data = new Uint8Array(5 + 2 * values.length);
  data.set(words(address, values.length), 0);
  data[4] = 2 * values.length;
  data.set(words(...values), 5);
  return { slaveId, fn: ModbusFunction.WRITE_MULTIPLE_REGISTERS, data };
}

/** Write single register request (its normal reply is the same frame echoed). */
export function writeSingleRequest(slaveId: number, address: number, value: number): RtuFrame {
  return { slaveId, fn: ModbusFunction.WRITE_SINGLE_REGISTER, data: words(address, value) };
}

/** Read reply: byte count, values. */
export function readRegistersReply(slaveId: number, fn: number, values: readonly number[]): RtuFrame {
  const data = new Uint8Array(1 + 2 * values.length);
  data[0] = 2 * values.length;
  data.set(words(...values), 1);
  return { slaveId, fn, data };
}

/** Write multiple reply: address, quantity. */
export function writeMultipleReply(slaveId: number, address: number, count: number): RtuFrame {
  return { slaveId, fn: ModbusFunction.WRITE_MULTIPLE_REGISTERS, data: words(address, count) };
}

/** Exception reply to a request of function `fn`. */
export function exceptionReply(slaveId: number, fn: number, code: number): RtuFrame {
  return { slaveId, fn: (fn | EXCEPTION_BIT) & 0xff, data: Uint8Array.of(code) };
}

/** Registers of a read reply's data, or `undefined` when its byte count is not `2 * count`. */
export function readReplyValues(data: Uint8Array, count: number): number[] | undefined {
  if (data.length !== 1 + 2 * count || data[0] !== 2 * count) return undefined;
  return Array.from({ length: count }, (_, i) => readU16(data, 1 + 2 * i));
}

/** Which side of the line a framer listens on: a master reads replies, a slave reads requests. */
export type FramerRole = 'master' | 'slave';

/** What a master waits for; lets its framer skip any byte that cannot start that reply. */
export interface ExpectedReply {
  slaveId: number;
  fn: number;
  /** Bytes of the normal reply, CRC included (an exception reply is always 5). */
  length: number;
}

export interface RtuFramerStats {
  /** Valid frames returned. */
  frames: number;
  /** Corrupt frames: complete candidates whose CRC failed, counted once per loss of sync. */
  crcErrors: number;
  /** Bytes dropped while resynchronising, at {@link RtuFramer.reset} or as noise at a silence. */
  discardedBytes: number;
}

type Length = number | 'more' | 'unknown';

/** Length (CRC included) of the reply starting at `buf[0]`, from its function code. */
function replyLength(buf: Uint8Array, n: number): Length {
  const fn = buf[1]!;
  if (fn & EXCEPTION_BIT) return 5;
  switch (fn) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x17:
      return n < 3 ? 'more' : 5 + buf[2]!;
    case 0x05:
    case 0x06:
    case 0x0f:
    case 0x10:
      return 8;
    default:
      return 'unknown';
  }
}

/** Length (CRC included) of the request starting at `buf[0]`, from its function code. */
function requestLength(buf: Uint8Array, n: number): Length {
  switch (buf[1]!) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
      return 8;
    case 0x0f:
    case 0x10:
      return n < 7 ? 'more' : 9 + buf[6]!;
    case 0x17:
      return n < 11 ? 'more' : 13 + buf[10]!;
    default:
      return 'unknown';
  }
}

/**
 * Incremental RTU framer. Feed chunks of any size with {@link push}; it returns the complete, CRC-valid frames in
 * order. A master's framer also drops at once any byte that cannot start the expected reply ({@link expect}); a
 * slave's framer holds a frame of unknown function (or a stuck partial frame) until {@link flush}, which its owner
 * calls after a silence on the line.
 */
export class RtuFramer {
  private buf = new Uint8Array(MAX_FRAME_BYTES * 2);
  private n = 0;
  private synced = true;
  private expected: ExpectedReply | undefined;
  readonly stats: RtuFramerStats = { frames: 0, crcErrors: 0, discardedBytes: 0 };

  constructor(readonly role: FramerRole) {}

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.n;
  }

  /** Master: the reply now awaited (`undefined`: any reply). */
  expect(reply: ExpectedReply | undefined): void {
    this.expected = reply;
  }

  /** Drops everything buffered (a master does this before each request). Returns the bytes dropped. */
  reset(): number {
    const dropped = this.n;
    this.stats.discardedBytes += dropped;
    this.n = 0;
    this.synced = true;
    return dropped;
  }

  /** Appends `chunk` and returns the frames it completed (possibly none). */
  push(chunk: Uint8Array): RtuFrame[] {
    this.append(chunk);
    const out: RtuFrame[] = [];
    for (;;) {
      const len = this.headLength();
      if (len === 'more') break;
      if (len === 'unknown') {
        if (this.role === 'slave') break; // wait for the silence
        this.drop(1);
        continue;
      }
      if (len > MAX_FRAME_BYTES) {
        this.drop(1);
        continue;
      }
      if (this.n < len) break;
      if (hasValidCrc(this.buf, 0, len)) {
        out.push(this.take(len));
        continue;
      }
      this.lostSync();
      this.drop(1);
    }
    return out;
  }

  /**
   * The line went silent: whatever is buffered is complete. Returns the frames found in it, in order; a buffer
   * (or what is left of it) whose length could not be derived counts as one frame when its CRC matches, so a
   * slave can answer an unknown function with ILLEGAL_FUNCTION. Everything else is discarded as noise.
   */
  flush(): RtuFrame[] {
    const out = this.push(new Uint8Array(0));
    while (this.n > 0) {
      const len = this.n < 2 ? 'more' : this.headLength();
      if (typeof len === 'number' && len <= this.n && len <= MAX_FRAME_BYTES) {
        if (hasValidCrc(this.buf, 0, len)) {
          out.push(this.take(len));
          continue;
        }
        this.lostSync();
      } else if (this.n >= 4 && this.n <= MAX_FRAME_BYTES && hasValidCrc(this.buf, 0, this.n)) {
        out.push(this.take(this.n));
        continue;
      }
      this.drop(1);
      out.push(...this.push(new Uint8Array(0)));
    }
    return out;
  }

  private headLength(): Length {
    if (this.n < 2) return 'more';
    const e = this.role === 'master' ? this.expected : undefined;
    if (e === undefined)
      return this.role === 'master' ? replyLength(this.buf, this.n) : requestLength(this.buf, this.n);
    const fn = this.buf[1]!;
    if (this.buf[0] !== e.slaveId) return 'unknown';
    if (fn === (e.fn | EXCEPTION_BIT)) return 5;
    return fn === e.fn ? e.length : 'unknown';
  }

  private lostSync(): void {
    if (this.synced) this.stats.crcErrors++;
    this.synced = false;
  }

  private append(chunk: Uint8Array): void {
    if (this.n + chunk.length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.n + chunk.length));
      bigger.set(this.buf.subarray(0, this.n));
      this.buf = bigger;
    }
    this.buf.set(chunk, this.n);
    this.n += chunk.length;
  }

  private drop(count: number): void {
    this.buf.copyWithin(0, count, this.n);
    this.n -= count;
    this.stats.discardedBytes += count;
  }

  private take(len: number): RtuFrame {
    const frame: RtuFrame = { slaveId: this.buf[0]!, fn: this.buf[1]!, data: this.buf.slice(2, len - 2) };
    this.buf.copyWithin(0, len, this.n);
    this.n -= len;
    this.synced = true;
    this.stats.frames++;
    return frame;
  }
}
