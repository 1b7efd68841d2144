/**
 * PolicyRecorder (openpi's serve_policy --record): step numbering from 0 and after the files already there, never
 * overwriting, records that load in numpy with openpi's flattened keys, and the ways a record can be lost without
 * failing the request: a write that fails (read-only directory) while the server keeps serving, a value that cannot
 * be pickled, a backlog past maxPendingBytes, a closed recorder.
 */
import { chmod, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebsocketPolicyServer } from '@openpi-edge/client/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOpenpiEdgeError } from '../../../client/src/errors.js';
import { type NDArray, ndarray } from '../../../client/src/ndarray.js';
import type { BasePolicy, Obs } from '../../../client/src/policy.js';
import { WebsocketClientPolicy } from '../../../client/src/websocket-client-policy.js';
import { formatRecorderStats, nextStepNumber, PolicyRecorder } from '../../src/server/policy-recorder.js';
import { describeFiles } from './npy-reader.js';

/** Answers every observation with a [2, 3] float64 chunk numbered by call, plus a policy_timing dict. */
class CountingPolicy implements BasePolicy {
  calls = 0;
  resets = 0;
  constructor(private readonly extra: Obs = {}) {}
  async infer(_obs: Obs): Promise<Obs> {
    const n = this.calls++;
    return {
      actions: ndarray(
        'float64',
        [2, 3],
        Float64Array.from({ length: 6 }, (_, i) => n + i / 10),
      ),
      policy_timing: { infer_ms: 1.25 },
      ...this.extra,
    };
  }
  reset(): void {
    this.resets++;
  }
}

function observation(i: number): Obs {
  return {
    state: ndarray('float32', [3], Float32Array.of(i, i + 0.5, -i)),
    images: {
      cam_high: ndarray(
        'uint8',
        [3, 2, 2],
        Uint8Array.from({ length: 12 }, (_, j) => (i * 12 + j) % 256),
      ),
    },
    prompt: `step ${i}`,
  };
}

let dir: string;
let warnings: string[];
const warn = (m: string): void => {
  warnings.push(m);
};
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'policy-recorder-'));
  warnings = [];
});
afterEach(async () => {
  await chmod(dir, 0o755).catch(() => {});
  await rm(dir, { recursive: true, force: true });
  await rm(`${dir}.away`, { recursive: true, force: true });
});

async function stepFiles(d = dir): Promise<string[]> {
  return (await readdir(d)).filter((f) => f.startsWith('step_')).sort();
}

/**
 * Makes `dir` refuse new files: mode 0555, or, where permission bits do not bind (running as root), a plain file
 * put where the directory was (creating `dir/step_n.npy` then fails with ENOTDIR). Returns the undo.
 */
async function makeUnwritable(d: string): Promise<() => Promise<void>> {
  if (process.getuid?.() !== 0) {
    await chmod(d, 0o555);
    return () => chmod(d, 0o755);
  }
  await rename(d, `${d}.away`);
  await writeFile(d, 'not a directory');
  return async () => {
    await rm(d);
    await rename(`${d}.away`, d);
  };
}

