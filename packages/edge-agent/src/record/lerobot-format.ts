/**
 * The LeRobot v2.1 dataset layout (what openpi's pinned lerobot reads, and PyPI lerobot 0.3.3 reads and writes):
 *
 *   meta/info.json               codebase_version "v2.1", fps, features, totals, path templates
 *   meta/episodes.jsonl          {episode_index, tasks, length} per episode
 *   meta/episodes_stats.jsonl    {episode_index, stats: {feature: {min, max, mean, std, count}}} per episode
 *   meta/tasks.jsonl             {task_index, task}
 *   data/chunk-XXX/episode_XXXXXX.parquet        one row per frame
 *   videos/chunk-XXX/<video key>/episode_XXXXXX.mp4   one per camera per episode
 *
 * This module is pure (no I/O): names, templates, the feature table and the per-episode statistics, so the writer
 * (lerobot-dataset-writer.ts) and the reader (lerobot-dataset-reader.ts) agree by construction.
 */

export const CODEBASE_VERSION = 'v2.1';
/** Episodes per chunk folder (lerobot's DEFAULT_CHUNK_SIZE). */
export const CHUNKS_SIZE = 1000;
export const INFO_PATH = 'meta/info.json';
export const EPISODES_PATH = 'meta/episodes.jsonl';
export const EPISODES_STATS_PATH = 'meta/episodes_stats.jsonl';
export const TASKS_PATH = 'meta/tasks.jsonl';
export const DATA_PATH_TEMPLATE = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet';
export const VIDEO_PATH_TEMPLATE =
  'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4';

export const STATE_KEY = 'observation.state';
export const ACTION_KEY = 'action';
/** The video feature key of a camera: `observation.images.<camera>` (openpi's LeRobot ALOHA datasets' naming). */
export const videoKey = (camera: string): string => `observation.images.${camera}`;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const episodeChunk = (episode: number): number => Math.floor(episode / CHUNKS_SIZE);

/** `data/chunk-000/episode_000012.parquet` for episode 12. */
export function dataPath(episode: number): string {
  return `data/chunk-${pad(episodeChunk(episode), 3)}/episode_${pad(episode, 6)}.parquet`;
}

/** `videos/chunk-000/observation.images.cam_high/episode_000012.mp4` for episode 12. */
export function videoPath(episode: number, key: string): string {
  return `videos/chunk-${pad(episodeChunk(episode), 3)}/${key}/episode_${pad(episode, 6)}.mp4`;
}

export interface FeatureSpec {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly names: readonly string[] | null;
  /** Video features: how the mp4s are encoded (informational for lerobot's readers). */
  readonly info?: Readonly<Record<string, string | number | boolean>>;
}

/** meta/info.json. */
export interface DatasetInfo {
  codebase_version: string;
  robot_type: string | null;
  total_episodes: number;
  total_frames: number;
  total_tasks: number;
  total_videos: number;
  total_chunks: number;
  chunks_size: number;
  fps: number;
  splits: Record<string, string>;
  data_path: string;
  video_path: string | null;
  features: Record<string, FeatureSpec>;
}

/** The five per-frame bookkeeping columns every LeRobot dataset has (lerobot's DEFAULT_FEATURES). */
export const DEFAULT_FEATURES: Readonly<Record<string, FeatureSpec>> = {
  timestamp: { dtype: 'float32', shape: [1], names: null },
  frame_index: { dtype: 'int64', shape: [1], names: null },
  episode_index: { dtype: 'int64', shape: [1], names: null },
  index: { dtype: 'int64', shape: [1], names: null },
  task_index: { dtype: 'int64', shape: [1], names: null },
};

export interface CameraShape {
  readonly camera: string;
  readonly height: number;
  readonly width: number;
}

/** How the videos are encoded (written into each video feature's `info`). */
export interface VideoInfo {
  readonly codec: string;
  readonly pixFmt: string;
}

/**
 * The feature table of a recording: state and action (float32, one entry per joint, named by joint), one video per
 * camera, then the default columns. Order matters only for the parquet column order.
 */
