/**
 * One camera's episode video, encoded by an ffmpeg child process (H.264, yuv420p, mp4) from packed RGB frames on its
 * stdin, and decoded back to RGB frames the same way. The encoder runs in its own process, so encoding costs the
 * agent's threads only the pipe writes. Frame i has presentation time i / fps exactly (the input is a constant-rate
 * raw stream), which is how lerobot's readers find frame i at `timestamp = frame_index / fps`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { OpenpiEdgeError } from '@openpi-edge/client';

export interface Mp4EncoderOptions {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** x264 constant rate factor: 0 lossless ... 51; default 23 (x264's own default). */
  readonly crf?: number;
  /** x264 preset; default `veryfast` (encoding keeps up with 4 cameras at 50 fps on 2 cores, see bench/). */
  readonly preset?: string;
  /**
   * Keyframe interval (frames). Default 10: lerobot seeks to the keyframe before a queried timestamp and decodes
   * forward, so a short interval keeps random access cheap (lerobot's own encoder uses 2) at some size cost.
   */
  readonly gop?: number;
  /** ffmpeg executable; default `ffmpeg` on PATH. */
  readonly ffmpeg?: string;
  /**
   * Nice value of the ffmpeg process (Linux). Default 15: above the policy and recorder workers' 10, so that on a
   * busy machine the encoders wait, not the control loop (measured: at nice 0, 4 encoders at 50 fps on 2 cores
   * pushed the loop's period p99 from 23 to 41 ms).
   */
  readonly nice?: number;
}

/** What an encoder reports once its file is complete. */
export interface Mp4Result {
  readonly file: string;
  readonly frames: number;
}

/** ffmpeg's own words when it fails: the last lines of its stderr. */
function tail(s: string): string {
  return s.trim().split('\n').slice(-3).join(' | ');
}

/** Even sizes only: yuv420p subsamples chroma 2x2. */
export const evenUp = (n: number): number => n + (n % 2);

export class Mp4Encoder {
  readonly file: string;
  readonly #child: ChildProcess;
  readonly #frameBytes: number;
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #frames = 0;
  #error: Error | null = null;

  private constructor(options: Mp4EncoderOptions, child: ChildProcess) {
    this.file = options.file;
    this.#child = child;
    this.#frameBytes = options.width * options.height * 3;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-4000);
    });
    child.stdin?.on('error', (e) => {
      this.#error ??= e;
    });
    this.#exited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.#error ??= e;
        resolve({ code: null, signal: null });
      });
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Starts ffmpeg writing `file` (overwritten). Frames must be `width` x `height`, both even. */
  static start(options: Mp4EncoderOptions): Mp4Encoder {
    const { width, height, fps } = options;
    if (width % 2 !== 0 || height % 2 !== 0 || width <= 0 || height <= 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `video size ${width}x${height}: both must be even and positive`,
        {
          width,
          height,
          file: options.file,
        },
      );
    }
    const args = [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-video_size',
      `${width}x${height}`,
      '-framerate',
      String(fps),
      '-i',
      'pipe:0',
      '-c:v',
      'libx264',
      '-preset',
      options.preset ?? 'veryfast',
      '-crf',
      String(options.crf ?? 23),
      '-g',
      String(options.gop ?? 10),
      '-pix_fmt',
      'yuv420p',
      '-threads',
      '1',
      '-y',
      '-f',
      'mp4',
      options.file,
    ];
    const child = spawn(options.ffmpeg ?? 'ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, options.nice ?? 15);
      } catch {
        // not permitted here (some containers): the encoder runs at the agent's priority
      }
    }
    return new Mp4Encoder(options, child);
  }

  get frames(): number {
    return this.#frames;
  }

  #failure(stage: string): OpenpiEdgeError {
    const e = this.#error as NodeJS.ErrnoException | null;
    const why =
      e?.code === 'ENOENT'
        ? 'ffmpeg not found on PATH (apt-get install ffmpeg)'
        : e !== null
          ? e.message
          : tail(this.#stderr) || 'ffmpeg exited';
    return new OpenpiEdgeError('RECORDING_FAILED', `video ${this.file}: ${stage}: ${why}`, {
      file: this.file,
      stage,
    });
  }

  /** Queues one packed RGB frame; resolves when the pipe can take more (backpressure), rejects if ffmpeg failed. */
  async write(rgb: Uint8Array): Promise<void> {
    if (rgb.byteLength !== this.#frameBytes) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `video ${this.file}: frame of ${rgb.byteLength} bytes, expected ${this.#frameBytes}`,
        { file: this.file, bytes: rgb.byteLength, expected: this.#frameBytes },
      );
    }
    const stdin = this.#child.stdin;
    if (this.#error !== null || stdin === null || stdin.destroyed) throw this.#failure('write');
    this.#frames += 1;
    if (!stdin.write(rgb)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
      if (this.#error !== null) throw this.#failure('write');
    }
  }

  /** Ends the stream and waits for ffmpeg to complete the file; RECORDING_FAILED with ffmpeg's message otherwise. */
  async finish(): Promise<Mp4Result> {
    this.#child.stdin?.end();
    const { code, signal } = await this.#exited;
    if (code !== 0) throw this.#failure(signal === null ? `exit code ${code}` : `killed by ${signal}`);
    return { file: this.file, frames: this.#frames };
  }

  /** Stops ffmpeg without completing the file (an abandoned episode). */
  async kill(): Promise<void> {
    this.#child.stdin?.destroy();
    this.#child.kill('SIGKILL');
    await this.#exited;
  }
}

/**
 * Decodes `file` to packed RGB frames of `width` x `height` (ffmpeg scales if the video differs), in presentation
 * order. RECORDING_FAILED naming the file when ffmpeg cannot read it.
 */
export async function* decodeMp4(
  file: string,
  width: number,
  height: number,
  ffmpeg = 'ffmpeg',
): AsyncGenerator<Uint8Array> {
  const frameBytes = width * height * 3;
  const child = spawn(
    ffmpeg,
    [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      '-i',
      file,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-vsync',
      'passthrough',
      'pipe:1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('exit', (code) => resolve(code));
  });
  let pending: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= frameBytes) {
        yield new Uint8Array(pending.subarray(0, frameBytes));
        pending = pending.subarray(frameBytes);
      }
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  const code = await exited;
  if (code !== 0) {
    throw new OpenpiEdgeError(
      'RECORDING_FAILED',
      `video ${file}: cannot decode: ${tail(stderr) || `exit ${code}`}`,
      {
        file,
        stage: 'decode',
      },
    );
  }
}
