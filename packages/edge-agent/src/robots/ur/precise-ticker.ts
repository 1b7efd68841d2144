/**
 * A fixed-rate ticker for a worker thread (the UR servo stream, 2 ms at 500 Hz): deadlines on an absolute
 * schedule (start + k·period, no drift), reached by sleeping on the event loop until ~`spinMarginMs` before the
 * deadline (so socket data is read meanwhile) and then blocking the thread with `Atomics.wait` for the rest, which
 * wakes within tens of microseconds where a timer wakes to the millisecond. It never busy-spins: the machine's
 * other cores stay free. Falling behind by more than a period skips the lost deadlines (counted, never bunched).
 * Only for worker threads: `Atomics.wait` is not allowed on a browser's main thread and would stall Node's.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface TickerOptions {
  readonly periodMs: number;
  /**
   * How the thread sleeps between ticks. `wait` (default): one non-blocking turn of the event loop for pending
   * I/O, then `Atomics.wait` until the deadline (futex: wakes within tens of µs). `timers`: an event-loop timer
   * until `spinMarginMs` before the deadline, then `Atomics.wait` (I/O is handled during the timer sleep).
   */
  readonly sleep?: 'wait' | 'timers';
  /** `timers`: the timer sleep ends this long before the deadline (ms). Default 1.2 (timers wake ~1 ms late). */
  readonly spinMarginMs?: number;
  /** Called on each deadline with its start time (ms); its duration delays nothing but itself. */
  readonly onTick: (startMs: number) => void;
  /** Called with the number of deadlines skipped after falling behind. */
  readonly onSkip?: (cycles: number) => void;
  readonly now?: () => number;
}

export class PreciseTicker {
  readonly #o: TickerOptions;
  readonly #waitCell = new Int32Array(new SharedArrayBuffer(4));
  #running = false;
  #done: Promise<void> | null = null;

  constructor(options: TickerOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#run();
  }

  /** Stops after the current tick; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  async #run(): Promise<void> {
    const now = this.#o.now ?? (() => performance.now());
    const period = this.#o.periodMs;
    const margin = this.#o.spinMarginMs ?? 1.2;
    const mode = this.#o.sleep ?? 'wait';
    let next = now() + period;
    while (this.#running) {
      // Pending I/O (RTDE outputs, messages) is handled here without blocking: an immediate runs after one
      // non-blocking poll of the event loop.
      await new Promise<void>((r) => setImmediate(r));
      if (!this.#running) break;
      let remaining = next - now();
      if (mode === 'timers' && remaining > margin) {
        await sleep(remaining - margin);
        if (!this.#running) break;
        remaining = next - now();
      }
      if (remaining > 0) Atomics.wait(this.#waitCell, 0, 0, remaining);
      const t = now();
      this.#o.onTick(t);
      next += period;
      const behind = now() - next;
      if (behind > 0) {
        const skip = Math.ceil(behind / period);
        next += skip * period;
        this.#o.onSkip?.(skip);
      }
    }
  }
}
