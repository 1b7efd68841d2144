/**
 * The worker side of worker-protocol.ts: starts the worker's state from `workerData.init`, then answers requests
 * one at a time in arrival order (a request's async work never interleaves with the next one's), replies with
 * transfer lists for the arrays it returns, and exits on `close` once the work in progress is done (after `close`
 * released the state). Runs only inside a worker thread.
 *
 * Native calls: the spec brackets its native work with the {@link NativeGuard} it gets in `init` (native-guard.ts),
 * so that the supervisor never stops this thread inside one; a thread asked to stop while inside one exits by
 * itself (code 0) when the last one returns. An uncaught exception (or unhandled rejection) releases the state
 * first (`close`, not awaited: its native releases run synchronously), then ends the thread as usual (the parent
 * gets 'error', then 'exit' with code 1).
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { NativeGuard } from './native-guard.js';
import { setThreadNice } from './thread-nice.js';
import {
  type FromWorker,
  serializeError,
  TEST_OPS,
  type ToWorker,
  transferablesOf,
  type WorkerData,
  type WorkerTestHooks,
  type WorkerTestOp,
} from './worker-protocol.js';

export interface WorkerHostSpec<I, S> {
  /**
   * Builds the worker's state; `info` (plain data) goes back in the `ready` message. `post` sends events. Native
   * calls (onnxruntime) must go through `guard` (e.g. {@link guardOrt}).
   */
  init(init: I, post: (event: unknown) => void, guard: NativeGuard): Promise<{ state: S; info: unknown }>;
  /** Request handlers by op; a result's owned ArrayBuffers are transferred, not copied. */
  ops: Readonly<Record<string, (state: S, payload: unknown) => Promise<unknown>>>;
  /** Releases the state (on `close`, and before the thread ends on an uncaught exception). */
  close(state: S): Promise<void>;
}

function send(port: MessagePort, msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** The ticket gate of {@link WorkerTestHooks.gate}: blocks this thread until the test releases this request. */
function passGate(gate: SharedArrayBuffer): void {
  const g = new Int32Array(gate);
  const ticket = Atomics.add(g, 1, 1) + 1;
  Atomics.notify(g, 1);
  for (;;) {
    const released = Atomics.load(g, 0);
    if (released >= ticket) return;
    Atomics.wait(g, 0, released);
  }
}

function runTestOp(op: WorkerTestOp): Promise<never> {
  switch (op) {
    case '__crash':
      // Thrown from a timer, outside any request: the worker's uncaught-exception path ('error', then 'exit').
      setTimeout(() => {
        throw new Error('test hook: worker crashed outside a request');
      }, 0);
      return new Promise<never>(() => {});
    case '__exit':
      process.exit(70);
      break;
    case '__hang':
      for (;;) {
        // Spins until the supervisor terminates the thread (terminate() interrupts running JavaScript).
      }
  }
  return new Promise<never>(() => {});
}

/** Serves `spec` on this worker's parent port. Call once from a worker entry module. */
export function hostWorker<I, S>(spec: WorkerHostSpec<I, S>): void {
  if (parentPort === null) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', 'hostWorker: not running in a worker thread', {});
  }
  const port: MessagePort = parentPort;
  const data = workerData as WorkerData<I>;
  const hooks: WorkerTestHooks = data.testHooks ?? {};
  if (data.nice !== undefined) setThreadNice(data.nice);
  const post = (event: unknown): void => send(port, { kind: 'event', event });
  // Asked to stop while inside a native call: end the thread as soon as the last one returned (JavaScript only
  // from here on, and no new native call can start).
  const guard = new NativeGuard(data.guard, () => process.exit(0));
  let live: S | undefined;
  let released = false;
  const release = (): Promise<void> => {
    if (live === undefined || released) return Promise.resolve();
    released = true;
    return spec.close(live);
  };
  // Before Node ends the thread for an uncaught exception: release the state while the thread is still whole (the
  // monitor does not count as handling it: the parent still gets 'error', then 'exit' 1).
  process.on('uncaughtExceptionMonitor', () => {
    try {
      release().catch(() => {});
    } catch {
      // best effort: the finalizers release what is left
    }
  });
  // Everything (start-up, each request, close) runs on one chain: strictly one at a time, in order.
  let chain: Promise<unknown> = spec.init(data.init, post, guard).then(
    ({ state, info }) => {
      live = state;
      send(port, { kind: 'ready', info });
      return state;
    },
    (e: unknown) => {
      send(port, { kind: 'init-failed', error: serializeError(e) });
      return new Promise<never>(() => {}); // the supervisor terminates a worker whose start failed
    },
  );
  const stateP = chain as Promise<S>;

  async function handle(msg: ToWorker): Promise<void> {
    const state = await stateP;
    if (msg.kind === 'close') {
      try {
        await release();
      } finally {
        process.exit(0);
      }
      return;
    }
    const { id, op, payload } = msg;
    try {
      let value: unknown;
      if ((TEST_OPS as readonly string[]).includes(op)) {
        if (hooks.ops !== true) {
          throw new OpenpiEdgeError('BAD_ARGUMENT', `worker op ${op} needs testHooks.ops`, { op });
        }
        value = await runTestOp(op as WorkerTestOp);
      } else {
        const handler = spec.ops[op];
        if (handler === undefined) {
          throw new OpenpiEdgeError('BAD_ARGUMENT', `unknown worker op ${op}`, { op });
        }
        if (hooks.gate !== undefined) passGate(hooks.gate);
        value = await handler(state, payload);
      }
      send(port, { kind: 'reply', id, ok: true, value }, transferablesOf(value));
    } catch (e) {
      send(port, { kind: 'reply', id, ok: false, error: serializeError(e) });
    }
  }

  port.on('message', (msg: ToWorker) => {
    chain = chain
      .then(() => handle(msg))
      .catch((e: unknown) => {
        // handle() answers every failure of a request; reaching here is a broken worker: crash it (the supervisor
        // rejects the request and restarts).
        setImmediate(() => {
          throw e;
        });
      });
  });
}
