/**
 * An emulated Robotiq 2F-85 on a Modbus RTU line: a slave that answers like the real gripper over any
 * {@link ByteTransport} (a pty end via ./serve-pty.ts, or an in-memory link), with the behaviour of
 * ./emulator-model.ts behind its registers.
 *
 * As a real slave it: answers only frames addressed to its slave id (and applies broadcast writes to id 0 without
 * answering); silently ignores frames whose CRC is wrong; answers function 0x03 on the robot output registers,
 * 0x04 on the robot input registers, 0x06 and 0x10 on the robot output registers; and answers exceptions
 * otherwise: 01 illegal function, 02 illegal data address (outside the 3-register block), 03 illegal data value
 * (quantity 0 or too large, byte count not matching the quantity, a malformed frame).
 *
 * Test knobs: {@link RobotiqEmulator.silent} (answers nothing, to provoke timeouts), {@link corruptReplies}
 * (flips a bit in the CRC of the next n replies), {@link noiseBeforeReplies} (writes garbage bytes just before
 * the next n replies), plus the model's object and fault injection.
 */
import type { ByteTransport } from '../dynamixel/transport.js';
import { type GripperModelOptions, type InjectedObject, Robotiq2F85Model } from './emulator-model.js';
import {
  BROADCAST_ID,
  encodeFrame,
  exceptionReply,
  MAX_READ_REGISTERS,
  MAX_WRITE_REGISTERS,
  ModbusExceptionCode,
  ModbusFunction,
  type RtuFrame,
  RtuFramer,
  readRegistersReply,
  readU16,
  writeMultipleReply,
} from './modbus-rtu.js';
import { INPUT_REGISTER_BASE, OUTPUT_REGISTER_BASE, REGISTER_COUNT, ROBOTIQ_SLAVE_ID } from './registers.js';

export interface RobotiqEmulatorOptions extends GripperModelOptions {
  /** Slave id it answers. Default 9. */
  slaveId?: number;
  /**
   * Silence (ms) after which a partial frame or one of unknown function is taken as complete (or noise). RTU's
   * 3.5 characters are far below what a pty and a timer can resolve, so this is generous. Default 10.
   */
  silenceMs?: number;
}

export interface RobotiqEmulatorStats {
  /** Valid frames addressed to this slave (or broadcast). */
  requests: number;
  /** Replies written (exceptions included). */
  replies: number;
  /** Exception replies written. */
  exceptions: number;
  /** Valid frames for other slaves, ignored. */
  otherSlaves: number;
}

export class RobotiqEmulator {
  readonly slaveId: number;
  readonly model: Robotiq2F85Model;
  readonly stats: RobotiqEmulatorStats = { requests: 0, replies: 0, exceptions: 0, otherSlaves: 0 };
  /** While true, requests are applied to the registers as usual but never answered. */
  silent = false;
  private readonly silenceMs: number;
  private readonly framers = new Set<RtuFramer>();
  private corruptLeft = 0;
  private noiseLeft = 0;
  private noise = new Uint8Array(0);

  constructor(options: RobotiqEmulatorOptions = {}) {
    this.slaveId = options.slaveId ?? ROBOTIQ_SLAVE_ID;
    this.silenceMs = options.silenceMs ?? 10;
    this.model = new Robotiq2F85Model(options);
  }

  /** CRC and resync counters of the receive side, summed over attached transports. */
  get framerStats(): { frames: number; crcErrors: number; discardedBytes: number } {
    const sum = { frames: 0, crcErrors: 0, discardedBytes: 0 };
    for (const f of this.framers) {
      sum.frames += f.stats.frames;
      sum.crcErrors += f.stats.crcErrors;
      sum.discardedBytes += f.stats.discardedBytes;
    }
    return sum;
  }

  /** See {@link Robotiq2F85Model.injectObject}. */
  injectObject(object: InjectedObject | undefined): void {
    this.model.injectObject(object);
  }

  /** See {@link Robotiq2F85Model.injectFault}. */
  injectFault(code: number): void {
    this.model.injectFault(code);
  }

  /** See {@link Robotiq2F85Model.clearFault}. */
  clearFault(): void {
    this.model.clearFault();
  }

  /** The next `count` replies go out with a wrong CRC (a real master must drop them). */
  corruptReplies(count: number): void {
    this.corruptLeft = count;
  }

  /** The next `count` replies are preceded by `noise` (the master must resync past it). */
  noiseBeforeReplies(count: number, noise: Uint8Array): void {
    this.noiseLeft = count;
    this.noise = noise.slice();
  }

