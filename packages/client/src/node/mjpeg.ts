/**
 * Splits an MJPEG byte stream (e.g. `ffmpeg ... -f mjpeg -` or a UVC camera pipe) into complete JPEG frames.
 *
 * A marker-level parser rather than a search for FF D9: after SOI it walks the length-prefixed segments (so an
 * EXIF thumbnail's own FF D8..FF D9 inside APPn is skipped), then scans entropy-coded data where FF is always
 * followed by 00 (stuffing), D0-D7 (restart) or a real marker; progressive files with several SOS segments work.
 * Bytes outside SOI..EOI are skipped and counted; a frame that breaks the syntax, grows past `maxFrameBytes` or is
 * interrupted by a new SOI is dropped and counted, and parsing resyncs at the next SOI.
 */
import { OpenpiEdgeError } from '../errors.js';

export interface MjpegSplitterOptions {
  /** Largest frame kept, in bytes; longer ones are dropped (counted in `droppedFrames`). Default 16 MiB. */
  maxFrameBytes?: number;
}

export interface MjpegSplitterStats {
  /** Complete frames returned so far. */
  frames: number;
  /** Bytes outside any frame (garbage between frames, before the first SOI). */
  skippedBytes: number;
  /** Frames started but abandoned (bad marker syntax, oversize, or cut short by the next SOI). */
  droppedFrames: number;
}

enum S {
  Seek, // looking for FF
  SeekFF, // saw FF outside a frame
  Marker, // in the header, expecting FF
  MarkerCode, // after FF in the header
  Len1,
  Len2,
  Skip, // segment payload
  Scan, // entropy-coded data
  ScanFF, // FF inside entropy-coded data
}

const SOS = 0xda;

/** Stateful MJPEG splitter: feed chunks of any size with {@link MjpegSplitter.push}, get complete frames back. */
export class MjpegSplitter {
  private readonly maxFrameBytes: number;
  private state = S.Seek;
  private buf = new Uint8Array(64 * 1024);
  private len = 0;
  private code = 0;
  private hi = 0;
  private remaining = 0;
  private readonly counters: MjpegSplitterStats = { frames: 0, skippedBytes: 0, droppedFrames: 0 };

