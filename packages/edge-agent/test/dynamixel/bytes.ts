/** Small byte helpers for readable packet vectors in tests. */

/** `"FF FF FD 00"` → bytes. */
export function hexBytes(s: string): Uint8Array {
  const parts = s.trim().split(/\s+/);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}
/** uint16 little-endian. */
export const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
/** uint32 little-endian. */
export const u32 = (v: number): number[] => [
  v & 0xff,
  (v >>> 8) & 0xff,
  (v >>> 16) & 0xff,
  (v >>> 24) & 0xff,
];
/** Concatenates byte groups (each a field) into one packet. */
export const bytes = (...fields: Array<number | number[]>): Uint8Array => Uint8Array.from(fields.flat());
/** Header + reserved byte. */
export const HEADER = [0xff, 0xff, 0xfd, 0x00];
