/**
 * CRC-16 of Modbus RTU (CRC-16/MODBUS): reflected polynomial 0xA001 (0x8005 bit-reversed), initial value 0xFFFF,
 * LSB-first, no final xor; check value of ASCII "123456789" is 0x4B37. Covers every byte of a frame from the slave
 * id through the last data byte and is transmitted low byte first (the one field of a frame that is little-endian).
 */

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    table[i] = crc;
  }
  return table;
}

/** table[i] = reflected CRC of the single byte i from a zero register (0x0000, 0xC0C1, 0xC181, 0x0140, ...). */
export const MODBUS_CRC_TABLE: Uint16Array = buildTable();

/** CRC over `bytes[start, end)`, continuing from `crc` (default 0xFFFF, a new frame). */
export function crc16Modbus(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0xffff): number {
  let c = crc;
  for (let k = start; k < end; k++) c = (c >>> 8) ^ MODBUS_CRC_TABLE[(c ^ bytes[k]!) & 0xff]!;
  return c;
}

/** `body` followed by its CRC, low byte first: a complete RTU frame. */
export function appendCrc(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(body.length + 2);
  frame.set(body);
  const crc = crc16Modbus(body);
  frame[body.length] = crc & 0xff;
  frame[body.length + 1] = crc >>> 8;
  return frame;
}

/** True when the last two bytes of `bytes[start, end)` are the CRC (low byte first) of the bytes before them. */
export function hasValidCrc(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  if (end - start < 3) return false;
  const crc = crc16Modbus(bytes, start, end - 2);
  return bytes[end - 2] === (crc & 0xff) && bytes[end - 1] === crc >>> 8;
}
