/**
 * `start --record <dir>`: every episode the agent runs, appended to a LeRobot v2.1 dataset (lerobot-format.ts) that
 * openpi's pinned lerobot can train on. Runs in the recorder worker (mcap-recorder-entry.ts), never on the control
 * loop's thread; the videos are encoded by one ffmpeg process per camera (mp4-video.ts).
 *
 * Each row is one control step: `observation.state` = the joints measured at that step, `action` = the command the
 * safety gate sent (after its clamps; a hold's re-sent safe command), each camera's newest frame at that step, and
 * `timestamp` = frame_index / fps (the dataset's fps is the control rate).
 *
 * Crash safety. An episode is written into `<dir>/.staging/` while it runs and only then moved into place: a process
 * killed mid-episode (SIGKILL, power) leaves the dataset as it was, the episode absent. Ending an episode (the
 * normal end, Ctrl-C, an uncaught error, which all close the recorder) completes it: videos and parquet are finished
 * in staging, renamed into `videos/` and `data/`, then `tasks.jsonl`, `episodes.jsonl` and `episodes_stats.jsonl`
 * get their lines and `meta/info.json` is replaced by an atomic rename, its totals being the commit point. A process
 * killed inside that sub-millisecond sequence leaves files past the totals; opening the dataset again (the next
 * `--record` run, or `repairDataset`) removes them, so the totals in info.json always win.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { OpenpiEdgeError } from '@openpi-edge/client';
import sharp from 'sharp';
import {
  ACTION_KEY,
  buildFeatures,
  type CameraShape,
  CODEBASE_VERSION,
  columnStats,
  type DatasetInfo,
  dataPath,
  EPISODES_PATH,
  EPISODES_STATS_PATH,
  emptyInfo,
  type FeatureSpec,
  type FeatureStats,
  featureMismatch,
  ImageStats,
  INFO_PATH,
  STATE_KEY,
  TASKS_PATH,
  videoKey,
  videoPath,
} from './lerobot-format.js';
import { encodeEpisodeParquet } from './lerobot-parquet.js';
import { evenUp, Mp4Encoder, type Mp4EncoderOptions } from './mp4-video.js';

export interface LeRobotWriterOptions {
  /** Dataset root: created when absent, appended to when it holds a v2.1 dataset with the same features. */
  readonly root: string;
  /** Frames per second = the control rate (Hz). */
  readonly fps: number;
  /** `robot_type` in info.json (the robot plugin's name). */
  readonly robotType: string | null;
  /** Joint names, in state / action order. */
  readonly joints: readonly string[];
  /** Camera names; one video feature `observation.images.<camera>` each. */
  readonly cameras: readonly string[];
  /** The episodes' task (the prompt). */
  readonly task: string;
  /** Encoder settings (mp4-video.ts defaults otherwise). */
  readonly video?: Pick<Mp4EncoderOptions, 'crf' | 'preset' | 'gop' | 'ffmpeg' | 'nice'>;
}

/** One camera's image for a row: packed RGB [height, width, 3]. */
export interface RowImage {
  readonly rgb: Uint8Array;
  readonly height: number;
  readonly width: number;
}

export interface EpisodeWritten {
  readonly episode: number;
  readonly frames: number;
  /** Bytes of the episode's parquet and videos. */
  readonly bytes: number;
}

export interface DatasetWriteResult {
  readonly root: string;
  readonly episodes: readonly EpisodeWritten[];
  /** Totals of the dataset after the run. */
  readonly totalEpisodes: number;
  readonly totalFrames: number;
  /** Rows not written because a camera had no frame yet or state/action were not finite. */
  readonly rowsSkipped: number;
}

const STAGING = '.staging';

function readJsonLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut short by a killed process: dropped by repairDataset's rewrite
    }
  }
  return out;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function loadInfo(root: string): DatasetInfo | null {
  const file = join(root, INFO_PATH);
  if (!existsSync(file)) return null;
  let info: DatasetInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as DatasetInfo;
  } catch (e) {
    throw new OpenpiEdgeError('BAD_DATASET', `${file}: not JSON (${(e as Error).message})`, { root, file });
  }
  if (info.codebase_version !== CODEBASE_VERSION) {
    throw new OpenpiEdgeError(
      'BAD_DATASET',
      `${file}: codebase_version ${String(info.codebase_version)}; --record appends only to ${CODEBASE_VERSION} datasets`,
      { root, file, field: 'codebase_version' },
    );
  }
  return info;
}

/**
 * Makes the dataset at `root` agree with its info.json totals: drops episode files and meta lines of episodes past
 * `total_episodes` (left by a process killed while ending an episode) and the staging folder. Returns what it
 * removed (paths relative to root). A folder without info.json is left alone.
 */
