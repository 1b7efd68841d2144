import { OpenpiEdgeError } from '@openpi-edge/client';

/** Where the next tick goes after a step ended, and how many ticks were missed on the way. */
export interface NextTick {
  /** Index of the next tick: its deadline is `startMs + tick * periodMs`. */
  tick: number;
  /** Deadline of that tick (ms, clock timeline). */
  at: number;
  /** Ticks skipped because the step ran past them (0 when on time). */
  skipped: number;
  /** How far past the next regular deadline the step ended (ms; 0 when on time). */
  lateMs: number;
}

/**
 * An absolute tick timeline: tick k is due at `startMs + k * periodMs`, so sleeping errors never accumulate.
 * A step that ends after the next deadline does not cause a burst of catch-up steps: the next tick is the first
 * grid point at or after the end of the step.
 */
export class RateTimeline {
  readonly periodMs: number;
  readonly startMs: number;

  /** @param periodMs tick period (ms, > 0); @param startMs deadline of tick 0 (ms). */
  constructor(periodMs: number, startMs: number) {
    if (!(periodMs > 0) || !Number.isFinite(periodMs)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `RateTimeline: periodMs must be a positive number, got ${periodMs}`,
        {
          periodMs,
        },
      );
    }
    this.periodMs = periodMs;
    this.startMs = startMs;
  }

  /** Deadline of tick `k` (ms). */
  deadline(k: number): number {
    return this.startMs + k * this.periodMs;
  }

  /** The tick to wait for after tick `current`'s step ended at `nowMs`. */
  next(current: number, nowMs: number): NextTick {
    const regular = current + 1;
    const regularAt = this.deadline(regular);
    if (nowMs <= regularAt) return { tick: regular, at: regularAt, skipped: 0, lateMs: 0 };
    const tick = Math.ceil((nowMs - this.startMs) / this.periodMs);
    return { tick, at: this.deadline(tick), skipped: tick - regular, lateMs: nowMs - regularAt };
  }
}
