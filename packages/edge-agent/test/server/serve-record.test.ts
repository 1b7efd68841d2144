/**
 * `edge-agent serve --record <dir>` end to end: the real CLI (demo π0 bundle, ALOHA) answered by openpi's own Python
 * client (test/python/openpi_edge_serve_driver.py, openpi's make_aloha_example layout) for 2 requests; then numpy
 * loads step_0.npy and step_1.npy (test/python/npy_record_reader.py) and finds the observations that were sent, byte
 * for byte, under `inputs/...`, and the policy's reply under `outputs/...` — like openpi's PolicyRecorder, which
 * wraps the policy: `policy_timing` is recorded, the server's `server_timing` is not.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliProcess, runCli, stopChild } from '../agent/helpers.js';
import { PYTHON, ROOT, runReader } from './npy-reader.js';

const run = promisify(execFile);
const DRIVER = join(ROOT, 'test', 'python', 'openpi_edge_serve_driver.py');
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Step {
  keys: string[];
  inputs_equal: Record<string, boolean>;
  actions: { dtype: string; shape: number[]; finite: boolean } | null;
  policy_timing_types: Record<string, string>;
}

describe('edge-agent serve --record', () => {
  it('records each request and reply as step_<n>.npy that numpy loads with openpi’s keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'serve-record-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const target = join(dir, 'policy_records');
    const p: CliProcess = runCli([
      'serve',
      '--port',
      '0',
      '--providers',
      'cpu',
      '--no-warmup',
      '--record',
      target,
    ]);
    cleanup.push(() => stopChild(p));
    const rec = await p.waitForLine(/^recording requests and replies to (\S+) /);
    expect(rec[1]).toBe(target);
    const port = (await p.waitForLine(/^listening on ws:\/\/\S+ port=(\d+)/))[1] as string;

    const { stdout } = await run(
      PYTHON,
      [DRIVER, 'layout', '--layout', 'aloha', '--n', '2', '--seed', '5', '--port', port],
      {
        cwd: ROOT,
        timeout: 60_000,
      },
    );
    const replies = (JSON.parse(stdout) as { replies: { shape: number[]; keys: string[] }[] }).replies;
    expect(replies.map((r) => r.shape)).toEqual([
      [50, 14],
      [50, 14],
    ]);
    expect(replies[0]?.keys).toContain('server_timing');

    // Stop the server: close() flushes the writes, then the CLI prints the counts.
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    const summary = p.stdout.find((l) => l.startsWith('recorded '));
    expect(summary).toMatch(
      new RegExp(`^recorded 2 steps \\(\\d+\\.\\d MiB\\) to ${target} from step_0\\.npy; 0 write failures$`),
    );
    expect((await readdir(target)).sort()).toEqual(['step_0.npy', 'step_1.npy']);

    const { steps } = (await runReader(['aloha', '--dir', target, '--n', '2', '--seed', '5'])) as {
      steps: Step[];
    };
    expect(steps).toHaveLength(2);
    for (const step of steps) {
      expect(step.inputs_equal).toEqual({
        'inputs/state': true,
        'inputs/prompt': true,
        'inputs/images/cam_high': true,
        'inputs/images/cam_low': true,
        'inputs/images/cam_left_wrist': true,
        'inputs/images/cam_right_wrist': true,
      });
      expect(step.actions).toEqual({ dtype: '<f8', shape: [50, 14], finite: true });
      expect(step.keys.filter((k) => k.startsWith('outputs/server_timing'))).toEqual([]);
      expect(step.keys).toContain('outputs/policy_timing/infer_ms');
      expect(step.policy_timing_types.infer_ms).toBe('float');
    }
  }, 60_000);
});
