/**
 * The runtime's Agent over a chunk broker, made safe for a robot: `getAction` never throws on a policy failure and
 * never waits longer than `timeoutMs`. A failed or late inference yields {@link NO_ACTION} (the SafetyGate then
 * holds) and is reported to the {@link PolicyMonitor}. A late call is left to finish in the background; until it
 * settles every tick gets NO_ACTION, and once it settles its result is dropped and the broker is reset, so the next
 * chunk is computed from a fresh observation.
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
}

export class GuardedAgent implements Agent {
  readonly broker: BasePolicy;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #monitor: PolicyMonitor;
  /** A call that passed its deadline and has not settled yet. */
  #pending: Promise<unknown> | null = null;
  #needsReset = false;
  /** Calls that passed the deadline, and calls that failed. */
  timeouts = 0;
  failures = 0;

  constructor(broker: BasePolicy, options: GuardedAgentOptions) {
    this.broker = broker;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock;
    this.#monitor = options.monitor;
  }

  async getAction(observation: Obs): Promise<Obs> {
    if (this.#pending !== null) return NO_ACTION;
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
      // The broker may hold a half-used state after a failure (the sync broker keeps none); start clean.
      this.#needsReset = true;
      return NO_ACTION;
    } finally {
      deadline.abort();
    }
    if (result === LATE) {
      this.timeouts += 1;
      this.#monitor.callPending(started);
      const pending = call.then(
        () => {},
        (e: unknown) => {
          this.failures += 1;
          this.#monitor.callFailed(e);
        },
      );
      this.#pending = pending;
      void pending.then(() => {
        if (this.#pending === pending) this.#pending = null;
        this.#needsReset = true;
        this.#monitor.pendingSettled();
      });
      return NO_ACTION;
    }
    this.#monitor.callSucceeded();
    return result;
  }

  /** Resets the broker (drops its chunk). A call still pending is awaited first (the broker forbids overlap). */
  async reset(): Promise<void> {
    if (this.#pending !== null) await this.#pending;
    this.#pending = null;
    this.#needsReset = false;
    this.#monitor.resetEpisode();
    await this.broker.reset();
  }
}
