/**
 * Incremental Dynamixel 2.0 framer: feed it arbitrary chunks of a byte stream (noise, echoes, partial packets)
 * and it returns every complete, CRC-valid packet in order.
 *
 * Resynchronisation: a candidate starts at `FF FF FD 00` with a plausible ID and LEN. A candidate whose CRC fails
 * is abandoned one byte past its start and the search continues, so a real packet that started inside it is found.
 * Because stuffing guarantees `FF FF FD` inside INST/params is always followed by `FD`, a real header `FF FF FD 00`
 * whose `FD` lies before a candidate's CRC proves the candidate false: it is abandoned at once instead of waiting
 * for up to LEN bytes that may never come.
 */

import { crc16 } from './crc.js';
import { type DynamixelPacket, MAX_ID, MAX_LENGTH_FIELD, PACKET_OVERHEAD, parsePacket } from './packet.js';

/** Why bytes were dropped; given to {@link FramerOptions.onReject}. */
export interface FramerReject {
  reason: 'crc' | 'malformed';
  /** The candidate's bytes (a copy). For `crc`, `bytes[4]` is the ID it claimed. */
  bytes: Uint8Array;
}

export interface FramerOptions {
  /** Largest LEN field accepted; bigger ones are noise. Default 1024 (bytes). */
  maxLength?: number;
  /** Called for each complete candidate that failed CRC or parsing (emulators answer CRC_ERROR from here). */
  onReject?: (reject: FramerReject) => void;
}

export interface FramerStats {
  /** Bytes skipped while searching for a header (noise, or the first byte of a rejected candidate). */
  discardedBytes: number;
  /** Complete candidates whose CRC did not match. */
  crcErrors: number;
  /** Valid packets returned. */
  packets: number;
}

function isHeaderAt(buf: Uint8Array, i: number, end: number): boolean {
  return i + 3 < end && buf[i] === 0xff && buf[i + 1] === 0xff && buf[i + 2] === 0xfd && buf[i + 3] === 0x00;
}

export class DynamixelFramer {
  private buf = new Uint8Array(256);
  private start = 0;
  private end = 0;
  private readonly maxLength: number;
  private readonly onReject: ((reject: FramerReject) => void) | undefined;
  readonly stats: FramerStats = { discardedBytes: 0, crcErrors: 0, packets: 0 };

  constructor(options: FramerOptions = {}) {
    this.maxLength = options.maxLength ?? MAX_LENGTH_FIELD;
    this.onReject = options.onReject;
  }

  /** Bytes held while waiting for the rest of a packet. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Drops everything buffered (e.g. before a new request, like the SDK's clearPort). */
  reset(): void {
    this.stats.discardedBytes += this.end - this.start;
    this.start = 0;
    this.end = 0;
  }

  /** Appends `chunk` and returns the packets completed by it (possibly none). */
  push(chunk: Uint8Array): DynamixelPacket[] {
    this.append(chunk);
    const out: DynamixelPacket[] = [];
    for (;;) {
      const packet = this.next();
      if (packet === 'need-more') break;
      if (packet !== 'skipped') out.push(packet);
    }
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
    return out;
  }

  private append(chunk: Uint8Array): void {
    const used = this.end - this.start;
    if (this.end + chunk.length > this.buf.length) {
      const size = Math.max(this.buf.length, (used + chunk.length) * 2);
      const next = size > this.buf.length ? new Uint8Array(size) : this.buf;
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = used;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  private drop(n: number): void {
    this.start += n;
  }

  /** One step: a packet, 'skipped' (made progress without a packet), or 'need-more'. */
  private next(): DynamixelPacket | 'skipped' | 'need-more' {
    const { buf, end } = this;
    let i = this.start;
    while (i < end && !(isHeaderAt(buf, i, end) || this.couldBeHeaderPrefix(i))) i++;
    if (i > this.start) {
      this.stats.discardedBytes += i - this.start;
      this.drop(i - this.start);
    }
    const s = this.start;
    if (end - s < PACKET_OVERHEAD) return 'need-more';
    if (!isHeaderAt(buf, s, end)) {
      // a prefix match at the tail that turned out not to be a header
      this.stats.discardedBytes += 1;
      this.drop(1);
      return 'skipped';
    }
    const id = buf[s + 4]!;
    const len = buf[s + 5]! | (buf[s + 6]! << 8);
    if ((id > MAX_ID && id !== 0xfe) || len < 3 || len > this.maxLength) {
      this.stats.discardedBytes += 1;
      this.drop(1);
      return 'skipped';
    }
    const total = len + PACKET_OVERHEAD;
    const crcStart = s + total - 2;
    // A real header whose FD sits before this candidate's CRC proves the candidate false (see file comment).
    for (let j = s + 1; j + 3 < end && j + 2 < crcStart; j++) {
      if (isHeaderAt(buf, j, end)) {
        this.stats.discardedBytes += 1;
        this.drop(1);
        return 'skipped';
      }
    }
    if (end - s < total) return 'need-more';
    const bytes = buf.subarray(s, s + total);
    const crc = bytes[total - 2]! | (bytes[total - 1]! << 8);
    if (crc16(bytes, 0, total - 2) !== crc) {
      this.stats.crcErrors += 1;
      this.stats.discardedBytes += 1;
      this.onReject?.({ reason: 'crc', bytes: bytes.slice() });
      this.drop(1);
      return 'skipped';
    }
    let packet: DynamixelPacket;
    try {
      packet = parsePacket(bytes);
    } catch {
      this.stats.discardedBytes += 1;
      this.onReject?.({ reason: 'malformed', bytes: bytes.slice() });
      this.drop(1);
      return 'skipped';
    }
    this.drop(total);
    this.stats.packets += 1;
    return packet;
  }

  /** True when the bytes from `i` to the end are a proper prefix of `FF FF FD 00` (wait for more). */
  private couldBeHeaderPrefix(i: number): boolean {
    const header = [0xff, 0xff, 0xfd, 0x00];
    const n = this.end - i;
    if (n >= 4) return false;
    for (let k = 0; k < n; k++) if (this.buf[i + k] !== header[k]) return false;
    return true;
  }
}
