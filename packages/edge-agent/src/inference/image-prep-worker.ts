/**
 * Camera-frame conversion (decode -> RGB -> resize_with_pad -> uint8 CHW, raw-frames.ts) in a worker thread, for
 * when the policy itself is not local (a WebsocketClientPolicy on the loop thread): the ~25-45 ms of pixel work per
 * 4 x 640x480 frames leave the control thread. Requests are serialized (one in flight, the rest queued); frames
 * cross shared when their bytes live in a SharedArrayBuffer, copied otherwise; the images come back transferred.
 * Crashes and hangs: WORKER_CRASHED / WORKER_HUNG and a restart, as for WorkerPolicy (supervised-worker.ts).
 */
import type { NDArray } from '@openpi-edge/client';
import { framesForPosting, type RawFrames } from './raw-frames.js';
import { SupervisedWorker, type SupervisionOptions, type WorkerStats } from './supervised-worker.js';

export class ImagePrepWorker {
  readonly #worker: SupervisedWorker<null>;

  private constructor(worker: SupervisedWorker<null>) {
    this.#worker = worker;
  }

  /** Starts the thread (resolves once it is ready). `hangTimeoutMs` default 30000. */
  static async start(options: SupervisionOptions = {}): Promise<ImagePrepWorker> {
    const worker = new SupervisedWorker<null>({
      ...options,
      entry: 'image-prep-entry',
      label: 'image-prep worker',
      init: null,
    });
    await worker.start();
    return new ImagePrepWorker(worker);
  }

  /** `framesToImages(raw)` in the worker: uint8 [3, height, width] per camera, in `raw.frames` order. */
  prepare(raw: RawFrames): Promise<Record<string, NDArray<'uint8'>>> {
    return this.#worker.request('prepare', framesForPosting(raw)) as Promise<
      Record<string, NDArray<'uint8'>>
    >;
  }

  get stats(): WorkerStats {
    return this.#worker.stats;
  }

  /** Ends the thread. Idempotent. */
  close(): Promise<void> {
    return this.#worker.close();
  }
}
