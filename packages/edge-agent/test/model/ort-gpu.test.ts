/**
 * The GPU onnxruntime package that scripts/ort-gpu.sh assembles from PyPI wheels (.ort-gpu/), exercised for real:
 * it loads through OPENPI_EDGE_ORT_PATH, its CUDA provider gets past every CUDA library and stops at the NVIDIA
 * driver (on a machine without one, like CI), the agent names that (not a CUDA library) and falls back to CPU.
 * Also: the TensorRT variables / per-bundle engine cache and the failure classification with an injected loader.
 * Needs .ort-gpu/ (scripts/test-all.sh runs scripts/ort-gpu.sh first); without it the tests fail saying so.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import {
  bundleEngineKey,
  bundleHasFp16Graphs,
  CUDA_DRIVER_LIBRARY,
  createSessionsWithFallback,
  type DlopenProbe,
  explainProviderFailure,
  exportProviderEnv,
  ortBindingDir,
  type ProviderFailure,
  parseProviders,
  probeDlopen,
  tensorRtEnv,
} from '../../src/model/execution-providers.js';
import { OnnxModel } from '../../src/model/onnx-model.js';
import { loadOrt, ORT_PATH_ENV } from '../../src/model/ort-binding.js';
import { copyBundle, DEMO_BUNDLES, REPO_ROOT } from './helpers.js';

const ORT_GPU = join(REPO_ROOT, '.ort-gpu');
const BIN = join(ORT_GPU, 'bin', 'napi-v6', 'linux', 'x64');
/** Whether this machine has an NVIDIA driver (CI: no). Decides what the CUDA provider must do, not whether to test. */
const HAS_DRIVER = probeDlopen(CUDA_DRIVER_LIBRARY).loaded;

function requireAssembled(): void {
  if (!existsSync(join(ORT_GPU, 'ort-gpu.json'))) {
    throw new Error(
      `${ORT_GPU} is missing: run \`bash scripts/ort-gpu.sh\` (scripts/test-all.sh does) to assemble the GPU ` +
        'onnxruntime package from PyPI wheels before these tests',
    );
  }
}

const tmpRoots: string[] = [];
async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  tmpRoots.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(tmpRoots.map((d) => rm(d, { recursive: true, force: true })));
});

