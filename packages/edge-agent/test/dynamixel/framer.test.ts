import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hex } from '../../src/robots/dynamixel/bytes.js';
import { DynamixelFramer } from '../../src/robots/dynamixel/framer.js';
import { buildPacket, buildStatusPacket, type DynamixelPacket } from '../../src/robots/dynamixel/packet.js';
import { hexBytes } from './bytes.js';

function flatten(p: DynamixelPacket): string {
  return p.kind === 'status'
    ? `S ${p.id} ${p.error} ${hex(p.params)}`
    : `I ${p.id} ${p.instruction} ${hex(p.params)}`;
}

describe('DynamixelFramer', () => {
  it('resyncs after leading noise that defeats PacketLengthParser (00 AB before a packet)', () => {
    const f = new DynamixelFramer();
    const out = f.push(Uint8Array.from([0x00, 0xab, ...hexBytes('FF FF FD 00 01 04 00 55 00 A1 0C')]));
    expect(out.map(flatten)).toEqual(['S 1 0 ']);
    expect(f.stats.discardedBytes).toBe(2);
  });

  it('drops a fake header with a huge LEN as soon as a real header appears inside it', () => {
    const f = new DynamixelFramer();
    // fake header claiming LEN 0x03FF, then a real ack
    const out = f.push(hexBytes('FF FF FD 00 05 FF 03 55 FF FF FD 00 01 04 00 55 00 A1 0C'));
    expect(out.map(flatten)).toEqual(['S 1 0 ']);
  });

  it('reports a complete candidate with a bad CRC to onReject and keeps going', () => {
    const rejects: string[] = [];
    const f = new DynamixelFramer({ onReject: (r) => rejects.push(`${r.reason} ${hex(r.bytes)}`) });
    const out = f.push(hexBytes('FF FF FD 00 01 03 00 01 19 4F FF FF FD 00 01 03 00 01 19 4E'));
    expect(rejects).toEqual(['crc FF FF FD 00 01 03 00 01 19 4F']);
    expect(out.map(flatten)).toEqual(['I 1 1 ']);
    expect(f.stats.crcErrors).toBe(1);
  });

  const packetArb = fc.oneof(
    fc
      .record({
        id: fc.integer({ min: 0, max: 252 }),
        error: fc.integer({ min: 0, max: 255 }),
        params: fc.uint8Array({ maxLength: 24 }),
      })
      .map(({ id, error, params }) => buildStatusPacket(id, error, params)),
    fc
      .record({
        id: fc.oneof(fc.integer({ min: 0, max: 252 }), fc.constant(0xfe)),
        inst: fc.constantFrom(0x01, 0x02, 0x03, 0x08, 0x82, 0x83),
        // params rich in FF/FD so that stuffing is exercised
        params: fc.array(fc.oneof(fc.constantFrom(0xff, 0xfd, 0x00), fc.integer({ min: 0, max: 255 })), {
          maxLength: 24,
        }),
      })
      .map(({ id, inst, params }) => buildPacket(id, inst, params)),
  );
  // noise biased toward header bytes, with whole fake headers (random ID and LEN) mixed in
  const noiseArb = fc
    .array(
      fc.oneof(
        fc.constantFrom([0xff], [0xfd], [0x00], [0x55]),
        fc.integer({ min: 0, max: 255 }).map((b) => [b]),
        fc
          .tuple(
            fc.integer({ min: 0, max: 255 }),
            fc.integer({ min: 0, max: 255 }),
            fc.integer({ min: 0, max: 4 }),
          )
          .map(([id, lo, hi]) => [0xff, 0xff, 0xfd, 0x00, id, lo, hi]),
      ),
      { maxLength: 12 },
    )
    .map((chunks) => chunks.flat());

  it('recovers every valid packet from noise + packets split at arbitrary chunk boundaries (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(noiseArb, packetArb), { minLength: 1, maxLength: 8 }),
        noiseArb,
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
        (items, tail, cuts) => {
          const stream: number[] = [];
          const expected: string[] = [];
          for (const [noise, packet] of items) {
            stream.push(...noise, ...packet);
            const reference = new DynamixelFramer().push(packet);
            expected.push(...reference.map(flatten));
          }
          stream.push(...tail);
          const framer = new DynamixelFramer();
          const got: string[] = [];
          let pos = 0;
          let k = 0;
          const data = Uint8Array.from(stream);
          while (pos < data.length) {
            const n = cuts[k++ % cuts.length]!;
            got.push(...framer.push(data.subarray(pos, pos + n)).map(flatten));
            pos += n;
          }
          // every emitted packet passed CRC; the noise may not add or hide packets
          expect(got).toEqual(expected);
        },
      ),
      // fixed seed: a random noise candidate passes a 16-bit CRC with p = 2^-16, which would make a free seed flaky
      { numRuns: 400, seed: 20240611 },
    );
  });

  it('never returns a packet from pure noise that is not CRC-valid (property)', () => {
    fc.assert(
      fc.property(noiseArb, (noise) => {
        for (const p of new DynamixelFramer().push(Uint8Array.from(noise))) {
          const rebuilt =
            p.kind === 'status'
              ? buildStatusPacket(p.id, p.error, p.params)
              : buildPacket(p.id, p.instruction, p.params);
          expect(hex(Uint8Array.from(noise))).toContain(hex(rebuilt));
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
