/** OnnxPolicy as a local BasePolicy: seeded noise, num_steps override, bad observations, batching, close. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import type { NDArray } from '../../../client/src/ndarray.js';
import { type Golden, maxAbsDiff, readGolden } from '../../src/model/golden.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { DEMO_BUNDLES } from '../model/helpers.js';

const actionsOf = (o: unknown): Float64Array =>
  (o as { actions: NDArray<'float64'> }).actions.data as Float64Array;

describe('OnnxPolicy (demo π0)', () => {
  let a: OnnxPolicy;
  let b: OnnxPolicy;
  let golden: Golden;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      OnnxPolicy.load(DEMO_BUNDLES.pi0, { executionProviders: ['cpu'], seed: 11 }),
      OnnxPolicy.load(DEMO_BUNDLES.pi0, { executionProviders: ['cpu'], seed: 11, numSteps: 3 }),
    ]);
    golden = await readGolden(`${DEMO_BUNDLES.pi0}/golden.json`);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('exposes the manifest metadata and resets without error', () => {
    expect(a.metadata).toEqual({ reset_pose: [0, -0.96, 1.16, 0, -0.3, 0] });
    expect(a.reset()).toBeUndefined();
  });

  it('draws fresh seeded noise per chunk: same seed, same sequence', async () => {
    const other = await OnnxPolicy.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['cpu'],
      seed: 11,
      warmup: false,
    });
    try {
      const x1 = actionsOf(await a.infer(golden.rawObservation));
      const x2 = actionsOf(await a.infer(golden.rawObservation));
      const y1 = actionsOf(await other.infer(golden.rawObservation));
      const y2 = actionsOf(await other.infer(golden.rawObservation));
      expect(maxAbsDiff(x1, y1)).toBe(0);
      expect(maxAbsDiff(x2, y2)).toBe(0);
      expect(maxAbsDiff(x1, x2)).toBeGreaterThan(1e-3);
    } finally {
      await other.close();
    }
  });

  it('honours numSteps (policy option and per call)', async () => {
    const noise = golden.noise.data;
    const [three] = await b.inferBatch([golden.rawObservation], { noise });
    const [threeToo] = await a.inferBatch([golden.rawObservation], { noise, numSteps: 3 });
    const [ten] = await a.inferBatch([golden.rawObservation], { noise });
    expect(maxAbsDiff(actionsOf(three), actionsOf(threeToo))).toBe(0);
    expect(maxAbsDiff(actionsOf(three), actionsOf(ten))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(actionsOf(ten), golden.actions.data)).toBeLessThanOrEqual(1e-4);
  });

  it('rejects a bad observation with BAD_OBSERVATION naming the key, and keeps working', async () => {
    const err = await a.infer({ ...golden.rawObservation, state: 'not an array' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    expect((err as OpenpiEdgeError).code).toBe('BAD_OBSERVATION');
    expect((err as OpenpiEdgeError).context.key).toBe('state');
    const batchErr = await a
      .inferBatch([golden.rawObservation, { prompt: 'x' }])
      .catch((e: unknown) => e as OpenpiEdgeError);
    expect(batchErr).toMatchObject({ code: 'BAD_OBSERVATION', context: { index: 1 } });
    const ok = await a.infer(golden.rawObservation);
    expect((ok.actions as NDArray).shape).toEqual([50, 14]);
  });

  it('rejects noise of the wrong size', async () => {
    await expect(a.inferBatch([golden.rawObservation], { noise: new Float32Array(3) })).rejects.toMatchObject(
      {
        code: 'BAD_SHAPE',
        context: { key: 'noise', elements: 3, expected: 1600 },
      },
    );
  });
});
