/**
 * WorkerPolicy's failure handling with the worker's test hooks (testHooks.ops / testHooks.gate): a crash outside a
 * request and process.exit reject the request in flight with WORKER_CRASHED and the worker restarts; a request
 * without an answer rejects with WORKER_HUNG after hangTimeoutMs and the worker restarts; past the restart budget
 * every request fails with WORKER_CRASHED naming the last cause; close() rejects what is pending and leaves no thread
 * (a child process that loads, infers and closes exits by itself).
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import type { NDArray } from '../../../client/src/ndarray.js';
import {
  type WorkerEvent,
  WorkerPolicy,
  type WorkerPolicyOptions,
} from '../../src/inference/worker-policy.js';
import { type Golden, readGolden } from '../../src/model/golden.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { DEMO_BUNDLES, REPO_ROOT } from '../model/helpers.js';
import { waitWhile } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const CPU = { executionProviders: [{ name: 'cpu' as const, threads: 1 }] };

let golden: Golden;
beforeAll(async () => {
  golden = await readGolden(`${DEMO_BUNDLES.pi0}/golden.json`);
});

async function loadWithHooks(events: WorkerEvent[], extra: WorkerPolicyOptions = {}): Promise<WorkerPolicy> {
  return WorkerPolicy.load(DEMO_BUNDLES.pi0, {
    ...CPU,
    seed: 4,
    testHooks: { ops: true },
    onEvent: (e) => events.push(e),
    ...extra,
  });
}

async function rejection(p: Promise<unknown>): Promise<OpenpiEdgeError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OpenpiEdgeError);
  return e as OpenpiEdgeError;
}

const shapeOf = (o: { actions?: unknown }): readonly number[] => (o.actions as NDArray).shape;

describe('WorkerPolicy crashes', () => {
  it.each([
    ['throws outside a request', '__crash', 1, 'test hook: worker crashed outside a request'],
    ['calls process.exit', '__exit', 70, 'exited with code 70'],
  ] as const)(
    'worker %s: WORKER_CRASHED for the request in flight, then a restart serves the next one',
    async (_what, op, exitCode, cause) => {
      const events: WorkerEvent[] = [];
      const policy = await loadWithHooks(events);
      try {
        const err = await rejection(policy.testOp(op));
        expect(err.code).toBe('WORKER_CRASHED');
        expect(err.context).toMatchObject({ exitCode, op, restarts: 0 });
        expect(err.message).toContain(cause);
        // Asked before the restart finished: waits for it. A restarted worker starts its noise over from the seed.
        const out = await policy.infer(golden.rawObservation);
        const fresh = await OnnxPolicy.load(DEMO_BUNDLES.pi0, { ...CPU, seed: 4, warmup: false });
        try {
          const first = await fresh.infer(golden.rawObservation);
          expect((out.actions as NDArray).data).toEqual((first.actions as NDArray).data);
        } finally {
          await fresh.close();
        }
        expect(events.map((e) => e.type)).toEqual(['crashed', 'restarted']);
        expect(events[0]).toMatchObject({ type: 'crashed', error: { code: 'WORKER_CRASHED' } });
        expect(events[1]).toEqual({ type: 'restarted', restarts: 1 });
        expect(policy.stats).toEqual({ restarts: 1, crashes: 1, hangs: 0 });
      } finally {
        await policy.close();
      }
    },
  );

  it('past maxRestarts every request fails with WORKER_CRASHED naming the last cause', async () => {
    const events: WorkerEvent[] = [];
    const policy = await loadWithHooks(events, { maxRestarts: 1 });
    try {
      expect((await rejection(policy.testOp('__crash'))).code).toBe('WORKER_CRASHED');
      expect(shapeOf(await policy.infer(golden.rawObservation))).toEqual([50, 14]);
      expect((await rejection(policy.testOp('__exit'))).context.exitCode).toBe(70);
      for (let i = 0; i < 2; i++) {
        const err = await rejection(policy.infer(golden.rawObservation));
        expect(err.code).toBe('WORKER_CRASHED');
        expect(err.message).toMatch(/failed for good after 1 restart.*last cause: .*exited with code 70/);
        expect(err.context).toMatchObject({
          restarts: 1,
          maxRestarts: 1,
          lastCode: 'WORKER_CRASHED',
          op: 'infer',
        });
      }
      expect(events.map((e) => e.type)).toEqual(['crashed', 'restarted', 'crashed', 'failed']);
      expect(policy.stats).toEqual({ restarts: 1, crashes: 2, hangs: 0 });
    } finally {
      await policy.close();
    }
  });
});

describe('WorkerPolicy hangs', () => {
  it('no answer within hangTimeoutMs: WORKER_HUNG, the thread is terminated and a new one serves the next request', async () => {
    const events: WorkerEvent[] = [];
    // Long enough for a demo-bundle chunk on a loaded 2-core machine; the hang itself never answers.
    const policy = await loadWithHooks(events, { hangTimeoutMs: 2_000 });
    try {
      const queued = policy.infer(golden.rawObservation); // sent first, answered normally
      const err = await rejection(policy.testOp('__hang'));
      expect(shapeOf(await queued)).toEqual([50, 14]);
      expect(err.code).toBe('WORKER_HUNG');
      expect(err.context).toMatchObject({ op: '__hang', timeoutMs: 2_000 });
      expect(shapeOf(await policy.infer(golden.rawObservation))).toEqual([50, 14]);
      expect(events.map((e) => e.type)).toEqual(['hung', 'restarted']);
      expect(policy.stats).toEqual({ restarts: 1, crashes: 0, hangs: 1 });
    } finally {
      await policy.close();
    }
  });

  it('refuses test ops unless testHooks.ops is set', async () => {
    const policy = await WorkerPolicy.load(DEMO_BUNDLES.pi0, { ...CPU, warmup: false });
    try {
      const err = await rejection(policy.testOp('__crash'));
      expect(err).toMatchObject({ code: 'BAD_ARGUMENT', context: { op: '__crash' } });
      expect(policy.stats).toEqual({ restarts: 0, crashes: 0, hangs: 0 });
    } finally {
      await policy.close();
    }
  });
});

describe('WorkerPolicy.close', () => {
  it('rejects the queued and the stuck in-flight request with CLOSED and terminates the thread', async () => {
    const gate = new SharedArrayBuffer(8); // never opened: the request in flight blocks its thread for good
    const policy = await WorkerPolicy.load(DEMO_BUNDLES.pi0, {
      ...CPU,
      warmup: false,
      closeGraceMs: 200,
      testHooks: { gate },
    });
    const inflight = rejection(policy.infer(golden.rawObservation));
    const queued = rejection(policy.infer(golden.rawObservation));
    await waitWhile(new Int32Array(gate), 1, 0); // the worker is inside the first request
    await policy.close();
    expect((await inflight).code).toBe('CLOSED');
    expect((await queued).code).toBe('CLOSED');
    expect((await rejection(policy.infer(golden.rawObservation))).code).toBe('CLOSED');
    await policy.close(); // idempotent
  });

  it('a process that loads, infers and closes exits by itself, after the worker thread exited', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', join(here, 'close-child.mts'), DEMO_BUNDLES.pi0],
      { cwd: REPO_ROOT, timeout: 120_000 },
    );
    const log = JSON.parse(stdout.trim().split('\n').at(-1) as string) as string[];
    expect(log).toEqual(['worker start', 'actions 50x14', 'worker exit 0', 'closed']);
  }, 150_000);
});
