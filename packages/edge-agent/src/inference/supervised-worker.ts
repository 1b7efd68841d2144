/**
 * The caller's side of worker-protocol.ts: one worker thread at a time, requests serialized (one in flight, the rest
 * queued in call order), a hang timer per request, and restarts after a crash or a hang.
 *
 * - Start-up: {@link SupervisedWorker.start} resolves with the worker's `ready` info, or rejects with the worker's
 *   own error (same code, message, context) once the thread is gone.
 * - Crash (the thread threw outside a request, called `process.exit`, or died otherwise: 'error' then 'exit'): the
 *   request in flight rejects with WORKER_CRASHED (context: exitCode, restarts, op, cause), then the worker is
 *   restarted at once; queued and new requests wait for it. A native crash (SIGSEGV) of a worker thread ends the
 *   whole process: only a child process would contain that.
 * - Hang (no reply within `hangTimeoutMs` of sending the request; queue time does not count): the request rejects
 *   with WORKER_HUNG (context: op, timeoutMs) and the thread is stopped (see "Stopping a thread"); the new one
 *   starts once the old one has exited (one thread with onnxruntime sessions at a time), or after another
 *   `hangTimeoutMs` if the old one is still inside a native call then.
 * - Restart budget: at most `maxRestarts` restarts within any `restartWindowMs`; one more crash or hang, or a
 *   restart whose start-up fails, puts the supervisor in the failed state: a `failed` event, and every request from
 *   then on rejects with WORKER_CRASHED naming the last cause.
 * - Priority: on Linux the worker's thread runs at a higher nice value (`threadNice`, default 10) than the caller's,
 *   so a control loop on the caller's thread gets the CPU first when the cores are contended.
 * - Keep-alive: the thread holds the process open only while a request is pending or a start-up runs (like a
 *   pending onnxruntime call would); an idle supervisor does not keep a script from exiting.
 * - `close()`: queued requests reject with CLOSED, the one in flight gets `closeGraceMs` to finish, then the worker
 *   is asked to release its resources and exit; after another `closeGraceMs` it is stopped (see below), which
 *   waits up to one more `closeGraceMs` for a native call in progress. A thread still inside a native call then is
 *   left to exit by itself when the call returns (unref'd, so that it does not hold the process open).
 * - Stopping a thread (hang, close, failed start-up): never `terminate()` inside a native onnxruntime call. A
 *   terminate cannot interrupt native code, and when the call returns, onnxruntime-node's binding fails to build its
 *   results on the terminating thread and aborts the whole process (`terminate called after throwing an instance
 *   of 'Napi::Error'`; see native-guard.ts). So the supervisor first sets the thread's guard word (no new native
 *   call may start), terminates at once if the thread runs JavaScript (a hang in JavaScript, a blocked
 *   `Atomics.wait`), and otherwise waits for the native call to return (the thread then exits by itself).
 * - Process exit: an 'exit' listener blocks the exiting thread until the live workers are out of their native calls
 *   (at most `hangTimeoutMs` each), since Node terminates and joins them then. The one risk left is a native call
 *   that never returns: nothing can stop that thread.
 * Start-ups (the first and restarts) have no time limit: a TensorRT engine build may take minutes.
 */
import { performance } from 'node:perf_hooks';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { createGuardBuffer, requestStop, waitNativeIdle, waitNativeIdleSync } from './native-guard.js';
import { type WorkerEntryName, workerLaunch } from './worker-entry-url.js';
import {
  deserializeError,
  type FromWorker,
  type ToWorker,
  type WorkerData,
  type WorkerTestHooks,
} from './worker-protocol.js';

/** What happened to a worker, for logs and counters. */
export type WorkerEvent =
  | { type: 'crashed'; error: OpenpiEdgeError }
  | { type: 'hung'; error: OpenpiEdgeError }
  | { type: 'restarted'; restarts: number }
  | { type: 'failed'; error: OpenpiEdgeError };

