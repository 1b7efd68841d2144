import { describe, expect, it } from 'vitest';
import { hex } from '../../src/robots/dynamixel/bytes.js';
import { CRC16_TABLE, crc16 } from '../../src/robots/dynamixel/crc.js';
import {
  buildPacket,
  buildStatusPacket,
  Instruction,
  parsePacket,
  stuff,
  unstuff,
} from '../../src/robots/dynamixel/packet.js';
import { bytes, HEADER, hexBytes, u16, u32 } from './bytes.js';

/** Packet vectors: the ROBOTIS e-manual's examples + computed ones. */
const VECTORS: Array<[string, string]> = [
  ['ping id1', 'FF FF FD 00 01 03 00 01 19 4E'],
  ['ping status', 'FF FF FD 00 01 07 00 55 00 06 04 26 65 5D'],
  ['broadcast ping', 'FF FF FD 00 FE 03 00 01 31 42'],
  ['broadcast ping status id2', 'FF FF FD 00 02 07 00 55 00 06 04 26 6F 6D'],
  ['read present position', 'FF FF FD 00 01 07 00 02 84 00 04 00 1D 15'],
  ['read status 166', 'FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0'],
  ['write goal 512', 'FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89'],
  ['write ack', 'FF FF FD 00 01 04 00 55 00 A1 0C'],
  ['reboot', 'FF FF FD 00 01 03 00 08 2F 4E'],
  ['action', 'FF FF FD 00 01 03 00 05 02 CE'],
  ['sync read', 'FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA'],
  ['sync read status id2', 'FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE'],
  ['sync write', 'FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87'],
  ['bulk read', 'FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05'],
  ['bulk read status 1', 'FF FF FD 00 01 06 00 55 00 77 00 C3 69'],
  ['bulk read status 2', 'FF FF FD 00 02 05 00 55 00 24 8B A9'],
  ['bulk write', 'FF FF FD 00 FE 10 00 93 01 20 00 02 00 A0 00 02 1F 00 01 00 50 B7 68'],
  ['factory reset', 'FF FF FD 00 01 04 00 06 01 A1 E6'],
  ['clear', 'FF FF FD 00 01 08 00 10 01 44 58 4C 22 B1 DC'],
  ['torque enable', 'FF FF FD 00 01 06 00 03 40 00 01 DB 66'],
  ['operating mode id9', 'FF FF FD 00 09 06 00 03 0B 00 05 DF 6B'],
  ['sync read 126/10 ids 1-9', 'FF FF FD 00 FE 10 00 82 7E 00 0A 00 01 02 03 04 05 06 07 08 09 B8 27'],
  ['sync write 2048', 'FF FF FD 00 FE 11 00 83 74 00 04 00 01 00 08 00 00 02 00 08 00 00 68 4C'],
  ['stuffed write', 'FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00 21 E7'],
];

describe('CRC-16 (0x8005, init 0, MSB-first)', () => {
  it('has the check value 0xFEE8 for "123456789" and the documented table head', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0xfee8);
    expect(Array.from(CRC16_TABLE.subarray(0, 5))).toEqual([0x0000, 0x8005, 0x800f, 0x000a, 0x801b]);
  });

  it.each(VECTORS)('matches the e-manual vector: %s', (_name, vector) => {
    const b = hexBytes(vector);
    const crc = crc16(b, 0, b.length - 2);
    expect([crc & 0xff, crc >> 8]).toEqual([b[b.length - 2], b[b.length - 1]]);
  });
});