export function buildFeatures(
  joints: readonly string[],
  cameras: readonly CameraShape[],
  fps: number,
  video: VideoInfo,
): Record<string, FeatureSpec> {
  const out: Record<string, FeatureSpec> = {
    [STATE_KEY]: { dtype: 'float32', shape: [joints.length], names: [...joints] },
    [ACTION_KEY]: { dtype: 'float32', shape: [joints.length], names: [...joints] },
  };
  for (const c of cameras) {
    out[videoKey(c.camera)] = {
      dtype: 'video',
      shape: [c.height, c.width, 3],
      names: ['height', 'width', 'channels'],
      info: {
        'video.height': c.height,
        'video.width': c.width,
        'video.codec': video.codec,
        'video.pix_fmt': video.pixFmt,
        'video.is_depth_map': false,
        'video.fps': fps,
        'video.channels': 3,
        has_audio: false,
      },
    };
  }
  return { ...out, ...DEFAULT_FEATURES };
}

export function emptyInfo(
  fps: number,
  robotType: string | null,
  features: Record<string, FeatureSpec>,
): DatasetInfo {
  const hasVideo = Object.values(features).some((f) => f.dtype === 'video');
  return {
    codebase_version: CODEBASE_VERSION,
    robot_type: robotType,
    total_episodes: 0,
    total_frames: 0,
    total_tasks: 0,
    total_videos: 0,
    total_chunks: 0,
    chunks_size: CHUNKS_SIZE,
    fps,
    splits: {},
    data_path: DATA_PATH_TEMPLATE,
    video_path: hasVideo ? VIDEO_PATH_TEMPLATE : null,
    features,
  };
}

/**
 * The `huggingface` schema metadata of an episode's parquet file: the HF `datasets` feature types of its columns
 * (fixed-length float32 sequences for state/action, scalar values for the rest; videos live in mp4s). `datasets`
 * restores the columns' feature types from it, as for files lerobot writes itself.
 */
export function huggingfaceMetadata(features: Readonly<Record<string, FeatureSpec>>): string {
  const hf: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(features)) {
    if (f.dtype === 'video' || f.dtype === 'image') continue;
    const value = { dtype: f.dtype, _type: 'Value' };
    hf[key] =
      f.shape.length === 1 && f.shape[0] === 1
        ? value
        : { feature: value, length: f.shape[0], _type: 'Sequence' };
  }
  return JSON.stringify({ info: { features: hf } });
}