describe('PolicyRecorder', () => {
  it('creates the directory, numbers from step_0 and records {inputs, outputs} flattened with / keys', async () => {
    const target = join(dir, 'nested', 'records');
    const policy = new CountingPolicy();
    const rec = await PolicyRecorder.open(policy, target, { warn });
    const out = await rec.infer(observation(0));
    expect((out.actions as NDArray).shape).toEqual([2, 3]);
    await rec.infer(observation(1));
    await rec.reset();
    expect(policy.resets).toBe(1);
    const stats = await rec.close();
    expect(await stepFiles(target)).toEqual(['step_0.npy', 'step_1.npy']);
    expect(stats).toMatchObject({
      dir: target,
      firstStep: 0,
      nextStep: 2,
      stepsWritten: 2,
      writeFailures: 0,
    });
    const size = (await readFile(join(target, 'step_0.npy'))).byteLength;
    expect(stats.bytesWritten).toBe(2 * size);
    expect(formatRecorderStats(stats)).toMatch(
      /^recorded 2 steps \(0\.0 MiB\) to .* from step_0\.npy; 0 write failures$/,
    );
    const [f0, f1] = await describeFiles([join(target, 'step_0.npy'), join(target, 'step_1.npy')]);
    expect(f0?.item.type).toBe('dict');
    if (f0?.item.type !== 'dict' || f1?.item.type !== 'dict') return;
    expect(f0.item.keys).toEqual([
      'inputs/state',
      'inputs/images/cam_high',
      'inputs/prompt',
      'outputs/actions',
      'outputs/policy_timing/infer_ms',
    ]);
    expect(f1.item.items['inputs/prompt']).toEqual({ type: 'str', value: 'step 1' });
    expect(f1.item.items['inputs/state']).toMatchObject({ dtype: '<f4', shape: [3], values: [1, 1.5, -1] });
    expect(f1.item.items['inputs/images/cam_high']).toMatchObject({ dtype: '|u1', shape: [3, 2, 2] });
    expect(f1.item.items['outputs/actions']).toMatchObject({
      dtype: '<f8',
      shape: [2, 3],
      values: [1, 1.1, 1.2, 1.3, 1.4, 1.5],
    });
    expect(f1.item.items['outputs/policy_timing/infer_ms']).toEqual({ type: 'float', value: 1.25 });
    expect(warnings).toEqual([]);
  });

  it('continues after the highest step file already there and never overwrites one', async () => {
    await writeFile(join(dir, 'step_7.npy'), 'seven');
    await writeFile(join(dir, 'step_3.npy'), 'three');
    await writeFile(join(dir, 'step_x.npy'), 'not a step');
    await writeFile(join(dir, 'step_99.npy.partial'), 'not a step either');
    expect(await nextStepNumber(dir)).toBe(8);
    const rec = await PolicyRecorder.open(new CountingPolicy(), dir, { warn });
    expect(rec.stats.firstStep).toBe(8);
    await rec.infer(observation(0));
    await rec.flush();
    // Another writer takes the next number behind our back: ours is not written over it.
    await writeFile(join(dir, 'step_9.npy'), 'someone else');
    await rec.infer(observation(1));
    await rec.infer(observation(2));
    const stats = await rec.close();
    expect(await readFile(join(dir, 'step_7.npy'), 'utf8')).toBe('seven');
    expect(await readFile(join(dir, 'step_9.npy'), 'utf8')).toBe('someone else');
    expect(await stepFiles()).toEqual([
      'step_10.npy',
      'step_3.npy',
      'step_7.npy',
      'step_8.npy',
      'step_9.npy',
      'step_99.npy.partial',
      'step_x.npy',
    ]);
    expect(stats).toMatchObject({ firstStep: 8, nextStep: 11, stepsWritten: 2, writeFailures: 1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`could not write ${join(dir, 'step_9.npy')}: it already exists`);
    expect(warnings[0]).toContain('not overwritten');
    const [f8] = await describeFiles([join(dir, 'step_8.npy')]);
    expect(f8?.array.dtype).toBe('|O');
  });

  it('a failed write (read-only directory) warns naming the file, and the server keeps serving', async () => {
    const policy = new CountingPolicy();
    const rec = await PolicyRecorder.open(policy, dir, { warn });
    const server = new WebsocketPolicyServer(rec, { port: 0, logger: { warn: () => {} } });
    const { port } = await server.listen();
    const client = await WebsocketClientPolicy.connect({ host: '127.0.0.1', port });
    try {
      expect(Object.keys(await client.infer(observation(0)))).toContain('actions');
      await rec.flush();
      const undo = await makeUnwritable(dir);
      const reply = await client.infer(observation(1));
      expect((reply.actions as NDArray).shape).toEqual([2, 3]);
      await rec.flush();
      expect(rec.stats).toMatchObject({
        stepsWritten: 1,
        writeFailures: 1,
        pendingWrites: 0,
        pendingBytes: 0,
      });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`could not write ${join(dir, 'step_1.npy')}`);
      expect(warnings[0]).toContain('the request was served, this record is lost');
      await undo();
      // The same connection keeps working, and recording resumes with the next number.
      await client.infer(observation(2));
      const stats = await rec.close();
      expect(stats).toMatchObject({ stepsWritten: 2, writeFailures: 1, nextStep: 3 });
      expect(await stepFiles()).toEqual(['step_0.npy', 'step_2.npy']);
      expect(formatRecorderStats(stats)).toContain('; 1 write failure');
    } finally {
      await client.close();
      await server.close();
    }
    expect(policy.calls).toBe(3);
  });

  it('a result that cannot be pickled is counted and warned; the request still gets its result', async () => {
    const rec = await PolicyRecorder.open(new CountingPolicy({ handle: new Map() as never }), dir, { warn });
    const out = await rec.infer(observation(0));
    expect(out.handle).toBeInstanceOf(Map);
    const stats = await rec.close();
    expect(stats).toMatchObject({ stepsWritten: 0, encodeFailures: 1 });
    expect(warnings[0]).toContain(`${join(dir, 'step_0.npy')} not written: cannot pickle 'outputs/handle'`);
    expect(await stepFiles()).toEqual([]);
  });

  it('drops records past maxPendingBytes rather than queueing without bound', async () => {
    const rec = await PolicyRecorder.open(new CountingPolicy(), dir, { warn, maxPendingBytes: 1 });
    await Promise.all([rec.infer(observation(0)), rec.infer(observation(1))]);
    const stats = await rec.close();
    expect(stats).toMatchObject({ stepsWritten: 1, dropped: 1 });
    expect(warnings[0]).toMatch(/step_1\.npy dropped: 1 records .* still waiting for the disk/);
  });

  it('close() waits for pending writes; later requests are served and their records dropped', async () => {
    const rec = await PolicyRecorder.open(new CountingPolicy(), dir, { warn });
    const pending = Array.from({ length: 5 }, (_, i) => rec.infer(observation(i)));
    await Promise.all(pending);
    const stats = await rec.close();
    expect(stats.stepsWritten).toBe(5);
    expect(await stepFiles()).toHaveLength(5);
    expect(Object.keys(await rec.infer(observation(5)))).toContain('actions');
    expect(rec.stats.dropped).toBe(1);
    expect(warnings[0]).toContain('the recorder is closed');
  });

  it('open() refuses a path it cannot record to (BAD_ARGUMENT naming it)', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    const err = await PolicyRecorder.open(new CountingPolicy(), join(file, 'sub')).catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'BAD_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain(`cannot record to ${join(file, 'sub')}`);
  });
});
