/**
 * EStop: a latch. Any source may set it with `trigger(source, reason)`; it stays set until `reset()`, which is
 * refused while a fault persists (as reported by the `blockingFaults` callback, normally the gate's last tick).
 * Sources are wired by small attach functions (estop-inputs.ts); nothing is registered at import time.
 */
import { type Observable, Subject } from 'rxjs';
import type { SafetyFault } from './faults.js';

/** Who set or reset the latch. The listed ones are used by this package; others may pass their own name. */
export type EStopSource = 'signal' | 'keyboard' | 'ros2' | 'fault' | 'api' | (string & {});

/** Why the latch is set: the first trigger since the last reset. */
export interface EStopCause {
  readonly source: EStopSource;
  readonly reason: string;
  /** Clock reading (ms) when it was set. */
  readonly atMs: number;
}

export type EStopEvent =
  /** The latch was set (`first`: it was clear before; false for repeated triggers while latched). */
  | { readonly type: 'triggered'; readonly cause: EStopCause; readonly first: boolean }
  /** The latch was cleared by `by`. */
  | { readonly type: 'reset'; readonly by: EStopSource; readonly atMs: number; readonly cleared: EStopCause }
  /** A reset was refused because faults persist. */
  | {
      readonly type: 'reset_refused';
      readonly by: EStopSource;
      readonly atMs: number;
      readonly faults: readonly SafetyFault[];
    };

export type EStopResetResult =
  /** Cleared (`wasLatched` false: there was nothing to clear). */
  | { readonly ok: true; readonly wasLatched: boolean }
  /** Refused: these faults persist; the latch stays set. */
  | { readonly ok: false; readonly faults: readonly SafetyFault[] };

export interface EStopOptions {
  /** Clock for timestamps (ms). Any object with `now()`, e.g. a client `Clock`. */
  readonly clock: { now(): number };
  /** Faults that currently block a reset. Default: none. */
  readonly blockingFaults?: () => readonly SafetyFault[];
}

export class EStop {
  readonly #clock: { now(): number };
  readonly #blocking: () => readonly SafetyFault[];
  readonly #events = new Subject<EStopEvent>();
  #cause: EStopCause | null = null;
  #triggers = 0;

  /** Every trigger, reset and refused reset, in order. Completes on `close()`. */
  readonly events$: Observable<EStopEvent> = this.#events.asObservable();

  constructor({ clock, blockingFaults = () => [] }: EStopOptions) {
    this.#clock = clock;
    this.#blocking = blockingFaults;
  }

  /** True while set. */
  get latched(): boolean {
    return this.#cause !== null;
  }

  /** The first trigger since the last reset, or null when clear. */
  get cause(): EStopCause | null {
    return this.#cause;
  }

  /** Number of `trigger` calls so far (repeats included). */
  get triggerCount(): number {
    return this.#triggers;
  }

  /** Sets the latch. Safe to call from any source at any time; repeated calls keep the first cause. */
  trigger(source: EStopSource, reason: string): void {
    const cause: EStopCause = { source, reason, atMs: this.#clock.now() };
    const first = this.#cause === null;
    if (first) this.#cause = cause;
    this.#triggers++;
    this.#events.next({ type: 'triggered', cause, first });
  }

  /** Clears the latch unless faults persist (then refused, latch kept). */
  reset(by: EStopSource = 'api'): EStopResetResult {
    const atMs = this.#clock.now();
    const cleared = this.#cause;
    if (cleared === null) return { ok: true, wasLatched: false };
    const faults = this.#blocking().filter((f) => f.code !== 'E_STOP');
    if (faults.length > 0) {
      this.#events.next({ type: 'reset_refused', by, atMs, faults });
      return { ok: false, faults };
    }
    this.#cause = null;
    this.#events.next({ type: 'reset', by, atMs, cleared });
    return { ok: true, wasLatched: true };
  }

  /** Completes `events$`. The latch keeps working. */
  close(): void {
    this.#events.complete();
  }
}
