/**
 * Provider selection for real on this machine's onnxruntime-node (CPU-only npm build): GPU providers fail to load
 * and the loader falls back with warnings naming the reason; an alternative onnxruntime module path is honoured.
 */

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import {
  type ProviderFailure,
  parseProviderList,
  parseProviders,
  sessionOptionsFor,
  tensorRtEnv,
} from '../../src/model/execution-providers.js';
import { OnnxModel } from '../../src/model/onnx-model.js';
import { loadOrt, ORT_PATH_ENV } from '../../src/model/ort-binding.js';
import { DEMO_BUNDLES } from './helpers.js';

describe('execution providers', () => {
  it("falls back from ['tensorrt','cuda','cpu'] to cpu with a warning per failed provider", async () => {
    const warnings: { message: string; failure: ProviderFailure }[] = [];
    const model = await OnnxModel.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['tensorrt', 'cuda', 'cpu'],
      onProviderWarning: (message, failure) => warnings.push({ message, failure }),
      env: {},
    });
    try {
      expect(model.report.provider.name).toBe('cpu');
      expect(warnings.map((w) => w.failure.provider)).toEqual(['tensorrt', 'cuda']);
      expect(warnings[0]?.message).toMatch(
        /'tensorrt' unavailable \(.*Failed to load shared library.*\); falling back to 'cuda'/,
      );
      expect(warnings[1]?.message).toMatch(
        /'cuda' unavailable \(.*Failed to load shared library.*\); falling back to 'cpu'/,
      );
      expect(model.report.fallbacks).toEqual(warnings.map((w) => w.failure));
      expect(model.report.warmupMs).toBeGreaterThan(0);
      expect(model.report.ort).toEqual({ source: 'onnxruntime-node', version: '1.30.0' });
    } finally {
      await model.close();
    }
  });

  it('fails with every reason when no provider works', async () => {
    const err = await OnnxModel.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['tensorrt', 'cuda'],
      onProviderWarning: () => {},
      env: {},
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    const e = err as OpenpiEdgeError;
    expect(e.code).toBe('NO_EXECUTION_PROVIDER');
    expect(e.message).toMatch(
      /tensorrt: .*Failed to load shared library.*; cuda: .*Failed to load shared library/,
    );
    expect((e.context.reasons as ProviderFailure[]).map((r) => r.provider)).toEqual(['tensorrt', 'cuda']);
  });

  it('exports TensorRT options as the EP environment variables, without overriding the user', async () => {
    const env: NodeJS.ProcessEnv = { ORT_TENSORRT_FP16_ENABLE: '0' };
    const model = await OnnxModel.load(DEMO_BUNDLES.pi0, {
      executionProviders: [
        {
          name: 'tensorrt',
          fp16: true,
          engineCacheDir: '/tmp/trt-engines',
          timingCacheDir: '/tmp/trt-timing',
        },
        'cpu',
      ],
      onProviderWarning: () => {},
      warmup: false,
      env,
    });
    await model.close();
    expect(env).toMatchObject({
      ORT_TENSORRT_FP16_ENABLE: '0',
      ORT_TENSORRT_ENGINE_CACHE_ENABLE: '1',
      ORT_TENSORRT_CACHE_PATH: expect.stringMatching(/^\/tmp\/trt-engines\/pi0-[0-9a-f]{16}$/),
      ORT_TENSORRT_TIMING_CACHE_ENABLE: '1',
      ORT_TENSORRT_GLOBAL_CACHE_PATH: '/tmp/trt-timing',
    });
    expect(tensorRtEnv(parseProviders(['cuda'])[0] as never)).toEqual({});
  });

  it('parses provider lists and rejects unknown names with the index', () => {
    expect(parseProviderList('tensorrt, cuda,cpu').map((p) => p.name)).toEqual(['tensorrt', 'cuda', 'cpu']);
    expect(parseProviders([{ name: 'cpu', threads: 2 }])[0]).toEqual({
      name: 'cpu',
      threads: 2,
      useArena: true,
    });
    expect(() => parseProviderList('cuda,rocm')).toThrow(/executionProviders\[1\]/);
    expect(() => parseProviders([])).toThrow(/empty/);
    const cpu = sessionOptionsFor(parseProviders([{ name: 'cpu', threads: 3 }])[0] as never);
    expect(cpu.intraOpNumThreads).toBe(3);
    const trt = sessionOptionsFor(parseProviders([{ name: 'tensorrt', deviceId: 1 }])[0] as never);
    expect(trt.executionProviders).toEqual([
      { name: 'tensorrt', deviceId: 1 },
      { name: 'cuda', deviceId: 1 },
      'cpu',
    ]);
  });

  it(`loads onnxruntime from ${ORT_PATH_ENV} (here: the npm package's own directory, as a GPU build would be given)`, async () => {
    const require = createRequire(import.meta.url);
    const pkgDir = dirname(require.resolve('onnxruntime-node/package.json', { paths: [DEMO_BUNDLES.pi0] }));
    const model = await OnnxModel.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['cpu'],
      env: { [ORT_PATH_ENV]: pkgDir },
      warmup: false,
    });
    try {
      expect(model.report.ort.source).toBe(pkgDir);
      expect(model.report.ort.version).toBe('1.30.0');
    } finally {
      await model.close();
    }
  });

  it(`names the path and ${ORT_PATH_ENV} when the custom module cannot be loaded or is not onnxruntime`, async () => {
    await expect(loadOrt({ env: { [ORT_PATH_ENV]: '/nonexistent/onnxruntime' } })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { source: '/nonexistent/onnxruntime', env: ORT_PATH_ENV },
    });
    const require = createRequire(import.meta.url);
    const zodDir = dirname(require.resolve('zod/package.json', { paths: [DEMO_BUNDLES.pi0] }));
    await expect(loadOrt({ modulePath: zodDir })).rejects.toThrow(/not an onnxruntime Node module/);
  });
});
