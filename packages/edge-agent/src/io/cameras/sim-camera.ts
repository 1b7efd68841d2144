/**
 * A camera fed by a simulator's renderer (the ALOHA `sim` transport's bridge, robots/aloha/sim-transport.ts): the
 * owner pushes each rendered rgb8 frame as it arrives; the source keeps the newest. Frames are stamped when they
 * reached this process (ms, the source's clock), like every other source; the sim time they show rides along in
 * {@link SimCamera.latestSim}. The pixel bytes are usually SharedArrayBuffer-backed, so handing a frame to the
 * policy worker copies nothing.
 */
import { type Clock, OpenpiEdgeError } from '@openpi-edge/client';
import { type CameraFrame, type CameraSource, FrameSlot, type LatestFrame } from './camera-source.js';

export interface SimCameraOptions {
  /** Camera name, e.g. `cam_high`. */
  readonly name: string;
  /** Where the frames come from, e.g. `sim:top 640x480 (gym-aloha bridge)`. */
  readonly description: string;
  readonly width: number;
  readonly height: number;
  readonly clock: Clock;
}

/** What the simulator says about a frame (its own clocks). */
export interface SimFrameInfo {
  /** Sim time (s) of the rendered physics state. */
  readonly simTimeS: number;
  /** Sim steps since the episode reset at the rendered state. */
  readonly steps: number;
  /** Render time of this camera's frame in the simulator (ms). */
  readonly renderMs: number;
}

export class SimCamera implements CameraSource {
  readonly name: string;
  readonly description: string;
  readonly width: number;
  readonly height: number;
  readonly #slot: FrameSlot;
  #info: SimFrameInfo | null = null;
  #closed = false;

  constructor(options: SimCameraOptions) {
    this.name = options.name;
    this.description = options.description;
    this.width = options.width;
    this.height = options.height;
    this.#slot = new FrameSlot(this.name, () => this.description, options.clock);
  }

  get failure(): Error | undefined {
    return this.#slot.failure;
  }

  /** Frames come when the simulator renders them (its owner starts it): nothing to do. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  latest(): LatestFrame | null {
    return this.#slot.latest();
  }

  /** Sim time, step and render cost of the newest frame, or null before the first. */
  get latestSim(): SimFrameInfo | null {
    return this.#info;
  }

  nextFrame(timeoutMs: number, acceptCurrent = false): Promise<CameraFrame> {
    return this.#slot.nextFrame(timeoutMs, acceptCurrent);
  }

  /**
   * Stores one rendered frame: `rgb` is `height` rows of `width`·3 bytes (top row first). BAD_SHAPE naming the
   * camera when the size does not match. Ignored after close.
   */
  push(rgb: Uint8Array, info: SimFrameInfo): CameraFrame | undefined {
    if (this.#closed) return undefined;
    if (rgb.byteLength !== this.width * this.height * 3) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `camera ${this.name} (${this.description}): frame of ${rgb.byteLength} bytes, expected ${this.width}x${this.height}x3`,
        { camera: this.name, byteCount: rgb.byteLength, width: this.width, height: this.height },
      );
    }
    this.#info = info;
    return this.#slot.push({
      encoding: 'rgb8',
      width: this.width,
      height: this.height,
      step: this.width * 3,
      data: rgb,
    });
  }

  /** The simulator stopped (bridge exited): `failure` reports it, the watchdog sees the camera missing. */
  fail(error: Error): void {
    this.#slot.fail(error);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