describe('assembled GPU onnxruntime package (.ort-gpu)', () => {
  it(`loads through ${ORT_PATH_ENV}; the providers and their CUDA 13 / cuDNN 9 libraries sit beside the binding`, async () => {
    requireAssembled();
    const loaded = await loadOrt({ env: { [ORT_PATH_ENV]: ORT_GPU } });
    expect(loaded.source).toBe(ORT_GPU);
    expect(loaded.version).toBe('1.30.0');
    expect(ortBindingDir(loaded.ort)).toBe(BIN);
    const files = readdirSync(BIN);
    for (const f of [
      'onnxruntime_binding.node',
      'libonnxruntime.so.1',
      'libonnxruntime_providers_shared.so',
      'libonnxruntime_providers_cuda.so',
      'libonnxruntime_providers_tensorrt.so',
      'libcudart.so.13',
      'libcublas.so.13',
      'libcublasLt.so.13',
      'libcurand.so.10',
      'libnvrtc.so.13',
      'libcudnn.so.9',
      'libcudnn_ops.so.9',
    ]) {
      expect(files).toContain(f);
    }
    // No stub driver: it would shadow the real libcuda.so.1 on a GPU machine (RUNPATH comes before the system dirs).
    expect(files).not.toContain(CUDA_DRIVER_LIBRARY);
    const meta = JSON.parse(await readFile(join(ORT_GPU, 'ort-gpu.json'), 'utf8')) as { onnxruntime: string };
    expect(meta.onnxruntime).toBe('1.30.0');
  });

  it(
    HAS_DRIVER
      ? 'creates CUDA sessions (this machine has an NVIDIA driver)'
      : 'cuda: gets past every CUDA library and reports the missing NVIDIA driver / GPU, not a library to install',
    async () => {
      requireAssembled();
      const result = await OnnxModel.load(DEMO_BUNDLES.pi0, {
        executionProviders: ['cuda'],
        ortModulePath: ORT_GPU,
        onProviderWarning: () => {},
        warmup: false,
        env: {},
      }).catch((e: unknown) => e);
      if (HAS_DRIVER) {
        expect(result).toBeInstanceOf(OnnxModel);
        const model = result as OnnxModel;
        expect(model.report.provider.name).toBe('cuda');
        await model.close();
        return;
      }
      expect(result).toBeInstanceOf(OpenpiEdgeError);
      const e = result as OpenpiEdgeError;
      expect(e.code).toBe('NO_EXECUTION_PROVIDER');
      const [cuda] = e.context.reasons as ProviderFailure[];
      expect(cuda).toMatchObject({
        provider: 'cuda',
        code: 'NO_GPU',
        library: 'libcuda.so.1',
        nvidiaDriver: 'missing',
      });
      expect(cuda?.reason).toMatch(
        /Failed to load shared library: no CUDA-capable GPU \/ NVIDIA driver: libcuda\.so\.1 not found \(this machine has no NVIDIA GPU/,
      );
      expect(cuda?.reason).not.toMatch(/ort-gpu\.sh/);
      expect(e.message).toMatch(/cuda: .*no CUDA-capable GPU/);
    },
  );

  it('falls back from tensorrt,cuda,cpu to cpu with reasons naming the missing GPU, and runs on cpu', async () => {
    requireAssembled();
    const warnings: { message: string; failure: ProviderFailure }[] = [];
    const model = await OnnxModel.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['tensorrt', 'cuda', 'cpu'],
      ortModulePath: ORT_GPU,
      onProviderWarning: (message, failure) => warnings.push({ message, failure }),
      env: {},
    });
    try {
      if (HAS_DRIVER) {
        expect(['tensorrt', 'cuda']).toContain(model.report.provider.name);
        return;
      }
      expect(model.report.provider.name).toBe('cpu');
      expect(model.report.ort.source).toBe(ORT_GPU);
      expect(model.report.warmupMs).toBeGreaterThan(0);
      expect(warnings.map((w) => [w.failure.provider, w.failure.code, w.failure.library])).toEqual([
        ['tensorrt', 'NO_GPU', 'libnvinfer.so.10'],
        ['cuda', 'NO_GPU', 'libcuda.so.1'],
      ]);
      expect(warnings[0]?.message).toMatch(
        /'tensorrt' unavailable \(.*TensorRT library libnvinfer\.so\.10 not found .*--tensorrt-lib.*no NVIDIA driver either \(libcuda\.so\.1 not found: this machine has no NVIDIA GPU\)\); falling back to 'cuda'/,
      );
      expect(warnings[1]?.message).toMatch(
        /'cuda' unavailable \(.*no CUDA-capable GPU.*\); falling back to 'cpu'/,
      );
    } finally {
      await model.close();
    }
  });

  it('names a missing CUDA library and says to run scripts/ort-gpu.sh (the real loader on a copy without libcublasLt)', async () => {
    requireAssembled();
    // A package directory of links to .ort-gpu's files, minus one CUDA library. $ORIGIN is the links' directory.
    const dir = await tmp('openpi-edge-ort-gpu-partial-');
    for (const f of readdirSync(BIN)) {
      if (f !== 'libcublasLt.so.13') await symlink(join(BIN, f), join(dir, f));
    }
    const f = explainProviderFailure(
      'cuda',
      'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
      { bindingDir: dir },
    );
    expect(f).toMatchObject({ provider: 'cuda', library: 'libcublasLt.so.13' });
    expect(f.code).toBe(HAS_DRIVER ? 'MISSING_LIBRARY' : 'NO_GPU');
    expect(f.reason).toMatch(
      /libcublasLt\.so\.13 not found \(needed by libonnxruntime_providers_cuda\.so in .*\): run scripts\/ort-gpu\.sh and pass --ort-path \.ort-gpu/,
    );
  });

  it('the npm onnxruntime-node: names the missing provider library and the script that assembles one', async () => {
    requireAssembled();
    const err = await OnnxModel.load(DEMO_BUNDLES.pi0, {
      executionProviders: ['cuda'],
      onProviderWarning: () => {},
      warmup: false,
      env: {},
    }).catch((e: unknown) => e as OpenpiEdgeError);
    const [cuda] = (err as OpenpiEdgeError).context.reasons as ProviderFailure[];
    expect(cuda?.library).toBe('libonnxruntime_providers_cuda.so');
    expect(cuda?.code).toBe(HAS_DRIVER ? 'NO_PROVIDER_LIBRARY' : 'NO_GPU');
    expect(cuda?.reason).toMatch(
      /has no cuda provider .*run scripts\/ort-gpu\.sh and pass --ort-path \.ort-gpu/,
    );
  });

  it('tensorrt: engines in a per-bundle subdirectory of --trt-cache (created), re-pointed for the next bundle', async () => {
    requireAssembled();
    const root = await tmp('openpi-edge-trt-cache-');
    const cacheDir = join(root, 'does', 'not', 'exist', 'yet');
    const timingDir = join(root, 'timing');
    const env: NodeJS.ProcessEnv = { ORT_TENSORRT_MAX_WORKSPACE_SIZE: '123' };
    const { ort } = await loadOrt({ modulePath: ORT_GPU });
    const providers = parseProviders([
      { name: 'tensorrt', engineCacheDir: cacheDir, timingCacheDir: timingDir, maxWorkspaceBytes: 1 << 30 },
      'cpu',
    ]);
    const paths = {
      pi0: { prefix: join(DEMO_BUNDLES.pi0, 'prefix.onnx'), denoise: join(DEMO_BUNDLES.pi0, 'denoise.onnx') },
      pi05: {
        prefix: join(DEMO_BUNDLES.pi05, 'prefix.onnx'),
        denoise: join(DEMO_BUNDLES.pi05, 'denoise.onnx'),
      },
    };
    const keys = {
      pi0: await bundleEngineKey(paths.pi0, '1.30.0'),
      pi05: await bundleEngineKey(paths.pi05, '1.30.0'),
    };
    expect(keys.pi0).toMatch(/^pi0-[0-9a-f]{16}$/);
    expect(keys.pi05).toMatch(/^pi05-[0-9a-f]{16}$/);
    for (const b of ['pi0', 'pi05'] as const) {
      const sel = await createSessionsWithFallback(ort, paths[b], providers, { env, warn: () => {} });
      await Promise.all(Object.values(sel.sessions).map((s) => s.release()));
      expect(sel.provider.name).toBe('cpu');
      expect(env).toEqual({
        ORT_TENSORRT_FP16_ENABLE: '1',
        ORT_TENSORRT_ENGINE_CACHE_ENABLE: '1',
        ORT_TENSORRT_CACHE_PATH: join(cacheDir, keys[b]),
        ORT_TENSORRT_TIMING_CACHE_ENABLE: '1',
        ORT_TENSORRT_GLOBAL_CACHE_PATH: timingDir,
        ORT_TENSORRT_MAX_WORKSPACE_SIZE: '123', // set by the user: never overwritten
      });
      expect(existsSync(join(cacheDir, keys[b]))).toBe(true);
      expect(existsSync(timingDir)).toBe(true);
    }
  });
});

