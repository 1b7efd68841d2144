/**
 * Reads a LeRobot v2.1 dataset (ours, or one lerobot wrote with state / action vectors and mp4 videos) for
 * `edge-agent replay`: the meta files, each episode's parquet (lerobot-parquet.ts) and its camera frames decoded by
 * ffmpeg (mp4-video.ts), in step order. BAD_DATASET names the file and what is wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { CameraFrame } from '../io/cameras/camera-source.js';
import {
  ACTION_KEY,
  CODEBASE_VERSION,
  type DatasetInfo,
  dataPath,
  EPISODES_PATH,
  INFO_PATH,
  STATE_KEY,
  TASKS_PATH,
  videoKey,
  videoPath,
} from './lerobot-format.js';
import { decodeEpisodeParquet, type EpisodeTable } from './lerobot-parquet.js';
import { decodeMp4 } from './mp4-video.js';

const VIDEO_PREFIX = 'observation.images.';

export interface DatasetEpisodeMeta {
  readonly index: number;
  readonly tasks: readonly string[];
  readonly length: number;
}

/** One episode: its rows, and its camera frames on demand. */
export interface DatasetEpisode extends DatasetEpisodeMeta {
  readonly fps: number;
  readonly joints: readonly string[];
  readonly cameras: readonly string[];
  readonly table: EpisodeTable;
  /**
   * Every camera's frame of step `step` (rgb8). Efficient in increasing step order (one ffmpeg decoder per camera
   * reading forward); an earlier step restarts the decoders.
   */
  frameAt(step: number): Promise<Readonly<Record<string, CameraFrame>>>;
  /** Stops the decoders. */
  close(): Promise<void>;
}

function bad(root: string, file: string, message: string, field?: string): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_DATASET', `${join(root, file)}: ${message}`, {
    root,
    file,
    ...(field === undefined ? {} : { field }),
  });
}

class CameraDecoder {
  #gen: AsyncGenerator<Uint8Array> | null = null;
  #next = 0;
  #current: CameraFrame | null = null;

  constructor(
    readonly file: string,
    readonly width: number,
    readonly height: number,
  ) {}

  async frameAt(step: number): Promise<CameraFrame> {
    if (this.#gen === null || step < this.#next - 1) {
      await this.#gen?.return(undefined);
      this.#gen = decodeMp4(this.file, this.width, this.height);
      this.#next = 0;
      this.#current = null;
    }
    while (this.#next <= step) {
      const r = await this.#gen.next();
      if (r.done === true) {
        throw new OpenpiEdgeError(
          'BAD_DATASET',
          `${this.file}: video ends at frame ${this.#next}, step ${step} asked`,
          {
            file: this.file,
            step,
          },
        );
      }
      this.#current = {
        stampMs: 0,
        seq: this.#next,
        encoding: 'rgb8',
        width: this.width,
        height: this.height,
        step: this.width * 3,
        data: r.value,
      };
      this.#next += 1;
    }
    return this.#current as CameraFrame;
  }

  async close(): Promise<void> {
    await this.#gen?.return(undefined);
    this.#gen = null;
  }
}

export class LeRobotDatasetReader {
  readonly root: string;
  readonly info: DatasetInfo;
  readonly episodes: readonly DatasetEpisodeMeta[];
  readonly joints: readonly string[];
  readonly cameras: readonly string[];

  private constructor(root: string, info: DatasetInfo, episodes: DatasetEpisodeMeta[]) {
    this.root = root;
    this.info = info;
    this.episodes = episodes;
    const state = info.features[STATE_KEY];
    if (state === undefined || info.features[ACTION_KEY] === undefined) {
      throw bad(root, INFO_PATH, `features need ${STATE_KEY} and ${ACTION_KEY}`, 'features');
    }
    const dim = state.shape[0] ?? 0;
    this.joints =
      state.names?.length === dim ? [...state.names] : Array.from({ length: dim }, (_, i) => `joint_${i}`);
    this.cameras = Object.entries(info.features)
      .filter(([k, f]) => k.startsWith(VIDEO_PREFIX) && f.dtype === 'video')
      .map(([k]) => k.slice(VIDEO_PREFIX.length));
  }

