/**
 * `edge-agent replay <dataset dir>` on a real LeRobot dataset (`start --record` on the emulated ALOHA with the demo
 * bundle, 60 steps):
 * - the source: one episode, its rows as steps, no recorded inferences, the frames of any step from the videos;
 * - policy replay: a policy answering with the dataset's own following actions gives zero difference, with an
 *   offset exactly that offset; the CLI against the demo bundle prints a summary and writes its JSON;
 * - dry run: the recorded commands through the gate into the emulator (CLI), tracking the recorded joints.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_BUNDLE_DIR } from '../../src/config/load.js';
import { openDatasetRecording } from '../../src/replay/dataset-recording.js';
import type { DryRunSummary } from '../../src/replay/dry-run.js';
import type { RecordedEpisode } from '../../src/replay/recorded-episode.js';
import { type PolicyReplaySummary, replayPolicy } from '../../src/replay/replay-policy.js';
import { type CliProcess, CPU_QUIET_FLAGS, runCli, stopChild } from '../agent/helpers.js';
import { ScriptedPolicy } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-dataset-replay-'));
const root = join(dir, 'dataset');
const children: CliProcess[] = [];

async function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const c = runCli(args);
  children.push(c);
  const { code } = await c.exited;
  return { code, out: c.stdout.join('\n'), err: c.stderr.join('\n') };
}

beforeAll(async () => {
  const r = await cli([
    'start',
    '--robot',
    'aloha',
    ...CPU_QUIET_FLAGS,
    '--record',
    root,
    '--max-steps',
    '60',
    '--seed',
    '1',
    '--prompt',
    'fold the towel',
  ]);
  expect(r.code, `${r.out}\n${r.err}`).toBe(0);
}, 90_000);
afterAll(async () => {
  await Promise.all(children.map(stopChild));
  rmSync(dir, { recursive: true, force: true });
});

async function onlyEpisode(): Promise<RecordedEpisode> {
  const src = openDatasetRecording(root);
  const eps: RecordedEpisode[] = [];
  for await (const ep of src.episodes()) eps.push(ep);
  await src.close();
  expect(eps).toHaveLength(1);
  return eps[0] as RecordedEpisode;
}

describe('replay on a LeRobot dataset', () => {
  it('reads the rows as steps, with no inferences and frames from the videos', async () => {
    const src = openDatasetRecording(root);
    expect(src.robot).toBe('aloha');
    expect(src.prompt).toBe('fold the towel');
    for await (const ep of src.episodes()) {
      expect(ep.inferences).toBeNull();
      expect(ep.fps).toBe(50);
      expect(ep.steps.length).toBeGreaterThanOrEqual(58);
      expect(ep.steps[1]?.t).toBeCloseTo(0.02, 6);
      expect(ep.joints).toHaveLength(14);
      const frames = await ep.frameAt?.(10);
      expect(Object.keys(frames ?? {})).toEqual(['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist']);
      expect(frames?.cam_high).toMatchObject({ encoding: 'rgb8', width: 640, height: 480 });
    }
    await src.close();
  }, 60_000);

  it('a policy answering with the recorded following actions gives zero difference; an offset gives the offset', async () => {
    const ep = await onlyEpisode();
    const n = ep.steps.length;
    const stride = 25;
    const chunkFrom = (s: number): number[][] =>
      Array.from({ length: stride }, (_, k) => Array.from(ep.steps[Math.min(n - 1, s + k)]?.action ?? []));
    const chunks = [0, 25, 50].filter((s) => s < n).map(chunkFrom);
    const exact = await replayPolicy(openDatasetRecording(root), new ScriptedPolicy(chunks), { stride });
    expect(exact.chunksCompared).toBe(chunks.length);
    expect(exact.stride).toBe(stride);
    expect(exact.actions.maxAbs).toBe(0);
    const shifted = await replayPolicy(openDatasetRecording(root), new ScriptedPolicy(chunks, 0.125), {
      stride,
    });
    expect(shifted.actions.meanAbs).toBeCloseTo(0.125, 6);
    expect(shifted.actions.maxAbs).toBeCloseTo(0.125, 6);
  }, 60_000);

  it('the CLI replays the demo bundle over the dataset and writes the summary', async () => {
    const json = join(dir, 'policy.json');
    const r = await cli([
      'replay',
      root,
      '--policy',
      DEMO_BUNDLE_DIR,
      '--providers',
      'cpu',
      '--threads',
      '1',
      '--json',
      json,
    ]);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    const s = JSON.parse(readFileSync(json, 'utf8')) as PolicyReplaySummary;
    expect(s.inferences).toBeGreaterThan(0);
    expect(s.chunksCompared).toBe(s.inferences);
    expect(s.policyShape).toEqual([50, 14]);
    expect(Number.isFinite(s.actions.rms)).toBe(true);
    expect(r.out).toMatch(/compared +\d+ chunks of \d+ queries \(every \d+ steps\)/);
    expect(r.out).toMatch(/prompt +"fold the towel"/);
  }, 120_000);

  it('dry run: the recorded commands through the gate into the emulator', async () => {
    const json = join(dir, 'dry.json');
    const r = await cli(['replay', root, '--dry-run', '--json', json]);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    const s = JSON.parse(readFileSync(json, 'utf8')) as DryRunSummary;
    const ep = await onlyEpisode();
    expect(s.robot).toBe('aloha');
    expect(s.steps).toBe(ep.steps.length);
    expect(s.moves + s.holds).toBe(s.steps);
    expect(s.tracking.rows).toBeGreaterThan(0);
    expect(s.tracking.maxAbs).toBeLessThan(0.2);
  }, 120_000);
});