describe('TensorRT options for a bundle (no onnxruntime needed)', () => {
  it('maps options to the EP variables; an fp16 bundle always gets fp16 engines', () => {
    const [trt] = parseProviders([
      { name: 'tensorrt', fp16: false, engineCacheDir: '/c', timingCacheDir: '/t' },
    ]);
    if (trt === undefined) throw new Error('unreachable');
    expect(tensorRtEnv(trt)).toEqual({
      ORT_TENSORRT_FP16_ENABLE: '0',
      ORT_TENSORRT_ENGINE_CACHE_ENABLE: '1',
      ORT_TENSORRT_CACHE_PATH: '/c',
      ORT_TENSORRT_TIMING_CACHE_ENABLE: '1',
      ORT_TENSORRT_GLOBAL_CACHE_PATH: '/t',
    });
    expect(tensorRtEnv(trt, { cacheKey: 'pi0-0123456789abcdef', fp16Graphs: true })).toMatchObject({
      ORT_TENSORRT_FP16_ENABLE: '1',
      ORT_TENSORRT_CACHE_PATH: '/c/pi0-0123456789abcdef',
    });
    const [plain] = parseProviders(['tensorrt']);
    if (plain === undefined) throw new Error('unreachable');
    expect(tensorRtEnv(plain, { cacheKey: 'ignored-without-a-cache-dir' })).toEqual({
      ORT_TENSORRT_FP16_ENABLE: '1',
    });
  });

  it('exportProviderEnv rewrites its own values and never the user’s', () => {
    const env: NodeJS.ProcessEnv = { ORT_TENSORRT_FP16_ENABLE: '0' };
    exportProviderEnv(env, { ORT_TENSORRT_FP16_ENABLE: '1', ORT_TENSORRT_CACHE_PATH: '/c/a' });
    exportProviderEnv(env, { ORT_TENSORRT_FP16_ENABLE: '1', ORT_TENSORRT_CACHE_PATH: '/c/b' });
    expect(env).toEqual({ ORT_TENSORRT_FP16_ENABLE: '0', ORT_TENSORRT_CACHE_PATH: '/c/b' });
    env.ORT_TENSORRT_CACHE_PATH = '/mine';
    exportProviderEnv(env, { ORT_TENSORRT_CACHE_PATH: '/c/c' });
    expect(env.ORT_TENSORRT_CACHE_PATH).toBe('/mine');
  });

  it('derives the engine-cache key from the manifest and the graph files: stable, and new for any change', async () => {
    const a = await copyBundle(DEMO_BUNDLES.pi0);
    try {
      const graphs = { prefix: join(a.dir, 'prefix.onnx'), denoise: join(a.dir, 'denoise.onnx') };
      const k0 = await bundleEngineKey(graphs, '1.30.0');
      expect(await bundleEngineKey(graphs, '1.30.0')).toBe(k0);
      expect(await bundleEngineKey(graphs, '1.31.0')).not.toBe(k0); // another onnxruntime
      // New weights, same sizes and manifest (a re-export): the graph's mtime changes.
      await utimes(graphs.denoise, new Date(), new Date(Date.now() + 5000));
      const k1 = await bundleEngineKey(graphs, '1.30.0');
      expect(k1).not.toBe(k0);
      // An fp16 export: the manifest changes, and the key with it.
      expect(await bundleHasFp16Graphs(graphs)).toBe(false);
      const manifestPath = join(a.dir, 'manifest.json');
      const m = JSON.parse(await readFile(manifestPath, 'utf8')) as {
        graphs: Record<string, { precision: string }>;
      };
      for (const g of Object.values(m.graphs)) g.precision = 'float16';
      await writeFile(manifestPath, JSON.stringify(m));
      expect(await bundleHasFp16Graphs(graphs)).toBe(true);
      expect(await bundleEngineKey(graphs, '1.30.0')).not.toBe(k1);
      // Without a manifest the graph files alone still key it.
      const bare = await tmp('openpi-edge-bare-graphs-');
      await mkdir(bare, { recursive: true });
      await writeFile(join(bare, 'g.onnx'), 'x');
      expect(await bundleEngineKey({ g: join(bare, 'g.onnx') })).toMatch(/^bundle-[0-9a-f]{16}$/);
    } finally {
      await a.cleanup();
    }
  });
});

