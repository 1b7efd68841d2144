/**
 * Time as a dependency. Everything that waits (brokers, the control loop, benchmarks) takes a {@link Clock} so tests
 * drive time with a {@link ManualClock} instead of sleeping. Browser-safe: only `performance`, `setTimeout` and
 * (where present) `setImmediate` / `MessageChannel` are used, looked up on `globalThis`.
 */
import { OpenpiEdgeError } from './errors.js';

/** A monotonic millisecond clock that can wait. */
export interface Clock {
  /** Milliseconds on a monotonic timeline (origin arbitrary). Never goes backwards. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds (0 or negative: as soon as possible). Rejects with an `ABORTED`
   * OpenpiEdgeError when `signal` aborts first; the timer is cleared then.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Resolves when `now() >= deadlineMs` (a deadline on this clock's timeline). Same abort contract as `sleep`. */
  sleepUntil(deadlineMs: number, signal?: AbortSignal): Promise<void>;
}

type Immediate = (cb: () => void) => unknown;
/** The part of the browser's `MessageChannel` used here (typed structurally: no DOM lib in this build). */
type Channel = new () => {
  port1: { onmessage: ((e: unknown) => void) | null; close(): void };
  port2: { postMessage(m: unknown): void };
};

/**
 * Resolves on the next macrotask: every pending microtask has run by then. Uses `setImmediate` where it exists
 * (Node), a `MessageChannel` in browsers, `setTimeout(0)` otherwise.
 */
export function macrotask(): Promise<void> {
  const g = globalThis as unknown as { setImmediate?: Immediate; MessageChannel?: Channel };
  const { setImmediate, MessageChannel } = g;
  if (typeof setImmediate === 'function') {
    return new Promise((resolve) => {
      setImmediate(resolve);
    });
  }
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function abortError(signal: AbortSignal): OpenpiEdgeError {
  return new OpenpiEdgeError('ABORTED', 'sleep aborted', { reason: String(signal.reason) });
}

export interface RealClockOptions {
  /**
   * Hybrid sleep: `sleepUntil` uses `setTimeout` until this many ms before the deadline, then yields macrotasks
   * until the deadline (timers fire up to ~1-2 ms late; the spin trades a little CPU for accuracy).
   * 0 = plain `setTimeout`. Default 2 (ms).
   */
  spinMs?: number;
}

/** A clock on `performance.now()` with a hybrid timer/spin `sleepUntil`. */
export function createRealClock({ spinMs = 2 }: RealClockOptions = {}): Clock {
  if (!(spinMs >= 0)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `spinMs must be >= 0, got ${spinMs}`, { spinMs });
  }
  const now = (): number => performance.now();
  const timer = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(handle);
        reject(abortError(signal as AbortSignal));
      };
      const handle = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  const sleepUntil = async (deadlineMs: number, signal?: AbortSignal): Promise<void> => {
    const remaining = deadlineMs - now();
    if (spinMs === 0) return timer(remaining, signal);
    if (remaining > spinMs) await timer(remaining - spinMs, signal);
    while (now() < deadlineMs) {
      if (signal?.aborted) throw abortError(signal);
      await macrotask();
    }
    if (signal?.aborted) throw abortError(signal);
  };
  return {
    now,
    sleep: (ms, signal) => (spinMs === 0 ? timer(ms, signal) : sleepUntil(now() + ms, signal)),
    sleepUntil,
  };
}

/** The default real clock (hybrid sleep, 2 ms spin). */
export const realClock: Clock = createRealClock();

interface ManualTimer {
  at: number;
  seq: number;
  resolve: () => void;
}

export interface RunUntilOptions {
  /** Give up (BAD_ARGUMENT) when virtual time would pass this many ms from the call. Default Infinity. */
  maxAdvanceMs?: number;
  /** Macrotask turns without any pending timer before declaring a deadlock. Default 10000. */
  maxIdleTurns?: number;
  /**
   * Real (wall-clock) ms without any pending timer that must also pass before declaring a deadlock. Default 5000.
   * Awaited work may wait on real I/O that the virtual clock cannot see (a native onnxruntime session being
   * created, a WASM module compiling); on a loaded machine that outlasts any fixed number of turns.
   */
  minIdleMs?: number;
}

/**
 * A virtual clock for tests: time moves only through `advance`/`advanceTo`/`runUntil`. Timers due at the same
 * time fire in creation order, and every microtask/macrotask chain they trigger settles before the next fires.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  /** @param startMs initial reading of `now()` (ms). Default 0. */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.sleepUntil(this.#now + Math.max(0, ms), signal);
  }

  sleepUntil(deadlineMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (deadlineMs <= this.#now) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t: ManualTimer = { at: deadlineMs, seq: this.#seq++, resolve: () => {} };
      const onAbort = (): void => {
        this.#timers = this.#timers.filter((x) => x !== t);
        reject(abortError(signal as AbortSignal));
      };
      t.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(t);
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    });
  }

  /** Number of sleeps not yet resolved. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Deadline of the earliest pending sleep, if any. */
  nextTimerAt(): number | undefined {
    return this.#timers[0]?.at;
  }

  /** Lets every pending microtask and the macrotasks they queue run, without moving time. */
  async flush(turns = 3): Promise<void> {
    for (let i = 0; i < turns; i++) await macrotask();
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): Promise<void> {
    return this.advanceTo(this.#now + ms);
  }

  /** Moves time to `t` (never backwards), firing due timers in order and settling what each one triggers. */
  async advanceTo(t: number): Promise<void> {
    await this.flush();
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.at > t) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.resolve();
      await this.flush();
    }
    this.#now = Math.max(this.#now, t);
    await this.flush();
  }

  /**
   * Drives time until `promise` settles: settles pending work, then jumps to the next timer, and so on.
   * Returns the promise's value (or rethrows its rejection). Throws BAD_ARGUMENT on a deadlock (nothing pending
   * and the promise still open) or past `maxAdvanceMs`.
   */
  async runUntil<T>(
    promise: Promise<T>,
    { maxAdvanceMs = Infinity, maxIdleTurns = 10_000, minIdleMs = 5_000 }: RunUntilOptions = {},
  ): Promise<T> {
    let settled = false;
    const watched = promise.then(
      (v) => {
        settled = true;
        return v;
      },
      (e: unknown) => {
        settled = true;
        throw e;
      },
    );
    watched.catch(() => {});
    const limit = this.#now + maxAdvanceMs;
    let idle = 0;
    let idleSince = 0;
    while (!settled) {
      await macrotask();
      if (settled) break;
      const next = this.#timers[0];
      if (next === undefined) {
        if (idle++ === 0) idleSince = performance.now();
        if (idle > maxIdleTurns && performance.now() - idleSince >= minIdleMs) {
          throw new OpenpiEdgeError('BAD_ARGUMENT', 'ManualClock.runUntil: deadlock, nothing pending', {
            now: this.#now,
            idleTurns: idle,
            idleMs: performance.now() - idleSince,
          });
        }
        continue;
      }
      idle = 0;
      if (next.at > limit) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `ManualClock.runUntil: still pending after ${maxAdvanceMs} ms`,
          {
            now: this.#now,
            nextTimerAt: next.at,
          },
        );
      }
      await this.advanceTo(next.at);
    }
    return watched;
  }
}
