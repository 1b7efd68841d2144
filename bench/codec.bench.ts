/**
 * msgpack-numpy encode + decode of one ALOHA observation (4 uint8 CHW 224x224 images, float32[14] state, prompt;
 * ~0.6 MB on the wire), side by side in one run:
 * - a plain copy of the encoded message bytes into a preallocated buffer (the physical limit: encoding must copy
 *   the payload once), and the same with a fresh allocation;
 * - our packNumpy + unpackNumpy (decode views array data in place), also with `copy: true`, and each half alone;
 * - openpi's Python msgpack_numpy.packb + unpackb on the same payload (samples from a Python child process).
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packNumpy, unpackNumpy } from '../packages/client/src/msgpack-numpy.js';
import { ndarray, zeros } from '../packages/client/src/ndarray.js';
import type { Obs } from '../packages/client/src/policy.js';
import { measure, printTable, summarize } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const ITERATIONS = 300;
const WARMUP = 30;

const PY_BENCH = `
import json, sys, time
import numpy as np
from openpi_client import msgpack_numpy
n, warmup = int(sys.argv[1]), int(sys.argv[2])
obs = {
    "state": (np.cos(np.arange(14)) * 0.7).astype(np.float32),
    "images": {c: ((np.arange(3 * 224 * 224) * (7 + i)) % 256).astype(np.uint8).reshape(3, 224, 224)
               for i, c in enumerate(["cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist"])},
    "prompt": "fold the towel",
}
samples = []
for i in range(warmup + n):
    t0 = time.perf_counter()
    msgpack_numpy.unpackb(msgpack_numpy.packb(obs))
    if i >= warmup:
        samples.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"samples_ms": samples, "bytes": len(msgpack_numpy.packb(obs))}))
`;

function alohaObservation(): Obs {
  const images: Obs = {};
  ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'].forEach((cam, c) => {
    const img = zeros('uint8', [3, 224, 224]);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * (7 + c)) % 256;
    images[cam] = img;
  });
  const state = ndarray(
    'float32',
    [14],
    Float32Array.from({ length: 14 }, (_, i) => Math.cos(i) * 0.7),
  );
  return { state, images, prompt: 'fold the towel' };
}

export async function run(): Promise<string[]> {
  const obs = alohaObservation();
  const msg = packNumpy(obs);
  const opts = { iterations: ITERATIONS, warmup: WARMUP };
  let sink = 0;
  const dst = new Uint8Array(msg.length);
  const rows = [
    await measure(
      'memcpy of the message bytes',
      () => {
        dst.set(msg);
        sink += dst[7] ?? 0;
      },
      opts,
    ),
    await measure(
      'allocate + copy (new Uint8Array)',
      () => {
        sink += new Uint8Array(msg)[7] ?? 0;
      },
      opts,
    ),
    await measure(
      'packNumpy + unpackNumpy (ours)',
      () => {
        sink += (unpackNumpy(packNumpy(obs)) as Obs).prompt === 'x' ? 1 : 0;
      },
      opts,
    ),
    await measure(
      'packNumpy + unpackNumpy copy:true',
      () => {
        sink += (unpackNumpy(packNumpy(obs), { copy: true }) as Obs).prompt === 'x' ? 1 : 0;
      },
      opts,
    ),
    await measure(
      'packNumpy only',
      () => {
        sink += packNumpy(obs).length;
      },
      opts,
    ),
    await measure(
      'unpackNumpy only (views)',
      () => {
        sink += (unpackNumpy(msg) as Obs).prompt === 'x' ? 1 : 0;
      },
      opts,
    ),
  ];
  const py = JSON.parse(
    execFileSync(python, ['-c', PY_BENCH, String(ITERATIONS), String(WARMUP)], { encoding: 'utf8' }),
  ) as { samples_ms: number[]; bytes: number };
  const same = py.bytes === msg.length ? 'same size as ours' : `SIZE DIFFERS: ours ${msg.length}`;
  rows.push(summarize('openpi packb + unpackb (Python)', py.samples_ms, `${py.bytes} B, ${same}`));
  if (sink === -1) console.log(sink);
  return [
    printTable(
      `msgpack-numpy encode+decode, ALOHA observation (${msg.length} bytes)`,
      rows,
      'memcpy of the message bytes',
    ),
  ];
}
