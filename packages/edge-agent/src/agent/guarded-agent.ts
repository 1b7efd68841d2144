/**
 * The runtime's Agent over a chunk broker, made safe for a robot: `getAction` never throws on a policy failure and
 * never waits longer than `timeoutMs`. A failed or late inference yields {@link NO_ACTION} (the SafetyGate then
 * holds) and is reported to the {@link PolicyMonitor}. A late call is left to finish in the background; until it
 * settles every tick gets NO_ACTION, and once it settles its result is dropped and the broker is reset, so the next
 * chunk is computed from a fresh observation.
 *
 * Two more duties:
 * - **First chunk before the episode clock.** With `prime`, `reset()` (which the runtime calls before the episode
 *   starts) fetches the first chunk from a fresh observation with the longer `firstChunkTimeoutMs` deadline, and the
 *   first tick returns it: the loop's first tick does not wait for a model (no stale joint state, no deadline miss
 *   on a slow first chunk).
 * - **Back-off.** After two failures in a row (calls or background requests, see {@link GuardedAgent.noteFailure})
 *   the broker is not asked again until a delay passes that doubles per further failure (`backoffMs` up to
 *   `maxBackoffMs`); every tick meanwhile gets NO_ACTION (the gate holds). A success resets it. A policy that fails
 *   every request therefore costs a capture and an inference every few seconds, not every tick.
 */
import type { BasePolicy, Clock, Obs } from '@openpi-edge/client';
import type { Agent } from '@openpi-edge/runtime';
import type { PolicyMonitor } from './policy-monitor.js';

/** The action of a tick on which the policy delivered nothing: no `actions` key. */
export const NO_ACTION: Readonly<Obs> = Object.freeze({});

const LATE: unique symbol = Symbol('late');

export interface GuardedAgentOptions {
  /** Longest a tick waits for the broker (ms). */
  timeoutMs: number;
  clock: Clock;
  monitor: PolicyMonitor;
  /** Observation for the first chunk, fetched in `reset()`; absent = the first tick fetches it. Default none. */
  prime?: () => Promise<Obs>;
  /** Deadline of the primed first chunk (ms). Default 60000. */
  firstChunkTimeoutMs?: number;
  /** First back-off delay after two failures in a row (ms). Default 200. */
  backoffMs?: number;
  /** Longest back-off delay (ms). Default 5000. */
  maxBackoffMs?: number;
}

export class GuardedAgent implements Agent {
  readonly broker: BasePolicy;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #monitor: PolicyMonitor;
  /** A call that passed its deadline and has not settled yet. */
  #pending: Promise<unknown> | null = null;
  #needsReset = false;
  readonly #prime: (() => Promise<Obs>) | undefined;
  readonly #firstChunkMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  #primed: Obs | null = null;
  #consecutive = 0;
  #retryAt = Number.NEGATIVE_INFINITY;
  /** Calls that passed the deadline, and requests that failed (calls, first chunks, background requests). */
  timeouts = 0;
  failures = 0;
  /** Ticks that got NO_ACTION because of the back-off. */
  backoffTicks = 0;
  /** The primed first chunk's outcome of the last `reset()`: `ok`, the error text, or null (not primed). */
  lastPrime: { ok: true; ms: number } | { ok: false; error: unknown } | null = null;

  constructor(broker: BasePolicy, options: GuardedAgentOptions) {
    this.broker = broker;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock;
    this.#monitor = options.monitor;
    this.#prime = options.prime;
    this.#firstChunkMs = options.firstChunkTimeoutMs ?? 60_000;
    this.#backoffMs = options.backoffMs ?? 200;
    this.#maxBackoffMs = options.maxBackoffMs ?? 5_000;
  }