export interface WorkerStats {
  /** Restarts attempted (after crashes and hangs). */
  restarts: number;
  /** Crashes seen (the thread exited or threw outside a request). */
  crashes: number;
  /** Requests that got no reply in time. */
  hangs: number;
}

/** Supervision settings shared by the public worker classes (defaults there). */
export interface SupervisionOptions {
  /** A request without a reply after this long (ms) terminates the worker: WORKER_HUNG. Default 30000. */
  hangTimeoutMs?: number;
  /** Restarts allowed within `restartWindowMs`; one more crash or hang fails for good. Default 3. */
  maxRestarts?: number;
  /** The window of `maxRestarts` (ms). Default 60000. */
  restartWindowMs?: number;
  /** How long `close()` waits for the request in flight, then for the worker to exit, before terminating (ms). Default 2000. */
  closeGraceMs?: number;
  /** Called synchronously for every crash, hang, restart and the final failure; must not throw. */
  onEvent?: (e: WorkerEvent) => void;
  /**
   * Nice value of the worker's OS thread on Linux (-20..19; higher = yields the CPU sooner), inherited by the threads
   * it creates (onnxruntime's pool): when the cores are contended, the caller's thread (the control loop) runs
   * first (measured here: 50 Hz loop lateness p99 ~6-9 ms instead of ~13-30 ms next to an 18-layer model on a busy
   * 2-core machine). Raising it needs no privilege. Default 10; 0 keeps the caller's priority. Ignored elsewhere.
   */
  threadNice?: number;
  /** Test-only behaviour of the thread (see {@link WorkerTestHooks}). */
  testHooks?: WorkerTestHooks;
}

export interface SupervisedWorkerOptions<I> extends SupervisionOptions {
  entry: WorkerEntryName;
  /** Names the worker in messages, e.g. `policy worker`. */
  label: string;
  /** `workerData.init` of every start. */
  init: I;
  /** Receives the worker's `event` messages (plain data). */
  onWorkerEvent?: (event: unknown) => void;
}

interface Pending {
  id: number;
  op: string;
  payload: unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** Settles (never rejects) when the request did. */
  done: Promise<void>;
}

type State = 'idle' | 'starting' | 'ready' | 'failed' | 'closing' | 'closed';

function checkOption(name: string, v: number, min: number): void {
  if (!Number.isFinite(v) || v < min || !Number.isInteger(v)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `${name} must be an integer >= ${min}, got ${v}`, {
      field: name,
      value: v,
    });
  }
}

/** Resolves true when `p` settles, false after `ms` (the timer never outlives the race; `hold`: it keeps the
 *  process open meanwhile). */
function within(p: Promise<unknown>, ms: number, hold = true): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      if (!hold) timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Guard words of the live worker threads of this process (all supervisors), with how long process exit waits. */
const liveGuards = new Map<Int32Array, number>();
let exitListener = false;

/** Process exit terminates and joins the worker threads: first let their native calls return (see the module comment). */
function waitForNativeCallsAtExit(): void {
  for (const g of liveGuards.keys()) requestStop(g);
  const t0 = performance.now();
  for (const [g, ms] of liveGuards) waitNativeIdleSync(g, Math.max(0, t0 + ms - performance.now()));
}

function trackGuard(g: Int32Array, exitWaitMs: number): void {
  liveGuards.set(g, exitWaitMs);
  if (!exitListener) {
    exitListener = true;
    process.on('exit', waitForNativeCallsAtExit);
  }
}

