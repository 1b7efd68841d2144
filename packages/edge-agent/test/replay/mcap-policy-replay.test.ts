/**
 * `edge-agent replay <run.mcap> --policy ...` on a real recording: `start --record-mcap` on the emulated ALOHA
 * with the demo bundle (seed 1), then
 * - the reader: one inference per recorded chunk (the summary's count), four 224x224 JPEG frames each, the steps;
 * - a policy answering with the recorded chunks gives zero difference, one adding 0.25 gives 0.25 on every joint;
 * - the CLI against the demo bundle locally (same seed: the chunks nearly match, since the observation is rebuilt
 *   from the recording; random noise: they do not) and against a real `edge-agent serve` over loopback websocket;
 * - bad input: a recording without inferences, a missing file (exit 2, BAD_ARGUMENT naming it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNDArray } from '@openpi-edge/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_BUNDLE_DIR } from '../../src/config/load.js';
import { McapRecording } from '../../src/replay/mcap-recording.js';
import type { PolicyReplaySummary } from '../../src/replay/replay-policy.js';
import { replayPolicy } from '../../src/replay/replay-policy.js';
import { type CliProcess, runCli, stopChild } from '../agent/helpers.js';
import { recordedChunks, recordRun, rewriteMcap, ScriptedPolicy } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-replay-'));
const file = join(dir, 'run.mcap');
const children: CliProcess[] = [];
let inferences = 0;

beforeAll(async () => {
  inferences = await recordRun(file, 60, ['--seed', '1']);
}, 60_000);
afterAll(async () => {
  await Promise.all(children.map(stopChild));
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const c = runCli(['replay', ...args]);
  children.push(c);
  const { code } = await c.exited;
  return { code, out: c.stdout.join('\n'), err: c.stderr.join('\n') };
}

const LOCAL = ['--providers', 'cpu', '--threads', '1'];

describe('replay --policy on an MCAP recording', () => {
  it('reads one inference per recorded chunk, with its frames and joint state', async () => {
    const rec = await McapRecording.open(file);
    expect(rec.robot).toBe('aloha');
    expect(rec.complete).toBe(true);
    expect(rec.fps).toBe(50);
    expect(rec.inferenceCount).toBe(inferences);
    const eps = [];
    for await (const ep of rec.episodes()) eps.push(ep);
    expect(eps).toHaveLength(1);
    const ep = eps[0];
    expect(ep?.steps).toHaveLength(60);
    expect(ep?.joints).toHaveLength(14);
    expect(ep?.steps.every((s) => s.action?.length === 14 && s.state?.length === 14)).toBe(true);
    // The start-up check and the episode's first chunk come before the episode clock (t < 0).
    expect(ep?.inferences?.map((i) => i.index)).toEqual(Array.from({ length: inferences }, (_, i) => i + 1));
    expect(ep?.inferences?.[0]?.t).toBeLessThan(0);
    for (const inf of ep?.inferences ?? []) {
      expect(Object.keys(inf.frames).sort()).toEqual([
        'cam_high',
        'cam_left_wrist',
        'cam_low',
        'cam_right_wrist',
      ]);
      expect(inf.frames.cam_high?.encoding).toBe('jpeg');
      expect(Array.from(inf.frames.cam_high?.data.subarray(0, 3) ?? [])).toEqual([0xff, 0xd8, 0xff]);
      expect(inf.chunk?.shape).toEqual([50, 14]);
      expect(inf.state).toHaveLength(14);
    }
    // An inference during the episode uses the joint state of the tick that asked (the same 20 ms tick).
    expect(ep?.inferences?.at(-1)?.stateGapMs).toBeLessThan(20);
  });

  it('a policy returning the recorded chunks gives zero difference, one adding 0.25 gives 0.25', async () => {
    const chunks = recordedChunks(file).map((c) => c.actions);
    expect(chunks).toHaveLength(inferences);
    const echo = new ScriptedPolicy(chunks);
    const zero = await replayPolicy(await McapRecording.open(file), echo);
    expect(zero.chunksCompared).toBe(inferences);
    expect(zero.actions).toMatchObject({ rows: inferences * 50, values: inferences * 50 * 14, skipped: 0 });
    expect(zero.actions.rms).toBe(0);
    expect(zero.actions.maxAbs).toBe(0);
    expect(zero.firstAction.rms).toBe(0);
    // What the policy got: openpi's ALOHA observation rebuilt from the recording.
    const obs = echo.seen[2];
    const images = obs?.images as Record<string, unknown>;
    expect(Object.keys(images)).toEqual(['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist']);
    for (const img of Object.values(images)) expect(isNDArray(img) && img.shape).toEqual([3, 224, 224]);
    expect(isNDArray(obs?.state) && obs.state.shape).toEqual([14]);
    expect(obs?.prompt).toBeUndefined(); // the run used the model's default prompt

    const off = await replayPolicy(await McapRecording.open(file), new ScriptedPolicy(chunks, 0.25), {
      prompt: 'fold the towel',
    });
    expect(off.chunksCompared).toBe(inferences);
    for (const j of [...off.actions.joints, ...off.firstAction.joints]) {
      expect(j.meanAbs).toBeCloseTo(0.25, 12);
      expect(j.maxAbs).toBeCloseTo(0.25, 12);
    }
    expect(off.actions.rms).toBeCloseTo(0.25, 12);
    expect(off.prompt).toBe('fold the towel');
  });

  it('against the demo bundle locally: every inference compared; the recorded seed nearly reproduces the chunks', async () => {
    const seeded = join(dir, 'seeded.json');
    const a = await cli([file, '--policy', DEMO_BUNDLE_DIR, ...LOCAL, '--seed', '1', '--json', seeded]);
    expect(a.code, `${a.out}\n${a.err}`).toBe(0);
    expect(a.out).toMatch(
      new RegExp(`compared {2}${inferences} chunks of ${inferences} recorded inferences`),
    );
    expect(a.out).toMatch(/left_waist +\d+\.\d{4} +\d+\.\d{4}/);
    const s = JSON.parse(readFileSync(seeded, 'utf8')) as PolicyReplaySummary & { mode: string };
    expect(s).toMatchObject({ mode: 'policy', chunksCompared: inferences, policyShape: [50, 14] });
    expect(s.actions.values).toBe(inferences * 50 * 14);
    expect(s.firstAction.rows).toBe(inferences);
    // Same noise, observation rebuilt from JPEG frames and recorded joints: close, not equal.
    expect(s.actions.rms).toBeLessThan(0.03);

    const random = join(dir, 'random.json');
    const b = await cli([file, '--policy', DEMO_BUNDLE_DIR, ...LOCAL, '--json', random]);
    expect(b.code, `${b.out}\n${b.err}`).toBe(0);
    const r = JSON.parse(readFileSync(random, 'utf8')) as PolicyReplaySummary;
    expect(r.chunksCompared).toBe(inferences);
    expect(r.actions.rms).toBeGreaterThan(s.actions.rms);
  }, 60_000);

  it('against a real `edge-agent serve` over loopback websocket', async () => {
    const server = runCli(['serve', '--bundle', DEMO_BUNDLE_DIR, '--port', '0', ...LOCAL, '--no-warmup']);
    children.push(server);
    const [, url] = (await server.waitForLine(/^listening on (ws:\/\/\S+) port=\d+/)) as RegExpMatchArray;
    const json = join(dir, 'remote.json');
    const c = await cli([file, '--policy', url as string, '--json', json]);
    expect(c.code, `${c.out}\n${c.err}`).toBe(0);
    expect(c.out).toMatch(/policy {4}remote ws:\/\/127\.0\.0\.1:\d+/);
    const s = JSON.parse(readFileSync(json, 'utf8')) as PolicyReplaySummary;
    expect(s.chunksCompared).toBe(inferences);
    expect(s.actions.values).toBe(inferences * 50 * 14);
    expect(Number.isFinite(s.actions.rms)).toBe(true);
    await stopChild(server);
  }, 60_000);

  it('bad input: no inferences, a missing file', async () => {
    const bare = join(dir, 'no-chunks.mcap');
    await rewriteMcap(file, bare, (topic, body) => (topic === '/policy/chunk' ? null : body));
    expect((await McapRecording.open(bare)).inferenceCount).toBe(0);
    const a = await cli([bare, '--policy', DEMO_BUNDLE_DIR, ...LOCAL]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(
      /BAD_ARGUMENT: mcap .*no-chunks\.mcap .*no recorded inferences \(\/policy\/chunk\)/,
    );
    const b = await cli([join(dir, 'nope.mcap'), '--policy', DEMO_BUNDLE_DIR]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/BAD_ARGUMENT: recording .*nope\.mcap: no such file/);
  }, 60_000);
});
