/**
 * Offline evaluation (`edge-agent replay <recording> --policy ...`): the recorded observations go through a policy
 * (any BasePolicy: a local bundle's WorkerPolicy, a remote WebsocketClientPolicy, a test's fake) and its chunks are
 * compared with what the recording holds.
 *
 * - An episode with recorded inferences (MCAP): each one's observation is rebuilt (observation.ts: the recorded
 *   frames, the joint state of that moment, the prompt) and the new chunk is compared row by row with the recorded
 *   chunk. An inference whose recorded chunk is missing (it failed) or whose frame set was not recorded (dropped
 *   under load) is skipped and counted.
 * - An episode without (a dataset): the policy is asked every `stride` steps (default: the policy's chunk length,
 *   known after its first chunk) with `frameAt(step)` and that step's state, and row r of the chunk is compared
 *   with the action recorded at step + r (steps without an action are skipped).
 *
 * π0 / π0.5 sample from noise: unless the policy uses the same noise as the recorded run (same seed, same call
 * order), differences are expected; the summary reports them, it does not judge them.
 */
import { type BasePolicy, isNDArray, type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import { DifferenceStats, type DifferenceSummary } from './compare.js';
import { buildObservation, type ReplayLayout, replayLayout } from './observation.js';
import type { JointValues, RecordedEpisode, RecordingSource } from './recorded-episode.js';

export interface ReplayPolicyOptions {
  /** Prompt sent with every observation: a string, null for none (the model's default), or undefined for the
   *  recording's (its `prompt`, else the episode's task, else none). */
  prompt?: string | null;
  /** At most this many rows of each chunk are compared. Default all (the shorter of the two chunks). */
  rows?: number;
  /** Dataset episodes: ask the policy every `stride` steps. Default the policy's chunk length. */
  stride?: number;
  /** Observation layout. Default the recording's robot's (observation.ts). */
  layout?: ReplayLayout;
  /** After each compared chunk (progress output). */
  onChunk?: (done: number, episode: number) => void;
}

export interface PolicyReplaySummary {
  readonly recording: string;
  readonly robot: string | null;
  readonly prompt: string | null;
  readonly episodes: number;
  /** Recorded inferences seen (MCAP), or policy queries planned (datasets). */
  readonly inferences: number;
  /** Chunks the policy returned and that were compared. */
  readonly chunksCompared: number;
  /** Skipped: the recorded inference failed (no chunk) / its frames were not recorded. */
  readonly skippedFailed: number;
  readonly skippedNoFrames: number;
  /** `[H, D]` of the first recorded and the first policy chunk (null when none). */
  readonly recordedShape: readonly number[] | null;
  readonly policyShape: readonly number[] | null;
  /** Dataset episodes: the stride used; null when every episode had recorded inferences. */
  readonly stride: number | null;
  /** Largest distance (ms) between a recorded inference and the joint state its observation was built from. */
  readonly maxStateGapMs: number;
  /** Every compared row. */
  readonly actions: DifferenceSummary;
  /** Row 0 of each chunk only (the action executed first). */
  readonly firstAction: DifferenceSummary;
}

/** The `actions` [H, D] of a policy reply as numbers; CONFIG_MISMATCH when absent or of the wrong width. */
function chunkOf(result: Obs, dim: number, where: string): { rows: number; data: Float64Array } {
  const a = result.actions;
  if (!isNDArray(a) || a.shape.length !== 2 || a.dtype === 'unicode' || a.dtype === 'bool') {
    throw new OpenpiEdgeError(
      'CONFIG_MISMATCH',
      `${where}: the policy's reply has no 2-D numeric 'actions' array (got ${isNDArray(a) ? `${a.dtype} [${a.shape.join(', ')}]` : typeof a})`,
      { what: 'actions' },
    );
  }
  const [h, d] = a.shape as [number, number];
  if (d !== dim) {
    throw new OpenpiEdgeError(
      'CONFIG_MISMATCH',
      `${where}: the policy returns ${d} action values per row, the recording has ${dim} joints`,
      { what: 'action dim', expected: dim, got: d },
    );
  }
  const src = a.data as ArrayLike<number | bigint>;
  return { rows: h, data: Float64Array.from({ length: h * d }, (_, i) => Number(src[i])) };
}

/** Replays every episode of `source` through `policy` (see the module comment). Does not close either. */
export async function replayPolicy(
  source: RecordingSource,
  policy: BasePolicy,
  options: ReplayPolicyOptions = {},
): Promise<PolicyReplaySummary> {
  const layout = options.layout ?? replayLayout(source.robot);
  let stats: { all: DifferenceStats; first: DifferenceStats } | null = null;
  let joints: readonly string[] | null = null;
  let episodes = 0;
  let inferences = 0;
  let compared = 0;
  let skippedFailed = 0;
  let skippedNoFrames = 0;
  let recordedShape: readonly number[] | null = null;
  let policyShape: readonly number[] | null = null;
  let stride: number | null = null;
  let maxGap = 0;
  const init = (ep: RecordedEpisode) => {
    if (joints === null) {
      joints = ep.joints;
      stats = { all: new DifferenceStats(ep.joints), first: new DifferenceStats(ep.joints) };
    } else if (joints.join(',') !== ep.joints.join(',')) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `${source.description}: episode ${ep.index} has joints ${ep.joints.join(',')}, the first one ${joints.join(',')}`,
        { episode: ep.index },
      );
    }
    return stats as unknown as { all: DifferenceStats; first: DifferenceStats };
  };
  const promptOf = (ep: RecordedEpisode): string | null =>
    options.prompt !== undefined ? options.prompt : (source.prompt ?? (ep.task === '' ? null : ep.task));
  const ask = async (
    ep: RecordedEpisode,
    state: JointValues,
    frames: Parameters<typeof buildObservation>[2],
    where: string,
  ) => {
    const obs = await buildObservation(layout, state, frames, ep.cameras, promptOf(ep));
    let result: Obs;
    try {
      result = await policy.infer(obs);
    } catch (e) {
      const msg = e instanceof OpenpiEdgeError ? `${e.code}: ${e.message}` : String(e);
      throw new OpenpiEdgeError(
        e instanceof OpenpiEdgeError ? e.code : 'INFERENCE_FAILED',
        `${where}: the policy failed: ${msg}`,
        { where },
        { cause: e },
      );
    }
    const chunk = chunkOf(result, ep.joints.length, where);
    policyShape ??= [chunk.rows, ep.joints.length];
    return chunk;
  };
  for await (const ep of source.episodes()) {
    episodes += 1;
    const s = init(ep);
    const dim = ep.joints.length;
    await policy.reset();
    if (ep.inferences !== null) {
      for (const inf of ep.inferences) {
        inferences += 1;
        if (inf.chunk === null) {
          skippedFailed += 1;
          continue;
        }
        if (Object.keys(inf.frames).length === 0 && ep.cameras.length > 0) {
          skippedNoFrames += 1;
          continue;
        }
        const [rh, rd] = inf.chunk.shape;
        recordedShape ??= [rh, rd];
        if (rd !== dim) {
          throw new OpenpiEdgeError(
            'BAD_ARGUMENT',
            `${source.description}: inference ${inf.index} has ${rd} values per row, the recording ${dim} joints`,
            { inference: inf.index },
          );
        }
        const where = `episode ${ep.index} inference ${inf.index}`;
        const got = await ask(ep, inf.state, inf.frames, where);
        maxGap = Math.max(maxGap, inf.stateGapMs);
        const rows = Math.min(got.rows, rh, options.rows ?? Number.POSITIVE_INFINITY);
        for (let r = 0; r < rows; r++) {
          s.all.add(got.data, inf.chunk.data, r * dim, r * dim);
          if (r === 0) s.first.add(got.data, inf.chunk.data, 0, 0);
        }
        compared += 1;
        options.onChunk?.(compared, ep.index);
      }
      continue;
    }
    // A dataset episode: query every `stride` steps.
    const frameAt = ep.frameAt?.bind(ep);
    if (frameAt === undefined) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `${source.description}: episode ${ep.index} has neither recorded inferences nor frames (frameAt)`,
        { episode: ep.index },
      );
    }
    for (let step = 0; step < ep.steps.length; ) {
      const at = ep.steps[step];
      if (at === undefined || at.state === null) {
        step += 1;
        continue;
      }
      inferences += 1;
      const got = await ask(ep, at.state, await frameAt(step), `episode ${ep.index} step ${step}`);
      stride ??= options.stride ?? got.rows;
      const rows = Math.min(got.rows, ep.steps.length - step, options.rows ?? Number.POSITIVE_INFINITY);
      for (let r = 0; r < rows; r++) {
        const recorded = ep.steps[step + r]?.action ?? null;
        if (recorded === null) continue;
        s.all.add(got.data, recorded, r * dim, 0);
        if (r === 0) s.first.add(got.data, recorded, 0, 0);
      }
      compared += 1;
      options.onChunk?.(compared, ep.index);
      step += stride;
    }
  }
  if (compared === 0) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${source.description}: nothing to compare: ${
        inferences === 0
          ? 'no recorded inferences (/policy/chunk) and no steps with a state'
          : `${inferences} inferences, none with a recorded chunk and frames (${skippedFailed} failed, ${skippedNoFrames} without frames)`
      }`,
      { inferences, skippedFailed, skippedNoFrames },
    );
  }
  const final = stats as unknown as { all: DifferenceStats; first: DifferenceStats };
  return {
    recording: source.description,
    robot: source.robot,
    prompt: options.prompt !== undefined ? options.prompt : source.prompt,
    episodes,
    inferences,
    chunksCompared: compared,
    skippedFailed,
    skippedNoFrames,
    recordedShape,
    policyShape,
    stride,
    maxStateGapMs: maxGap,
    actions: final.all.summary(),
    firstAction: final.first.summary(),
  };
}