describe('packet build', () => {
  it('builds Ping and Read exactly as the e-manual', () => {
    const ping = bytes(
      HEADER, // FF FF FD 00
      0x01, // ID 1
      u16(3), // LEN = INST + CRC
      0x01, // INST Ping
      u16(0x4e19), // CRC
    );
    expect(hex(buildPacket(1, Instruction.Ping))).toBe(hex(ping));
    const read = bytes(
      HEADER,
      0x01, // ID 1
      u16(7), // LEN = INST + 4 params + CRC
      0x02, // INST Read
      u16(132), // address: Present Position
      u16(4), // length: 4 bytes
      u16(0x151d), // CRC
    );
    expect(hex(buildPacket(1, Instruction.Read, [...u16(132), ...u16(4)]))).toBe(hex(read));
  });

  it('builds Sync Write of goal positions 150/170 for IDs 1 and 2', () => {
    const expected = bytes(
      HEADER,
      0xfe, // broadcast ID
      u16(0x11), // LEN 17
      0x83, // INST Sync Write
      u16(116), // Goal Position
      u16(4), // 4 bytes per servo
      0x01, // ID 1
      u32(150), // its goal
      0x02, // ID 2
      u32(170), // its goal
      u16(0x8782), // CRC
    );
    const built = buildPacket(0xfe, Instruction.SyncWrite, [
      ...u16(116),
      ...u16(4),
      1,
      ...u32(150),
      2,
      ...u32(170),
    ]);
    expect(hex(built)).toBe(hex(expected));
  });

  it('stuffs FF FF FD in params, counts the inserted byte in LEN and computes CRC after stuffing', () => {
    const built = buildPacket(1, Instruction.Write, [...u16(116), 0xff, 0xff, 0xfd, 0x00]);
    const expected = bytes(
      HEADER,
      0x01, // ID
      u16(0x0a), // LEN 10 = INST + addr(2) + 5 stuffed data + CRC
      0x03, // Write
      u16(116), // address
      [0xff, 0xff, 0xfd, 0xfd, 0x00], // data FF FF FD 00 with the inserted FD
      u16(0xe721), // CRC
    );
    expect(hex(built)).toBe(hex(expected));
    const parsed = parsePacket(built);
    expect(parsed.kind === 'instruction' && Array.from(parsed.params)).toEqual([
      116, 0, 0xff, 0xff, 0xfd, 0x00,
    ]);
  });

  it('stuff/unstuff round-trip runs of FF FF FD FD FD', () => {
    for (const s of ['FF FF FD FD', 'FF FF FD FF FF FD', 'FF FF FD FD FD', '55 FF FF FD', 'FF FF FD']) {
      const raw = hexBytes(s);
      expect(hex(unstuff(stuff(raw)))).toBe(hex(raw));
    }
    expect(hex(stuff(hexBytes('FF FF FD FD')))).toBe('FF FF FD FD FD');
  });

  it('builds the status packet of the read example (Present Position 166)', () => {
    expect(hex(buildStatusPacket(1, 0, u32(166)))).toBe('FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0');
  });
});

describe('packet parse', () => {
  it('parses status packets: ping reply and sync read reply', () => {
    expect(parsePacket(hexBytes('FF FF FD 00 01 07 00 55 00 06 04 26 65 5D'))).toEqual({
      kind: 'status',
      id: 1,
      error: 0,
      params: Uint8Array.from([0x06, 0x04, 0x26]), // model 1030, firmware 38
    });
    const s = parsePacket(hexBytes('FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE'));
    expect(s.kind === 'status' && s.params[0]! | (s.params[1]! << 8)).toBe(2079);
  });

  it('rejects a flipped CRC, a wrong LEN and a wrong header with BAD_MESSAGE', () => {
    const good = hexBytes('FF FF FD 00 01 04 00 55 00 A1 0C');
    const badCrc = good.slice();
    badCrc[10] = 0x0d;
    expect(() => parsePacket(badCrc)).toThrow(/CRC mismatch/);
    expect(() => parsePacket(good.subarray(0, 10))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    const badHeader = good.slice();
    badHeader[3] = 0xfd;
    expect(() => parsePacket(badHeader)).toThrow(/header/);
  });

  it('rejects ids outside 0..254', () => {
    expect(() => buildPacket(255, Instruction.Ping)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
  });
});
