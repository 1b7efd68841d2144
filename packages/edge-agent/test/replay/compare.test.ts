/**
 * The comparison logic of `replay --policy` on in-memory recordings (no files, no model): DifferenceStats' numbers,
 * recorded inferences (an echo policy gives 0, an offset policy gives the offset, failed inferences and dropped
 * frame sets are skipped and counted), the dataset path (inferences null: the policy is asked every `stride`
 * steps with `frameAt(step)`, row r compared with the action of step + r), and bad input (`openRecording` on a
 * directory, a missing path, a file that is not MCAP; nothing to compare; a chunk of the wrong width).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNDArray, ndarray, type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import { afterAll, describe, expect, it } from 'vitest';
import type { CameraFrame } from '../../src/io/cameras/camera-source.js';
import { DifferenceStats } from '../../src/replay/compare.js';
import { openRecording } from '../../src/replay/open-recording.js';
import type {
  RecordedEpisode,
  RecordedInference,
  RecordedStep,
  RecordingSource,
} from '../../src/replay/recorded-episode.js';
import { replayPolicy } from '../../src/replay/replay-policy.js';
import { ScriptedPolicy } from './helpers.js';

const JOINTS = ['a', 'b', 'c'];

function rgbFrame(v: number): CameraFrame {
  return {
    stampMs: 0,
    seq: 0,
    encoding: 'rgb8',
    width: 4,
    height: 2,
    step: 12,
    data: new Uint8Array(24).fill(v),
  };
}

function source(episodes: RecordedEpisode[], prompt: string | null = 'fold'): RecordingSource {
  return {
    description: 'fake recording',
    robot: null,
    prompt,
    async *episodes() {
      yield* episodes;
    },
    async close() {},
  };
}

/** `H x 3` chunk rows for inference k: value = 100k + 10r + j. */
const rowsOf = (k: number, h: number): number[][] =>
  Array.from({ length: h }, (_, r) => JOINTS.map((_, j) => 100 * k + 10 * r + j));

function inference(
  k: number,
  h: number,
  opts: { failed?: boolean; frames?: boolean } = {},
): RecordedInference {
  const rows = rowsOf(k, h);
  return {
    index: k + 1,
    t: k * 0.5,
    state: Float64Array.of(k, k + 0.5, -k),
    stateGapMs: k,
    frames: opts.frames === false ? {} : { cam: rgbFrame(k) },
    chunk: opts.failed === true ? null : { shape: [h, 3], data: Float32Array.from(rows.flat()) },
    error: opts.failed === true ? 'boom' : null,
  };
}

function episode(
  index: number,
  inferences: RecordedInference[] | null,
  steps: RecordedStep[] = [],
): RecordedEpisode {
  return { index, task: 'fold', fps: 50, joints: JOINTS, cameras: ['cam'], steps, inferences };
}

const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-replay-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DifferenceStats', () => {
  it('computes per-joint mean / max |d| and RMS, skipping non-finite pairs', () => {
    const s = new DifferenceStats(['x', 'y']);
    s.add([1, 2], [0, 0]); // d = 1, 2
    s.add([0, Number.NaN], [3, 0]); // d = 3, skipped
    s.add([0, 0, 9, 9], [5, 6], 2, 0); // a[2..3] - b[0..1]: d = 4, 3
    const r = s.summary();
    expect(r.rows).toBe(3);
    expect(r.values).toBe(5);
    expect(r.skipped).toBe(1);
    expect(r.joints[0]).toEqual({ name: 'x', n: 3, meanAbs: 8 / 3, maxAbs: 4, rms: Math.sqrt(26 / 3) });
    expect(r.joints[1]).toEqual({ name: 'y', n: 2, meanAbs: 2.5, maxAbs: 3, rms: Math.sqrt(13 / 2) });
    expect(r.meanAbs).toBeCloseTo(13 / 5, 12);
    expect(r.maxAbs).toBe(4);
    expect(r.rms).toBeCloseTo(Math.sqrt(39 / 5), 12);
    expect(new DifferenceStats(['x']).summary().rms).toBeNaN();
  });
});