  /** A failure seen elsewhere (the async broker's background request): counts towards the back-off. */
  noteFailure(): void {
    this.#consecutive += 1;
    if (this.#consecutive >= 2) {
      const delay = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** (this.#consecutive - 2));
      this.#retryAt = this.#clock.now() + delay;
    }
  }

  /** A request that failed elsewhere (the async broker's background request): counted, and towards the back-off. */
  backgroundFailed(): void {
    this.failures += 1;
    this.noteFailure();
  }

  /** A success seen elsewhere (a chunk arrived): clears the back-off. */
  noteSuccess(): void {
    this.#consecutive = 0;
    this.#retryAt = Number.NEGATIVE_INFINITY;
  }

  /** True while the back-off keeps the broker from being asked. */
  get backingOff(): boolean {
    return this.#clock.now() < this.#retryAt;
  }

  async getAction(observation: Obs): Promise<Obs> {
    if (this.#primed !== null) {
      const out = this.#primed;
      this.#primed = null;
      return out;
    }
    if (this.#pending !== null) return NO_ACTION;
    if (this.backingOff) {
      this.backoffTicks += 1;
      return NO_ACTION;
    }
    if (this.#needsReset) {
      this.#needsReset = false;
      await this.broker.reset();
    }
    const started = this.#clock.now();
    const call = this.broker.infer(observation);
    const deadline = new AbortController();
    const timer: Promise<typeof LATE> = this.#clock.sleep(this.#timeoutMs, deadline.signal).then(
      () => LATE,
      () => LATE,
    );
    let result: Obs | typeof LATE;
    try {
      result = await Promise.race([call, timer]);
    } catch (e) {
      this.failures += 1;
      this.#monitor.callFailed(e);
      this.noteFailure();
      // The broker may hold a half-used state after a failure (the sync broker keeps none); start clean.
      this.#needsReset = true;
      return NO_ACTION;
    } finally {
      deadline.abort();
    }
    if (result === LATE) {
      this.#leavePending(call, started);
      return NO_ACTION;
    }
    this.#monitor.callSucceeded();
    this.noteSuccess();
    return result;
  }

  /**
   * A call that passed its deadline (started at `started`): counted, reported as pending, left to finish in the
   * background; until it settles every tick gets NO_ACTION, then its result is dropped and the broker reset.
   */
  #leavePending(call: Promise<Obs>, started: number): void {
    this.timeouts += 1;
    this.#monitor.callPending(started);
    const pending = call.then(
      () => {},
      (e: unknown) => {
        this.failures += 1;
        this.#monitor.callFailed(e);
        this.noteFailure();
      },
    );
    this.#pending = pending;
    void pending.then(() => {
      if (this.#pending === pending) this.#pending = null;
      this.#needsReset = true;
      this.#monitor.pendingSettled();
    });
  }

  /**
   * Resets the broker (drops its chunk; a call still pending is awaited first, the broker forbids overlap), then,
   * with `prime`, fetches the episode's first chunk (deadline `firstChunkTimeoutMs`). A failed or late first chunk
   * is reported like a failed tick and the first tick asks again.
   */
  async reset(): Promise<void> {
    if (this.#pending !== null) await this.#pending;
    this.#pending = null;
    this.#needsReset = false;
    this.#primed = null;
    this.#monitor.resetEpisode();
    await this.broker.reset();
    if (this.#prime === undefined) return;
    const t0 = this.#clock.now();
    const deadline = new AbortController();
    try {
      const obs = await this.#prime();
      const call = this.broker.infer(obs);
      const timer: Promise<typeof LATE> = this.#clock.sleep(this.#firstChunkMs, deadline.signal).then(
        () => LATE,
        () => LATE,
      );
      const result = await Promise.race([call, timer]);
      if (result === LATE) {
        this.#leavePending(call, t0);
        this.lastPrime = {
          ok: false,
          error: new Error(`first chunk not ready within ${this.#firstChunkMs} ms`),
        };
        return;
      }
      this.#primed = result;
      this.#monitor.callSucceeded();
      this.noteSuccess();
      this.lastPrime = { ok: true, ms: this.#clock.now() - t0 };
    } catch (e) {
      this.failures += 1;
      this.#monitor.callFailed(e);
      this.noteFailure();
      this.#needsReset = true;
      this.lastPrime = { ok: false, error: e };
    } finally {
      deadline.abort();
    }
  }
}
