/**
 * The loader catches broken bundles at load time, with BAD_BUNDLE errors naming the file and the field. Each case
 * breaks one thing in a temp copy of the committed demo bundle.
 */
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import { loadBundle } from '../../src/model/bundle.js';
import { parseManifest } from '../../src/model/manifest.js';
import { OnnxModel } from '../../src/model/onnx-model.js';
import { copyBundle, DEMO_BUNDLES, editManifest } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function brokenCopy(model: 'pi0' | 'pi05' = 'pi0'): Promise<string> {
  const { dir, cleanup } = await copyBundle(DEMO_BUNDLES[model]);
  cleanups.push(cleanup);
  return dir;
}

async function loadError(dir: string, load: 'bundle' | 'model' = 'bundle'): Promise<OpenpiEdgeError> {
  try {
    if (load === 'bundle') await loadBundle(dir);
    else await (await OnnxModel.load(dir, { executionProviders: ['cpu'], warmup: false })).close();
  } catch (e) {
    expect(e).toBeInstanceOf(OpenpiEdgeError);
    return e as OpenpiEdgeError;
  }
  throw new Error(`loading ${dir} did not fail`);
}

describe('loadBundle', () => {
  it('loads both demo bundles', async () => {
    for (const model of ['pi0', 'pi05'] as const) {
      const b = await loadBundle(DEMO_BUNDLES[model]);
      expect(b.manifest.model_type).toBe(model);
      expect(b.manifest.state_input).toBe(model === 'pi0' ? 'token' : 'prompt');
      expect(b.normStats.state?.mean.length).toBe(14);
      expect(b.tokenizer.maxLen).toBe(model === 'pi0' ? 48 : 200);
      expect(b.goldenPath).toBe(join(DEMO_BUNDLES[model], 'golden.json'));
    }
  });

  it('rejects a directory without manifest.json', async () => {
    const dir = await brokenCopy();
    await rm(join(dir, 'manifest.json'));
    const e = await loadError(dir);
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.message).toContain('manifest.json: missing');
  });

  it('rejects a missing graph file, naming it and the manifest field', async () => {
    const dir = await brokenCopy();
    await rm(join(dir, 'denoise.onnx'));
    const e = await loadError(dir);
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.context).toMatchObject({ file: join(dir, 'denoise.onnx'), field: 'graphs.denoise.file' });
  });

  it('names the field of a manifest value with the wrong type', async () => {
    const dir = await brokenCopy();
    await editManifest(dir, (m) => {
      (m as unknown as Record<string, unknown>).action_horizon = '50';
    });
    const e = await loadError(dir);
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.context.field).toBe('action_horizon');
    expect(e.message).toMatch(/manifest\.json: action_horizon: /);
  });

  it('names nested fields (graph input dtype) and rejects another format_version', async () => {
    const dir = await brokenCopy();
    await editManifest(dir, (m) => {
      (m.graphs.prefix.inputs[3] as { dtype: string }).dtype = 'float64';
    });
    expect((await loadError(dir)).context.field).toBe('graphs.prefix.inputs[3].dtype');
    await editManifest(dir, (m) => {
      (m as unknown as Record<string, unknown>).format_version = 2;
    });
    expect((await loadError(dir)).context.field).toBe('format_version');
  });

  it('rejects a manifest whose declared graph I/O contradicts its sizes', async () => {
    const dir = await brokenCopy();
    await editManifest(dir, (m) => {
      m.action_horizon = 10;
    });
    const e = await loadError(dir);
    expect(e.context.field).toBe('graphs.denoise.inputs[0].shape');
    expect(e.message).toContain("'x_t'");
  });

  it('rejects graphs whose real inputs do not match the manifest (checked on the ONNX session)', async () => {
    const dir = await brokenCopy();
    // The denoise graph where the prefix graph should be: a self-consistent manifest, wrong graph file.
    await copyFile(join(dir, 'denoise.onnx'), join(dir, 'prefix.onnx'));
    const e = await loadError(dir, 'model');
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.context).toMatchObject({ file: join(dir, 'prefix.onnx'), field: 'graphs.prefix.inputs' });
    expect(e.message).toContain("missing tensor 'base_0_rgb'");
  });

  it('rejects pi05 graphs under a pi0 manifest (denoise graph lacks the state input)', async () => {
    const { dir, cleanup } = await copyBundle(DEMO_BUNDLES.pi05);
    cleanups.push(cleanup);
    await editManifest(dir, (m) => {
      m.graphs.denoise.inputs.splice(2, 0, { name: 'state', dtype: 'float32', shape: ['batch', 32] });
      m.state_input = 'token';
      m.model_type = 'pi0';
      m.discrete_state_input = false;
      delete m.graphs.guidance; // its spec would be refused first (it lacks the state too): this is the graph's check
    });
    const e = await loadError(dir, 'model');
    expect(e.context.field).toBe('graphs.denoise.inputs');
    expect(e.message).toContain("missing tensor 'state'");
  });

  it("rejects a guidance graph spec that contradicts the manifest's sizes", async () => {
    const { dir, cleanup } = await copyBundle(DEMO_BUNDLES.pi0);
    cleanups.push(cleanup);
    await editManifest(dir, (m) => {
      const g = m.graphs.guidance;
      if (g === undefined) throw new Error('the demo bundle has a guidance graph');
      g.inputs = g.inputs.filter((t) => t.name !== 'guide_weights');
    });
    const e = await loadError(dir);
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.context.field).toBe('graphs.guidance.inputs');
    expect(e.message).toContain("missing tensor 'guide_weights'");
  });

  it('rejects missing or malformed norm stats', async () => {
    const dir = await brokenCopy();
    await rm(join(dir, 'norm_stats.json'));
    let e = await loadError(dir);
    expect(e.context).toMatchObject({ field: 'normalization.stats_file' });
    await writeFile(
      join(dir, 'norm_stats.json'),
      JSON.stringify({ norm_stats: { state: { mean: [0], std: [1] } } }),
    );
    e = await loadError(dir);
    expect(e.context.field).toBe('norm_stats.actions');
    await writeFile(join(dir, 'norm_stats.json'), JSON.stringify({ norm_stats: { state: { mean: 'x' } } }));
    e = await loadError(dir);
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.message).toContain('norm_stats.state.mean');
  });

  it('rejects quantile stats without q01/q99 and stats narrower than the robot state', async () => {
    const dir = await brokenCopy('pi05');
    const v = Array.from({ length: 14 }, () => 0.5);
    await writeFile(
      join(dir, 'norm_stats.json'),
      JSON.stringify({ norm_stats: { state: { mean: v, std: v }, actions: { mean: v, std: v } } }),
    );
    expect((await loadError(dir)).context.field).toBe('norm_stats.state.q01');
    const w = v.slice(0, 7);
    await writeFile(
      join(dir, 'norm_stats.json'),
      JSON.stringify({
        norm_stats: {
          state: { mean: w, std: w, q01: w, q99: w },
          actions: { mean: v, std: v, q01: v, q99: v },
        },
      }),
    );
    const e = await loadError(dir);
    expect(e.context).toMatchObject({ field: 'norm_stats.state.mean', dims: 7, expected: 14 });
  });

  it('rejects a missing or corrupt tokenizer', async () => {
    const dir = await brokenCopy();
    await rm(join(dir, 'tokenizer.model'));
    expect((await loadError(dir)).context.field).toBe('tokenizer.file');
    await writeFile(join(dir, 'tokenizer.model'), 'not a sentencepiece model');
    const e = await loadError(dir);
    expect(e.code).toBe('BAD_BUNDLE');
    expect(e.context).toMatchObject({ file: join(dir, 'tokenizer.model'), field: 'tokenizer.file' });
  });

  it('rejects a tokenizer whose BOS id contradicts the manifest', async () => {
    const dir = await brokenCopy();
    await editManifest(dir, (m) => {
      m.tokenizer.bos_id = 5;
    });
    const e = await loadError(dir);
    expect(e.context.field).toBe('tokenizer.bos_id');
  });

  it('ignores unknown manifest keys (forward compatibility)', async () => {
    const dir = await brokenCopy();
    await editManifest(dir, (m) => {
      (m as unknown as Record<string, unknown>).future_key = { anything: 1 };
    });
    await expect(loadBundle(dir)).resolves.toMatchObject({ dir });
  });

  it('parseManifest names the first offending field of an empty object', () => {
    expect(() => parseManifest({}, 'x/manifest.json')).toThrow(/x\/manifest\.json: format_version/);
  });
});
