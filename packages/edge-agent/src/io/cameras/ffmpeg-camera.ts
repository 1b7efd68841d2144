/**
 * A camera read through an ffmpeg child process writing MJPEG to its stdout: a UVC/V4L2 webcam
 * (`ffmpeg -f v4l2 -input_format mjpeg -i /dev/videoN -f mjpeg -`, the camera's own JPEGs copied through) or a
 * lavfi test source (`-f lavfi -i testsrc=...`) as a stand-in. Frames are split with the client's MjpegSplitter
 * and stamped on arrival; decoding waits until a frame is used.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { MjpegSplitter } from '@openpi-edge/client/node';
import { type CameraFrame, type CameraSource, FrameSlot, type LatestFrame } from './camera-source.js';

export type FfmpegInput =
  /** A V4L2 device delivering MJPEG (most UVC webcams). */
  | {
      kind: 'v4l2';
      /** e.g. `/dev/video0`. */
      device: string;
      /** Requested size (px), e.g. 640 x 480. Default: the device's current format. */
      width?: number;
      height?: number;
      /** Requested rate (Hz). Default: the device's current rate. */
      fps?: number;
    }
  /** ffmpeg's `testsrc` pattern, encoded to MJPEG. */
  | {
      kind: 'testsrc';
      /** Default 640 x 480 (px). */
      width?: number;
      height?: number;
      /** Default 30 (Hz). */
      fps?: number;
    };

export interface FfmpegCameraOptions {
  name: string;
  input: FfmpegInput;
  /** ffmpeg executable. Default `ffmpeg` (on PATH). */
  ffmpegPath?: string;
  /** Clock (ms) for frame stamps. Default the real clock. */
  clock?: Clock;
  /** Largest JPEG kept (bytes). Default 16 MiB. */
  maxFrameBytes?: number;
}

/** The ffmpeg argument list for `input` (exported for tests and for printing in diagnostics). */
export function ffmpegArgs(input: FfmpegInput): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (input.kind === 'v4l2') {
    args.push('-f', 'v4l2', '-input_format', 'mjpeg');
    if (input.width !== undefined && input.height !== undefined) {
      args.push('-video_size', `${input.width}x${input.height}`);
    }
    if (input.fps !== undefined) args.push('-framerate', String(input.fps));
    args.push('-i', input.device, '-c:v', 'copy');
  } else {
    const w = input.width ?? 640;
    const h = input.height ?? 480;
    const fps = input.fps ?? 30;
    args.push('-re', '-f', 'lavfi', '-i', `testsrc=size=${w}x${h}:rate=${fps}`, '-q:v', '5');
  }
  args.push('-f', 'mjpeg', '-');
  return args;
}

export class FfmpegCamera implements CameraSource {
  readonly name: string;
  readonly description: string;
  readonly #options: FfmpegCameraOptions;
  readonly #slot: FrameSlot;
  #child: ChildProcess | undefined;
  #stderr = '';
  #closing = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: FfmpegCameraOptions) {
    this.name = options.name;
    this.#options = options;
    this.description =
      options.input.kind === 'v4l2' ? `ffmpeg:${options.input.device}` : 'ffmpeg:lavfi testsrc';
    this.#slot = new FrameSlot(this.name, () => this.description, options.clock ?? realClock);
  }

  get failure(): Error | undefined {
    return this.#slot.failure;
  }

  /** The child's pid while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Spawns ffmpeg; resolves once the process started, rejects with NOT_CONNECTED when it cannot be started. */
  start(): Promise<void> {
    if (this.#child !== undefined) return Promise.resolve();
    const exe = this.#options.ffmpegPath ?? 'ffmpeg';
    const args = ffmpegArgs(this.#options.input);
    const splitter = new MjpegSplitter(
      this.#options.maxFrameBytes === undefined ? {} : { maxFrameBytes: this.#options.maxFrameBytes },
    );
    const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const jpeg of splitter.push(chunk)) {
        this.#slot.push({ encoding: 'jpeg', width: 0, height: 0, step: 0, data: jpeg });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-2000);
    });
    this.#exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        if (!this.#closing && this.#slot.failure === undefined) {
          this.#slot.fail(
            new OpenpiEdgeError(
              'NOT_CONNECTED',
              `ffmpeg for camera ${this.name} exited (code ${code}, signal ${signal}): ${this.#stderr.trim()}`,
              { camera: this.name, source: this.description, code, signal },
            ),
          );
        }
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => {
        const err = new OpenpiEdgeError(
          'NOT_CONNECTED',
          `cannot run ${exe} for camera ${this.name}: ${e.message} (install ffmpeg, e.g. apt-get install -y ffmpeg)`,
          { camera: this.name, source: this.description, executable: exe },
          { cause: e },
        );
        this.#slot.fail(err);
        reject(err);
      });
    });
  }

  latest(): LatestFrame | null {
    return this.#slot.latest();
  }

  nextFrame(timeoutMs: number, acceptCurrent = false): Promise<CameraFrame> {
    return this.#slot.nextFrame(timeoutMs, acceptCurrent);
  }

  /** Stops ffmpeg (SIGTERM to the child this camera started) and waits for it to exit. */
  async close(): Promise<void> {
    const child = this.#child;
    if (child === undefined || this.#closing) return this.#exited;
    this.#closing = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await this.#exited;
  }
}