  constructor(options: MjpegSplitterOptions = {}) {
    const max = options.maxFrameBytes ?? 16 * 1024 * 1024;
    if (!Number.isInteger(max) || max < 4) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `MjpegSplitter: maxFrameBytes must be an integer >= 4, got ${max}`,
        {
          maxFrameBytes: max,
        },
      );
    }
    this.maxFrameBytes = max;
  }

  /** Counters since construction (a snapshot). */
  get stats(): MjpegSplitterStats {
    return { ...this.counters };
  }

  /** Bytes of the frame in progress (0 between frames). */
  get pendingBytes(): number {
    return this.len;
  }

  /** Consumes `chunk` and returns the frames it completed, each a fresh copy starting FF D8 and ending FF D9. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case S.Seek: {
          const j = chunk.indexOf(0xff, i);
          if (j < 0) {
            this.counters.skippedBytes += n - i;
            i = n;
          } else {
            this.counters.skippedBytes += j - i;
            i = j + 1;
            this.state = S.SeekFF;
          }
          break;
        }
        case S.SeekFF: {
          const b = chunk[i++] as number;
          if (b === 0xd8) this.startFrame();
          else if (b === 0xff) this.counters.skippedBytes += 1;
          else {
            this.counters.skippedBytes += 2;
            this.state = S.Seek;
          }
          break;
        }
        case S.Marker: {
          if (chunk[i] !== 0xff) {
            this.drop(); // re-read this byte while seeking
            break;
          }
          i++;
          if (this.append1(0xff)) this.state = S.MarkerCode;
          break;
        }
        case S.MarkerCode: {
          const b = chunk[i++] as number;
          this.onMarker(b, out, S.Marker);
          break;
        }
        case S.Len1: {
          this.hi = chunk[i++] as number;
          if (this.append1(this.hi)) this.state = S.Len2;
          break;
        }
        case S.Len2: {
          const b = chunk[i++] as number;
          if (!this.append1(b)) break;
          const length = (this.hi << 8) | b;
          if (length < 2) {
            this.drop();
            break;
          }
          this.remaining = length - 2;
          this.state = this.remaining > 0 ? S.Skip : this.afterSegment();
          break;
        }
        case S.Skip: {
          const take = Math.min(this.remaining, n - i);
          if (!this.append(chunk, i, i + take)) break; // dropped: the bytes are re-read while seeking
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = this.afterSegment();
          break;
        }
        case S.Scan: {
          const j = chunk.indexOf(0xff, i);
          const end = j < 0 ? n : j + 1;
          if (!this.append(chunk, i, end)) break; // dropped: the bytes are re-read while seeking
          i = end;
          if (j >= 0) this.state = S.ScanFF;
          break;
        }
        case S.ScanFF: {
          const b = chunk[i++] as number;
          if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) {
            if (this.append1(b)) this.state = S.Scan;
          } else if (b === 0xff) {
            this.append1(b);
          } else {
            this.onMarker(b, out, S.Scan);
          }
          break;
        }
      }
    }
    return out;
  }

  /** Forgets the frame in progress (not counted as dropped) and starts seeking the next SOI. */
  reset(): void {
    this.len = 0;
    this.state = S.Seek;
  }

  /** A marker code `b` that followed FF, in the header or after entropy-coded data. */
  private onMarker(b: number, out: Uint8Array[], standaloneNext: S): void {
    if (b === 0xd8) {
      this.counters.droppedFrames += 1; // a new frame began before this one ended
      this.startFrame();
      return;
    }
    if (b === 0xff) {
      this.append1(b); // fill byte
      return;
    }
    if (b === 0x00) {
      this.drop();
      return;
    }
    if (!this.append1(b)) return;
    if (b === 0xd9) {
      out.push(this.buf.slice(0, this.len));
      this.counters.frames += 1;
      this.len = 0;
      this.state = S.Seek;
    } else if (b === 0x01 || (b >= 0xd0 && b <= 0xd7)) {
      this.state = standaloneNext === S.Scan ? S.Scan : S.Marker;
    } else {
      this.code = b;
      this.state = S.Len1;
    }
  }

  private afterSegment(): S {
    return this.code === SOS ? S.Scan : S.Marker;
  }

  private startFrame(): void {
    this.len = 0;
    this.buf[0] = 0xff;
    this.buf[1] = 0xd8;
    this.len = 2;
    this.state = S.Marker;
  }

  private drop(): void {
    this.counters.droppedFrames += 1;
    this.len = 0;
    this.state = S.Seek;
  }

  private ensure(extra: number): boolean {
    const need = this.len + extra;
    if (need > this.maxFrameBytes) {
      this.drop();
      return false;
    }
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.min(this.maxFrameBytes, Math.max(need, this.buf.length * 2)));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    return true;
  }

  private append1(b: number): boolean {
    if (!this.ensure(1)) return false;
    this.buf[this.len++] = b;
    return true;
  }

  private append(src: Uint8Array, from: number, to: number): boolean {
    if (!this.ensure(to - from)) return false;
    this.buf.set(src.subarray(from, to), this.len);
    this.len += to - from;
    return true;
  }
}

/** Yields the complete JPEG frames of an MJPEG byte stream (e.g. a child process's stdout), in order. */
export async function* splitMjpeg(
  source: AsyncIterable<Uint8Array>,
  options: MjpegSplitterOptions = {},
): AsyncGenerator<Uint8Array, MjpegSplitterStats, undefined> {
  const splitter = new MjpegSplitter(options);
  for await (const chunk of source) yield* splitter.push(chunk);
  return splitter.stats;
}