describe('explainProviderFailure (injected loader)', () => {
  const probe =
    (driver: boolean, provider: DlopenProbe) =>
    (file: string): DlopenProbe =>
      file === CUDA_DRIVER_LIBRARY
        ? driver
          ? { loaded: true }
          : {
              loaded: false,
              message: 'libcuda.so.1: cannot open shared object file',
              missing: 'libcuda.so.1',
            }
        : provider;
  const raw = 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library';
  // A binding directory holding a (never loaded: the probe is injected) provider library file.
  let fakeBin = '';
  beforeAll(async () => {
    fakeBin = await tmp('openpi-edge-fake-bin-');
    await writeFile(join(fakeBin, 'libonnxruntime_providers_cuda.so'), '');
  });

  it('a GPU machine missing a CUDA library: MISSING_LIBRARY naming it and the script', () => {
    const f = explainProviderFailure('cuda', raw, {
      bindingDir: fakeBin,
      probe: probe(true, {
        loaded: false,
        message: 'libcurand.so.10: cannot open shared object file: No such file or directory',
        missing: 'libcurand.so.10',
      }),
    });
    expect(f).toMatchObject({ code: 'MISSING_LIBRARY', library: 'libcurand.so.10', nvidiaDriver: 'found' });
    expect(f.reason).toMatch(/libcurand\.so\.10 not found .*run scripts\/ort-gpu\.sh/);
    expect(f.reason).not.toMatch(/no NVIDIA/);
  });

  it('errors of a provider that loaded: no device, old driver, cuDNN; other errors pass through', () => {
    expect(explainProviderFailure('cuda', 'CUDA failure 100: no CUDA-capable device is detected').code).toBe(
      'NO_GPU',
    );
    expect(
      explainProviderFailure(
        'tensorrt',
        'CUDA failure 35: CUDA driver version is insufficient for CUDA runtime',
      ).code,
    ).toBe('DRIVER_TOO_OLD');
    expect(explainProviderFailure('cuda', 'cuDNN is not available. Install cuDNN')).toMatchObject({
      code: 'MISSING_LIBRARY',
      library: 'libcudnn.so.9',
    });
    expect(explainProviderFailure('cpu', 'Load model failed')).toEqual({
      provider: 'cpu',
      reason: 'Load model failed',
      code: 'SESSION_FAILED',
    });
    const other = explainProviderFailure('cuda', raw, {
      bindingDir: fakeBin,
      probe: probe(true, { loaded: false, message: 'undefined symbol: Provider_GetHost' }),
    });
    expect(other).toMatchObject({ code: 'LOAD_FAILED', library: 'libonnxruntime_providers_cuda.so' });
    expect(other.reason).toMatch(/does not load: undefined symbol: Provider_GetHost/);
  });
});

