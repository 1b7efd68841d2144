/**
 * A Dynamixel Protocol 2.0 bus of emulated servos behind one {@link ByteTransport}: frames instruction packets,
 * executes them on the addressed servos (primary ID answers; servos whose Secondary ID matches execute silently,
 * EEPROM writes through a Secondary ID ignored) and writes status packets back, one per answering servo.
 *
 * Honoured: Ping (also broadcast), Read, Write, Reg Write/Action, Factory Reset, Reboot, Clear, Sync Read/Write,
 * Bulk Read/Write, Status Return Level, the hardware-alert bit, CRC_ERROR replies to corrupt instructions.
 * Not modelled: Return Delay Time, baud rate (any line rate works), Fast Sync/Bulk Read, indirect addresses,
 * Homing Offset in Present Position, bus watchdog.
 */
import { decodeLE, encodeLE } from '../bytes.js';
import { XRegister } from '../control-table.js';
import { DynamixelFramer, type FramerReject } from '../framer.js';
import {
  BROADCAST_ID,
  buildStatusPacket,
  Instruction,
  type InstructionPacket,
  StatusError,
} from '../packet.js';
import type { ByteTransport } from '../transport.js';
import { EmulatedServo, type EmulatedServoOptions } from './servo.js';

/** Monotonic milliseconds. */
export interface EmulatorClock {
  now(): number;
}

export interface BusEmulatorOptions {
  /** Time source for the motion model. Default `performance.now()` (ms). */
  clock?: EmulatorClock;
}

/** Test faults applied to the next status packets the bus sends. */
export interface EmulatorFault {
  /** `drop`: send nothing; `corrupt`: flip a CRC bit (the driver's framer rejects it). */
  kind: 'drop' | 'corrupt';
  /** How many status packets it applies to. */
  count: number;
  /** Only status packets from this servo; default any. */
  id?: number;
}

/** Instruction packets `received` keeps (when exceeded, the oldest half is dropped: amortised O(1)). */
export const RECEIVED_KEPT = 20_000;

const defaultClock: EmulatorClock = { now: () => performance.now() };

export class DynamixelBusEmulator {
  private readonly servoList: EmulatedServo[];
  private readonly clock: EmulatorClock;
  private readonly faults: EmulatorFault[] = [];
  private registered = new Map<number, { address: number; data: Uint8Array }>();
  /**
   * The most recent instruction packets received (for tests), at most {@link RECEIVED_KEPT}: an emulator serving an
   * hour-long run must not keep every packet. `receivedTotal` counts all of them.
   */
  readonly received: InstructionPacket[] = [];
  /** Instruction packets received since construction. */
  receivedTotal = 0;

  constructor(servos: ReadonlyArray<EmulatedServo | EmulatedServoOptions>, options: BusEmulatorOptions = {}) {
    this.servoList = servos.map((s) => (s instanceof EmulatedServo ? s : new EmulatedServo(s)));
    this.clock = options.clock ?? defaultClock;
  }

  /** The servo whose (primary) ID is `id`. */
  servo(id: number): EmulatedServo | undefined {
    return this.servoList.find((s) => s.id === id);
  }

  get servos(): readonly EmulatedServo[] {
    return this.servoList;
  }

  get now(): number {
    return this.clock.now();
  }

  /** Queues a fault for the next status packets. */
  injectFault(fault: EmulatorFault): void {
    this.faults.push({ ...fault });
  }

  /** Serves the bus on `transport` until the returned function is called (it does not close the transport). */
  attach(transport: ByteTransport): () => void {
    const framer = new DynamixelFramer({ onReject: (r) => this.onReject(r, transport) });
    return transport.onData((bytes) => {
      for (const packet of framer.push(bytes)) {
        if (packet.kind !== 'instruction') continue;
        this.received.push(packet);
        this.receivedTotal += 1;
        if (this.received.length > RECEIVED_KEPT)
          this.received.splice(0, this.received.length - RECEIVED_KEPT / 2);
        for (const reply of this.handle(packet)) this.send(transport, reply);
      }
    });
  }

  private onReject(reject: FramerReject, transport: ByteTransport): void {
    if (reject.reason !== 'crc') return;
    const servo = this.servo(reject.bytes[4]!);
    if (servo) this.send(transport, buildStatusPacket(servo.id, StatusError.CrcError | servo.alert));
  }

  private send(transport: ByteTransport, packet: Uint8Array): void {
    const id = packet[4]!;
    const i = this.faults.findIndex((f) => f.count > 0 && (f.id === undefined || f.id === id));
    let out = packet;
    if (i >= 0) {
      const fault = this.faults[i]!;
      fault.count -= 1;
      if (fault.count === 0) this.faults.splice(i, 1);
      if (fault.kind === 'drop') return;
      out = packet.slice();
      out[out.length - 1]! ^= 0x01;
    }
    transport.write(out).catch(() => undefined);
  }

