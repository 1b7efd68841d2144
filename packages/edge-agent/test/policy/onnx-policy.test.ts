/**
 * OnnxPolicy as a local BasePolicy: seeded noise, num_steps override, bad observations, batching, close; and the
 * demo UR5 bundle on openpi's UR5 observation layout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import type { NDArray, Value } from '../../../client/src/ndarray.js';
import { DEMO_BUNDLE_UR5 } from '../../src/config/load.js';
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

describe('OnnxPolicy (demo UR5 π0)', () => {
  let policy: OnnxPolicy;

  /** openpi's UR5 layout (examples/ur5/README.md): joints float32 [6], gripper float32 [1], HWC uint8 cameras. */
  const ur5Observation = (withPrompt = true): { [key: string]: Value } => {
    const image = (seed: number): NDArray<'uint8'> => ({
      dtype: 'uint8',
      shape: [224, 224, 3],
      data: Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => (i * seed + (i >> 7)) % 256),
    });
    return {
      joints: { dtype: 'float32', shape: [6], data: Float32Array.from([0.1, -1.5, 1.6, -1.6, -1.55, 0.05]) },
      gripper: { dtype: 'float32', shape: [1], data: Float32Array.from([0.2]) },
      base_rgb: image(7),
      wrist_rgb: image(13),
      ...(withPrompt ? { prompt: 'pick up the cube' } : {}),
    };
  };

  beforeAll(async () => {
    policy = await OnnxPolicy.load(DEMO_BUNDLE_UR5, { executionProviders: ['cpu'], seed: 3 });
  });
  afterAll(() => policy.close());

  it('is the committed UR5 bundle: ur5 adapter, delta mask (6, -1), no metadata', () => {
    expect(DEMO_BUNDLE_UR5).toBe(DEMO_BUNDLES.ur5);
    const m = policy.model.manifest;
    expect(m.model_type).toBe('pi0');
    expect(m.robot).toEqual({
      kind: 'ur5',
      options: {
        delta_action_mask: [true, true, true, true, true, true, false],
        state_dim: 7,
        output_dim: 7,
      },
    });
    expect(m.default_prompt).toBe('pick up the cube');
    expect(policy.metadata).toEqual({});
  });

  it('infers finite float64 actions [H, 7] from a UR5 observation', async () => {
    const out = await policy.infer(ur5Observation());
    const actions = out.actions as NDArray<'float64'>;
    expect(actions.dtype).toBe('float64');
    expect(actions.shape).toEqual([policy.model.manifest.action_horizon, 7]);
    expect(actions.shape).toEqual([50, 7]);
    expect(actions.data.every((v) => Number.isFinite(v))).toBe(true);
    expect(out.policy_timing).toMatchObject({ infer_ms: expect.any(Number) });
  });

  it('uses the manifest default prompt when the observation has none', async () => {
    const { action_horizon: h, action_dim: d } = policy.model.manifest;
    const noise = Float32Array.from({ length: h * d }, (_, i) => Math.sin(i));
    const [given] = await policy.inferBatch([ur5Observation(true)], { noise });
    const [defaulted] = await policy.inferBatch([ur5Observation(false)], { noise });
    expect(maxAbsDiff(actionsOf(given), actionsOf(defaulted))).toBe(0);
  });

  it('rejects a UR5 observation without wrist_rgb with BAD_OBSERVATION naming the key', async () => {
    const { wrist_rgb: _dropped, ...obs } = ur5Observation();
    const err = await policy.infer(obs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    expect(err).toMatchObject({ code: 'BAD_OBSERVATION', context: { key: 'wrist_rgb' } });
  });
});
