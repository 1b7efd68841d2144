/**
 * A local bundle policy whose work runs in a `worker_threads` worker: the onnxruntime sessions, transforms, image
 * resize, tokenization and the Euler sampler ({@link OnnxPolicy} inside the thread), and, for
 * {@link WorkerPolicy.inferFrames}, the camera-frame conversion. onnxruntime-node runs each graph synchronously on
 * the thread that calls it (22 ms to ~0.5 s per graph here); in the worker that blocks the worker, not the control
 * loop, the e-stop handler or the server's event loop. Same `ClosablePolicy` contract and results as OnnxPolicy.
 *
 * - Requests are serialized: one in flight, the others queued in call order (the worker runs one graph at a time
 *   anyway). The hang timer of a request starts when it is sent, not while it waits in the queue.
 * - Data: observations and frames are structured-cloned into the thread (copied, except arrays backed by a
 *   SharedArrayBuffer, which are shared: see `toSharedBytes`); the action arrays come back transferred, not copied.
 * - Errors: load errors (BAD_BUNDLE, NO_EXECUTION_PROVIDER, BAD_ARGUMENT) and request errors (BAD_OBSERVATION, ...)
 *   arrive as OpenpiEdgeError with the code, message, context and stack of the thread's error. Crashes, hangs and
 *   restarts: see supervised-worker.ts (WORKER_CRASHED, WORKER_HUNG, `onEvent`, `stats`).
 * - A restarted worker loads the bundle again (with warm-up, as configured) and starts its noise sequence over from
 *   `seed`. Provider fallback warnings of every load reach `onProviderWarning`.
 * - `options.noise` (a NoiseSource object) cannot cross to the thread: BAD_ARGUMENT; use `seed`. A custom
 *   `options.env` is copied into the thread (the TensorRT variables the loader adds to it stay there); without it
 *   the worker shares the real process environment.
 */
import type { Obs } from '@openpi-edge/client';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { Manifest } from '../model/manifest.js';
import type { ModelLoadReport } from '../model/onnx-model.js';
import type { OnnxPolicyOptions } from '../policy/onnx-policy.js';
import type {
  CloneablePolicyOptions,
  InferFramesPayload,
  PolicyWorkerEvent,
  PolicyWorkerInfo,
  PolicyWorkerInit,
} from './policy-worker-messages.js';
import { type FramePolicy, framesForPosting, type RawFrames } from './raw-frames.js';
import { SupervisedWorker, type SupervisionOptions, type WorkerStats } from './supervised-worker.js';
import type { WorkerTestOp } from './worker-protocol.js';

export type { SupervisionOptions, WorkerEvent, WorkerStats } from './supervised-worker.js';
export type { WorkerTestHooks, WorkerTestOp } from './worker-protocol.js';

export interface WorkerPolicyOptions extends OnnxPolicyOptions, SupervisionOptions {}

/** `OnnxModel.load`'s report (provider, fallbacks, onnxruntime source/version, session and warm-up times). */
export type ModelReport = ModelLoadReport;

/** What createSessionsWithFallback prints when no `onProviderWarning` is given. */
const defaultProviderWarning = (message: string): void => console.warn(`[openpi-edge] ${message}`);

export class WorkerPolicy implements FramePolicy {
  /** Absolute bundle directory. */
  readonly dir: string;
  /** The manifest's `metadata`, as `OnnxPolicy.metadata`. */
  readonly metadata: Obs;
  /** The bundle manifest. */
  readonly manifest: Manifest;
  readonly #worker: SupervisedWorker<PolicyWorkerInit>;

  private constructor(worker: SupervisedWorker<PolicyWorkerInit>, info: PolicyWorkerInfo) {
    this.#worker = worker;
    this.dir = info.dir;
    this.metadata = info.metadata;
    this.manifest = info.manifest;
  }

  /**
   * Starts the worker and loads the bundle there. Rejects with `OnnxPolicy.load`'s error (same code, message,
   * context) once the thread is gone; BAD_ARGUMENT for `noise` or bad supervision options; WORKER_CRASHED if the
   * thread dies while loading.
   */
  static async load(dir: string, options: WorkerPolicyOptions = {}): Promise<WorkerPolicy> {
    const {
      hangTimeoutMs,
      maxRestarts,
      restartWindowMs,
      closeGraceMs,
      threadNice,
      onEvent,
      testHooks,
      onProviderWarning,
      onTruncate,
      noise,
      ...rest
    } = options;
    if (noise !== undefined) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        'WorkerPolicy: options.noise (a NoiseSource object) cannot cross to the worker thread; use seed',
        { field: 'noise' },
      );
    }
    const policyOptions: CloneablePolicyOptions = rest;
    const warn = onProviderWarning ?? defaultProviderWarning;
    const worker = new SupervisedWorker<PolicyWorkerInit>({
      entry: 'policy-worker-entry',
      label: 'policy worker',
      init: { dir, options: policyOptions, forwardTruncate: onTruncate !== undefined },
      ...(hangTimeoutMs === undefined ? {} : { hangTimeoutMs }),
      ...(maxRestarts === undefined ? {} : { maxRestarts }),
      ...(restartWindowMs === undefined ? {} : { restartWindowMs }),
      ...(closeGraceMs === undefined ? {} : { closeGraceMs }),
      ...(threadNice === undefined ? {} : { threadNice }),
      ...(onEvent === undefined ? {} : { onEvent }),
      ...(testHooks === undefined ? {} : { testHooks }),
      onWorkerEvent: (raw) => {
        const e = raw as PolicyWorkerEvent;
        if (e.type === 'provider-warning') warn(e.message, e.failure);
        else if (e.type === 'truncate') onTruncate?.(e.info);
      },
    });
    const info = (await worker.start()) as PolicyWorkerInfo;
    return new WorkerPolicy(worker, info);
  }

  /** The current worker's load report (a restart replaces it). Plain data. */
  get report(): ModelReport {
    return (this.#worker.info as PolicyWorkerInfo).report;
  }

  /** Restarts, crashes and hangs so far (a snapshot). */
  get stats(): WorkerStats {
    return this.#worker.stats;
  }

  /** `OnnxPolicy.infer` in the worker: `{ actions: float64 [H, D], policy_timing }`. */
  infer(obs: Obs): Promise<Obs> {
    return this.#worker.request('infer', obs) as Promise<Obs>;
  }

  /** `obs` without images plus raw frames: the images are converted in the worker (raw-frames.ts), then infer. */
  inferFrames(obs: Obs, frames: RawFrames): Promise<Obs> {
    const payload: InferFramesPayload = { obs, frames: framesForPosting(frames) };
    return this.#worker.request('inferFrames', payload) as Promise<Obs>;
  }

  /** Nothing to reset: each chunk is independent (as OnnxPolicy). */
  reset(): void {}

  /** Releases the sessions and ends the thread (terminated after the grace period). Idempotent. */
  close(): Promise<void> {
    return this.#worker.close();
  }

  /** Test-only: runs a test op in the worker (needs `testHooks.ops`; otherwise rejects with BAD_ARGUMENT). */
  testOp(op: WorkerTestOp): Promise<void> {
    return this.#worker.request(op, null) as Promise<void>;
  }
}