  /** Opens `root`; BAD_DATASET when it is not a LeRobot v2.x dataset with state and action. */
  static open(root: string): LeRobotDatasetReader {
    const infoFile = join(root, INFO_PATH);
    if (!existsSync(infoFile)) throw bad(root, INFO_PATH, 'not found: not a LeRobot dataset folder');
    let info: DatasetInfo;
    try {
      info = JSON.parse(readFileSync(infoFile, 'utf8')) as DatasetInfo;
    } catch (e) {
      throw bad(root, INFO_PATH, `not JSON (${(e as Error).message})`);
    }
    if (info.codebase_version !== CODEBASE_VERSION && info.codebase_version !== 'v2.0') {
      throw bad(
        root,
        INFO_PATH,
        `codebase_version ${String(info.codebase_version)}: only v2.0 / v2.1 are read`,
        'codebase_version',
      );
    }
    const episodes: DatasetEpisodeMeta[] = [];
    const file = join(root, EPISODES_PATH);
    if (existsSync(file)) {
      for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
        if (line.trim() === '') continue;
        let r: { episode_index?: unknown; tasks?: unknown; length?: unknown };
        try {
          r = JSON.parse(line) as typeof r;
        } catch {
          throw bad(root, EPISODES_PATH, `line ${i + 1} is not JSON`);
        }
        if (typeof r.episode_index !== 'number' || typeof r.length !== 'number') {
          throw bad(root, EPISODES_PATH, `line ${i + 1} lacks episode_index / length`);
        }
        if (r.episode_index >= info.total_episodes) continue; // past the committed totals
        episodes.push({
          index: r.episode_index,
          tasks: Array.isArray(r.tasks) ? r.tasks.map(String) : [],
          length: r.length,
        });
      }
    }
    if (episodes.length === 0) throw bad(root, EPISODES_PATH, 'no episodes');
    return new LeRobotDatasetReader(root, info, episodes);
  }

  /** The tasks by index (meta/tasks.jsonl). */
  tasks(): Map<number, string> {
    const out = new Map<number, string>();
    const file = join(this.root, TASKS_PATH);
    if (!existsSync(file)) return out;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const r = JSON.parse(line) as { task_index: number; task: string };
      out.set(r.task_index, r.task);
    }
    return out;
  }

  /** Loads episode `index` (its parquet now, its frames on demand). */
  episode(index: number): DatasetEpisode {
    const meta = this.episodes.find((e) => e.index === index);
    if (meta === undefined) {
      throw bad(
        this.root,
        EPISODES_PATH,
        `no episode ${index} (episodes ${this.episodes.map((e) => e.index).join(', ')})`,
      );
    }
    const rel = dataPath(index);
    const abs = join(this.root, rel);
    if (!existsSync(abs)) throw bad(this.root, rel, 'missing');
    const table = decodeEpisodeParquet(new Uint8Array(readFileSync(abs)), abs);
    if (table.length !== meta.length) {
      throw bad(this.root, rel, `${table.length} rows, episodes.jsonl says ${meta.length}`);
    }
    if (table.dim !== this.joints.length) {
      throw bad(this.root, rel, `${table.dim} values per state, info.json says ${this.joints.length}`);
    }
    const decoders = new Map<string, CameraDecoder>();
    for (const c of this.cameras) {
      const f = this.info.features[videoKey(c)];
      const [h, w] = (f?.shape ?? []) as number[];
      const vrel = videoPath(index, videoKey(c));
      if (!existsSync(join(this.root, vrel))) throw bad(this.root, vrel, 'missing');
      decoders.set(c, new CameraDecoder(join(this.root, vrel), w ?? 0, h ?? 0));
    }
    return {
      ...meta,
      fps: this.info.fps,
      joints: this.joints,
      cameras: this.cameras,
      table,
      async frameAt(step) {
        if (!(step >= 0 && step < meta.length)) {
          throw new OpenpiEdgeError(
            'BAD_ARGUMENT',
            `episode ${index}: step ${step} outside 0..${meta.length - 1}`,
            {
              episode: index,
              step,
            },
          );
        }
        const out: Record<string, CameraFrame> = {};
        for (const [c, d] of decoders) out[c] = await d.frameAt(step);
        return out;
      },
      async close() {
        await Promise.all([...decoders.values()].map((d) => d.close()));
      },
    };
  }
}
