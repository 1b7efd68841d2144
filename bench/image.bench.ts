/**
 * resizeWithPad of four 480x640 camera frames to 224x224 (one control tick of a 4-camera robot): ours (bit-exact
 * Pillow port, synchronous) vs openpi's image_tools.resize_with_pad in Python (same frames, timed in the .venv
 * interpreter in this same run) vs the approximate sharp path. Also prints how far sharp lands from the exact bytes.
 *
 * The exact path and Python are timed in alternating rounds (ROUNDS x ITERATIONS / ROUNDS calls each), so load
 * from other jobs on a shared machine falls on both sides alike; the note adds the speed ratio of the fastest calls.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { NDArray } from '../packages/client/src/index.js';
import { resizeWithPad, resizeWithPadSharp } from '../packages/client/src/node/index.js';
import { measure, printTable, summarize } from './lib.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const script = join(root, 'test', 'python', 'openpi_image_ref.py');

export async function run(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'openpi-image-bench-'));
  let frames: NDArray<'uint8'>;
  try {
    execFileSync(python, [script, 'frames', join(dir, 'frames.bin')]);
    const buf = readFileSync(join(dir, 'frames.bin'));
    frames = { dtype: 'uint8', shape: [4, 480, 640, 3], data: new Uint8Array(buf) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const iterations = 100;
  const rounds = 5;
  const ours: number[] = [];
  const theirs: number[] = [];
  let pillow = '';
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < (round === 0 ? 20 : 3); i++) resizeWithPad(frames, 224, 224);
    for (let i = 0; i < iterations / rounds; i++) {
      const t0 = performance.now();
      resizeWithPad(frames, 224, 224);
      ours.push(performance.now() - t0);
    }
    const py = JSON.parse(
      execFileSync(python, [script, 'bench', String(iterations / rounds)], { encoding: 'utf8' }),
    ) as {
      samples_ms: number[];
      pillow: string;
    };
    theirs.push(...py.samples_ms);
    pillow = py.pillow;
  }
  const exact = summarize('ours exact (pillow-bilinear)', ours);
  const sharpStats = await measure('sharp linear (approximate)', () => resizeWithPadSharp(frames, 224, 224), {
    warmup: 10,
    iterations,
  });
  const openpi = summarize('openpi resize_with_pad (Python)', theirs, `Pillow ${pillow}`);

  const a = resizeWithPad(frames, 224, 224) as NDArray<'uint8'>;
  const b = (await resizeWithPadSharp(frames, 224, 224)) as NDArray<'uint8'>;
  let max = 0;
  let differing = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    if (d > 0) differing++;
    if (d > max) max = d;
  }
  const best = (xs: number[]): number => Math.min(...xs);
  // The ratio column is time (ours / openpi); the note gives speed (openpi / ours), at p50 and for the fastest calls.
  exact.note =
    `bit-exact with openpi; speed vs openpi ${(openpi.p50 / exact.p50).toFixed(2)}x at p50, ` +
    `${(best(theirs) / best(ours)).toFixed(2)}x fastest calls (${best(ours).toFixed(2)} vs ${best(theirs).toFixed(2)} ms)`;
  sharpStats.note = `max |diff| vs exact ${max}, ${((100 * differing) / a.data.length).toFixed(1)}% values differ`;
  return [
    printTable(
      'resizeWithPad: 4 x 480x640 uint8 frames -> 224x224 (one 4-camera control tick)',
      [openpi, exact, sharpStats],
      'openpi resize_with_pad (Python)',
    ),
  ];
}
