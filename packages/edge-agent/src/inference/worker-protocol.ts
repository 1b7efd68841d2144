/**
 * The message protocol between a supervised worker (worker-host.ts, in the thread) and its supervisor
 * (supervised-worker.ts, on the caller's thread), and the error serialization both sides share.
 *
 * Lifecycle: the worker starts from `workerData.init`, then posts `ready` (with plain data describing what it
 * loaded) or `init-failed`. Afterwards it answers each `request` with exactly one `reply` (same `id`), and may post
 * `event`s at any time (e.g. provider fallback warnings during load). `close` makes it release its resources and
 * exit with code 0.
 *
 * Structured clone keeps plain data, typed arrays and SharedArrayBuffers, but drops class identity: errors travel
 * as {@link SerializedError} (name, code, message, context, stack, cause) and are rebuilt as `OpenpiEdgeError`.
 */
import { type ErrorCode, OpenpiEdgeError } from '@openpi-edge/client';

/** Test-only behaviour of a worker, off unless given (never set it in production code). */
export interface WorkerTestHooks {
  /** Honour the test ops `__crash` (throw outside any request), `__exit` (`process.exit(70)`), `__hang`
   *  (spin forever). Without it they are refused with BAD_ARGUMENT. */
  ops?: boolean;
  /**
   * A ticket gate over `Int32Array(gate)` (2+ elements): before each regular request the worker takes ticket
   * `n = Atomics.add(g, 1, 1) + 1` (notifying index 1), then blocks its thread with `Atomics.wait` while
   * `g[0] < n`. Blocking the thread synchronously is what a long onnxruntime graph does; the test releases request
   * n with `Atomics.store(g, 0, n); Atomics.notify(g, 0)`.
   */
  gate?: SharedArrayBuffer;
}

/** Test ops understood by every worker host when {@link WorkerTestHooks.ops} is set. */
export type WorkerTestOp = '__crash' | '__exit' | '__hang';

export const TEST_OPS: readonly WorkerTestOp[] = ['__crash', '__exit', '__hang'];

export interface WorkerData<I> {
  init: I;
  /** Nice value for the worker's OS thread (Linux), applied before `init`. */
  nice?: number;
  testHooks?: WorkerTestHooks;
  /** The native-call guard word (native-guard.ts): the supervisor stops the thread only outside onnxruntime calls. */
  guard?: SharedArrayBuffer;
  /** Set by worker-entry-url.ts when the entry is TypeScript loaded through tsx. */
  entry?: string;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: ErrorCode;
  context?: Record<string, unknown>;
  cause?: SerializedError;
}

export type ToWorker = { kind: 'request'; id: number; op: string; payload: unknown } | { kind: 'close' };

export type FromWorker =
  | { kind: 'ready'; info: unknown }
  | { kind: 'init-failed'; error: SerializedError }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: SerializedError }
  | { kind: 'event'; event: unknown };

/** A context that survives structured clone: values that cannot be cloned become their `String()`. */
function cloneableContext(ctx: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return structuredClone(ctx) as Record<string, unknown>;
  } catch {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(ctx)) {
      try {
        out[k] = structuredClone(v);
      } catch {
        out[k] = String(v);
      }
    }
    return out;
  }
}

/** Any thrown value as plain data (causes followed 4 deep). */
export function serializeError(e: unknown, depth = 0): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const out: SerializedError = { name: e.name, message: e.message };
  if (e.stack !== undefined) out.stack = e.stack;
  if (e instanceof OpenpiEdgeError) {
    out.code = e.code;
    out.context = cloneableContext(e.context);
  }
  if (e.cause !== undefined && depth < 4) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

/** The error {@link serializeError} described: an `OpenpiEdgeError` with the same code, message, context and
 *  stack when it had a code, else a plain `Error` with the same name, message and stack. */
export function deserializeError(s: SerializedError): Error {
  const options = s.cause === undefined ? undefined : { cause: deserializeError(s.cause) };
  const e =
    s.code === undefined
      ? new Error(s.message, options)
      : new OpenpiEdgeError(s.code, s.message, s.context ?? {}, options);
  e.name = s.name;
  if (s.stack !== undefined) e.stack = s.stack;
  return e;
}

/**
 * The ArrayBuffers under `value` that can be transferred without surprising anyone: typed arrays that own their
 * whole (non-shared) buffer. Views into a larger buffer are left to be copied (the rest of the buffer may be in use);
 * SharedArrayBuffers are shared anyway.
 */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 32 || typeof v !== 'object' || v === null) return;
    if (ArrayBuffer.isView(v)) {
      const b = v.buffer;
      if (b instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === b.byteLength) out.add(b);
      return;
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x, depth + 1);
  };
  walk(value, 0);
  return [...out];
}
