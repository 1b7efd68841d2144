/**
 * Real-time chunking parity for every committed demo bundle: our guidance term (the exported VJP graph on
 * onnxruntime-node) and the guided / inpainted sampler against the exporter's PyTorch autograd reference of the
 * same formulas (golden.json `rtc`, trainer/openpi_edge_export/rtc_export.py), atol 1e-4.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Golden, type GoldenRtc, maxAbsDiff, readGolden } from '../../src/model/golden.js';
import { guidanceWeight, prefixWeights, rtcTarget } from '../../src/model/rtc.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { DEMO_BUNDLES, goldenBatch } from './helpers.js';

const ATOL = 1e-4;

describe.each(['pi0', 'pi05', 'ur5'] as const)('%s demo bundle: RTC', (model) => {
  let policy: OnnxPolicy;
  let golden: Golden;
  let rtc: GoldenRtc;

  beforeAll(async () => {
    policy = await OnnxPolicy.load(DEMO_BUNDLES[model], { executionProviders: ['cpu'], seed: 1 });
    golden = await readGolden(`${DEMO_BUNDLES[model]}/golden.json`);
    if (golden.rtc === null)
      throw new Error(`${model} golden.json has no rtc section: regenerate the demo bundle`);
    rtc = golden.rtc;
  });
  afterAll(() => policy.close());

  it('the bundle carries the guidance graph and the sampler loaded it', () => {
    expect(policy.model.manifest.graphs.guidance?.file).toBe('guidance.onnx');
    expect(policy.model.sampler.hasGuidance).toBe(true);
  });

  it('our soft mask is the reference one', () => {
    const { action_horizon: h, action_dim: a } = policy.model.manifest;
    const rows = prefixWeights(rtc.delay, rtc.overlap, h, rtc.schedule);
    const w = new Float32Array(h * a);
    for (let r = 0; r < h; r++) w.fill(rows[r] as number, r * a, r * a + rtc.validDims);
    expect(maxAbsDiff(w, rtc.guideWeights.data)).toBeLessThanOrEqual(1e-7);
    // The frozen rows, then a decay, then nothing.
    expect(rows[rtc.delay - 1]).toBe(1);
    expect(rows[rtc.delay] as number).toBeLessThan(1);
    expect(rows[rtc.overlap]).toBe(0);
  });

  it('one guided Euler step reproduces the autograd guidance term g at t = 1', async () => {
    // With num_steps = 1 and t = 1: x1 = z - (v - β g), so g = (x1 - z + v) / β, with v from the plain step.
    const target = {
      mode: 'guidance' as const,
      prevChunk: rtc.prevChunk.data,
      weights: rtc.guideWeights.data,
      maxGuidance: rtc.maxGuidance,
    };
    const z = golden.noise.data;
    const plain = await policy.model.sample(goldenBatch(golden), { noise: z, numSteps: 1 });
    const guided = await policy.model.sample(goldenBatch(golden), { noise: z, numSteps: 1, rtc: target });
    const beta = guidanceWeight(1, rtc.maxGuidance);
    expect(beta).toBe(rtc.maxGuidance);
    const g = guided.actions.map((x1, i) => (x1 - (plain.actions[i] as number)) / beta);
    expect(maxAbsDiff(g, rtc.guidanceFirst.data)).toBeLessThanOrEqual(ATOL);
    // The term is not trivially zero: the previous chunk differs from the model's own chunk.
    expect(Math.max(...rtc.guidanceFirst.data.map(Math.abs))).toBeGreaterThan(0.01);
  });

  it('the guided sampler reproduces the autograd guided chunk', async () => {
    const res = await policy.model.sample(goldenBatch(golden), {
      noise: golden.noise.data,
      rtc: {
        mode: 'guidance',
        prevChunk: rtc.prevChunk.data,
        weights: rtc.guideWeights.data,
        maxGuidance: rtc.maxGuidance,
      },
    });
    expect(maxAbsDiff(res.actions, rtc.guidedModelActions.data)).toBeLessThanOrEqual(ATOL);
    // Guidance moved the chunk: it is not the unguided one.
    expect(maxAbsDiff(res.actions, golden.modelActions.data)).toBeGreaterThan(1e-2);
  });

  it('the inpainting fallback reproduces its reference and freezes the executed rows exactly', async () => {
    const res = await policy.model.sample(goldenBatch(golden), {
      noise: golden.noise.data,
      rtc: { mode: 'inpaint', prevChunk: rtc.prevChunk.data, weights: rtc.guideWeights.data, maxGuidance: 0 },
    });
    expect(maxAbsDiff(res.actions, rtc.inpaintedModelActions.data)).toBeLessThanOrEqual(ATOL);
    const a = policy.model.manifest.action_dim;
    const frozen = rtc.delay * a;
    for (let r = 0; r < rtc.delay; r++) {
      for (let c = 0; c < rtc.validDims; c++) {
        expect(res.actions[r * a + c]).toBe(rtc.prevChunk.data[r * a + c]);
      }
    }
    expect(frozen).toBeGreaterThan(0);
  });

  it('rtcTarget builds the same Y and W from the previous rows', () => {
    const { action_horizon: h, action_dim: a } = policy.model.manifest;
    const rows = rtc.overlap;
    const t = rtcTarget({
      mode: 'guidance',
      prev: rtc.prevChunk.data.subarray(0, rows * a),
      rows,
      dims: rtc.validDims,
      delay: rtc.delay,
      schedule: rtc.schedule,
      maxGuidance: rtc.maxGuidance,
      horizon: h,
      actionDim: a,
    });
    expect(maxAbsDiff(t.weights, rtc.guideWeights.data)).toBeLessThanOrEqual(1e-7);
    expect(maxAbsDiff(t.prevChunk, rtc.prevChunk.data)).toBe(0);
  });

  it('refuses RTC on a batch of two and guidance without the graph, naming what is wrong', async () => {
    const one = goldenBatch(golden);
    const two = {
      ...one,
      batch: 2,
      images: Object.fromEntries(
        Object.entries(one.images).map(([k, v]) => [k, Uint8Array.from([...v, ...v])]),
      ),
      imageMask: Uint8Array.from([...one.imageMask, ...one.imageMask]),
      tokens: Int32Array.from([...one.tokens, ...one.tokens]),
      tokenMask: Uint8Array.from([...one.tokenMask, ...one.tokenMask]),
      ...(one.state === undefined ? {} : { state: Float32Array.from([...one.state, ...one.state]) }),
    };
    const target = {
      mode: 'guidance' as const,
      prevChunk: rtc.prevChunk.data,
      weights: rtc.guideWeights.data,
      maxGuidance: 5,
    };
    await expect(policy.model.sample(two, { rtc: target })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining('batch 1'),
    });
    const noGuidance = await OnnxPolicy.load(DEMO_BUNDLES[model], {
      executionProviders: ['cpu'],
      loadGuidance: false,
      warmup: false,
    });
    try {
      expect(noGuidance.model.sampler.hasGuidance).toBe(false);
      await expect(noGuidance.model.sample(one, { rtc: target })).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        message: expect.stringContaining('no guidance graph'),
      });
    } finally {
      await noGuidance.close();
    }
  });
});
