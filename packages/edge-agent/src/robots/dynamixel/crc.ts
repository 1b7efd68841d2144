/**
 * CRC-16 of Dynamixel Protocol 2.0: polynomial 0x8005, initial value 0, MSB-first, no final xor
 * (CRC-16/BUYPASS; check value of ASCII "123456789" is 0xFEE8). Covers every byte from the first 0xFF of the
 * header through the last (stuffed) parameter; transmitted little-endian.
 */

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x8005) & 0xffff : (crc << 1) & 0xffff;
    }
    table[i] = crc;
  }
  return table;
}

/** table[i] = MSB-first CRC of the single byte i (starts 0x0000, 0x8005, 0x800F, 0x000A, ...). */
export const CRC16_TABLE: Uint16Array = buildTable();

/** CRC over `bytes[start, end)`, continuing from `crc` (default 0). */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  let c = crc;
  for (let k = start; k < end; k++) {
    c = ((c << 8) ^ CRC16_TABLE[((c >> 8) ^ bytes[k]!) & 0xff]!) & 0xffff;
  }
  return c;
}
