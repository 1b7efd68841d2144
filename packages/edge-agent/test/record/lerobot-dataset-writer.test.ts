/**
 * The LeRobot v2.1 writer (src/record/lerobot-dataset-writer.ts) read back by PyPI lerobot 0.3.3
 * (`LeRobotDataset(repo_id, root=dir)`, offline, pyav video backend): episodes, frames, tasks, every row's state,
 * action, indices and timestamp, and every decoded video frame against the image that was written (H.264 yuv420p is
 * lossy: a small mean error, and each frame closer to its own source than to its neighbours'). Also: appending
 * runs, repair of what a killed run leaves, and refusal to append a different robot.
 */
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOpenpiEdgeError } from '@openpi-edge/client';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../../test/mulberry32.js';
import { LeRobotDatasetReader } from '../../src/record/lerobot-dataset-reader.js';
import {
  LeRobotDatasetWriter,
  type LeRobotWriterOptions,
  type RowImage,
} from '../../src/record/lerobot-dataset-writer.js';
import { dataPath, EPISODES_PATH, INFO_PATH } from '../../src/record/lerobot-format.js';
import { decodeEpisodeParquet } from '../../src/record/lerobot-parquet.js';
import { lerobotRead } from './lerobot-check.js';

const JOINTS = ['waist', 'shoulder', 'elbow', 'gripper'];
const CAMERAS = ['cam_high', 'cam_wrist'];
const W = 64;
const H = 48;
const work = mkdtempSync(join(tmpdir(), 'lerobot-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A smooth test image that moves with `row` (so neighbouring frames differ) and differs per camera. */
function image(camera: number, row: number): RowImage {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      rgb[o] = Math.round(128 + 100 * Math.sin((x + 3 * row) / 7));
      rgb[o + 1] = Math.round(128 + 90 * Math.cos((y - 2 * row + 10 * camera) / 6));
      rgb[o + 2] = 40 + ((camera * 70 + row * 4) % 160);
    }
  }
  return { rgb, height: H, width: W };
}

interface Written {
  state: Float32Array;
  action: Float32Array;
  images: RowImage[];
  task: string;
}

function options(root: string, task: string, over: Partial<LeRobotWriterOptions> = {}): LeRobotWriterOptions {
  return { root, fps: 50, robotType: 'test_arm', joints: JOINTS, cameras: CAMERAS, task, ...over };
}

async function record(
  writer: LeRobotDatasetWriter,
  rows: number,
  seed: number,
  task: string,
  log: Written[],
): Promise<void> {
  const rnd = mulberry32(seed);
  for (let r = 0; r < rows; r++) {
    const state = Float32Array.from(JOINTS, () => rnd() * 2 - 1);
    const action = Float32Array.from(JOINTS, () => rnd() * 2 - 1);
    const images = CAMERAS.map((_, c) => image(c, log.length));
    await writer.addRow(state, action, { cam_high: images[0] as RowImage, cam_wrist: images[1] as RowImage });
    log.push({ state, action, images, task });
  }
}

function meanAbs(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs((a[i] as number) - (b[i] as number));
  return s / a.length;
}

