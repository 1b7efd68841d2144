/**
 * Camera sources: anything that keeps the newest frame of one camera with the (monotonic, ms) time it arrived.
 * Consumers poll {@link CameraSource.latest}; a camera with no frame or a frame older than a threshold is stale
 * ({@link checkCamera}). Frames stay encoded until used ({@link frameToRgb}).
 */
import { type Clock, OpenpiEdgeError } from '@openpi-edge/client';

/**
 * Pixel layout of a frame's bytes: packed 8-bit RGB / BGR rows (`step` bytes each), one JPEG file, or `pattern`: the
 * emulator's generated test pattern, carried as its 12-byte recipe (frame index, seed, little-endian u32 each, and
 * 4 spare bytes) and drawn where the frame is converted (generated-camera.ts), so the emulator costs the control
 * loop's thread nothing per frame.
 */
export type FrameEncoding = 'rgb8' | 'bgr8' | 'jpeg' | 'pattern';

export interface CameraFrame {
  /** When the frame reached this process, on the source's clock (ms, monotonic). */
  readonly stampMs: number;
  /** 0, 1, 2... per source; a gap means frames were replaced before anyone read them. */
  readonly seq: number;
  readonly encoding: FrameEncoding;
  /** Pixel size; 0 for JPEG frames (known only after decoding). */
  readonly width: number;
  readonly height: number;
  /** Bytes per row for rgb8/bgr8 (>= 3·width); 0 for JPEG. */
  readonly step: number;
  readonly data: Uint8Array;
}

export interface LatestFrame {
  readonly frame: CameraFrame;
  /** `clock.now() − frame.stampMs` at the call (ms). */
  readonly ageMs: number;
}

export interface CameraSource {
  /** Camera name, e.g. `cam_high`. */
  readonly name: string;
  /** Where frames come from (`ros2:/cam_high/...`, `ffmpeg:/dev/video0`, `generated`), for error context. */
  readonly description: string;
  /** Begins producing frames; resolves once started (not necessarily after the first frame). Idempotent. */
  start(): Promise<void>;
  /** The newest frame and its age, or null before the first. */
  latest(): LatestFrame | null;
  /** Resolves with the first frame that arrives after the call (or the newest one if `acceptCurrent`); rejects
   *  with CAMERA_STALE after `timeoutMs`. */
  nextFrame(timeoutMs: number, acceptCurrent?: boolean): Promise<CameraFrame>;
  /** The error that stopped the source (process exited, topic gone), if any. */
  readonly failure: Error | undefined;
  /** Stops producing frames; `latest()` keeps the last one. Idempotent. */
  close(): Promise<void>;
}

export type CameraHealth =
  | { readonly camera: string; readonly state: 'ok'; readonly ageMs: number; readonly stampMs: number }
  | { readonly camera: string; readonly state: 'stale'; readonly ageMs: number; readonly stampMs: number }
  | { readonly camera: string; readonly state: 'missing'; readonly reason: string };

/** A camera's health: `missing` (no frame, or the source failed), `stale` (age > `maxAgeMs`), or `ok`. */
export function checkCamera(source: CameraSource, maxAgeMs: number): CameraHealth {
  if (source.failure !== undefined) {
    return { camera: source.name, state: 'missing', reason: source.failure.message };
  }
  const l = source.latest();
  if (l === null) return { camera: source.name, state: 'missing', reason: 'no frame received yet' };
  const state = l.ageMs > maxAgeMs ? 'stale' : 'ok';
  return { camera: source.name, state, ageMs: l.ageMs, stampMs: l.frame.stampMs };
}

/** The newest frame of `source`, or CAMERA_STALE naming the camera when it is missing or older than `maxAgeMs`. */
export function freshFrame(source: CameraSource, maxAgeMs: number): LatestFrame {
  const h = checkCamera(source, maxAgeMs);
  if (h.state === 'ok') return source.latest() as LatestFrame;
  const detail = h.state === 'missing' ? h.reason : `newest frame is ${h.ageMs.toFixed(1)} ms old`;
  throw new OpenpiEdgeError(
    'CAMERA_STALE',
    `camera ${source.name} (${source.description}): ${detail} (allowed ${maxAgeMs} ms)`,
    {
      camera: source.name,
      source: source.description,
      state: h.state,
      maxAgeMs,
      ...(h.state === 'missing' ? {} : { ageMs: h.ageMs }),
    },
  );
}

interface Waiter {
  resolve: (f: CameraFrame) => void;
}

/**
 * The bookkeeping every source shares: the newest frame, its sequence number, waiters for the next frame, the
 * failure. Sources call {@link FrameSlot.push} / {@link FrameSlot.fail}.
 */
export class FrameSlot {
  #latest: CameraFrame | null = null;
  #seq = 0;
  #waiters = new Set<Waiter>();
  #failure: Error | undefined;

  constructor(
    readonly name: string,
    readonly description: () => string,
    readonly clock: Clock,
  ) {}

  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Stores a frame stamped now; returns it. */
  push(frame: Omit<CameraFrame, 'stampMs' | 'seq'>, stampMs = this.clock.now()): CameraFrame {
    const f: CameraFrame = { ...frame, stampMs, seq: this.#seq++ };
    this.#latest = f;
    this.#failure = undefined;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w.resolve(f);
    return f;
  }

  fail(error: Error): void {
    this.#failure = error;
  }

  latest(): LatestFrame | null {
    const f = this.#latest;
    return f === null ? null : { frame: f, ageMs: this.clock.now() - f.stampMs };
  }

  nextFrame(timeoutMs: number, acceptCurrent = false): Promise<CameraFrame> {
    if (acceptCurrent && this.#latest !== null) return Promise.resolve(this.#latest);
    return new Promise((resolve, reject) => {
      const ctl = new AbortController();
      const w: Waiter = {
        resolve: (f) => {
          ctl.abort();
          resolve(f);
        },
      };
      this.#waiters.add(w);
      this.clock.sleep(timeoutMs, ctl.signal).then(
        () => {
          if (!this.#waiters.delete(w)) return;
          reject(
            new OpenpiEdgeError(
              'CAMERA_STALE',
              `camera ${this.name} (${this.description()}): no frame within ${timeoutMs} ms` +
                (this.#failure ? `: ${this.#failure.message}` : ''),
              { camera: this.name, source: this.description(), timeoutMs },
            ),
          );
        },
        () => {},
      );
    });
  }
}
