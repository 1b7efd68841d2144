/**
 * Runs test/python/lerobot_dataset_check.py (PyPI lerobot 0.3.3 in .venv-lerobot, scripts/lerobot-env.sh) on a
 * dataset and returns what lerobot read, with each row's decoded camera images when asked.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../agent/helpers.js';

export const LEROBOT_PY = resolve(REPO_ROOT, '.venv-lerobot/bin/python');
const CHECK = resolve(REPO_ROOT, 'test/python/lerobot_dataset_check.py');

export interface LerobotRow {
  episode_index: number;
  frame_index: number;
  index: number;
  task: string;
  timestamp: number;
  state: number[];
  action: number[];
}

export interface LerobotView {
  episodes: number;
  frames: number;
  fps: number;
  codebase_version: string;
  lengths: number[];
  tasks: Record<string, number>;
  cameras: string[];
  camera_shapes: Record<string, [number, number, number]>;
  stats_keys: string[];
  rows: LerobotRow[];
  /** With `frames`: row-major decoded images, cameras in `cameras` order, uint8 HWC each. */
  images: Uint8Array | null;
}

export function requireLerobot(): void {
  if (!existsSync(LEROBOT_PY)) throw new Error(`${LEROBOT_PY} missing: run scripts/lerobot-env.sh`);
}

/** lerobot's view of `root` (offline; HF caches under `work`). Rejects with lerobot's traceback when it fails. */
export async function lerobotRead(root: string, work: string, frames = false): Promise<LerobotView> {
  requireLerobot();
  const out = join(work, 'lerobot-view.json');
  const bin = join(work, 'lerobot-frames.bin');
  const args = [CHECK, root, out, ...(frames ? ['--frames', bin] : [])];
  await promisify(execFile)(LEROBOT_PY, args, {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 240_000,
    env: {
      ...process.env,
      HF_HUB_OFFLINE: '1',
      HF_DATASETS_OFFLINE: '1',
      HF_HOME: join(work, 'hf-home'),
      HF_DATASETS_CACHE: join(work, 'hf-datasets'),
      PYTHONWARNINGS: 'ignore',
    },
  });
  const view = JSON.parse(readFileSync(out, 'utf8')) as Omit<LerobotView, 'images'>;
  return { ...view, images: frames ? new Uint8Array(readFileSync(bin)) : null };
}
