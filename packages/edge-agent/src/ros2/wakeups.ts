/**
 * Waiting for the next message: a transport's bring-up loops "until a state arrived, or the deadline" without
 * polling. `sleep` resolves at the next `wake()` (a message came) or after `ms` on the clock, whichever is first.
 */
import type { Clock } from '@openpi-edge/client';

export class Wakeups {
  readonly #waiters = new Set<() => void>();

  /** Resolves at the next `wake()` or after `ms` (clock time), whichever comes first. Never rejects. */
  sleep(clock: Clock, ms: number): Promise<void> {
    const ctl = new AbortController();
    return new Promise<void>((resolve) => {
      const w = (): void => {
        ctl.abort();
        resolve();
      };
      this.#waiters.add(w);
      clock.sleep(ms, ctl.signal).then(
        () => {
          this.#waiters.delete(w);
          resolve();
        },
        () => {},
      );
    });
  }

  /** Wakes every sleeper now. */
  wake(): void {
    const ws = [...this.#waiters];
    this.#waiters.clear();
    for (const w of ws) w();
  }
}
