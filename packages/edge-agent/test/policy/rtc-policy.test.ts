/**
 * Real-time chunking through the policy: a request's `rtc` entry (robot-space rows of the executing chunk) goes
 * back through the inverse output transforms into the model's space, and the new chunk continues it.
 */
import { type NDArray, ndarray, type Obs } from '@openpi-edge/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Golden, maxAbsDiff, readGolden } from '../../src/model/golden.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { DEMO_BUNDLES } from '../model/helpers.js';

const rowsFrom = (a: NDArray<'float64'>, from: number, to: number): NDArray<'float64'> => {
  const d = a.shape[1] as number;
  return ndarray('float64', [to - from, d], a.data.slice(from * d, to * d));
};

describe.each(['pi0', 'pi05', 'ur5'] as const)('%s demo bundle: RTC requests', (model) => {
  let policy: OnnxPolicy;
  let golden: Golden;

  beforeAll(async () => {
    policy = await OnnxPolicy.load(DEMO_BUNDLES[model], { executionProviders: ['cpu'], seed: 3 });
    golden = await readGolden(`${DEMO_BUNDLES[model]}/golden.json`);
  });
  afterAll(() => policy.close());

  it('actionsToModel inverts the output transforms (delta dims against the same state)', () => {
    const inp = policy.pipeline.inputTransforms(golden.rawObservation);
    const { action_horizon: h, action_dim: a } = policy.model.manifest;
    const back = policy.pipeline.actionsToModel(golden.actions, inp);
    const dims = golden.actions.shape[1] as number;
    expect(back.rows).toBe(h);
    expect(back.dims).toBe(dims);
    const want = golden.modelActions.data;
    let worst = 0;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < a; c++) {
        const got = back.data[r * a + c] as number;
        if (c >= dims) expect(got).toBe(0);
        else worst = Math.max(worst, Math.abs(got - (want[r * a + c] as number)));
      }
    }
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('inpaint: the rows that execute during the inference are the executing chunk itself', async () => {
    const shift = 7;
    const delay = 4;
    const prev = rowsFrom(golden.actions, shift, golden.actions.shape[0] as number);
    const obs: Obs = { ...golden.rawObservation, rtc: { prev_actions: prev, delay, mode: 'inpaint' } };
    const out = (await policy.infer(obs)).actions as NDArray<'float64'>;
    const d = out.shape[1] as number;
    expect(maxAbsDiff(out.data.subarray(0, delay * d), prev.data.subarray(0, delay * d))).toBeLessThanOrEqual(
      1e-5,
    );
    // A plain chunk from fresh noise is nowhere near them.
    const plain = (await policy.infer(golden.rawObservation)).actions as NDArray<'float64'>;
    expect(maxAbsDiff(plain.data.subarray(0, delay * d), prev.data.subarray(0, delay * d))).toBeGreaterThan(
      1e-2,
    );
  });

  it('guidance: the new chunk follows the executing rows far closer than a free chunk does', async () => {
    const shift = 7;
    const delay = 4;
    const prev = rowsFrom(golden.actions, shift, golden.actions.shape[0] as number);
    const d = prev.shape[1] as number;
    const gap = (a: NDArray<'float64'>): number => {
      let s = 0;
      for (let i = 0; i < delay * d; i++) s += Math.abs((a.data[i] as number) - (prev.data[i] as number));
      return s / (delay * d);
    };
    let guided = 0;
    let free = 0;
    for (let k = 0; k < 3; k++) {
      guided += gap(
        (await policy.infer({ ...golden.rawObservation, rtc: { prev_actions: prev, delay } }))
          .actions as NDArray<'float64'>,
      );
      free += gap((await policy.infer(golden.rawObservation)).actions as NDArray<'float64'>);
    }
    expect(guided).toBeLessThan(0.5 * free);
  });

  it('a batch mixing plain and tied requests answers each in order', async () => {
    const prev = rowsFrom(golden.actions, 5, golden.actions.shape[0] as number);
    const tied: Obs = { ...golden.rawObservation, rtc: { prev_actions: prev, delay: 3, mode: 'inpaint' } };
    const [a, b, c] = await policy.inferBatch([golden.rawObservation, tied, golden.rawObservation]);
    const d = prev.shape[1] as number;
    const rows = (o: Obs | undefined) => ((o as Obs).actions as NDArray<'float64'>).data.subarray(0, 3 * d);
    expect(maxAbsDiff(rows(b), prev.data.subarray(0, 3 * d))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(rows(a), prev.data.subarray(0, 3 * d))).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(rows(c), prev.data.subarray(0, 3 * d))).toBeGreaterThan(1e-2);
  });

  it('malformed entries fail with BAD_OBSERVATION naming the field; the policy keeps serving', async () => {
    const d = golden.actions.shape[1] as number;
    const ok = rowsFrom(golden.actions, 0, 10);
    const cases: [unknown, string][] = [
      [{ delay: 2 }, 'rtc.prev_actions'],
      [{ prev_actions: ndarray('int32', [2, d], new Int32Array(2 * d)), delay: 2 }, 'rtc.prev_actions'],
      [
        { prev_actions: ndarray('float64', [2, d], new Float64Array(2 * d).fill(Number.NaN)), delay: 2 },
        'rtc.prev_actions',
      ],
      [{ prev_actions: ok, delay: -1 }, 'rtc.delay'],
      [{ prev_actions: ok, delay: 1.5 }, 'rtc.delay'],
      [{ prev_actions: ok, delay: 2, mode: 'blend' }, 'rtc.mode'],
      ['yes', 'rtc.'],
    ];
    for (const [entry, key] of cases) {
      await expect(policy.infer({ ...golden.rawObservation, rtc: entry as Obs })).rejects.toMatchObject({
        code: 'BAD_OBSERVATION',
        message: expect.stringContaining(key),
      });
    }
    const wide = ndarray('float64', [2, 40], new Float64Array(80));
    await expect(
      policy.infer({ ...golden.rawObservation, rtc: { prev_actions: wide, delay: 1 } }),
    ).rejects.toMatchObject({
      code: 'BAD_SHAPE',
    });
    const out = await policy.infer(golden.rawObservation);
    expect((out.actions as NDArray).shape).toEqual(golden.actions.shape);
  });
});

describe('rtc mode off', () => {
  it('ignores entries (plain chunks), and guidance without the graph is refused at load', async () => {
    const golden = await readGolden(`${DEMO_BUNDLES.pi0}/golden.json`);
    const off = await OnnxPolicy.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['cpu'],
      rtc: { mode: 'off' },
      loadGuidance: false,
      warmup: false,
    });
    try {
      const prev = rowsFrom(golden.actions, 5, golden.actions.shape[0] as number);
      const [out] = await off.inferBatch(
        [{ ...golden.rawObservation, rtc: { prev_actions: prev, delay: 3, mode: 'inpaint' } }],
        {
          noise: golden.noise.data,
        },
      );
      // With the golden noise and no tie the chunk is the golden one.
      expect(
        maxAbsDiff(((out as Obs).actions as NDArray<'float64'>).data, golden.actions.data),
      ).toBeLessThanOrEqual(1e-4);
    } finally {
      await off.close();
    }
    await expect(
      OnnxPolicy.load(DEMO_BUNDLES.pi0, {
        executionProviders: ['cpu'],
        rtc: { mode: 'guidance' },
        loadGuidance: false,
        warmup: false,
      }),
    ).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('guidance graph') });
  });
});