  /** Answers frames arriving on `transport`; returns a function that stops it. */
  attach(transport: ByteTransport): () => void {
    const framer = new RtuFramer('slave');
    this.framers.add(framer);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const serve = (frames: RtuFrame[]): void => {
      for (const frame of frames) {
        const reply = this.handle(frame);
        if (reply) void transport.write(reply).catch(() => {});
      }
    };
    const off = transport.onData((bytes) => {
      serve(framer.push(bytes));
      clearTimeout(timer);
      if (framer.buffered > 0) timer = setTimeout(() => serve(framer.flush()), this.silenceMs);
    });
    return () => {
      clearTimeout(timer);
      off();
    };
  }

  /** One received frame → the bytes to answer (`undefined`: no answer), applying it to the registers. */
  handle(frame: RtuFrame): Uint8Array | undefined {
    const broadcast = frame.slaveId === BROADCAST_ID;
    if (frame.slaveId !== this.slaveId && !broadcast) {
      this.stats.otherSlaves++;
      return undefined;
    }
    this.stats.requests++;
    const reply = this.execute(frame);
    if (broadcast || this.silent) return undefined;
    this.stats.replies++;
    if (reply.fn & 0x80) this.stats.exceptions++;
    const bytes = encodeFrame(reply);
    if (this.corruptLeft > 0) {
      this.corruptLeft--;
      bytes[bytes.length - 1]! ^= 0x01;
    }
    if (this.noiseLeft > 0) {
      this.noiseLeft--;
      const out = new Uint8Array(this.noise.length + bytes.length);
      out.set(this.noise);
      out.set(bytes, this.noise.length);
      return out;
    }
    return bytes;
  }

  private execute(frame: RtuFrame): RtuFrame {
    const { slaveId, fn, data } = frame;
    const fail = (code: number): RtuFrame => exceptionReply(slaveId, fn, code);
    const block = (address: number, count: number, base: number): number | undefined =>
      address >= base && address + count <= base + REGISTER_COUNT ? address - base : undefined;
    switch (fn) {
      case ModbusFunction.READ_HOLDING_REGISTERS:
      case ModbusFunction.READ_INPUT_REGISTERS: {
        if (data.length !== 4) return fail(ModbusExceptionCode.ILLEGAL_DATA_VALUE);
        const address = readU16(data, 0);
        const count = readU16(data, 2);
        if (count < 1 || count > MAX_READ_REGISTERS) return fail(ModbusExceptionCode.ILLEGAL_DATA_VALUE);
        const input = fn === ModbusFunction.READ_INPUT_REGISTERS;
        const offset = block(address, count, input ? INPUT_REGISTER_BASE : OUTPUT_REGISTER_BASE);
        if (offset === undefined) return fail(ModbusExceptionCode.ILLEGAL_DATA_ADDRESS);
        const values = input ? this.model.readInput(offset, count) : this.model.readOutput(offset, count);
        return readRegistersReply(slaveId, fn, values);
      }
      case ModbusFunction.WRITE_SINGLE_REGISTER: {
        if (data.length !== 4) return fail(ModbusExceptionCode.ILLEGAL_DATA_VALUE);
        const offset = block(readU16(data, 0), 1, OUTPUT_REGISTER_BASE);
        if (offset === undefined) return fail(ModbusExceptionCode.ILLEGAL_DATA_ADDRESS);
        this.model.writeOutput(offset, [readU16(data, 2)]);
        return { slaveId, fn, data: data.slice() };
      }
      case ModbusFunction.WRITE_MULTIPLE_REGISTERS: {
        if (data.length < 5) return fail(ModbusExceptionCode.ILLEGAL_DATA_VALUE);
        const address = readU16(data, 0);
        const count = readU16(data, 2);
        const byteCount = data[4]!;
        if (
          count < 1 ||
          count > MAX_WRITE_REGISTERS ||
          byteCount !== 2 * count ||
          data.length !== 5 + byteCount
        ) {
          return fail(ModbusExceptionCode.ILLEGAL_DATA_VALUE);
        }
        const offset = block(address, count, OUTPUT_REGISTER_BASE);
        if (offset === undefined) return fail(ModbusExceptionCode.ILLEGAL_DATA_ADDRESS);
        this.model.writeOutput(
          offset,
          Array.from({ length: count }, (_, i) => readU16(data, 5 + 2 * i)),
        );
        return writeMultipleReply(slaveId, address, count);
      }
      default:
        return fail(ModbusExceptionCode.ILLEGAL_FUNCTION);
    }
  }
}
