/**
 * A camera that draws its frames from the clock: frame k exists at `startMs + k·periodMs` and shows a deterministic
 * moving pattern (diagonal colour gradient shifted by k, plus a bright bar that sweeps across). No timers: `latest()`
 * computes the frame due at `clock.now()`, so a manual clock drives it exactly. For the emulated robot and tests.
 * Frames are `pattern`-encoded (their recipe, 12 bytes): the pixels are drawn by {@link drawPatternFrame} where the
 * frame is converted (the policy's worker thread), never on the control loop's thread.
 */
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { type CameraFrame, type CameraSource, FrameSlot, type LatestFrame } from './camera-source.js';

export interface GeneratedCameraOptions {
  /** Camera name. */
  name: string;
  /** Frame size (px). Default 640 x 480, what ALOHA's RealSense cameras publish. */
  width?: number;
  height?: number;
  /** Frame rate (Hz). Default 30. */
  fps?: number;
  /** Varies the pattern between cameras (any integer). Default: derived from the name. */
  seed?: number;
  /** Clock (ms). Default the real clock. */
  clock?: Clock;
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** The pixels of frame `k` (rgb8, row step = 3·width). Exported for tests that check determinism. */
export function generatedPattern(width: number, height: number, k: number, seed: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const barX = (k * 8) % Math.max(1, width);
  const r0 = seed & 0xff;
  const g0 = (seed >>> 8) & 0xff;
  const b0 = (seed >>> 16) & 0xff;
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const onBar = x >= barX && x < barX + 16;
      out[o++] = onBar ? 255 : (r0 + x + k) & 0xff;
      out[o++] = onBar ? 255 : (g0 + y + 2 * k) & 0xff;
      out[o++] = onBar ? 255 : (b0 + ((x + y) >> 1)) & 0xff;
    }
  }
  return out;
}

/** The recipe bytes of frame `k` (`pattern` encoding): k and seed as little-endian u32, 4 spare bytes. */
export function patternRecipe(k: number, seed: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint32(0, k >>> 0, true);
  v.setUint32(4, seed >>> 0, true);
  return out;
}

/** The rgb8 pixels of a `pattern` frame (IMAGE_DECODE_FAILED naming the camera for a malformed recipe). */
export function drawPatternFrame(frame: CameraFrame, camera: string): Uint8Array {
  if (frame.data.length !== 12 || !(frame.width > 0) || !(frame.height > 0)) {
    throw new OpenpiEdgeError(
      'IMAGE_DECODE_FAILED',
      `camera ${camera}: pattern frame ${frame.width}x${frame.height} needs a 12-byte recipe, has ${frame.data.length} bytes`,
      { camera, width: frame.width, height: frame.height, byteCount: frame.data.length },
    );
  }
  const v = new DataView(frame.data.buffer, frame.data.byteOffset, 12);
  return generatedPattern(frame.width, frame.height, v.getUint32(0, true), v.getUint32(4, true));
}

export class GeneratedCamera implements CameraSource {
  readonly name: string;
  readonly description = 'generated';
  readonly width: number;
  readonly height: number;
  readonly periodMs: number;
  readonly seed: number;
  readonly #clock: Clock;
  readonly #slot: FrameSlot;
  #startMs: number | undefined;
  #frame: CameraFrame | null = null;
  #k = -1;
  #closed = false;

  constructor(options: GeneratedCameraOptions) {
    this.name = options.name;
    this.width = options.width ?? 640;
    this.height = options.height ?? 480;
    const fps = options.fps ?? 30;
    for (const [k, v] of [
      ['width', this.width],
      ['height', this.height],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `GeneratedCamera ${this.name}: ${k} must be a positive integer`,
          {
            camera: this.name,
            [k]: v,
          },
        );
      }
    }
    if (!(fps > 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `GeneratedCamera ${this.name}: fps must be > 0, got ${fps}`, {
        camera: this.name,
        fps,
      });
    }
    this.periodMs = 1000 / fps;
    this.seed = options.seed ?? hashName(this.name);
    this.#clock = options.clock ?? realClock;
    this.#slot = new FrameSlot(this.name, () => this.description, this.#clock);
  }

  get failure(): Error | undefined {
    return undefined;
  }

  start(): Promise<void> {
    this.#startMs ??= this.#clock.now();
    return Promise.resolve();
  }

  /** Brings the slot up to the frame due now (frames skipped in between are never built). */
  #catchUp(): void {
    if (this.#startMs === undefined || this.#closed) return;
    const k = Math.floor((this.#clock.now() - this.#startMs) / this.periodMs);
    if (k <= this.#k) return;
    this.#k = k;
    this.#frame = this.#slot.push(
      {
        encoding: 'pattern',
        width: this.width,
        height: this.height,
        step: this.width * 3,
        data: patternRecipe(k, this.seed),
      },
      this.#startMs + k * this.periodMs,
    );
  }

  latest(): LatestFrame | null {
    this.#catchUp();
    return this.#frame === null ? null : this.#slot.latest();
  }

  async nextFrame(timeoutMs: number, acceptCurrent = false): Promise<CameraFrame> {
    this.#catchUp();
    if (acceptCurrent && this.#frame !== null) return this.#frame;
    if (this.#startMs === undefined || this.#closed) return this.#slot.nextFrame(timeoutMs);
    const next = this.#startMs + (this.#k + 1) * this.periodMs;
    if (next - this.#clock.now() > timeoutMs) return this.#slot.nextFrame(timeoutMs);
    await this.#clock.sleepUntil(next);
    this.#catchUp();
    return this.#frame as CameraFrame;
  }

  close(): Promise<void> {
    this.#catchUp();
    this.#closed = true;
    return Promise.resolve();
  }
}
