/** CRC-16/Modbus vectors, frame builders, the register layout, and the RTU framer's resynchronisation. */
import { describe, expect, it } from 'vitest';
import { appendCrc, crc16Modbus, hasValidCrc } from '../../src/robots/robotiq/crc.js';
import {
  decodeFrame,
  encodeFrame,
  exceptionName,
  exceptionReply,
  functionName,
  ModbusFunction,
  RtuFramer,
  readRegistersReply,
  readRegistersRequest,
  readReplyValues,
  writeMultipleRequest,
} from '../../src/robots/robotiq/modbus-rtu.js';
import {
  decodeStatus,
  describeFault,
  encodeCommand,
  encodeStatus,
  INPUT_REGISTER_BASE,
  OUTPUT_REGISTER_BASE,
} from '../../src/robots/robotiq/registers.js';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.split(/\s+/).filter(Boolean), (b) => Number.parseInt(b, 16));
const toHex = (b: Uint8Array): string =>
  [...b].map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');

describe('CRC-16/Modbus', () => {
  it('matches the standard check value and known frames (low byte first on the wire)', () => {
    expect(crc16Modbus(new TextEncoder().encode('123456789'))).toBe(0x4b37);
    // the Modbus spec's read-holding-registers example
    expect(toHex(appendCrc(hex('01 03 00 00 00 0A')))).toBe('01 03 00 00 00 0A C5 CD');
    // Robotiq activation request (clear): write 3 registers at 0x03E8, all zero
    expect(toHex(appendCrc(hex('09 10 03 E8 00 03 06 00 00 00 00 00 00')).subarray(-2))).toBe('73 30');
    // Robotiq status read: 3 input registers at 0x07D0
    expect(toHex(appendCrc(hex('09 04 07 D0 00 03')).subarray(-2))).toBe('B1 CE');
    expect(crc16Modbus(hex('09 04 07 D0 00 03'))).toBe(0xceb1);
  });

  it('continues across calls and validates frames', () => {
    const b = hex('09 04 07 D0 00 03');
    expect(crc16Modbus(b, 3, 6, crc16Modbus(b, 0, 3))).toBe(crc16Modbus(b));
    const frame = appendCrc(b);
    expect(hasValidCrc(frame)).toBe(true);
    for (let i = 0; i < frame.length; i++) {
      const bad = frame.slice();
      bad[i]! ^= 0x10;
      expect(hasValidCrc(bad)).toBe(false);
    }
    expect(hasValidCrc(hex('09 04'))).toBe(false);
  });
});

describe('frames', () => {
  it('builds the requests a Robotiq gripper expects', () => {
    expect(toHex(encodeFrame(readRegistersRequest(9, 0x04, INPUT_REGISTER_BASE, 3)))).toBe(
      '09 04 07 D0 00 03 B1 CE',
    );
    const close = writeMultipleRequest(
      9,
      OUTPUT_REGISTER_BASE,
      encodeCommand({
        action: 0x09,
        position: 255,
        speed: 255,
        force: 255,
      }),
    );
    expect(toHex(encodeFrame(close).subarray(0, 13))).toBe('09 10 03 E8 00 03 06 09 00 00 FF FF FF');
    expect(toHex(encodeFrame(exceptionReply(9, 0x04, 2)))).toBe('09 84 02 43 03');
  });

  it('decodes frames and read replies, rejecting bad CRC and wrong byte counts', () => {
    const bytes = encodeFrame(readRegistersReply(9, 0x04, [0x3100, 0x0000, 0x0000]));
    expect(toHex(bytes.subarray(0, 9))).toBe('09 04 06 31 00 00 00 00 00');
    const f = decodeFrame(bytes)!;
    expect(f.slaveId).toBe(9);
    expect(readReplyValues(f.data, 3)).toEqual([0x3100, 0, 0]);
    expect(readReplyValues(f.data, 2)).toBeUndefined();
    bytes[4]! ^= 1;
    expect(decodeFrame(bytes)).toBeUndefined();
    expect(functionName(0x84)).toBe('READ_INPUT_REGISTERS (0x04)');
    expect(functionName(0x2b)).toBe('FUNCTION_0x2B');
    expect(exceptionName(3)).toBe('ILLEGAL_DATA_VALUE');
    expect(exceptionName(0x42)).toBe('EXCEPTION_0x42');
  });
});

describe('register layout', () => {
  it('encodes commands as big-endian words (bytes 1 and 2 reserved)', () => {
    expect(encodeCommand({ action: 0x09, position: 200, speed: 255, force: 128 })).toEqual([
      0x0900, 0x00c8, 0xff80,
    ]);
  });

  it('decodes every status field', () => {
    // manual examples: 0x31 after activation; 0xF9 at position; 0xB9 object while closing
    const s = decodeStatus([0xb900, 0x00c8, 0x7a2c], 12.5);
    expect(s).toEqual({
      activated: true,
      goTo: true,
      activation: 'complete',
      object: 'object-closing',
      fault: null,
      positionRequest: 200,
      position: 0x7a,
      currentMa: 440,
      stampMs: 12.5,
    });
    expect(decodeStatus([0x3100, 0, 0], 0)).toMatchObject({
      activation: 'complete',
      object: 'moving',
      goTo: false,
    });
    expect(decodeStatus([0x1100, 0, 0], 0).activation).toBe('activating');
    expect(decodeStatus([0x2100, 0, 0], 0).activation).toBe('activating');
    expect(decodeStatus([0x0000, 0, 0], 0)).toMatchObject({ activated: false, activation: 'reset' });
    expect(decodeStatus([0x7900, 0, 0], 0).object).toBe('object-opening');
    expect(decodeStatus([0xf900, 0, 0], 0).object).toBe('at-position');
    expect(decodeStatus([0x0100, 0x0700, 0], 0).fault).toEqual({
      code: 7,
      name: 'ACTIVATION_BIT_NOT_SET',
      message: expect.stringContaining('activation bit'),
    });
    const raw = {
      gACT: true,
      gGTO: true,
      gSTA: 3,
      gOBJ: 2,
      gFLT: 0,
      positionRequest: 200,
      position: 122,
      current: 44,
    };
    expect(encodeStatus(raw)).toEqual([0xb900, 0x00c8, 0x7a2c]);
  });

  it('names faults, unknown ones included', () => {
    expect(describeFault(0)).toBeNull();
    expect(describeFault(0x05)?.name).toBe('ACTION_DELAYED');
    expect(describeFault(0x0e)?.name).toBe('OVERCURRENT');
    expect(describeFault(0x42)).toMatchObject({ code: 0x42, name: 'UNKNOWN_0x42' });
  });
});

