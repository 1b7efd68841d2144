/** Little-endian integer helpers for Dynamixel register values (all multi-byte fields are little-endian). */

/** Encodes `value` as a `size`-byte little-endian two's-complement integer (size 1, 2 or 4). */
export function encodeLE(value: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = value < 0 ? value + 2 ** (8 * size) : value;
  for (let i = 0; i < size; i++) {
    out[i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  return out;
}

/** Reads a `size`-byte little-endian integer at `offset`; `signed` interprets it as two's complement. */
export function decodeLE(bytes: Uint8Array, offset: number, size: number, signed = false): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[offset + i]!;
  if (signed && v >= 2 ** (8 * size - 1)) v -= 2 ** (8 * size);
  return v;
}

/** `[lo, hi]` of a uint16. */
export function u16le(value: number): [number, number] {
  return [value & 0xff, (value >> 8) & 0xff];
}

/** Hex dump `FF FF FD 00 ...` for error messages and test names. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}