export class SupervisedWorker<I> {
  readonly #o: SupervisedWorkerOptions<I>;
  readonly #hangMs: number;
  readonly #maxRestarts: number;
  readonly #windowMs: number;
  readonly #graceMs: number;
  readonly #nice: number;
  #state: State = 'idle';
  #worker: Worker | undefined;
  /** Per started worker: resolves with its exit code. */
  readonly #exits = new WeakMap<Worker, Promise<number>>();
  /** Per started worker: its native-call guard word (native-guard.ts). */
  readonly #guards = new WeakMap<Worker, Int32Array>();
  /** Workers given up on (hung, failed start-up) whose stopping is under way. */
  readonly #dying = new Set<Worker>();
  #queue: Pending[] = [];
  #inflight: Pending | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nextId = 1;
  readonly #restartTimes: number[] = [];
  #failure: OpenpiEdgeError | undefined;
  #closing: Promise<void> | undefined;
  /** Rejects the start-up in progress (close() giving up on a thread that is still inside a native call). */
  #cancelStart: ((e: Error) => void) | undefined;
  #info: unknown;
  readonly #stats: WorkerStats = { restarts: 0, crashes: 0, hangs: 0 };

  constructor(options: SupervisedWorkerOptions<I>) {
    this.#o = options;
    this.#hangMs = options.hangTimeoutMs ?? 30_000;
    this.#maxRestarts = options.maxRestarts ?? 3;
    this.#windowMs = options.restartWindowMs ?? 60_000;
    this.#graceMs = options.closeGraceMs ?? 2_000;
    this.#nice = options.threadNice ?? 10;
    if (!Number.isInteger(this.#nice) || this.#nice < -20 || this.#nice > 19) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `threadNice must be an integer in -20..19, got ${this.#nice}`,
        {
          field: 'threadNice',
          value: this.#nice,
        },
      );
    }
    checkOption('hangTimeoutMs', this.#hangMs, 1);
    checkOption('maxRestarts', this.#maxRestarts, 0);
    checkOption('restartWindowMs', this.#windowMs, 1);
    checkOption('closeGraceMs', this.#graceMs, 0);
  }

  /** The latest worker's `ready` info. */
  get info(): unknown {
    return this.#info;
  }

  get stats(): WorkerStats {
    return { ...this.#stats };
  }

  /** Starts the first worker; rejects with its start-up error after the thread is gone. Call once. */
  async start(): Promise<unknown> {
    if (this.#state !== 'idle') {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${this.#o.label}: start() may be called once`, {});
    }
    this.#state = 'starting';
    try {
      this.#info = await this.#spawn();
    } catch (e) {
      const closed = this.#state !== 'starting';
      this.#state = 'closed';
      throw closed ? this.#closedError('start') : e;
    }
    if (this.#state !== 'starting') throw this.#closedError('start'); // closed during start-up
    this.#state = 'ready';
    this.#updateRef();
    return this.#info;
  }

  /** Sends one request (after those queued before it). Rejects with the worker's error, WORKER_CRASHED,
   *  WORKER_HUNG, or CLOSED. `payload` is structured-cloned: SharedArrayBuffer-backed arrays are shared. */
  request(op: string, payload: unknown): Promise<unknown> {
    if (this.#state === 'failed' && this.#failure !== undefined) {
      const f = this.#failure;
      return Promise.reject(new OpenpiEdgeError(f.code, f.message, { ...f.context, op }, { cause: f.cause }));
    }
    if (this.#state === 'closing' || this.#state === 'closed' || this.#state === 'idle') {
      return Promise.reject(this.#closedError(op));
    }
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const done = promise.then(
      () => {},
      () => {},
    );
    this.#queue.push({ id: this.#nextId++, op, payload, resolve, reject, done });
    this.#pump();
    this.#updateRef();
    return promise;
  }

  /** See the module comment. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasStarting = this.#state === 'starting';
    this.#state = 'closing';
    for (const p of this.#queue) p.reject(this.#closedError(p.op));
    this.#queue = [];
    const w = this.#worker;
    if (w !== undefined) {
      const exit = this.#exits.get(w) ?? Promise.resolve(0);
      if (this.#inflight !== undefined) await within(this.#inflight.done, this.#graceMs);
      let exited = false;
      if (!wasStarting) {
        try {
          w.postMessage({ kind: 'close' } satisfies ToWorker);
          exited = await within(exit, this.#graceMs);
        } catch {
          // already gone: terminate() below resolves at once
        }
      }
      if (!exited) {
        w.ref();
        exited = await this.#stop(w, this.#graceMs);
      }
      // Still inside a native call: it exits by itself when the call returns; do not hold the process for it.
      if (!exited) w.unref();
      if (wasStarting) this.#cancelStart?.(this.#closedError('start'));
    }
    this.#clearTimer();
    if (this.#inflight !== undefined) this.#inflight.reject(this.#closedError(this.#inflight.op));
    this.#inflight = undefined;
    await within(Promise.all([...this.#dying].map((d) => this.#exits.get(d))), this.#graceMs);
    this.#worker = undefined;
    this.#state = 'closed';
  }

  #closedError(op: string): OpenpiEdgeError {
    return new OpenpiEdgeError('CLOSED', `${this.#o.label} is closed`, { op });
  }

  #emit(e: WorkerEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch (err) {
      console.error(`[openpi-edge] ${this.#o.label}: onEvent threw: ${String(err)}`);
    }
  }

  /** Holds the process open only while work is pending (see the module comment). */
  #updateRef(): void {
    const w = this.#worker;
    if (w === undefined) return;
    const busy = this.#state === 'starting' || this.#inflight !== undefined || this.#queue.length > 0;
    if (busy) w.ref();
    else w.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Starts a worker and resolves with its `ready` info; rejects (after the thread is gone) if start-up fails. */
  #spawn(): Promise<unknown> {
    const launch = workerLaunch(this.#o.entry);
    const guard = createGuardBuffer();
    const data: WorkerData<I> = {
      init: this.#o.init,
      guard,
      ...(this.#nice === 0 ? {} : { nice: this.#nice }),
      ...(this.#o.testHooks === undefined ? {} : { testHooks: this.#o.testHooks }),
    };
    let w: Worker;
    try {
      w = new Worker(launch.filename, {
        eval: launch.eval,
        execArgv: launch.execArgv,
        workerData: data,
        // The real process environment: the TensorRT provider reads its settings with getenv.
        env: SHARE_ENV,
        name: this.#o.label,
      });
    } catch (e) {
      return Promise.reject(
        new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `${this.#o.label}: options cannot be sent to the worker thread: ${(e as Error).message}`,
          {},
          { cause: e },
        ),
      );
    }
    this.#worker = w;
    const g = new Int32Array(guard);
    this.#guards.set(w, g);
    trackGuard(g, this.#hangMs);
    this.#exits.set(
      w,
      new Promise<number>((resolve) =>
        w.once('exit', (code) => {
          liveGuards.delete(g);
          resolve(code);
        }),
      ),
    );
    return new Promise<unknown>((resolve, reject) => {
      let started = false;
      let lastError: Error | undefined;
      this.#cancelStart = (e) => {
        if (started) return;
        started = true;
        reject(e);
      };
      const giveUp = (error: Error): void => {
        started = true;
        void this.#discard(w, this.#graceMs, true);
        void (this.#exits.get(w) as Promise<number>).then(() => reject(error));
      };
      w.on('message', (msg: FromWorker) => {
        if (w !== this.#worker) return; // a worker given up on
        switch (msg.kind) {
          case 'ready':
            started = true;
            resolve(msg.info);
            break;
          case 'init-failed':
            giveUp(deserializeError(msg.error));
            break;
          case 'reply':
            this.#onReply(msg);
            break;
          case 'event':
            try {
              this.#o.onWorkerEvent?.(msg.event);
            } catch (err) {
              console.error(`[openpi-edge] ${this.#o.label}: event handler threw: ${String(err)}`);
            }
            break;
        }
      });
      w.on('error', (e) => {
        lastError = e;
      });
      w.on('messageerror', (e) => {
        // A message that could not be deserialized: the protocol is broken; treat it as a crash.
        lastError = e;
        void this.#stop(w, this.#hangMs);
      });
      w.on('exit', (code) => {
        if (w !== this.#worker) return;
        if (!started) {
          started = true;
          this.#worker = undefined;
          const cause = lastError === undefined ? `exited with code ${code}` : describe(lastError);
          reject(
            new OpenpiEdgeError(
              'WORKER_CRASHED',
              `${this.#o.label} exited during start-up: ${cause}`,
              { exitCode: code, restarts: this.#stats.restarts, cause },
              lastError === undefined ? undefined : { cause: lastError },
            ),
          );
          return;
        }
        this.#onCrash(code, lastError);
      });
    });
  }

  /**
   * Stops `w` without terminating it inside a native call (see the module comment): sets its guard word, waits up
   * to `ms` for its native calls to return, then terminates it (it may have exited by itself already). Resolves
   * true once the thread has exited, false if it is still inside a native call after `ms` (it exits by itself
   * when the call returns).
   */
  async #stop(w: Worker, ms: number): Promise<boolean> {
    const exit = this.#exits.get(w) ?? Promise.resolve(0);
    const g = this.#guards.get(w);
    const t0 = performance.now();
    if (g !== undefined) {
      requestStop(g);
      const idle = await Promise.race([waitNativeIdle(g, ms), exit.then(() => true)]);
      if (!idle) return false;
    }
    void w.terminate();
    return within(exit, Math.max(ms - (performance.now() - t0), 100), false);
  }

  /**
   * Stops listening to `w` and stops it in the background (close() waits for it). Resolves when it has exited,
   * or after `ms` if it is still inside a native call then (`waitForExit`: until it has exited).
   */
  async #discard(w: Worker, ms: number, waitForExit = false): Promise<void> {
    if (this.#worker === w) this.#worker = undefined;
    this.#dying.add(w);
    w.unref();
    const exit = this.#exits.get(w) ?? Promise.resolve(0);
    void exit.finally(() => this.#dying.delete(w));
    const exited = await this.#stop(w, ms);
    if (!exited && waitForExit) await exit;
  }

  #pump(): void {
    const w = this.#worker;
    if (this.#state !== 'ready' || w === undefined || this.#inflight !== undefined) return;
    const p = this.#queue.shift();
    if (p === undefined) return;
    try {
      w.postMessage({ kind: 'request', id: p.id, op: p.op, payload: p.payload } satisfies ToWorker);
    } catch (e) {
      p.reject(
        new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `${this.#o.label}: ${p.op} arguments cannot be sent to the worker thread: ${(e as Error).message}`,
          { op: p.op },
          { cause: e },
        ),
      );
      this.#pump();
      return;
    }
    this.#inflight = p;
    this.#timer = setTimeout(() => this.#onHang(), this.#hangMs);
  }

  #onReply(msg: Extract<FromWorker, { kind: 'reply' }>): void {
    const p = this.#inflight;
    if (p === undefined || p.id !== msg.id) return;
    this.#clearTimer();
    this.#inflight = undefined;
    if (msg.ok) p.resolve(msg.value);
    else p.reject(deserializeError(msg.error));
    this.#pump();
    this.#updateRef();
  }

  #onCrash(exitCode: number, lastError: Error | undefined): void {
    this.#worker = undefined;
    this.#clearTimer();
    const p = this.#inflight;
    this.#inflight = undefined;
    if (this.#state === 'closing' || this.#state === 'closed') {
      p?.reject(this.#closedError(p.op)); // terminated by close(), or gone while closing: no restart
      return;
    }
    const cause = lastError === undefined ? `exited with code ${exitCode}` : describe(lastError);
    const error = new OpenpiEdgeError(
      'WORKER_CRASHED',
      `${this.#o.label} crashed${p === undefined ? '' : ` during ${p.op}`}: ${cause}`,
      {
        exitCode,
        restarts: this.#stats.restarts,
        ...(p === undefined ? {} : { op: p.op }),
        cause,
      },
      lastError === undefined ? undefined : { cause: lastError },
    );
    p?.reject(error);
    this.#stats.crashes += 1;
    this.#emit({ type: 'crashed', error });
    this.#restart(error);
  }

  #onHang(): void {
    this.#timer = undefined;
    const p = this.#inflight;
    const w = this.#worker;
    if (p === undefined || w === undefined) return;
    this.#inflight = undefined;
    this.#stats.hangs += 1;
    const error = new OpenpiEdgeError(
      'WORKER_HUNG',
      `${this.#o.label} did not answer ${p.op} within ${this.#hangMs} ms; stopped it`,
      { op: p.op, timeoutMs: this.#hangMs, restarts: this.#stats.restarts },
    );
    // The replacement starts once this thread is gone (or after another hangTimeoutMs inside a native call).
    const gone = this.#discard(w, this.#hangMs);
    p.reject(error);
    this.#emit({ type: 'hung', error });
    this.#restart(error, gone);
  }

  /** Restarts (after `after` settles, if given) or fails for good past the restart budget. */
  #restart(cause: OpenpiEdgeError, after?: Promise<void>): void {
    if (this.#state === 'closing' || this.#state === 'closed') return; // e.g. a hang while close() waits
    const now = performance.now();
    while (this.#restartTimes.length > 0 && (this.#restartTimes[0] as number) <= now - this.#windowMs) {
      this.#restartTimes.shift();
    }
    if (this.#restartTimes.length >= this.#maxRestarts) {
      this.#fail(cause);
      return;
    }
    this.#restartTimes.push(now);
    this.#stats.restarts += 1;
    this.#state = 'starting';
    if (after !== undefined) {
      // Requests wait meanwhile: hold the process open as a starting worker would (`after` settles within
      // about 2 x hangTimeoutMs).
      const hold = setTimeout(() => {}, 2 * this.#hangMs + 1_000);
      void after.then(() => {
        clearTimeout(hold);
        if (this.#state === 'starting') this.#respawn();
      });
      return;
    }
    this.#respawn();
  }

  #respawn(): void {
    this.#spawn().then(
      (info) => {
        if (this.#state !== 'starting') return; // closed meanwhile
        this.#info = info;
        this.#state = 'ready';
        this.#emit({ type: 'restarted', restarts: this.#stats.restarts });
        this.#pump();
        this.#updateRef();
      },
      (e: unknown) => {
        if (this.#state !== 'starting') return;
        const err =
          e instanceof OpenpiEdgeError
            ? e
            : new OpenpiEdgeError('WORKER_CRASHED', describe(e), {}, { cause: e });
        this.#fail(
          new OpenpiEdgeError(
            'WORKER_CRASHED',
            `restart failed: ${err.message}`,
            { ...err.context, restartCode: err.code },
            { cause: err },
          ),
        );
      },
    );
    this.#updateRef();
  }

  #fail(cause: OpenpiEdgeError): void {
    const failure = new OpenpiEdgeError(
      'WORKER_CRASHED',
      `${this.#o.label} failed for good after ${this.#stats.restarts} restart(s) ` +
        `(maxRestarts ${this.#maxRestarts} per ${this.#windowMs} ms); last cause: ${cause.message}`,
      {
        restarts: this.#stats.restarts,
        maxRestarts: this.#maxRestarts,
        restartWindowMs: this.#windowMs,
        lastCode: cause.code,
        lastCause: cause.message,
        ...(cause.context.exitCode === undefined ? {} : { exitCode: cause.context.exitCode }),
      },
      { cause },
    );
    this.#failure = failure;
    this.#state = 'failed';
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) {
      p.reject(
        new OpenpiEdgeError(failure.code, failure.message, { ...failure.context, op: p.op }, { cause }),
      );
    }
    this.#emit({ type: 'failed', error: failure });
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