describe('RtuFramer', () => {
  const status = encodeFrame(readRegistersReply(9, 0x04, [0x3100, 0x00c8, 0xc800]));
  const write = encodeFrame(writeMultipleRequest(9, OUTPUT_REGISTER_BASE, [0x0900, 200, 0xff80]));
  const read = encodeFrame(readRegistersRequest(9, 0x04, INPUT_REGISTER_BASE, 3));

  it('reassembles frames split into single bytes, and several frames in one chunk', () => {
    const slave = new RtuFramer('slave');
    const got = [];
    for (const b of [...write, ...read]) got.push(...slave.push(Uint8Array.of(b)));
    expect(got.map((f) => f.fn)).toEqual([0x10, 0x04]);
    const both = new Uint8Array([...read, ...write, ...read]);
    expect(slave.push(both).map((f) => f.fn)).toEqual([0x04, 0x10, 0x04]);
    expect(slave.stats).toEqual({ frames: 5, crcErrors: 0, discardedBytes: 0 });

    const master = new RtuFramer('master');
    expect(master.push(status.subarray(0, 4))).toEqual([]);
    expect(master.push(status.subarray(4)).map((f) => readReplyValues(f.data, 3))).toEqual([
      [0x3100, 0x00c8, 0xc800],
    ]);
  });

  it('resyncs past noise and a corrupt frame to the next valid one', () => {
    const master = new RtuFramer('master');
    master.expect({ slaveId: 9, fn: 0x04, length: 11 });
    const corrupt = status.slice();
    corrupt[5]! ^= 0x40;
    const noise = hex('09 04 FF 00 13 77');
    const frames = master.push(new Uint8Array([...noise, ...corrupt, ...status]));
    expect(frames).toHaveLength(1);
    expect(readReplyValues(frames[0]!.data, 3)).toEqual([0x3100, 0x00c8, 0xc800]);
    expect(master.stats.crcErrors).toBe(1);
    expect(master.stats.discardedBytes).toBe(noise.length + corrupt.length);
    // in sync again: the next frame costs nothing
    expect(master.push(status)).toHaveLength(1);
    expect(master.stats.crcErrors).toBe(1);
  });

  it('master: an exception reply is 5 bytes whatever was expected; bytes of other slaves are skipped', () => {
    const master = new RtuFramer('master');
    master.expect({ slaveId: 9, fn: 0x04, length: 11 });
    const other = encodeFrame(readRegistersReply(3, 0x04, [1, 2, 3]));
    const exc = encodeFrame(exceptionReply(9, 0x04, 2));
    const frames = master.push(new Uint8Array([...other, ...exc]));
    expect(frames.map((f) => [f.slaveId, f.fn, f.data[0]])).toEqual([[9, 0x84, 2]]);
    expect(master.reset()).toBe(0);
  });

  it('slave: a frame of unknown function waits for the silence, then counts if its CRC matches', () => {
    const slave = new RtuFramer('slave');
    const unknown = encodeFrame({ slaveId: 9, fn: 0x2b, data: hex('0E 01 00') });
    expect(slave.push(unknown)).toEqual([]);
    expect(slave.buffered).toBe(unknown.length);
    const flushed = slave.flush();
    expect(flushed.map((f) => f.fn)).toEqual([0x2b]);
    // noise then a valid request, with a stuck partial frame (a 0x10 header announcing 200 bytes) in front
    const stuck = hex('09 10 03 E8 00 64 C8 01 02');
    expect(slave.push(new Uint8Array([...stuck, ...read]))).toEqual([]);
    expect(slave.flush().map((f) => f.fn)).toEqual([0x04]);
    expect(slave.buffered).toBe(0);
    expect(slave.stats.discardedBytes).toBe(stuck.length);
  });

  it('drops frames longer than RTU allows', () => {
    const slave = new RtuFramer('slave');
    const big = writeMultipleRequest(
      9,
      0,
      Array.from({ length: 124 }, () => 0),
    );
    expect(slave.push(encodeFrame(big))).toEqual([]);
    expect(slave.flush()).toEqual([]);
    expect(slave.stats.frames).toBe(0);
  });

  it('function codes of the module match the wire', () => {
    expect(ModbusFunction).toEqual({
      READ_HOLDING_REGISTERS: 3,
      READ_INPUT_REGISTERS: 4,
      WRITE_SINGLE_REGISTER: 6,
      WRITE_MULTIPLE_REGISTERS: 16,
    });
  });
});
