/**
 * Keeps a worker thread from being stopped while it is inside onnxruntime-node's native code.
 *
 * Why: stopping a worker (`worker.terminate()`, the parent process exiting, which terminates and joins every
 * worker) cannot interrupt a native call; the call finishes first. onnxruntime-node's binding then builds its
 * results (output Tensors, session metadata) through N-API calls that fail on a terminating thread, throws a C++
 * `Napi::Error` that nothing can catch any more, and the whole process aborts:
 *   terminate called after throwing an instance of 'Napi::Error'
 *     what():
 * (measured: every terminate during a running graph, and a process.exit on the main thread while a worker runs a
 * graph; bench/worker-teardown-stress.ts). A thread stopped while running JavaScript, or by its own
 * `process.exit()` / uncaught exception, ends cleanly: its sessions are released by their finalizers.
 *
 * How: one shared Int32 word per worker, `[STOP bit | native calls in progress]`.
 * - The worker brackets every onnxruntime call ({@link guardOrt}: `InferenceSession.create`, `run`, `release`,
 *   `endProfiling`, and the module load) with {@link NativeGuard.enter} / {@link NativeGuard.leave}, from the call
 *   until its promise settles (a little wider than the native part, which runs from a `setImmediate`).
 * - The supervisor sets STOP ({@link requestStop}) before it stops the thread: from then on `enter` refuses (CLOSED),
 *   so no new native call starts; it terminates the thread only once the count is 0 ({@link waitNativeIdle}),
 *   i.e. while it runs JavaScript. A thread that leaves its last native call with STOP set exits by itself
 *   (`onStopped`), so one the supervisor had to leave behind (a native call longer than its grace period) still
 *   ends cleanly when the call returns.
 * - At process exit, {@link waitNativeIdleSync} blocks the exiting thread until the workers' native calls are done.
 * The one case left: a native call that never returns. Nothing can stop that thread; its process cannot exit
 * either (Node joins worker threads at exit).
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { Ort } from '../model/ort-binding.js';

/** Set by the supervisor: no new native call may start. */
const STOP = 1 << 30;
/** Native calls in progress. */
const COUNT = STOP - 1;

/** A fresh guard word (shared with the worker through `workerData`). */
export function createGuardBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

/** Sets STOP; returns the number of native calls in progress (0: the thread runs JavaScript, terminating is safe). */
export function requestStop(g: Int32Array): number {
  return Atomics.or(g, 0, STOP) & COUNT;
}

/** Native calls in progress now. */
export function nativeCalls(g: Int32Array): number {
  return Atomics.load(g, 0) & COUNT;
}

/**
 * Resolves true once no native call is in progress (call after {@link requestStop}), false after `ms`. Polls every
 * few ms on unref'd timers: waiting does not hold the process open (process exit waits by itself, see
 * {@link waitNativeIdleSync}).
 */
export async function waitNativeIdle(g: Int32Array, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    if ((Atomics.load(g, 0) & COUNT) === 0) return true;
    const left = end - performance.now();
    if (left <= 0) return false;
    await new Promise<void>((r) => setTimeout(r, Math.min(left, 5)).unref());
  }
}

/** {@link waitNativeIdle}, blocking the calling thread (process exit). */
export function waitNativeIdleSync(g: Int32Array, ms: number): boolean {
  const end = performance.now() + ms;
  for (;;) {
    const v = Atomics.load(g, 0);
    if ((v & COUNT) === 0) return true;
    const left = end - performance.now();
    if (left <= 0) return false;
    Atomics.wait(g, 0, v, left);
  }
}

/** The worker's side of the guard word. */
export class NativeGuard {
  readonly #g: Int32Array;
  readonly #onStopped: () => void;

  /** `onStopped` runs (once) when the last native call ends after STOP was set; the worker exits there. */
  constructor(buffer: SharedArrayBuffer | undefined, onStopped: () => void) {
    this.#g = new Int32Array(buffer ?? new SharedArrayBuffer(4));
    let called = false;
    this.#onStopped = () => {
      if (called) return;
      called = true;
      onStopped();
    };
  }

  /** Whether the supervisor asked this thread to stop. */
  get stopping(): boolean {
    return (Atomics.load(this.#g, 0) & STOP) !== 0;
  }

  /** Counts a native call in; CLOSED once STOP is set (the thread is being stopped: start nothing native). */
  enter(): void {
    for (;;) {
      const v = Atomics.load(this.#g, 0);
      if ((v & STOP) !== 0) {
        throw new OpenpiEdgeError('CLOSED', 'worker thread is stopping: no new onnxruntime call', {});
      }
      if (Atomics.compareExchange(this.#g, 0, v, v + 1) === v) return;
    }
  }

  /** Counts a native call out; the last one out after STOP runs `onStopped`. */
  leave(): void {
    const now = Atomics.sub(this.#g, 0, 1) - 1;
    Atomics.notify(this.#g, 0);
    if ((now & STOP) !== 0 && (now & COUNT) === 0) this.#onStopped();
  }

  /** `fn()` (which starts native work) counted in from the call until its promise settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await fn();
    } finally {
      this.leave();
    }
  }
}

const guarded = new WeakSet<object>();

/**
 * Brackets every native entry point of this thread's onnxruntime module with `guard` (idempotent per module).
 * The Tensor class is plain JavaScript (onnxruntime-common) and needs nothing.
 */
export function guardOrt(ort: Ort, guard: NativeGuard): void {
  type AsyncFn = (this: unknown, ...args: unknown[]) => Promise<unknown>;
  const cls = ort.InferenceSession as unknown as {
    create: AsyncFn;
    prototype: Record<string, unknown>;
  };
  if (guarded.has(cls)) return;
  guarded.add(cls);
  const wrap = (f: AsyncFn): AsyncFn =>
    function (this: unknown, ...args: unknown[]) {
      return guard.run(() => f.apply(this, args));
    };
  cls.create = wrap(cls.create);
  for (const name of ['run', 'release']) {
    const f = cls.prototype[name];
    if (typeof f === 'function') cls.prototype[name] = wrap(f as AsyncFn);
  }
  const end = cls.prototype.endProfiling;
  if (typeof end === 'function') {
    cls.prototype.endProfiling = function (this: unknown, ...args: unknown[]) {
      guard.enter();
      try {
        return (end as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        guard.leave();
      }
    };
  }
}
