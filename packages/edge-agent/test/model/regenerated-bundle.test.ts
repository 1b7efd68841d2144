/**
 * The committed demo bundles must equal what trainer/ regenerates (issue 4, item 7): given regenerated bundles in
 * `$OPENPI_EDGE_REGEN_DIR/demo-bundle-{pi0,pi05,ur5}` (CI: written by `python -m openpi_edge_export demo`), or else
 * generated here into a temp dir with the trainer CLI, compare them with packages/edge-agent/assets numerically:
 * manifest equal except provenance.torch_version/onnx_version, norm stats, tokenizer and the golden raw observation
 * identical, golden arrays within 1e-5 (docs/bundle-format.md "Reproducibility"), and both bundles' graphs giving
 * the same outputs on onnxruntime-node for the golden inputs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, readGolden } from '../../src/model/golden.js';
import { OnnxModel } from '../../src/model/onnx-model.js';
import { DEMO_BUNDLE_ARGS, DEMO_BUNDLES, goldenBatch, REPO_ROOT } from './helpers.js';

const run = promisify(execFile);
const ATOL = 1e-5;
let regenRoot: string;
let generated: string | null = null;

beforeAll(async () => {
  const given = process.env.OPENPI_EDGE_REGEN_DIR;
  if (given !== undefined && given !== '') {
    regenRoot = given;
    return;
  }
  await run('bash', [join(REPO_ROOT, 'scripts', 'trainer-env.sh')], { cwd: REPO_ROOT, timeout: 600_000 });
  generated = await mkdtemp(join(tmpdir(), 'openpi-edge-regen-'));
  regenRoot = generated;
  for (const [name, { modelType, robot }] of Object.entries(DEMO_BUNDLE_ARGS)) {
    await run(
      join(REPO_ROOT, 'trainer', '.venv', 'bin', 'python'),
      [
        '-m',
        'openpi_edge_export',
        'demo',
        '--model-type',
        modelType,
        '--robot',
        robot,
        '--out',
        join(generated, `demo-bundle-${name}`),
      ],
      { cwd: join(REPO_ROOT, 'trainer'), timeout: 300_000 },
    );
  }
}, 1_200_000);
afterAll(async () => {
  if (generated !== null) await rm(generated, { recursive: true, force: true });
});

const json = async (path: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

describe.each(['pi0', 'pi05', 'ur5'] as const)('regenerated %s demo bundle', (model) => {
  const committed = DEMO_BUNDLES[model];
  const regen = () => join(regenRoot, `demo-bundle-${model}`);

  it('has the same manifest (except toolchain versions), norm stats and tokenizer', async () => {
    const strip = (m: Record<string, unknown>) => {
      const p = { ...(m.provenance as Record<string, unknown>) };
      delete p.torch_version;
      delete p.onnx_version;
      return { ...m, provenance: p };
    };
    expect(strip(await json(join(regen(), 'manifest.json')))).toEqual(
      strip(await json(join(committed, 'manifest.json'))),
    );
    expect(await json(join(regen(), 'norm_stats.json'))).toEqual(
      await json(join(committed, 'norm_stats.json')),
    );
    const [a, b] = await Promise.all([
      readFile(join(regen(), 'tokenizer.model')),
      readFile(join(committed, 'tokenizer.model')),
    ]);
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it(`has golden arrays equal within ${ATOL} (integers exactly)`, async () => {
    const [g1, g0] = await Promise.all([
      readGolden(join(regen(), 'golden.json')),
      readGolden(join(committed, 'golden.json')),
    ]);
    expect(g1.promptText).toBe(g0.promptText);
    expect(g1.rawObservation).toEqual(g0.rawObservation);
    for (const key of ['noise', 'modelActions', 'actions'] as const) {
      expect(g1[key].shape).toEqual(g0[key].shape);
      expect(maxAbsDiff(g1[key].data, g0[key].data), key).toBeLessThanOrEqual(ATOL);
    }
    if (g0.rtc === null || g1.rtc === null) throw new Error('a demo golden lacks its rtc section');
    for (const key of [
      'prevChunk',
      'guideWeights',
      'guidanceFirst',
      'guidedModelActions',
      'inpaintedModelActions',
    ] as const) {
      expect(maxAbsDiff(g1.rtc[key].data, g0.rtc[key].data), `rtc.${key}`).toBeLessThanOrEqual(ATOL);
    }
    for (const [k, v] of Object.entries(g0.modelInputs)) {
      const w = g1.modelInputs[k];
      if (w === undefined) throw new Error(`regenerated golden lacks model_inputs.${k}`);
      expect(w.shape, k).toEqual(v.shape);
      if (v.dtype === 'float32') {
        expect(maxAbsDiff(w.data as Float32Array, v.data as Float32Array), k).toBeLessThanOrEqual(ATOL);
      } else {
        expect(Array.from(w.data as ArrayLike<number>), k).toEqual(Array.from(v.data as ArrayLike<number>));
      }
    }
  });

  it('has graphs that give the committed graphs’ outputs on onnxruntime-node', async () => {
    const g = await readGolden(join(committed, 'golden.json'));
    const options = { executionProviders: ['cpu'] as const, warmup: false };
    const [m0, m1] = await Promise.all([
      OnnxModel.load(committed, options),
      OnnxModel.load(regen(), options),
    ]);
    try {
      const [a, b] = await Promise.all([
        m0.sample(goldenBatch(g), { noise: g.noise.data }),
        m1.sample(goldenBatch(g), { noise: g.noise.data }),
      ]);
      expect(maxAbsDiff(a.actions, b.actions)).toBeLessThanOrEqual(ATOL);
      // The guidance graph too (real-time chunking's VJP).
      const r = g.rtc;
      if (r === null) throw new Error('the committed golden lacks its rtc section');
      const rtc = {
        mode: 'guidance' as const,
        prevChunk: r.prevChunk.data,
        weights: r.guideWeights.data,
        maxGuidance: r.maxGuidance,
      };
      const [c, d] = await Promise.all([
        m0.sample(goldenBatch(g), { noise: g.noise.data, rtc }),
        m1.sample(goldenBatch(g), { noise: g.noise.data, rtc }),
      ]);
      expect(maxAbsDiff(c.actions, d.actions)).toBeLessThanOrEqual(ATOL);
    } finally {
      await Promise.all([m0.close(), m1.close()]);
    }
  });
});