describe('replayPolicy on recorded inferences', () => {
  const episodes = () => [
    episode(0, [inference(0, 4), inference(1, 4, { failed: true }), inference(2, 4)]),
    episode(1, [inference(3, 4, { frames: false }), inference(4, 4)]),
  ];
  /** What the policy is asked, in order: inferences 0, 2, 4 (1 failed, 3 has no frames). */
  const asked = [rowsOf(0, 4), rowsOf(2, 4), rowsOf(4, 4)];

  it('an echo of the recorded chunks gives zero difference; observations are rebuilt from the recording', async () => {
    const policy = new ScriptedPolicy(asked);
    const s = await replayPolicy(source(episodes()), policy);
    expect(s).toMatchObject({
      episodes: 2,
      inferences: 5,
      chunksCompared: 3,
      skippedFailed: 1,
      skippedNoFrames: 1,
      recordedShape: [4, 3],
      policyShape: [4, 3],
      stride: null,
      maxStateGapMs: 4,
      prompt: 'fold',
    });
    expect(s.actions).toMatchObject({ rows: 12, values: 36, skipped: 0, meanAbs: 0, maxAbs: 0, rms: 0 });
    expect(s.firstAction).toMatchObject({ rows: 3, values: 9, rms: 0 });
    expect(policy.resets).toBe(2);
    // The observation: state from the inference (float32), the frame as a 224x224 CHW image, the prompt.
    const obs = policy.seen[1] as Obs;
    const state = obs.state;
    expect(isNDArray(state) && Array.from(state.data as Float32Array)).toEqual([2, 2.5, -2]);
    const img = (obs.images as Record<string, unknown>).cam;
    expect(isNDArray(img) && img.shape).toEqual([3, 224, 224]);
    expect(obs.prompt).toBe('fold');
  });

  it('an offset policy gives exactly the offset, on every joint; --rows limits the rows', async () => {
    const s = await replayPolicy(source(episodes()), new ScriptedPolicy(asked, 0.25), {
      prompt: null,
      rows: 2,
    });
    expect(s.actions.rows).toBe(6);
    expect(s.actions.values).toBe(18);
    for (const j of s.actions.joints)
      expect(j).toMatchObject({ n: 6, meanAbs: 0.25, maxAbs: 0.25, rms: 0.25 });
    expect(s.actions.rms).toBe(0.25);
    expect(s.firstAction.maxAbs).toBe(0.25);
    expect(s.prompt).toBeNull();
  });

  it('a chunk of the wrong width is CONFIG_MISMATCH naming both sizes', async () => {
    const wide = {
      infer: async () => ({ actions: ndarray('float32', [4, 5], new Float32Array(20)) }),
      reset() {},
    };
    const err = await replayPolicy(source(episodes()), wide).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    expect(err).toMatchObject({ code: 'CONFIG_MISMATCH', context: { expected: 3, got: 5 } });
    expect((err as Error).message).toMatch(
      /episode 0 inference 1: the policy returns 5 action values per row, the recording has 3 joints/,
    );
  });

  it('nothing to compare is BAD_ARGUMENT saying why', async () => {
    const none = source([episode(0, [inference(0, 4, { failed: true })])]);
    await expect(replayPolicy(none, new ScriptedPolicy([]))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(
        /nothing to compare: 1 inferences, none with a recorded chunk.*1 failed/,
      ),
    });
    await expect(replayPolicy(source([episode(0, [])]), new ScriptedPolicy([]))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/no recorded inferences/),
    });
  });
});

describe('replayPolicy on a dataset episode (no recorded inferences)', () => {
  /** 10 steps; action of step i = [i, 2i, 3i]; state of step i = [i, 0, 0]. */
  const steps: RecordedStep[] = Array.from({ length: 10 }, (_, i) => ({
    t: i / 50,
    state: Float32Array.of(i, 0, 0),
    action: i === 7 ? null : Float32Array.of(i, 2 * i, 3 * i),
  }));
  const frameCalls: number[] = [];
  const ds = (): RecordedEpisode => ({
    ...episode(0, null, steps),
    async frameAt(step: number) {
      frameCalls.push(step);
      return { cam: rgbFrame(step) };
    },
  });
  /** The policy's chunk at a query from step s: rows r = the action of step s + r, plus 0.5 on joint b. */
  const policyFor = (h: number) => ({
    calls: [] as number[],
    async infer(obs: Obs): Promise<Obs> {
      const st = obs.state;
      const s = isNDArray(st) ? Number((st.data as Float32Array)[0]) : Number.NaN;
      this.calls.push(s);
      const data = new Float64Array(h * 3);
      for (let r = 0; r < h; r++) data.set([s + r, 2 * (s + r) + 0.5, 3 * (s + r)], r * 3);
      return { actions: ndarray('float64', [h, 3], data) };
    },
    reset() {},
  });

  it('asks every chunk length (the default stride) and compares rows with the following steps', async () => {
    frameCalls.length = 0;
    const p = policyFor(4);
    const s = await replayPolicy(source([ds()]), p);
    expect(p.calls).toEqual([0, 4, 8]);
    expect(frameCalls).toEqual([0, 4, 8]);
    expect(s).toMatchObject({
      stride: 4,
      chunksCompared: 3,
      inferences: 3,
      policyShape: [4, 3],
      recordedShape: null,
    });
    // Rows: 4 + 4 + 2 (the episode ends) = 10, minus step 7 (no action) = 9.
    expect(s.actions.values).toBe(27);
    expect(s.actions.joints.map((j) => [j.meanAbs, j.maxAbs])).toEqual([
      [0, 0],
      [0.5, 0.5],
      [0, 0],
    ]);
    expect(s.firstAction).toMatchObject({ rows: 3, values: 9, maxAbs: 0.5 });
  });

  it('--stride overrides it', async () => {
    frameCalls.length = 0;
    const p = policyFor(4);
    const s = await replayPolicy(source([ds()]), p, { stride: 3 });
    expect(p.calls).toEqual([0, 3, 6, 9]);
    expect(s.stride).toBe(3);
    expect(s.chunksCompared).toBe(4);
  });

  it('an episode with neither inferences nor frameAt is BAD_ARGUMENT', async () => {
    await expect(replayPolicy(source([episode(0, null, steps)]), policyFor(4))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/neither recorded inferences nor frames/),
    });
  });
});

describe('openRecording', () => {
  it('dispatches on the path and names what is wrong', async () => {
    const ds = join(dir, 'dataset');
    mkdirSync(ds);
    await expect(openRecording(ds)).rejects.toMatchObject({
      code: 'BAD_DATASET',
      message: expect.stringMatching(/dataset\/meta\/info\.json: not found: not a LeRobot dataset folder/),
    });
    await expect(openRecording(join(dir, 'missing.mcap'))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/missing\.mcap: no such file/),
    });
    const text = join(dir, 'notes.mcap');
    writeFileSync(text, 'this is not an MCAP file\n');
    await expect(openRecording(text)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/notes\.mcap: not an MCAP file/),
    });
    const other = join(dir, 'run.bag');
    writeFileSync(other, 'x');
    await expect(openRecording(other)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/unknown format/),
    });
  });
});