/** Differences between a dataset's features and the ones a recording would write ("" = compatible). */
export function featureMismatch(
  existing: Readonly<Record<string, FeatureSpec>>,
  wanted: Readonly<Record<string, FeatureSpec>>,
): string {
  const problems: string[] = [];
  for (const key of new Set([...Object.keys(existing), ...Object.keys(wanted)])) {
    const a = existing[key];
    const b = wanted[key];
    if (a === undefined) problems.push(`${key} is not in the dataset`);
    else if (b === undefined) problems.push(`${key} is in the dataset but not recorded`);
    else if (a.dtype !== b.dtype) problems.push(`${key} dtype ${a.dtype} vs ${b.dtype}`);
    else if (a.shape.join('x') !== b.shape.join('x'))
      problems.push(`${key} shape [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
    else if (JSON.stringify(a.names) !== JSON.stringify(b.names))
      problems.push(`${key} names ${JSON.stringify(a.names)} vs ${JSON.stringify(b.names)}`);
  }
  return problems.join('; ');
}

export interface FeatureStats {
  min: number[] | number[][][];
  max: number[] | number[][][];
  mean: number[] | number[][][];
  std: number[] | number[][][];
  count: [number];
}

/**
 * Running per-dimension min / max / mean / population std (Welford) of a vector feature, as lerobot's
 * `get_feature_stats` computes them over an episode (axis 0).
 */
export class VectorStats {
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  readonly #mean: Float64Array;
  readonly #m2: Float64Array;
  #n = 0;

  constructor(readonly dim: number) {
    this.#min = new Float64Array(dim).fill(Number.POSITIVE_INFINITY);
    this.#max = new Float64Array(dim).fill(Number.NEGATIVE_INFINITY);
    this.#mean = new Float64Array(dim);
    this.#m2 = new Float64Array(dim);
  }

  get count(): number {
    return this.#n;
  }

  /** Adds the vector `v[offset .. offset + dim)`. */
  add(v: ArrayLike<number>, offset = 0): void {
    this.#n += 1;
    const n = this.#n;
    for (let i = 0; i < this.dim; i++) {
      const x = v[offset + i] as number;
      if (x < (this.#min[i] as number)) this.#min[i] = x;
      if (x > (this.#max[i] as number)) this.#max[i] = x;
      const d = x - (this.#mean[i] as number);
      this.#mean[i] = (this.#mean[i] as number) + d / n;
      this.#m2[i] = (this.#m2[i] as number) + d * (x - (this.#mean[i] as number));
    }
  }

  /** Stats as written to episodes_stats.jsonl. */
  toJSON(): FeatureStats {
    const n = Math.max(1, this.#n);
    return {
      min: Array.from(this.#min),
      max: Array.from(this.#max),
      mean: Array.from(this.#mean),
      std: Array.from(this.#m2, (m) => Math.sqrt(Math.max(0, m / n))),
      count: [this.#n],
    };
  }
}

/** Stats of a column of `values.length / dim` rows of `dim` values each (row-major). */
export function columnStats(values: ArrayLike<number>, dim: number): FeatureStats {
  const s = new VectorStats(dim);
  for (let o = 0; o + dim <= values.length; o += dim) s.add(values, o);
  return s.toJSON();
}

/**
 * Per-channel stats of one camera's frames, normalized to [0, 1] and shaped [3, 1, 1] (lerobot's image stats). Each
 * frame is subsampled with lerobot's stride rule (`auto_downsample_height_width`: frames 300 px or larger are
 * strided down to about 150 px) and every added frame counts (lerobot samples up to ~100 frames per episode; the
 * statistic is the same, estimated from more frames).
 */
export class ImageStats {
  readonly #min = [255, 255, 255];
  readonly #max = [0, 0, 0];
  readonly #sum = [0, 0, 0];
  readonly #sumSq = [0, 0, 0];
  #pixels = 0;
  #frames = 0;

  /** `rgb`: packed [height, width, 3] uint8. */
  add(rgb: Uint8Array, height: number, width: number): void {
    const stride = Math.max(height, width) < 300 ? 1 : Math.max(1, Math.floor(Math.max(height, width) / 150));
    const min = this.#min;
    const max = this.#max;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let q0 = 0;
    let q1 = 0;
    let q2 = 0;
    let n = 0;
    for (let y = 0; y < height; y += stride) {
      let o = y * width * 3;
      for (let x = 0; x < width; x += stride, o += 3 * stride) {
        const r = rgb[o] as number;
        const g = rgb[o + 1] as number;
        const b = rgb[o + 2] as number;
        s0 += r;
        s1 += g;
        s2 += b;
        q0 += r * r;
        q1 += g * g;
        q2 += b * b;
        if (r < (min[0] as number)) min[0] = r;
        if (r > (max[0] as number)) max[0] = r;
        if (g < (min[1] as number)) min[1] = g;
        if (g > (max[1] as number)) max[1] = g;
        if (b < (min[2] as number)) min[2] = b;
        if (b > (max[2] as number)) max[2] = b;
        n += 1;
      }
    }
    this.#sum[0] = (this.#sum[0] as number) + s0;
    this.#sum[1] = (this.#sum[1] as number) + s1;
    this.#sum[2] = (this.#sum[2] as number) + s2;
    this.#sumSq[0] = (this.#sumSq[0] as number) + q0;
    this.#sumSq[1] = (this.#sumSq[1] as number) + q1;
    this.#sumSq[2] = (this.#sumSq[2] as number) + q2;
    this.#pixels += n;
    this.#frames += 1;
  }

  get frames(): number {
    return this.#frames;
  }

  toJSON(): FeatureStats {
    const n = Math.max(1, this.#pixels);
    const c = (f: (i: number) => number): number[][][] => [0, 1, 2].map((i) => [[f(i)]]);
    const mean = (i: number): number => (this.#sum[i] as number) / n;
    return {
      min: c((i) => (this.#frames === 0 ? 0 : (this.#min[i] as number) / 255)),
      max: c((i) => (this.#max[i] as number) / 255),
      mean: c((i) => mean(i) / 255),
      std: c((i) => Math.sqrt(Math.max(0, (this.#sumSq[i] as number) / n - mean(i) ** 2)) / 255),
      count: [this.#frames],
    };
  }
}