export function repairDataset(root: string): string[] {
  const info = loadInfo(root);
  const removed: string[] = [];
  const staging = join(root, STAGING);
  if (existsSync(staging)) {
    rmSync(staging, { recursive: true, force: true });
    removed.push(STAGING);
  }
  if (info === null) return removed;
  const total = info.total_episodes;
  const keepLines = (rel: string, keep: (r: Record<string, unknown>) => boolean): void => {
    const file = join(root, rel);
    if (!existsSync(file)) return;
    const text = readFileSync(file, 'utf8');
    const rows = readJsonLines(file);
    const kept = rows.filter(keep);
    const out = kept.map((r) => `${JSON.stringify(r)}\n`).join('');
    if (out !== text) {
      writeAtomic(file, out);
      removed.push(`${rel} (${rows.length - kept.length} line(s), or a cut line)`);
    }
  };
  const ep = (r: Record<string, unknown>): boolean =>
    typeof r.episode_index === 'number' && r.episode_index < total;
  keepLines(EPISODES_PATH, ep);
  keepLines(EPISODES_STATS_PATH, ep);
  keepLines(TASKS_PATH, (r) => typeof r.task_index === 'number' && r.task_index < info.total_tasks);
  const episodeOf = (name: string): number | null => {
    const m = /^episode_(\d+)\.(parquet|mp4)$/.exec(name);
    return m === null ? null : Number(m[1]);
  };
  const sweep = (dir: string): void => {
    const abs = join(root, dir);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) sweep(rel);
      else {
        const e = episodeOf(entry.name);
        if (e !== null && e >= total) {
          rmSync(join(root, rel), { force: true });
          removed.push(rel);
        }
      }
    }
  };
  sweep('data');
  sweep('videos');
  return removed;
}

/** The episode being recorded. */
class OpenEpisode {
  readonly state: number[] = [];
  readonly action: number[] = [];
  readonly imageStats = new Map<string, ImageStats>();
  readonly encoders = new Map<string, Mp4Encoder>();
  frames = 0;

  constructor(
    readonly index: number,
    readonly dir: string,
  ) {}
}

export class LeRobotDatasetWriter {
  readonly root: string;
  readonly #options: LeRobotWriterOptions;
  #info: DatasetInfo;
  /** Camera sizes: from the dataset's features when appending, else from the first frames. */
  #shapes: Map<string, CameraShape> | null;
  readonly #tasks = new Map<string, number>();
  #episode: OpenEpisode | null = null;
  readonly #written: EpisodeWritten[] = [];
  #rowsSkipped = 0;
  /** Repairs done when opening (relative paths). */
  readonly repaired: readonly string[];

  private constructor(options: LeRobotWriterOptions, info: DatasetInfo | null, repaired: string[]) {
    this.root = options.root;
    this.#options = options;
    this.repaired = repaired;
    this.#shapes = null;
    if (info !== null) {
      this.#info = info;
      const shapes = new Map<string, CameraShape>();
      for (const c of options.cameras) {
        const f = info.features[videoKey(c)];
        if (f !== undefined && f.shape.length === 3) {
          shapes.set(c, { camera: c, height: f.shape[0] as number, width: f.shape[1] as number });
        }
      }
      this.#shapes = shapes;
      this.#checkFeatures(shapes);
      for (const t of readJsonLines(join(this.root, TASKS_PATH))) {
        if (typeof t.task === 'string' && typeof t.task_index === 'number')
          this.#tasks.set(t.task, t.task_index);
      }
    } else {
      this.#info = emptyInfo(options.fps, options.robotType, {});
    }
  }

