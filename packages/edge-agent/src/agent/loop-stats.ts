/**
 * Running statistics of the control loop, fed from the runtime's telemetry: loop period and wake-up jitter
 * (ms, p50/p99 over a sliding window and over the whole run), and the policy's chunk latencies and stalls.
 */
import type { AsyncBrokerEvent } from '@openpi-edge/client';
import type { StepTelemetry } from '@openpi-edge/runtime';

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

/** Percentiles, max and mean of a sample set (ms); NaN when empty. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  n: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  return {
    p50: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    p99: quantile(values, 0.99),
    max: values.length === 0 ? Number.NaN : values.reduce((a, b) => Math.max(a, b), -Infinity),
    mean: values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length,
    n: values.length,
  };
}

export class LoopStats {
  /** Every step's period (ms; the first step of each episode has none). */
  readonly periods: number[] = [];
  /** Every step's wake-up lateness (ms). */
  readonly jitters: number[] = [];
  /** Every step's `getAction` time (ms): the broker, including any blocking inference. */
  readonly actMs: number[] = [];
  /** Latency of each chunk that came into use (ms; async broker only). */
  readonly chunkLatencies: number[] = [];
  /** Completed stalls (ms; async broker only). */
  readonly stalls: number[] = [];
  episode = 0;
  step = 0;
  steps = 0;
  overruns = 0;

  onStep(s: StepTelemetry): void {
    this.episode = s.episode;
    this.step = s.step;
    this.steps += 1;
    if (Number.isFinite(s.periodMs)) this.periods.push(s.periodMs);
    this.jitters.push(s.jitterMs);
    this.actMs.push(s.actMs);
  }

  onBroker(e: AsyncBrokerEvent): void {
    if (e.type === 'chunk') this.chunkLatencies.push(e.latencyMs);
    if (e.type === 'stall-end') this.stalls.push(e.durationMs);
  }

  /** Percentiles over the last `window` samples. */
  recent(values: readonly number[], window = 250): Percentiles {
    return percentiles(values.slice(-window));
  }
}
