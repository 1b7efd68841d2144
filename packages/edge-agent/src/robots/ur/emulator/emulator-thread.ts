/**
 * The UR controller emulator on a worker thread: an agent (or a test) that runs the emulator in-process keeps its
 * own event loop free, and the emulator's 500 Hz cycle does not wait on the agent's work. The control methods of
 * UrControllerEmulator are async messages here; onTarget events arrive as messages, with `atMs` converted to this
 * thread's performance.now() timebase (the threads' clocks share the epoch, not the origin).
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { type ErrorCode, OpenpiEdgeError } from '@openpi-edge/client';
import { workerLaunchOf } from '../../../inference/worker-entry-url.js';
import type { UrEmulatorOptions, UrEmulatorPort, UrEmulatorSnapshot, UrTargetListener } from './emulator.js';
import type { FromThread, ThreadData, ThreadOp, ToThread } from './emulator-thread-messages.js';

export interface UrEmulatorThread {
  readonly ports: Readonly<Record<UrEmulatorPort, number>>;
  snapshot(): Promise<UrEmulatorSnapshot>;
  lastScript(): Promise<string | null>;
  injectProtectiveStop(reason?: string): Promise<void>;
  injectEmergencyStop(): Promise<void>;
  releaseEmergencyStop(): Promise<void>;
  setRemoteControl(on: boolean): Promise<void>;
  dropRtdeConnections(): Promise<void>;
  /** Listener per new target (atMs: this thread's performance.now()). Returns the unsubscribe function. */
  onTarget(listener: UrTargetListener): () => void;
  /** Closes the emulator and ends the thread. Idempotent. */
  close(): Promise<void>;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Starts the emulator on a worker thread; resolves once it listens (rejects as UrControllerEmulator.start does). */
export async function startUrEmulatorThread(options: UrEmulatorOptions = {}): Promise<UrEmulatorThread> {
  const { trace, ...rest } = options;
  const launch = workerLaunchOf(new URL('./emulator-thread-entry.ts', import.meta.url));
  const data: ThreadData = { options: rest, trace: trace !== undefined };
  const worker = new Worker(launch.filename, {
    eval: launch.eval,
    execArgv: launch.execArgv,
    workerData: data,
    name: 'ur-emulator',
  });
  const pending = new Map<number, Pending>();
  const listeners = new Set<UrTargetListener>();
  let nextId = 1;
  let exited = false;
  let lastError: Error | undefined;
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));

  const ports = await new Promise<Record<UrEmulatorPort, number>>((resolve, reject) => {
    const onMessage = (m: FromThread): void => {
      if (m.kind === 'ready') {
        worker.off('message', onMessage);
        resolve(m.ports);
      } else if (m.kind === 'start-failed') {
        worker.off('message', onMessage);
        reject(
          new OpenpiEdgeError(
            (m.code as ErrorCode | undefined) ?? 'BAD_ARGUMENT',
            m.message,
            m.context ?? {},
          ),
        );
      } else if (m.kind === 'trace') {
        trace?.(m.line);
      }
    };
    worker.on('message', onMessage);
    worker.on('error', (e) => {
      lastError = e;
    });
    void exit.then((code) =>
      reject(
        new OpenpiEdgeError(
          'WORKER_CRASHED',
          `UR emulator thread exited during start-up (code ${code}): ${lastError?.message ?? 'no error reported'}`,
          { exitCode: code },
        ),
      ),
    );
  });

  worker.on('message', (m: FromThread) => {
    switch (m.kind) {
      case 'reply': {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(new OpenpiEdgeError('BAD_ARGUMENT', `UR emulator thread: ${m.message}`, {}));
        break;
      }
      case 'target': {
        const at = m.atEpochMs - performance.timeOrigin;
        for (const l of listeners) {
          try {
            l(m.q, at);
          } catch {
            // A listener's failure is its own business.
          }
        }
        break;
      }
      case 'trace':
        trace?.(m.line);
        break;
    }
  });
  void exit.then((code) => {
    exited = true;
    const err = new OpenpiEdgeError(
      'WORKER_CRASHED',
      `UR emulator thread exited (code ${code})${lastError ? `: ${lastError.message}` : ''}`,
      { exitCode: code },
    );
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });

  const request = <T>(op: ThreadOp): Promise<T> => {
    if (exited) {
      return Promise.reject(
        new OpenpiEdgeError('CLOSED', `UR emulator thread has ended (${op.op})`, { op: op.op }),
      );
    }
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ kind: 'request', id, ...op } satisfies ToThread);
    });
  };

  let closing: Promise<void> | undefined;
  return {
    ports: Object.freeze(ports),
    snapshot: () => request<UrEmulatorSnapshot>({ op: 'snapshot' }),
    lastScript: () => request<string | null>({ op: 'lastScript' }),
    injectProtectiveStop: (reason) =>
      request<void>(
        reason === undefined ? { op: 'injectProtectiveStop' } : { op: 'injectProtectiveStop', reason },
      ),
    injectEmergencyStop: () => request<void>({ op: 'injectEmergencyStop' }),
    releaseEmergencyStop: () => request<void>({ op: 'releaseEmergencyStop' }),
    setRemoteControl: (on) => request<void>({ op: 'setRemoteControl', on }),
    dropRtdeConnections: () => request<void>({ op: 'dropRtdeConnections' }),
    onTarget(listener) {
      listeners.add(listener);
      if (listeners.size === 1)
        void request<void>({ op: 'subscribeTargets', on: true }).catch(() => undefined);
      return () => {
        if (!listeners.delete(listener)) return;
        if (listeners.size === 0 && !exited) {
          void request<void>({ op: 'subscribeTargets', on: false }).catch(() => undefined);
        }
      };
    },
    close() {
      if (closing === undefined) {
        closing = (async () => {
          if (!exited) {
            // A close that cannot be delivered or answered (the thread is stuck) ends in terminate.
            const timer = setTimeout(() => void worker.terminate(), 5000);
            await request<void>({ op: 'close' }).catch(() => undefined);
            clearTimeout(timer);
          }
          await Promise.race([exit, new Promise((r) => setTimeout(r, 2000).unref())]);
          if (!exited) await worker.terminate();
          listeners.clear();
        })();
      }
      return closing;
    },
  };
}
