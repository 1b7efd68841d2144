/**
 * WorkerPolicy against the in-thread OnnxPolicy on the committed demo bundles (real onnxruntime): the same actions
 * for the same seed and observation, inferFrames equal to infer on today's captureCameraImages output, the same
 * errors (bad observation, bad bundle, no provider) and provider warnings, a control-loop thread that keeps
 * running while the worker's thread is blocked inside a request, and the worker thread's lower priority.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import type { NDArray } from '../../../client/src/ndarray.js';
import type { Obs } from '../../../client/src/policy.js';
import { WorkerPolicy } from '../../src/inference/worker-policy.js';
import type { ProviderFailure } from '../../src/model/execution-providers.js';
import { type Golden, readGolden } from '../../src/model/golden.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { captureCameraImages } from '../../src/robots/aloha/camera-images.js';
import { DEMO_BUNDLES } from '../model/helpers.js';
import { sourcesFor, testFrames } from './helpers.js';

const CPU = { executionProviders: [{ name: 'cpu' as const, threads: 1 }] };
const actions = (o: Obs): NDArray<'float64'> => o.actions as NDArray<'float64'>;

async function errorOf(p: Promise<unknown>): Promise<OpenpiEdgeError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OpenpiEdgeError);
  return e as OpenpiEdgeError;
}

describe.each(['pi0', 'pi05'] as const)('WorkerPolicy vs OnnxPolicy (demo %s)', (model) => {
  let inThread: OnnxPolicy;
  let worker: WorkerPolicy;
  let golden: Golden;

  beforeAll(async () => {
    [inThread, worker] = await Promise.all([
      OnnxPolicy.load(DEMO_BUNDLES[model], { ...CPU, seed: 21 }),
      WorkerPolicy.load(DEMO_BUNDLES[model], { ...CPU, seed: 21 }),
    ]);
    golden = await readGolden(`${DEMO_BUNDLES[model]}/golden.json`);
  });
  afterAll(async () => {
    await Promise.all([inThread.close(), worker.close()]);
  });

  it('exposes the same metadata, manifest, directory and load report', () => {
    expect(worker.metadata).toEqual(inThread.metadata);
    expect(worker.manifest).toEqual(inThread.model.manifest);
    expect(worker.dir).toBe(inThread.model.bundle.dir);
    expect(worker.report.provider).toEqual(inThread.model.report.provider);
    expect(worker.report.ort).toEqual(inThread.model.report.ort);
    expect(worker.report.fallbacks).toEqual([]);
    expect(typeof worker.report.warmupMs).toBe('number');
    expect(worker.reset()).toBeUndefined();
  });

  it('gives bit-identical actions for the same seed and observations (two chunks)', async () => {
    for (let i = 0; i < 2; i++) {
      const a = await inThread.infer(golden.rawObservation);
      const b = await worker.infer(golden.rawObservation);
      expect(actions(b).dtype).toBe('float64');
      expect(actions(b).shape).toEqual(actions(a).shape);
      expect(actions(b).data).toEqual(actions(a).data);
      expect(Object.keys(b.policy_timing as object).sort()).toEqual(
        Object.keys(a.policy_timing as object).sort(),
      );
    }
  });

  it('inferFrames equals infer on the images captureCameraImages makes from the same frames', async () => {
    const frames = testFrames(2, model === 'pi05');
    const { images: _golden, ...obs } = golden.rawObservation;
    const { images } = await captureCameraImages(sourcesFor(frames));
    const a = await inThread.infer({ ...obs, images });
    const b = await worker.inferFrames(obs, { frames, height: 224, width: 224 });
    expect(actions(b).data).toEqual(actions(a).data);
  });

  it('rejects a bad observation with the same code, message and context, then keeps working', async () => {
    const { cam_high: _dropped, ...images } = golden.rawObservation.images as Record<string, NDArray>;
    for (const bad of [
      { ...golden.rawObservation, state: 'x' },
      { ...golden.rawObservation, images },
    ]) {
      const a = await errorOf(inThread.infer(bad));
      const b = await errorOf(worker.infer(bad));
      expect(b.code).toBe('BAD_OBSERVATION');
      expect(b.message).toBe(a.message);
      expect(b.context).toEqual(a.context);
      expect(b.stack).toContain(b.message); // the worker's own stack comes along
    }
    const ok = await worker.infer(golden.rawObservation);
    expect(actions(ok).shape).toEqual([50, 14]);
    expect(worker.stats).toEqual({ restarts: 0, crashes: 0, hangs: 0 });
  });
});

describe('WorkerPolicy.load errors and warnings', () => {
  it('rejects a bad bundle directory with BAD_BUNDLE, as OnnxPolicy.load does', async () => {
    const dir = `${DEMO_BUNDLES.pi0}-does-not-exist`;
    const a = await errorOf(OnnxPolicy.load(dir, CPU));
    const b = await errorOf(WorkerPolicy.load(dir, CPU));
    expect(b.code).toBe('BAD_BUNDLE');
    expect(b.message).toBe(a.message);
    expect(b.context).toEqual(a.context);
  });

  it('rejects when no provider works with NO_EXECUTION_PROVIDER, as OnnxPolicy.load does', async () => {
    const opts = { executionProviders: ['cuda' as const], onProviderWarning: () => {} };
    const a = await errorOf(OnnxPolicy.load(DEMO_BUNDLES.pi0, opts));
    const b = await errorOf(WorkerPolicy.load(DEMO_BUNDLES.pi0, opts));
    expect(b.code).toBe('NO_EXECUTION_PROVIDER');
    expect(b.message).toBe(a.message);
    expect(b.context).toEqual(a.context);
  });

  it('forwards provider fallback warnings to onProviderWarning like OnnxPolicy', async () => {
    const seen = { inThread: [] as [string, ProviderFailure][], worker: [] as [string, ProviderFailure][] };
    const opts = (into: [string, ProviderFailure][]) => ({
      executionProviders: ['tensorrt' as const, 'cuda' as const, 'cpu' as const],
      warmup: false,
      onProviderWarning: (m: string, f: ProviderFailure) => into.push([m, f]),
    });
    const a = await OnnxPolicy.load(DEMO_BUNDLES.pi0, opts(seen.inThread));
    const b = await WorkerPolicy.load(DEMO_BUNDLES.pi0, opts(seen.worker));
    try {
      expect(seen.worker).toHaveLength(2);
      expect(seen.worker).toEqual(seen.inThread);
      expect(b.report.fallbacks.map((f) => f.provider)).toEqual(['tensorrt', 'cuda']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses a NoiseSource object and bad supervision options with BAD_ARGUMENT', async () => {
    const noise = { fill: (out: Float32Array) => out.fill(0) };
    expect((await errorOf(WorkerPolicy.load(DEMO_BUNDLES.pi0, { noise }))).context).toEqual({
      field: 'noise',
    });
    const bad = await errorOf(WorkerPolicy.load(DEMO_BUNDLES.pi0, { hangTimeoutMs: 0 }));
    expect(bad).toMatchObject({ code: 'BAD_ARGUMENT', context: { field: 'hangTimeoutMs' } });
  });
});

describe('the calling thread while the worker computes', () => {
  it("keeps running the caller's timers while the worker's thread is blocked inside infer", async () => {
    // The gate blocks the worker's thread synchronously inside the request, as a long onnxruntime graph does, and
    // only this thread's interval opens it: infer can only resolve if this event loop kept turning meanwhile.
    const gate = new SharedArrayBuffer(8);
    const g = new Int32Array(gate);
    const policy = await WorkerPolicy.load(DEMO_BUNDLES.pi0, { ...CPU, seed: 1, testHooks: { gate } });
    const golden = await readGolden(`${DEMO_BUNDLES.pi0}/golden.json`);
    const TICKS = 10;
    let ticks = 0;
    let ticksWhileBlocked = 0;
    const interval = setInterval(() => {
      ticks += 1;
      if (Atomics.load(g, 1) === 1) ticksWhileBlocked += 1; // the worker has entered the request
      if (ticksWhileBlocked === TICKS) {
        Atomics.store(g, 0, 1);
        Atomics.notify(g, 0);
      }
    }, 1);
    try {
      const out = await policy.infer(golden.rawObservation);
      expect(actions(out).shape).toEqual([50, 14]);
      expect(ticksWhileBlocked).toBeGreaterThanOrEqual(TICKS);
      expect(ticks).toBeGreaterThanOrEqual(TICKS);
    } finally {
      clearInterval(interval);
      await policy.close();
    }
  });
});

/** Nice values of this process's OS threads (Linux: field 19 of /proc/self/task/<tid>/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('WorkerPolicy thread priority', () => {
  it('runs the worker thread (and the onnxruntime threads it creates) at threadNice, this thread unchanged', async () => {
    const before = threadNices().filter((n) => n === 7).length;
    const policy = await WorkerPolicy.load(DEMO_BUNDLES.pi0, {
      executionProviders: [{ name: 'cpu', threads: 2 }],
      warmup: false,
      threadNice: 7,
    });
    try {
      expect(threadNices().filter((n) => n === 7).length).toBeGreaterThanOrEqual(before + 2); // worker + 1 pool thread
      expect(getPriority()).toBe(0);
    } finally {
      await policy.close();
    }
  });
});