describe('scripts/gpu-check.sh (tiny config on CPU: what the GPU machine runs at full size)', () => {
  it('reports vision / prefix / denoise step / chunk latency per dtype, with the cached device constants', async () => {
    const python = join(REPO_ROOT, 'trainer', '.venv', 'bin', 'python');
    if (!existsSync(python)) {
      throw new Error(`${python} is missing: run \`bash scripts/trainer-env.sh\` (scripts/test-all.sh does)`);
    }
    const out = join(await tmp('openpi-edge-gpu-check-'), 'report.json');
    const args = ['scripts/gpu-check.sh', '--tiny', '--device', 'cpu', '--dtypes', 'fp32,bf16'];
    await promisify(execFile)(
      'bash',
      [...args, '--iters', '2', '--warmup', '1', '--device-constants', '--out', out],
      { cwd: REPO_ROOT, env: { ...process.env, PYTHON: python }, timeout: 120_000 },
    );
    type Stage = { median_ms: number; runs: number };
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      config: { model: string; tiny: boolean; prefix_len: number; steps: number };
      results: {
        dtype: string;
        eager?: Record<string, Stage>;
        chunk_finite?: boolean;
        chunk_max_abs_diff_vs_fp32?: number;
        error?: string;
      }[];
    };
    expect(report.config).toMatchObject({ model: 'pi0', tiny: true, prefix_len: 816, steps: 10 });
    expect(report.results.map((r) => r.dtype)).toEqual(['fp32', 'bf16']);
    for (const r of report.results) {
      expect(r.error).toBeUndefined();
      expect(Object.keys(r.eager ?? {})).toEqual(['vision', 'prefix', 'denoise_step', 'chunk']);
      for (const st of Object.values(r.eager ?? {})) {
        expect(st.median_ms).toBeGreaterThan(0);
        expect(st.runs).toBe(2);
      }
      expect(r.chunk_finite).toBe(true);
    }
    // bf16 against fp32 on the same random weights: close, not equal.
    expect(report.results[1]?.chunk_max_abs_diff_vs_fp32).toBeGreaterThan(0);
    expect(report.results[1]?.chunk_max_abs_diff_vs_fp32).toBeLessThan(0.5);
  }, 150_000);
});
