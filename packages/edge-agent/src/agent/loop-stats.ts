/**
 * Running statistics of the control loop, fed from the runtime's telemetry: loop period and wake-up jitter
 * (ms, p50/p99 over a sliding window and over the whole run), and the policy's chunk latencies and stalls.
 *
 * Memory is bounded whatever the run length (`--max-steps 0` runs until Ctrl-C: an hour at 50 Hz is 180,000
 * steps): every series is a {@link SampleSeries}, a fixed-size ring of the most recent samples plus a fixed-size
 * log-bucketed histogram for the run-long percentiles. Nothing here grows per step.
 */
import type { AsyncBrokerEvent } from '@openpi-edge/client';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { StepTelemetry } from '@openpi-edge/runtime';

/** Percentiles, max and mean of a sample set (ms); NaN when empty. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  n: number;
}

/** The sample at 0-based rank `min(n - 1, floor(q * n))` of the sorted samples (the definition used throughout). */
function rankOf(n: number, q: number): number {
  return Math.min(n - 1, Math.floor(q * n));
}

function exactPercentiles(values: readonly number[]): Percentiles {
  const n = values.length;
  if (n === 0)
    return { p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN, n };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[rankOf(n, q)] as number;
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    mean: values.reduce((a, b) => a + b, 0) / n,
    n,
  };
}

/**
 * Relative accuracy of the histogram: a run-long percentile is within `ALPHA` (1%) of the exact sample of the
 * same rank, for samples with `MIN_ABS_MS <= |v| <= MAX_ABS_MS`.
 */
const ALPHA = 0.01;
/** Bucket growth factor: bucket i holds `(MIN_ABS_MS * GAMMA^(i-1), MIN_ABS_MS * GAMMA^i]`. */
const GAMMA = (1 + ALPHA) / (1 - ALPHA);
const LN_GAMMA = Math.log(GAMMA);
/** Samples with `|v| < MIN_ABS_MS` (0.1 µs) count as 0: absolute error below 1e-4 ms there. */
const MIN_ABS_MS = 1e-4;
/** Largest magnitude with the relative bound (ms, ~11.6 days); larger samples share the top bucket. */
const MAX_ABS_MS = 1e9;
/** Buckets per sign: ceil(log_GAMMA(MAX_ABS_MS / MIN_ABS_MS)) + 1 = 1498, about 12 KB of Float64 each. */
const BUCKETS = Math.ceil(Math.log(MAX_ABS_MS / MIN_ABS_MS) / LN_GAMMA) + 1;

function bucketOf(abs: number): number {
  return Math.min(BUCKETS - 1, Math.max(0, Math.ceil(Math.log(abs / MIN_ABS_MS) / LN_GAMMA)));
}

/** The value reported for bucket i: `2 * upper / (GAMMA + 1)`, within ALPHA of every value in the bucket. */
function bucketValue(i: number): number {
  return (2 * MIN_ABS_MS * GAMMA ** i) / (GAMMA + 1);
}

export interface SampleSeriesOptions {
  /**
   * Most recent samples kept exactly (integer >= 1): the largest window `recent()` can serve, and, while no more
   * samples than this have been pushed, the run-long percentiles are exact too. Default 4096 (82 s at 50 Hz).
   */
  recentCapacity?: number;
}

/**
 * A series of samples (ms) in bounded memory, whatever the number pushed:
 * - a ring of the last `recentCapacity` samples: exact percentiles over a recent window (`recent`);
 * - a log-bucketed histogram (DDSketch-style, fixed 2 x 1498 buckets + a zero bucket) for the whole run
 *   (`summary`): each reported percentile is within 1% relative error of the exact sample of the same rank for
 *   1e-4 <= |v| <= 1e9 ms (and within 1e-4 ms absolute below that), clamped to the exact min and max. While at most
 *   `recentCapacity` samples were pushed, `summary` is computed exactly from the ring instead.
 * `n`, `max` and `mean` are always exact. Non-finite samples (NaN, ±Infinity) are ignored.
 */
export class SampleSeries {
  readonly #ring: Float64Array;
  /** Next slot of the ring to write. */
  #head = 0;
  #n = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;
  /** Counts of positive samples per bucket (Float64: exact up to 2^53 samples, never overflows in practice). */
  readonly #pos = new Float64Array(BUCKETS);
  /** Counts of negative samples per bucket of |v|. */
  readonly #neg = new Float64Array(BUCKETS);
  /** Samples with |v| < MIN_ABS_MS. */
  #zero = 0;