describe('LeRobot v2.1 dataset writer, read by lerobot 0.3.3', () => {
  const root = join(work, 'ds');
  const log: Written[] = [];

  it('writes two episodes, then appends a third with another task; lerobot reads rows and frames back', async () => {
    const w1 = LeRobotDatasetWriter.open(options(root, 'pick up the cube'));
    await record(w1, 30, 1, 'pick up the cube', log);
    expect((await w1.endEpisode())?.frames).toBe(30);
    await record(w1, 20, 2, 'pick up the cube', log);
    const r1 = await w1.close();
    expect(r1.totalEpisodes).toBe(2);
    expect(r1.totalFrames).toBe(50);

    const w2 = LeRobotDatasetWriter.open(options(root, 'put it back'));
    expect(w2.info.total_episodes).toBe(2);
    await record(w2, 25, 3, 'put it back', log);
    const r2 = await w2.close();
    expect(r2.episodes).toEqual([expect.objectContaining({ episode: 2, frames: 25 })]);
    expect(r2.totalFrames).toBe(75);

    // our own reader of the parquet agrees with what was written (the replay path uses it)
    const t = decodeEpisodeParquet(readFileSync(join(root, dataPath(1))), dataPath(1));
    expect(t.length).toBe(20);
    expect(Array.from(t.index.slice(0, 2), Number)).toEqual([30, 31]);
    expect(Array.from(t.state.subarray(0, 4))).toEqual(Array.from((log[30] as Written).state));

    const view = await lerobotRead(root, work, true);
    expect(view.codebase_version).toBe('v2.1');
    expect(view.episodes).toBe(3);
    expect(view.frames).toBe(75);
    expect(view.fps).toBe(50);
    expect(view.lengths).toEqual([30, 20, 25]);
    expect(view.tasks).toEqual({ 0: 'pick up the cube', 1: 'put it back' });
    expect(view.cameras).toEqual(['observation.images.cam_high', 'observation.images.cam_wrist']);
    expect(view.camera_shapes['observation.images.cam_high']).toEqual([H, W, 3]);
    expect(view.stats_keys).toContain('observation.images.cam_high');
    expect(view.rows).toHaveLength(75);
    const starts = [0, 30, 50];
    view.rows.forEach((row, i) => {
      const ep = i < 30 ? 0 : i < 50 ? 1 : 2;
      const w = log[i] as Written;
      expect(row.index).toBe(i);
      expect(row.episode_index).toBe(ep);
      expect(row.frame_index).toBe(i - (starts[ep] as number));
      expect(row.timestamp).toBeCloseTo(row.frame_index / 50, 6);
      expect(row.task).toBe(w.task);
      expect(row.state).toEqual(Array.from(w.state));
      expect(row.action).toEqual(Array.from(w.action));
    });
    const images = view.images as Uint8Array;
    const frameBytes = W * H * 3;
    expect(images.length).toBe(75 * CAMERAS.length * frameBytes);
    const decoded = (i: number, c: number): Uint8Array =>
      images.subarray((i * CAMERAS.length + c) * frameBytes, (i * CAMERAS.length + c + 1) * frameBytes);
    let worst = 0;
    let total = 0;
    for (let i = 0; i < 75; i++) {
      for (let c = 0; c < CAMERAS.length; c++) {
        const own = meanAbs(decoded(i, c), ((log[i] as Written).images[c] as RowImage).rgb);
        worst = Math.max(worst, own);
        total += own;
        for (const j of [i - 1, i + 1]) {
          const other = log[j];
          if (other === undefined || other.task !== (log[i] as Written).task) continue;
          expect(own, `row ${i} camera ${c} vs row ${j}`).toBeLessThan(
            meanAbs(decoded(i, c), (other.images[c] as RowImage).rgb),
          );
        }
      }
    }
    // H.264 at crf 23 with 4:2:0 chroma on a 64x48 image of saturated colours: measured mean 5.2, worst 6.1 (of 255)
    const mean = total / (75 * CAMERAS.length);
    console.log(
      `decoded vs written: mean abs error ${mean.toFixed(2)}, worst frame ${worst.toFixed(2)} (0-255)`,
    );
    expect(mean).toBeLessThan(6);
    expect(worst).toBeLessThan(9);
  }, 300_000);

  it('LeRobotDatasetReader reads the rows and frames back (the replay input)', async () => {
    const reader = LeRobotDatasetReader.open(root);
    expect(reader.episodes.map((e) => e.length)).toEqual([30, 20, 25]);
    expect(reader.joints).toEqual(JOINTS);
    expect(reader.cameras).toEqual(CAMERAS);
    expect(reader.tasks().get(1)).toBe('put it back');
    const ep = reader.episode(1);
    try {
      expect(Array.from(ep.table.action.subarray(4 * 3, 4 * 4))).toEqual(
        Array.from((log[33] as Written).action),
      );
      for (const step of [0, 5, 6, 2]) {
        const frames = await ep.frameAt(step);
        const f = frames.cam_wrist;
        expect(f?.encoding).toBe('rgb8');
        const own = meanAbs(f?.data as Uint8Array, ((log[30 + step] as Written).images[1] as RowImage).rgb);
        expect(own).toBeLessThan(9);
        expect(own).toBeLessThan(
          meanAbs(f?.data as Uint8Array, ((log[30 + step + 1] as Written).images[1] as RowImage).rgb),
        );
      }
    } finally {
      await ep.close();
    }
    expect(() => LeRobotDatasetReader.open(join(work, 'nothing-here'))).toThrow(
      /meta\/info\.json: not found/,
    );
  }, 60_000);

  it('an episode left open by a killed process, and files past the totals, are removed when the dataset is opened again', async () => {
    const w = LeRobotDatasetWriter.open(options(root, 'put it back'));
    await record(w, 10, 4, 'put it back', []);
    // no endEpisode: as if the process died. Its staging folder is there:
    expect(existsSync(join(root, '.staging'))).toBe(true);
    // and as if one died between moving an episode's parquet in and committing info.json:
    copyFileSync(join(root, dataPath(2)), join(root, dataPath(3)));
    appendFileSync(
      join(root, EPISODES_PATH),
      '{"episode_index": 3, "tasks": ["put it back"], "length": 25}\n{"episo',
    );
    const reopened = LeRobotDatasetWriter.open(options(root, 'put it back'));
    expect(reopened.repaired).toEqual(
      expect.arrayContaining(['.staging', expect.stringMatching(/^meta\/episodes\.jsonl/), dataPath(3)]),
    );
    expect(existsSync(join(root, dataPath(3)))).toBe(false);
    await reopened.close();
    const view = await lerobotRead(root, work);
    expect(view.episodes).toBe(3);
    expect(view.frames).toBe(75);
    expect(view.rows.map((r) => r.index)).toEqual(Array.from({ length: 75 }, (_, i) => i));
  }, 300_000);

  it('refuses to append a run with other joints, cameras or fps (BAD_DATASET naming the difference)', () => {
    const refused = (over: Partial<LeRobotWriterOptions>): string => {
      try {
        LeRobotDatasetWriter.open(options(root, 'x', over));
      } catch (e) {
        expect(isOpenpiEdgeError(e, 'BAD_DATASET')).toBe(true);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused({ joints: ['a', 'b', 'c', 'd'] })).toMatch(/observation\.state names/);
    expect(refused({ cameras: ['cam_high'] })).toMatch(
      /observation\.images\.cam_wrist is in the dataset but not recorded/,
    );
    expect(refused({ fps: 30 })).toMatch(/fps 50, this run records at 30 Hz/);
    expect(JSON.parse(readFileSync(join(root, INFO_PATH), 'utf8')).total_episodes).toBe(3);
  });
});