  /**
   * Opens `root` for appending (repairing what a killed run left, see the module comment) or prepares a new dataset
   * there (written at the first episode's end). BAD_DATASET when the folder holds a dataset of another version,
   * fps, joint set or camera set.
   */
  static open(options: LeRobotWriterOptions): LeRobotDatasetWriter {
    if (!Number.isInteger(options.fps) || options.fps <= 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `--record: fps ${options.fps} must be a positive integer (the control rate)`,
        {
          fps: options.fps,
        },
      );
    }
    mkdirSync(options.root, { recursive: true });
    const repaired = repairDataset(options.root);
    const info = loadInfo(options.root);
    if (info !== null && info.fps !== options.fps) {
      throw new OpenpiEdgeError(
        'BAD_DATASET',
        `${join(options.root, INFO_PATH)}: dataset fps ${info.fps}, this run records at ${options.fps} Hz`,
        { root: options.root, file: INFO_PATH, field: 'fps', expected: info.fps, got: options.fps },
      );
    }
    return new LeRobotDatasetWriter(options, info, repaired);
  }

  get info(): Readonly<DatasetInfo> {
    return this.#info;
  }

  #features(shapes: ReadonlyMap<string, CameraShape>): Record<string, FeatureSpec> {
    return buildFeatures(
      this.#options.joints,
      this.#options.cameras.map((c) => shapes.get(c) as CameraShape),
      this.#options.fps,
      { codec: 'h264', pixFmt: 'yuv420p' },
    );
  }

  #checkFeatures(shapes: ReadonlyMap<string, CameraShape>): void {
    const missing = this.#options.cameras.filter((c) => !shapes.has(c));
    const wanted = missing.length > 0 ? null : this.#features(shapes);
    const problem =
      wanted === null
        ? `camera(s) ${missing.join(', ')} not in the dataset`
        : featureMismatch(this.#info.features, wanted);
    if (problem !== '') {
      throw new OpenpiEdgeError(
        'BAD_DATASET',
        `${join(this.root, INFO_PATH)}: cannot append this run: ${problem}`,
        {
          root: this.root,
          file: INFO_PATH,
          field: 'features',
        },
      );
    }
  }

  /** The episode being recorded: started at the first row. */
  #open(images: Readonly<Record<string, RowImage>>): OpenEpisode {
    if (this.#episode !== null) return this.#episode;
    if (this.#shapes === null) {
      const shapes = new Map<string, CameraShape>();
      for (const c of this.#options.cameras) {
        const im = images[c] as RowImage;
        shapes.set(c, { camera: c, height: evenUp(im.height), width: evenUp(im.width) });
      }
      this.#shapes = shapes;
      // a new dataset (appending takes the shapes from its features): its info gets the features and video path
      this.#info = emptyInfo(this.#options.fps, this.#options.robotType, this.#features(shapes));
    }
    const index = this.#info.total_episodes;
    const dir = join(this.root, STAGING, `episode_${index}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const ep = new OpenEpisode(index, dir);
    for (const c of this.#options.cameras) {
      const s = this.#shapes.get(c) as CameraShape;
      ep.encoders.set(
        c,
        Mp4Encoder.start({
          ...this.#options.video,
          file: join(dir, `${c}.mp4`),
          width: s.width,
          height: s.height,
          fps: this.#options.fps,
        }),
      );
      ep.imageStats.set(c, new ImageStats());
    }
    this.#episode = ep;
    return ep;
  }

  /** Counts a row that could not be written (no frame yet for a camera, non-finite values). */
  skipRow(): void {
    this.#rowsSkipped += 1;
  }

  /**
   * Appends one row to the current episode (starting one if none is open). `state` and `action` have one value per
   * joint; `images` one frame per camera (resized to the dataset's size when it differs). Resolves once the
   * encoders have taken the frames (pipe backpressure).
   */
  async addRow(
    state: ArrayLike<number>,
    action: ArrayLike<number>,
    images: Readonly<Record<string, RowImage>>,
  ): Promise<void> {
    const dim = this.#options.joints.length;
    if (state.length !== dim || action.length !== dim) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `dataset row: state ${state.length} / action ${action.length} values, expected ${dim}`,
        {
          expected: dim,
        },
      );
    }
    for (const c of this.#options.cameras) {
      if (images[c] === undefined) {
        throw new OpenpiEdgeError('BAD_OBSERVATION', `dataset row: no image for camera ${c}`, { camera: c });
      }
    }
    const ep = this.#open(images);
    for (let i = 0; i < dim; i++) {
      ep.state.push(state[i] as number);
      ep.action.push(action[i] as number);
    }
    for (const c of this.#options.cameras) {
      const im = images[c] as RowImage;
      const s = this.#shapes?.get(c) as CameraShape;
      let rgb = im.rgb;
      if (im.height !== s.height || im.width !== s.width) {
        rgb = new Uint8Array(
          await sharp(im.rgb, { raw: { width: im.width, height: im.height, channels: 3 } })
            .resize(s.width, s.height, { fit: 'fill', kernel: 'linear' })
            .raw()
            .toBuffer(),
        );
      }
      (ep.imageStats.get(c) as ImageStats).add(rgb, s.height, s.width);
      await (ep.encoders.get(c) as Mp4Encoder).write(rgb);
    }
    ep.frames += 1;
  }

  /** Frames in the open episode (0 when none is open). */
  get openFrames(): number {
    return this.#episode?.frames ?? 0;
  }

  /** Drops the open episode (its staging files); the dataset stays as it was. */
  async abortEpisode(): Promise<void> {
    const ep = this.#episode;
    this.#episode = null;
    if (ep === null) return;
    await Promise.all([...ep.encoders.values()].map((e) => e.kill()));
    rmSync(ep.dir, { recursive: true, force: true });
  }

  /**
   * Completes the open episode into the dataset (see the module comment for the order of the writes) and returns
   * what was written; null when no episode was open. On a failure the episode is dropped and the error thrown.
   */
  async endEpisode(): Promise<EpisodeWritten | null> {
    const ep = this.#episode;
    if (ep === null) return null;
    try {
      return await this.#commit(ep);
    } catch (e) {
      await this.abortEpisode();
      throw e;
    } finally {
      this.#episode = null;
    }
  }

  async #commit(ep: OpenEpisode): Promise<EpisodeWritten> {
    const opts = this.#options;
    const n = ep.frames;
    const dim = opts.joints.length;
    for (const e of ep.encoders.values()) await e.finish();
    let taskIndex = this.#tasks.get(opts.task);
    const newTask = taskIndex === undefined;
    if (taskIndex === undefined) taskIndex = this.#tasks.size;
    const first = this.#info.total_frames;
    const timestamp = Float32Array.from({ length: n }, (_, i) => i / opts.fps);
    const table = {
      length: n,
      dim,
      state: Float32Array.from(ep.state),
      action: Float32Array.from(ep.action),
      timestamp,
      frameIndex: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
      episodeIndex: new BigInt64Array(n).fill(BigInt(ep.index)),
      index: BigInt64Array.from({ length: n }, (_, i) => BigInt(first + i)),
      taskIndex: new BigInt64Array(n).fill(BigInt(taskIndex)),
    };
    const features = this.#info.features;
    const parquetBytes = encodeEpisodeParquet(table, features);
    const stagedParquet = join(ep.dir, 'episode.parquet');
    writeFileSync(stagedParquet, parquetBytes);
    syncFile(stagedParquet);
    // Stats as lerobot's compute_episode_stats writes them (vector features over axis 0; images per channel).
    // (over the float32 values the parquet holds)
    const scalar = (values: ArrayLike<number>): FeatureStats => columnStats(values, 1);
    const stats: Record<string, FeatureStats> = {
      [STATE_KEY]: columnStats(table.state, dim),
      [ACTION_KEY]: columnStats(table.action, dim),
    };
    for (const c of opts.cameras) stats[videoKey(c)] = (ep.imageStats.get(c) as ImageStats).toJSON();
    stats.timestamp = scalar(timestamp);
    stats.frame_index = scalar(Array.from({ length: n }, (_, i) => i));
    stats.episode_index = scalar(new Array<number>(n).fill(ep.index));
    stats.index = scalar(Array.from({ length: n }, (_, i) => first + i));
    stats.task_index = scalar(new Array<number>(n).fill(taskIndex));

    // Files into place (not yet part of the dataset: info.json's totals decide), then the meta lines, then info.json.
    let bytes = parquetBytes.byteLength;
    for (const c of opts.cameras) {
      const staged = join(ep.dir, `${c}.mp4`);
      syncFile(staged);
      const target = join(this.root, videoPath(ep.index, videoKey(c)));
      mkdirSync(dirname(target), { recursive: true });
      renameSync(staged, target);
      bytes += statSync(target).size;
    }
    const parquetTarget = join(this.root, dataPath(ep.index));
    mkdirSync(dirname(parquetTarget), { recursive: true });
    renameSync(stagedParquet, parquetTarget);
    mkdirSync(join(this.root, 'meta'), { recursive: true });
    if (newTask) {
      appendFileSync(
        join(this.root, TASKS_PATH),
        `${JSON.stringify({ task_index: taskIndex, task: opts.task })}\n`,
      );
      this.#tasks.set(opts.task, taskIndex);
    }
    appendFileSync(
      join(this.root, EPISODES_PATH),
      `${JSON.stringify({ episode_index: ep.index, tasks: [opts.task], length: n })}\n`,
    );
    appendFileSync(
      join(this.root, EPISODES_STATS_PATH),
      `${JSON.stringify({ episode_index: ep.index, stats })}\n`,
    );
    const episodes = this.#info.total_episodes + 1;
    const info: DatasetInfo = {
      ...this.#info,
      total_episodes: episodes,
      total_frames: first + n,
      total_tasks: this.#tasks.size,
      total_videos: this.#info.total_videos + opts.cameras.length,
      total_chunks: Math.max(this.#info.total_chunks, Math.floor(ep.index / this.#info.chunks_size) + 1),
      splits: { train: `0:${episodes}` },
    };
    writeAtomic(join(this.root, INFO_PATH), `${JSON.stringify(info, null, 4)}\n`);
    this.#info = info;
    rmSync(ep.dir, { recursive: true, force: true });
    const written = { episode: ep.index, frames: n, bytes };
    this.#written.push(written);
    return written;
  }

  /** Ends the open episode (completing it) and reports the run. */
  async close(): Promise<DatasetWriteResult> {
    await this.endEpisode();
    rmSync(join(this.root, STAGING), { recursive: true, force: true });
    return {
      root: this.root,
      episodes: [...this.#written],
      totalEpisodes: this.#info.total_episodes,
      totalFrames: this.#info.total_frames,
      rowsSkipped: this.#rowsSkipped,
    };
  }
}