  constructor({ recentCapacity = 4096 }: SampleSeriesOptions = {}) {
    if (!Number.isInteger(recentCapacity) || recentCapacity < 1) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `SampleSeries: recentCapacity must be an integer >= 1, got ${recentCapacity}`,
        { recentCapacity },
      );
    }
    this.#ring = new Float64Array(recentCapacity);
  }

  /** Samples pushed (finite ones). */
  get n(): number {
    return this.#n;
  }

  /** Size of the ring: the most samples `recent()` looks at. */
  get recentCapacity(): number {
    return this.#ring.length;
  }

  /** Numbers this series holds (ring slots + histogram buckets): fixed at construction, independent of `n`. */
  get retained(): number {
    return this.#ring.length + this.#pos.length + this.#neg.length + 1;
  }

  /** The latest sample; NaN before the first. */
  get last(): number {
    if (this.#n === 0) return Number.NaN;
    return this.#ring[(this.#head - 1 + this.#ring.length) % this.#ring.length] as number;
  }

  push(v: number): void {
    if (!Number.isFinite(v)) return;
    this.#ring[this.#head] = v;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#n += 1;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
    const abs = Math.abs(v);
    if (abs < MIN_ABS_MS) {
      this.#zero += 1;
      return;
    }
    const counts = v > 0 ? this.#pos : this.#neg;
    const i = bucketOf(abs);
    counts[i] = (counts[i] as number) + 1;
  }

  /** The last `count` samples (at most `recentCapacity`, at most `n`), oldest first. */
  tail(count = this.#ring.length): number[] {
    const cap = this.#ring.length;
    const k = Math.max(0, Math.min(Math.floor(count), cap, this.#n));
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) out[i] = this.#ring[(this.#head - k + i + cap) % cap] as number;
    return out;
  }

  /** Exact percentiles over the last `window` samples (clamped to `recentCapacity`). */
  recent(window: number): Percentiles {
    return exactPercentiles(this.tail(window));
  }

  /** Run-long percentiles: exact while `n <= recentCapacity`, else from the histogram (see the class comment). */
  summary(): Percentiles {
    const n = this.#n;
    if (n <= this.#ring.length) return exactPercentiles(this.tail(n));
    const ranks = [rankOf(n, 0.5), rankOf(n, 0.9), rankOf(n, 0.99)];
    const found: number[] = [];
    // Walk the buckets in ascending value order (most negative first), reporting the bucket that holds each rank.
    let seen = 0;
    const visit = (count: number, value: number): void => {
      if (count === 0) return;
      seen += count;
      while (found.length < ranks.length && (ranks[found.length] as number) < seen) found.push(value);
    };
    for (let i = BUCKETS - 1; i >= 0 && found.length < ranks.length; i--) {
      visit(this.#neg[i] as number, -bucketValue(i));
    }
    visit(this.#zero, 0);
    for (let i = 0; i < BUCKETS && found.length < ranks.length; i++)
      visit(this.#pos[i] as number, bucketValue(i));
    const clamp = (v: number | undefined): number =>
      Math.min(this.#max, Math.max(this.#min, v ?? Number.NaN));
    return {
      p50: clamp(found[0]),
      p90: clamp(found[1]),
      p99: clamp(found[2]),
      max: this.#max,
      mean: this.#sum / n,
      n,
    };
  }
}

/**
 * Percentiles (p50/p90/p99 at rank `min(n - 1, floor(q * n))`), max, mean and count. An array: exact, over all of
 * it. A {@link SampleSeries}: its run-long summary (exact for short series, within 1% for long ones).
 */
export function percentiles(values: readonly number[] | SampleSeries): Percentiles {
  return values instanceof SampleSeries ? values.summary() : exactPercentiles(values);
}

export interface LoopStatsOptions {
  /** Ring size of the per-step series (period, jitter, getAction time). Default 4096 (82 s at 50 Hz). */
  recentCapacity?: number;
}

export class LoopStats {
  /** Each step's period (ms; the first step of each episode has none). */
  readonly periods: SampleSeries;
  /** Each step's wake-up lateness (ms). */
  readonly jitters: SampleSeries;
  /** Each step's `getAction` time (ms): the broker, including any blocking inference. */
  readonly actMs: SampleSeries;
  /** Latency of each chunk that came into use (ms; async broker only). */
  readonly chunkLatencies: SampleSeries;
  /** Completed stalls (ms; async broker only). */
  readonly stalls: SampleSeries;
  episode = 0;
  step = 0;
  steps = 0;
  overruns = 0;
  /** Chunks the async broker dropped because all their rows were in the past (`chunk-dropped`, stale). */
  staleChunks = 0;

  constructor({ recentCapacity = 4096 }: LoopStatsOptions = {}) {
    this.periods = new SampleSeries({ recentCapacity });
    this.jitters = new SampleSeries({ recentCapacity });
    this.actMs = new SampleSeries({ recentCapacity });
    // One sample per chunk (about 2 per second at 50 Hz, horizon 25): a smaller ring covers minutes.
    this.chunkLatencies = new SampleSeries({ recentCapacity: 1024 });
    this.stalls = new SampleSeries({ recentCapacity: 1024 });
  }

  onStep(s: StepTelemetry): void {
    this.episode = s.episode;
    this.step = s.step;
    this.steps += 1;
    this.periods.push(s.periodMs); // NaN on an episode's first step: ignored
    this.jitters.push(s.jitterMs);
    this.actMs.push(s.actMs);
  }

  onBroker(e: AsyncBrokerEvent): void {
    if (e.type === 'chunk') this.chunkLatencies.push(e.latencyMs);
    else if (e.type === 'stall-end') this.stalls.push(e.durationMs);
    else if (e.type === 'chunk-dropped') this.staleChunks += 1;
  }

  /**
   * Exact percentiles over the last `window` samples: of a series (at most its `recentCapacity` samples), or of
   * an array.
   */
  recent(values: readonly number[] | SampleSeries, window = 250): Percentiles {
    return values instanceof SampleSeries ? values.recent(window) : exactPercentiles(values.slice(-window));
  }
}
