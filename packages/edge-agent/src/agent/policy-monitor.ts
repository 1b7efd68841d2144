/**
 * What the SafetyGate's watchdog learns about the policy each tick ({@link PolicyHealth}), gathered from three
 * places: the guarded agent (a blocking inference that failed or ran past its deadline), the async broker's events
 * (background errors, stalls) and the websocket client's connection state (a remote server that went away).
 * Time is the agent's clock (ms).
 */
import type { AsyncBrokerEvent, ConnectionStateEvent } from '@openpi-edge/client';
import type { PolicyHealth } from '../safety/watchdog.js';

export class PolicyMonitor {
  readonly #clock: { now(): number };
  #callError: unknown;
  #pendingSince: number | null = null;
  #brokerError: unknown;
  #stallSince: number | null = null;
  #connectionError: unknown;
  #connection: ConnectionStateEvent['state'] | 'local' = 'local';
  #lastError: unknown;

  constructor(clock: { now(): number }) {
    this.#clock = clock;
  }

  /** A blocking `infer` through the broker succeeded: clears the call error and the pending stall. */
  callSucceeded(): void {
    this.#callError = undefined;
    this.#pendingSince = null;
  }

  /** A blocking `infer` through the broker failed. */
  callFailed(error: unknown): void {
    this.#callError = error;
    this.#lastError = error;
    this.#pendingSince = null;
  }

  /** A blocking `infer` passed its deadline at `since` (ms) and is still running. */
  callPending(since: number): void {
    this.#pendingSince = since;
  }

  /** The pending call settled (its result is dropped). */
  pendingSettled(): void {
    this.#pendingSince = null;
  }

  /** Feed of the async broker's events. */
  brokerEvent(e: AsyncBrokerEvent): void {
    switch (e.type) {
      case 'error':
        this.#brokerError = e.error;
        this.#lastError = e.error;
        break;
      case 'chunk':
        this.#brokerError = undefined;
        break;
      case 'stall-start':
        this.#stallSince = e.at;
        break;
      case 'stall-end':
        this.#stallSince = null;
        break;
      case 'request':
      case 'discarded':
      // A stale chunk is dropped, not followed; the stall it leaves is reported by stall-start.
      case 'chunk-dropped':
        break;
    }
  }

  /** Feed of a remote policy's connection state: anything but `connected` after the first connect is an error. */
  connectionEvent(e: ConnectionStateEvent): void {
    this.#connection = e.state;
    if (e.state === 'connected' || e.state === 'connecting' || e.state === 'idle') {
      this.#connectionError = undefined;
      return;
    }
    this.#connectionError =
      e.error ?? new Error(`policy server ${e.uri} ${e.state === 'closed' ? 'client closed' : e.state}`);
    this.#lastError = this.#connectionError;
  }

  /** Connection state of a remote policy; `local` for a local one. */
  get connection(): ConnectionStateEvent['state'] | 'local' {
    return this.#connection;
  }

  /** The most recent policy error seen (also after it cleared), for the status line and the summary. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Broker reset (new episode): forget stall and broker error. */
  resetEpisode(): void {
    this.#stallSince = null;
    this.#brokerError = undefined;
  }

  /** Health now: the first current error (connection, call, broker) and the longest current stall (ms). */
  health(): PolicyHealth {
    const now = this.#clock.now();
    const error = this.#connectionError ?? this.#callError ?? this.#brokerError;
    const since = [this.#pendingSince, this.#stallSince].filter((t): t is number => t !== null);
    const stallMs = since.length === 0 ? 0 : now - Math.min(...since);
    return error === undefined ? { stallMs } : { stallMs, error };
  }
}
