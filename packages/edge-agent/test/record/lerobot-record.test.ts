/**
 * `edge-agent start --record <dir>`: the real CLI on the emulated ALOHA with the demo bundle, the dataset read by
 * PyPI lerobot 0.3.3 (`LeRobotDataset(repo_id, root=dir)`, offline; lerobot-check.ts):
 * - two episodes in one run, recorded beside `--record-mcap`: lerobot's episode and frame counts, and every row's
 *   state and action equal (as float32) to the joints and the gate's command the MCAP log has for that tick; the
 *   four 480x640 camera videos decode in lerobot;
 * - a second run appends (episode indices and the global index go on, a new task gets the next task index);
 * - SIGINT mid-episode completes that episode; SIGKILL mid-episode leaves the dataset as it was (the episode
 *   absent), and the next run repairs and appends.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliProcess, CPU_QUIET_FLAGS, REPO_ROOT, runCli, stopChild } from '../agent/helpers.js';
import { type LerobotView, lerobotRead, requireLerobot } from './lerobot-check.js';

const PY = resolve(REPO_ROOT, '.venv/bin/python');
const MCAP_READER = resolve(REPO_ROOT, 'test/python/mcap_reader.py');

interface TickRecord {
  episode: number;
  step: number;
  decision: string;
  command: (number | null)[] | null;
  positions: (number | null)[] | null;
}

const work = mkdtempSync(join(tmpdir(), 'openpi-edge-lerobot-'));
const children: CliProcess[] = [];
afterAll(async () => {
  await Promise.all(children.map(stopChild));
  rmSync(work, { recursive: true, force: true });
});

function start(extra: string[]): CliProcess {
  const c = runCli(['start', '--robot', 'aloha', ...CPU_QUIET_FLAGS, ...extra]);
  children.push(c);
  return c;
}

async function finished(c: CliProcess): Promise<string> {
  const { code } = await c.exited;
  const out = c.stdout.join('\n');
  expect(code, `${out}\n${c.stderr.join('\n')}`).toBe(0);
  return out;
}

const f32 = (x: number | null): number => Math.fround(x ?? Number.NaN);

describe('edge-agent start --record (LeRobot v2.1)', () => {
  const root = join(work, 'dataset');
  let first: LerobotView;
  let second: LerobotView;

  it('records two episodes that lerobot reads, rows equal to the MCAP log of the same run', async () => {
    requireLerobot();
    const mcap = join(work, 'run.mcap');
    const c = start([
      '--record',
      root,
      '--record-mcap',
      mcap,
      '--episodes',
      '2',
      '--max-steps',
      '40',
      '--prompt',
      'fold the towel',
    ]);
    const out = await finished(c);
    expect(out).toMatch(/dataset .*dataset: 2 episode\(s\) written this run \(\d+ frames/);

    first = await lerobotRead(root, work);
    expect(first.codebase_version).toBe('v2.1');
    expect(first.episodes).toBe(2);
    expect(first.cameras).toEqual(
      ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'].map((c) => `observation.images.${c}`),
    );
    for (const k of first.cameras) expect(first.camera_shapes[k]).toEqual([480, 640, 3]);
    expect(first.tasks).toEqual({ 0: 'fold the towel' });

    const { stdout } = await promisify(execFile)(PY, [MCAP_READER, mcap, '--series'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const ticks = (JSON.parse(stdout) as TickRecord[]).filter(
      (t) =>
        t.decision !== 'none' &&
        t.command !== null &&
        t.positions !== null &&
        t.command.every((x) => x !== null) &&
        t.positions.every((x) => x !== null),
    );
    expect(ticks.length).toBeGreaterThanOrEqual(2 * 38);
    // one row per recorded tick, in order
    expect(first.frames).toBe(ticks.length);
    expect(first.lengths.reduce((a, b) => a + b, 0)).toBe(ticks.length);
    const episodes = [...new Set(ticks.map((t) => t.episode))];
    expect(episodes).toHaveLength(2);
    first.rows.forEach((row, i) => {
      const t = ticks[i] as TickRecord;
      expect(row.episode_index).toBe(episodes.indexOf(t.episode));
      expect(row.index).toBe(i);
      expect(row.state).toEqual((t.positions as number[]).map(f32));
      expect(row.action).toEqual((t.command as number[]).map(f32));
    });
    for (const [e, n] of first.lengths.entries()) {
      expect(first.rows.filter((r) => r.episode_index === e)).toHaveLength(n);
    }
  }, 240_000);

  it('a second run appends, with a new task', async () => {
    const out = await finished(start(['--record', root, '--max-steps', '30', '--prompt', 'put it back']));
    expect(out).toMatch(/1 episode\(s\) written this run/);
    const view = await lerobotRead(root, work);
    second = view;
    expect(view.episodes).toBe(3);
    expect(view.tasks).toEqual({ 0: 'fold the towel', 1: 'put it back' });
    const added = view.rows.slice(first.frames);
    expect(added.length).toBe(view.lengths[2]);
    expect(added[0]).toMatchObject({
      episode_index: 2,
      frame_index: 0,
      index: first.frames,
      task: 'put it back',
    });
    expect(view.rows.slice(0, first.frames)).toEqual(first.rows);
  }, 240_000);

  it('SIGINT mid-episode completes the episode; SIGKILL leaves it out and the next run repairs and appends', async () => {
    const before = second;
    const sigint = start(['--record', root, '--max-steps', '0', '--no-reset']);
    await sigint.waitForLine(/^ {2}stop /);
    await new Promise((r) => setTimeout(r, 1500));
    sigint.child.kill('SIGINT');
    await finished(sigint);
    const afterInt = await lerobotRead(root, work);
    expect(afterInt.episodes).toBe(before.episodes + 1);
    expect(afterInt.lengths.at(-1)).toBeGreaterThan(10);

    const killed = start(['--record', root, '--max-steps', '0', '--no-reset']);
    await killed.waitForLine(/^ {2}stop /);
    await new Promise((r) => setTimeout(r, 1500));
    killed.child.kill('SIGKILL');
    await killed.exited;
    const afterKill = await lerobotRead(root, work);
    expect(afterKill.episodes).toBe(afterInt.episodes);
    expect(afterKill.rows).toEqual(afterInt.rows);

    await finished(start(['--record', root, '--max-steps', '20']));
    const last = await lerobotRead(root, work);
    expect(last.episodes).toBe(afterInt.episodes + 1);
    expect(last.rows.at(-1)?.index).toBe(last.frames - 1);
  }, 300_000);
});