  /** Executes one instruction packet; returns the status packets to send, in bus order. */
  handle(packet: InstructionPacket): Uint8Array[] {
    const now = this.clock.now();
    const { id, instruction, params } = packet;
    const broadcast = id === BROADCAST_ID;
    const primary = broadcast ? undefined : this.servo(id);
    const shadows = broadcast ? [] : this.servoList.filter((s) => s.secondaryId === id && s.id !== id);
    const targets = broadcast ? this.servoList : primary ? [primary] : [];
    const replies: Uint8Array[] = [];
    const reply = (s: EmulatedServo, error: number, data: ArrayLike<number> = [], minLevel = 2): void => {
      if (broadcast && instruction !== Instruction.Ping) return;
      if (instruction !== Instruction.Ping && s.get(XRegister.StatusReturnLevel) < minLevel) return;
      replies.push(buildStatusPacket(s.id, error | s.alert, data));
    };

    switch (instruction) {
      case Instruction.Ping:
        for (const s of [...targets].sort((a, b) => a.id - b.id)) {
          reply(s, 0, [...encodeLE(s.model.modelNumber, 2), s.model.firmwareVersion]);
        }
        break;
      case Instruction.Read: {
        if (params.length !== 4) {
          for (const s of targets) reply(s, StatusError.DataLengthError, [], 1);
          break;
        }
        const address = decodeLE(params, 0, 2);
        const length = decodeLE(params, 2, 2);
        for (const s of targets) {
          const r = s.read(address, length, now);
          reply(s, r.error, r.data, 1);
        }
        for (const s of shadows) s.read(address, length, now);
        break;
      }
      case Instruction.Write: {
        if (params.length < 3) {
          for (const s of targets) reply(s, StatusError.DataLengthError);
          break;
        }
        const address = decodeLE(params, 0, 2);
        const data = params.subarray(2);
        for (const s of targets) reply(s, s.write(address, data, now));
        for (const s of shadows) s.write(address, data, now, true);
        break;
      }
      case Instruction.RegWrite: {
        if (params.length < 3) {
          for (const s of targets) reply(s, StatusError.DataLengthError);
          break;
        }
        const entry = { address: decodeLE(params, 0, 2), data: params.slice(2) };
        for (const s of [...targets, ...shadows]) {
          this.registered.set(s.id, entry);
          if (targets.includes(s)) reply(s, 0);
        }
        break;
      }
      case Instruction.Action:
        for (const s of [...targets, ...shadows]) {
          const entry = this.registered.get(s.id);
          if (!entry) {
            if (targets.includes(s)) reply(s, StatusError.InstructionError);
            continue;
          }
          this.registered.delete(s.id);
          const err = s.write(entry.address, entry.data, now, !targets.includes(s));
          if (targets.includes(s)) reply(s, err);
        }
        break;
      case Instruction.FactoryReset:
        for (const s of targets) reply(s, s.factoryReset(params[0] ?? -1, now));
        break;
      case Instruction.Reboot:
        for (const s of targets) {
          reply(s, 0);
          s.reboot(now);
        }
        for (const s of shadows) s.reboot(now);
        break;
      case Instruction.Clear:
        for (const s of targets) reply(s, s.get(XRegister.Moving) ? StatusError.ResultFail : 0);
        break;
      case Instruction.SyncRead:
        this.syncRead(params, now, replies);
        break;
      case Instruction.SyncWrite:
        this.syncWrite(params, now);
        break;
      case Instruction.BulkRead:
        this.bulkRead(params, now, replies);
        break;
      case Instruction.BulkWrite:
        this.bulkWrite(params, now);
        break;
      default:
        for (const s of targets) reply(s, StatusError.InstructionError);
    }
    return replies;
  }

  private syncRead(params: Uint8Array, now: number, replies: Uint8Array[]): void {
    if (params.length < 5) return;
    const address = decodeLE(params, 0, 2);
    const length = decodeLE(params, 2, 2);
    for (const id of params.subarray(4)) {
      const s = this.servo(id);
      if (!s || s.get(XRegister.StatusReturnLevel) < 1) continue;
      const r = s.read(address, length, now);
      replies.push(buildStatusPacket(id, r.error | s.alert, r.data));
    }
  }

  private syncWrite(params: Uint8Array, now: number): void {
    if (params.length < 4) return;
    const address = decodeLE(params, 0, 2);
    const length = decodeLE(params, 2, 2);
    for (let i = 4; i + 1 + length <= params.length; i += 1 + length) {
      const id = params[i]!;
      const data = params.subarray(i + 1, i + 1 + length);
      this.servo(id)?.write(address, data, now);
      for (const s of this.servoList)
        if (s.secondaryId === id && s.id !== id) s.write(address, data, now, true);
    }
  }

  private bulkRead(params: Uint8Array, now: number, replies: Uint8Array[]): void {
    for (let i = 0; i + 5 <= params.length; i += 5) {
      const s = this.servo(params[i]!);
      if (!s || s.get(XRegister.StatusReturnLevel) < 1) continue;
      const r = s.read(decodeLE(params, i + 1, 2), decodeLE(params, i + 3, 2), now);
      replies.push(buildStatusPacket(s.id, r.error | s.alert, r.data));
    }
  }

  private bulkWrite(params: Uint8Array, now: number): void {
    for (let i = 0; i + 5 <= params.length; ) {
      const id = params[i]!;
      const address = decodeLE(params, i + 1, 2);
      const length = decodeLE(params, i + 3, 2);
      const data = params.subarray(i + 5, i + 5 + length);
      this.servo(id)?.write(address, data, now);
      for (const s of this.servoList)
        if (s.secondaryId === id && s.id !== id) s.write(address, data, now, true);
      i += 5 + length;
    }
  }
}
