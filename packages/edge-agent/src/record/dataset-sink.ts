/**
 * The recorder worker's side of `--record` (mcap-recorder-entry.ts): turns the loop's packed ticks and camera
 * updates into dataset rows for the LeRobot writer. A tick becomes a row when the gate decided that tick, its
 * measured joints and its command are finite (a hold with no safe command yet has none) and every camera has had a
 * frame; other ticks are counted as skipped. An episode ends at the loop's episode-end event, or when a tick of a
 * later episode arrives first.
 */
import type { CameraFrame } from '../io/cameras/camera-source.js';
import { frameToRgb } from '../io/cameras/frame-convert.js';
import type { DatasetWriteResult, LeRobotDatasetWriter, RowImage } from './lerobot-dataset-writer.js';
import { type CameraUpdate, TICK, TICK_HEADER } from './mcap-protocol.js';

const finite = (a: Float64Array): boolean => a.every(Number.isFinite);

export class DatasetSink {
  readonly #writer: LeRobotDatasetWriter;
  readonly #cameras: readonly string[];
  readonly #dim: number;
  readonly #frames = new Map<string, CameraFrame>();
  /** The agent's episode number of the open dataset episode, or null. */
  #episode: number | null = null;

  constructor(writer: LeRobotDatasetWriter, cameras: readonly string[], dim: number) {
    this.#writer = writer;
    this.#cameras = cameras;
    this.#dim = dim;
  }

  /** A camera's newest frame from now on. */
  frame(u: CameraUpdate): void {
    this.#frames.set(u.camera, u.frame);
  }

  /** One packed tick (mcap-protocol.ts TICK layout). */
  async tick(t: Float64Array): Promise<void> {
    const episode = t[TICK.episode] as number;
    if (this.#episode !== null && episode !== this.#episode) await this.episodeEnd();
    const dim = this.#dim;
    const state = t.subarray(TICK_HEADER, TICK_HEADER + dim);
    const action = t.subarray(TICK_HEADER + dim, TICK_HEADER + 2 * dim);
    if ((t[TICK.kind] as number) === 0 || !finite(state) || !finite(action)) {
      this.#writer.skipRow();
      return;
    }
    const images: Record<string, RowImage> = {};
    for (const c of this.#cameras) {
      const f = this.#frames.get(c);
      if (f === undefined) {
        this.#writer.skipRow();
        return;
      }
      const rgb = await frameToRgb(f, c);
      const [height, width] = rgb.shape as [number, number, number];
      images[c] = { rgb: rgb.data as Uint8Array, height, width };
    }
    await this.#writer.addRow(state, action, images);
    this.#episode = episode;
  }

  /** Completes the open episode into the dataset (nothing when none is open). */
  async episodeEnd(): Promise<void> {
    this.#episode = null;
    await this.#writer.endEpisode();
  }

  /** Completes the open episode and reports the run. */
  close(): Promise<DatasetWriteResult> {
    this.#episode = null;
    return this.#writer.close();
  }
}
