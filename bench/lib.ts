/**
 * Benchmark helpers: every benchmark measures its contenders in the same process run, one after the other,
 * and prints a table whose `ratio` column is each row's median divided by the group's baseline median.
 */
import { performance } from 'node:perf_hooks';
import { ndarray } from '../packages/client/src/ndarray.js';
import type { Obs } from '../packages/client/src/policy.js';

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
  return printMarkdownTable(title, header, body);
}

/** Prints a markdown table (columns padded to their widths) under a `### title` heading; returns the text. */
export function printMarkdownTable(title: string, header: string[], body: string[][]): string {
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

/** openpi's ALOHA camera names, in make_aloha_example's order. */
export const ALOHA_CAMERAS = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'] as const;

/**
 * make_aloha_example-shaped observation (4 uint8 CHW 224x224 cameras, float32[14] state, a prompt; ~0.6 MB packed)
 * with deterministic pseudo-random pixels (xorshift32 from `seed`).
 */
export function alohaObservation(seed: number): Obs {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const images: Obs = {};
  for (const cam of ALOHA_CAMERAS) {
    const data = new Uint8Array(3 * 224 * 224);
    for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
    images[cam] = ndarray('uint8', [3, 224, 224], data);
  }
  const state = Float32Array.from({ length: 14 }, () => next() / 2 ** 31 - 1);
  return { state: ndarray('float32', [14], state), images, prompt: 'do something' };
}
