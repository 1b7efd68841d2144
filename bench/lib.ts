/**
 * Benchmark helpers: every benchmark measures its contenders in the same process run, one after the other,
 * and prints a table whose `ratio` column is each row's median divided by the group's baseline median.
 */
import { performance } from 'node:perf_hooks';

export interface Stats {
  name: string;
  /** Milliseconds per iteration. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  iterations: number;
  note?: string;
}

export interface MeasureOptions {
  /** Untimed iterations first (JIT, caches). Default 20. */
  warmup?: number;
  /** Timed iterations. Default 200. */
  iterations?: number;
}

export function summarize(name: string, samplesMs: number[], note?: string): Stats {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return note === undefined
    ? { name, p50: q(0.5), p90: q(0.9), p99: q(0.99), mean, iterations: s.length }
    : { name, p50: q(0.5), p90: q(0.9), p99: q(0.99), mean, iterations: s.length, note };
}

/** Times `fn` (sync or async) per call. */
export async function measure(
  name: string,
  fn: () => unknown,
  { warmup = 20, iterations = 200 }: MeasureOptions = {},
): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return summarize(name, samples);
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(3) : ms.toFixed(4));

/** Prints rows with a ratio against the row named `baseline` (by p50). Returns the printed text. */
export function printTable(title: string, rows: Stats[], baseline: string): string {
  const base = rows.find((r) => r.name === baseline)?.p50 ?? Number.NaN;
  const header = ['contender', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ms', 'n', `ratio vs ${baseline}`, 'note'];
  const body = rows.map((r) => [
    r.name,
    fmt(r.p50),
    fmt(r.p90),
    fmt(r.p99),
    fmt(r.mean),
    String(r.iterations),
    `${(r.p50 / base).toFixed(2)}x`,
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const text = [
    `\n### ${title}\n`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
  console.log(text);
  return text;
}
