/** Loads vectors.json (written by test/python/transform_vectors.py) and compares float64 results. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** Repo root (four levels above this file). */
export const REPO_ROOT = join(here, '..', '..', '..', '..');
export const TOKENIZER_DIR = join(here, '..', 'fixtures', 'tokenizer');

type Json = number | string | boolean | null | Json[] | { [k: string]: Json };

/** JSON with "NaN" / "Infinity" / "-Infinity" strings turned back into numbers. */
function revive(_key: string, v: Json): Json | number {
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return v;
}

// biome-ignore lint/suspicious/noExplicitAny: test vectors are loosely typed JSON
export const V: any = JSON.parse(readFileSync(join(here, 'vectors.json'), 'utf8'), revive);

/** A nested list of numbers flattened (row-major). */
export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}

/**
 * Element-wise comparison. Default: bit-identical float64 (NaN equals NaN, +0 and -0 distinguished).
 * `atol`: absolute tolerance, for results of libm functions (V8's fdlibm `Math.asin` can differ from glibc's
 * by 1 ulp).
 */
export function expectF64(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 0): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Object.is(a, e)) continue;
    if (atol > 0 && Number.isFinite(e) && Math.abs(a - e) <= atol) continue;
    bad.push(`[${i}] got ${a} want ${e}`);
  }
  expect(bad.slice(0, 5)).toEqual([]);
}
