/**
 * Camera images only when the policy is asked, and never converted on the loop thread. The control loop's
 * observation carries the state (and prompt) but no images; the chunk broker passes it to this wrapper only on the
 * ticks it infers (once per chunk). Then the loop thread only picks each camera's newest fresh frame (a reference:
 * no decode, no copy; {@link pickFrames}) and hands the frames on:
 * - to a {@link FramePolicy} (the local WorkerPolicy), which converts and resizes them in its worker;
 * - otherwise (a remote WebsocketClientPolicy) to an {@link ImagePrepWorker}, and the converted images go to the
 *   inner policy.
 * See docs/agent.md "Threads".
 */
import { type BasePolicy, type ClosablePolicy, type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import type { ImagePrepWorker } from '../inference/image-prep-worker.js';
import { isFramePolicy, type RawFrames } from '../inference/raw-frames.js';
import { type CameraFrame, freshFrame } from '../io/cameras/camera-source.js';
import type { Robot } from '../robots/interface.js';
import { SampleSeries } from './loop-stats.js';

export interface PickFramesOptions {
  /** Output image size (px). Default 224 x 224 (openpi's clients resize to this). */
  height?: number;
  width?: number;
  /** A frame older than this is refused (ms). Default: the robot's `watchdog.cameraStaleMs`. */
  maxAgeMs?: number;
}

/**
 * Each camera's newest frame, in the robot's camera order. A required camera without a source or a fresh frame is a
 * BAD_OBSERVATION naming it; an optional one is left out (openpi's adapters then mask it).
 */
export function pickFrames(robot: Robot, options: PickFramesOptions = {}): RawFrames {
  const maxAgeMs = options.maxAgeMs ?? robot.safety.watchdog.cameraStaleMs;
  const frames: Record<string, CameraFrame> = {};
  for (const cam of robot.layout.cameras) {
    const source = robot.cameras[cam.name];
    try {
      if (source === undefined) {
        throw new OpenpiEdgeError('CAMERA_STALE', `camera ${cam.name} has no source`, { camera: cam.name });
      }
      frames[cam.name] = freshFrame(source, maxAgeMs).frame;
    } catch (e) {
      if (!cam.required) continue;
      const ctx = e instanceof OpenpiEdgeError ? e.context : {};
      throw new OpenpiEdgeError(
        'BAD_OBSERVATION',
        `${robot.name} observation: camera ${cam.name} unusable: ${e instanceof Error ? e.message : String(e)}`,
        {
          ...ctx,
          key: robot.layout.imagesKey === null ? cam.name : `${robot.layout.imagesKey}.${cam.name}`,
          camera: cam.name,
        },
        { cause: e },
      );
    }
  }
  const size = robot.layout.imageSize;
  return {
    frames,
    height: options.height ?? size?.height ?? 224,
    width: options.width ?? size?.width ?? 224,
    format: robot.layout.imageFormat ?? 'chw',
    key: robot.layout.imagesKey,
  };
}

/** Sees every inference (the MCAP recorder): the frames picked and the result. Must not throw or block. */
export interface InferenceTap {
  /** Inference `index` (1-based) was given `raw`, picked at `at` (ms). */
  frames(index: number, at: number, raw: RawFrames): void;
  /** Inference `index`, asked at `requestedAt`, returned `result` (or failed with `error`) at `at`. */
  result(index: number, requestedAt: number, at: number, result: Obs | null, error: unknown): void;
}

export class ImagesOnDemandPolicy implements ClosablePolicy {
  readonly #inner: BasePolicy & Partial<Pick<ClosablePolicy, 'close'>>;
  readonly #capture: () => RawFrames;
  readonly #prep: ImagePrepWorker | null;
  readonly #imagesKey: string | null;
  readonly #now: () => number;
  /** Inferences asked for (each one calls the inner policy once). */
  inferences = 0;
  /** Observations completed with frames here (those that came without images). */
  captures = 0;
  /** Loop-thread time spent picking frames (ms, total). */
  captureMs = 0;
  /** Per inference: pick + conversion + inner `infer` (ms); bounded memory (loop-stats.ts SampleSeries). */
  readonly latencies = new SampleSeries();
  /** Sees every inference's frames and result (the MCAP recorder). Default none. */
  tap: InferenceTap | undefined;

  /**
   * `prep` converts frames for an inner policy that is not a FramePolicy; it is closed with this wrapper. Without
   * it such a policy gets no images (BAD_ARGUMENT at the first inference).
   */
  constructor(
    inner: BasePolicy & Partial<Pick<ClosablePolicy, 'close'>>,
    capture: () => RawFrames,
    options: { prep?: ImagePrepWorker | null; imagesKey?: string | null; now?: () => number } = {},
  ) {
    this.#inner = inner;
    this.#capture = capture;
    this.#prep = options.prep ?? null;
    this.#imagesKey = options.imagesKey === undefined ? 'images' : options.imagesKey;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Adds the images (unless the observation already has them) and forwards to the inner policy. */
  async infer(obs: Obs): Promise<Obs> {
    this.inferences += 1;
    const index = this.inferences;
    const t0 = this.#now();
    const tap = this.tap;
    if (tap === undefined) return this.#infer(obs, t0);
    let out: Obs;
    try {
      out = await this.#infer(obs, t0, (raw) => tap.frames(index, t0, raw));
    } catch (e) {
      tap.result(index, t0, this.#now(), null, e);
      throw e;
    }
    tap.result(index, t0, this.#now(), out, undefined);
    return out;
  }

  async #infer(obs: Obs, t0: number, onFrames?: (raw: RawFrames) => void): Promise<Obs> {
    let out: Obs;
    const key = this.#imagesKey;
    if (key !== null && obs[key] !== undefined) {
      out = await this.#inner.infer(obs);
    } else {
      const raw = this.#capture();
      this.captureMs += this.#now() - t0;
      this.captures += 1;
      onFrames?.(raw);
      if (isFramePolicy(this.#inner)) {
        out = await this.#inner.inferFrames(obs, raw);
      } else {
        if (this.#prep === null) {
          throw new OpenpiEdgeError(
            'BAD_ARGUMENT',
            'ImagesOnDemandPolicy: no image worker for a non-frame policy',
            {},
          );
        }
        const images = await this.#prep.prepare(raw);
        out = await this.#inner.infer(key === null ? { ...obs, ...images } : { ...obs, [key]: images });
      }
    }
    this.latencies.push(this.#now() - t0);
    return out;
  }

  reset(): Promise<void> | void {
    return this.#inner.reset();
  }

  async close(): Promise<void> {
    try {
      await this.#inner.close?.();
    } finally {
      await this.#prep?.close();
    }
  }
}
