/**
 * The live status line: one line rewritten in place on a TTY (`\r`), or a plain line every few seconds otherwise
 * (logs, CI, tests). Content: episode and step, measured rate and jitter (p99 over the last 5 s), the policy
 * (chunks, latency, connection, stalls), the gate (holds, current faults) and the e-stop.
 */
import type { Percentiles } from './loop-stats.js';

/** Where the status goes: `process.stderr` or anything with `write` and an optional `isTTY`. */
export interface StatusSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface StatusSnapshot {
  episode: number;
  episodes: number;
  step: number;
  maxSteps: number;
  period: Percentiles;
  jitter: Percentiles;
  chunks: number;
  latencyMs: number;
  connection: string;
  stalls: number;
  holds: number;
  faults: readonly string[];
  estop: string | null;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

export function formatStatus(s: StatusSnapshot): string {
  const hz = s.period.p50 > 0 ? 1000 / s.period.p50 : Number.NaN;
  const steps = s.maxSteps > 0 ? `${s.step + 1}/${s.maxSteps}` : `${s.step + 1}`;
  const policy = s.connection === 'local' ? `chunks ${s.chunks}` : `${s.connection}, chunks ${s.chunks}`;
  const safety =
    s.estop !== null ? `E-STOP (${s.estop})` : s.faults.length > 0 ? `HOLD ${s.faults.join(',')}` : 'moving';
  return [
    `ep ${s.episode + 1}/${s.episodes} step ${steps}`,
    `${f1(hz)} Hz`,
    `jitter p99 ${f1(s.jitter.p99)} ms`,
    `${policy} (${f1(s.latencyMs)} ms)`,
    `stalls ${s.stalls}`,
    `holds ${s.holds}`,
    safety,
  ].join(' | ');
}

/** Prints snapshots from `snapshot()` every `intervalMs` (TTY) or every `max(intervalMs, 2000)` ms otherwise. */
export class StatusLine {
  readonly #sink: StatusSink;
  readonly #snapshot: () => StatusSnapshot | null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #width = 0;

  constructor(sink: StatusSink, snapshot: () => StatusSnapshot | null) {
    this.#sink = sink;
    this.#snapshot = snapshot;
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.#timer !== undefined) return;
    const period = this.#sink.isTTY === true ? intervalMs : Math.max(intervalMs, 2000);
    this.#timer = setInterval(() => this.print(), period);
    this.#timer.unref?.();
  }

  /** Prints one snapshot now. */
  print(): void {
    const s = this.#snapshot();
    if (s === null) return;
    const text = formatStatus(s);
    if (this.#sink.isTTY === true) {
      this.#sink.write(`\r${text.padEnd(this.#width)}`);
      this.#width = text.length;
    } else {
      this.#sink.write(`status: ${text}\n`);
    }
  }

  /** Stops and ends the in-place line (TTY). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#sink.isTTY === true && this.#width > 0) this.#sink.write('\n');
    this.#width = 0;
  }
}
