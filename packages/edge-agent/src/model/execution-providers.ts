/**
 * Execution-provider selection. onnxruntime-node throws when a listed provider cannot load (instead of falling
 * back), so each provider in the configured order gets its own session attempt; a failure is reported as a warning
 * naming the reason and the next one is tried. Only when every provider failed is the load an error, with all the
 * reasons in one message.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { InferenceSession } from 'onnxruntime-node';
import { z } from 'zod';
import { ORT_PATH_ENV, type Ort } from './ort-binding.js';

/** TensorRT options. The stock Node binding forwards only `deviceId`, so the others are also exported as the
 * TensorRT EP's environment variables (which it reads at session creation). */
export const TensorRtOptionsSchema = z.object({
  name: z.literal('tensorrt'),
  /** CUDA device ordinal. Default 0. */
  deviceId: z.number().int().nonnegative().default(0),
  /** Build fp16 engines (`ORT_TENSORRT_FP16_ENABLE`). Default true. */
  fp16: z.boolean().default(true),
  /** Directory for serialized engines (`ORT_TENSORRT_ENGINE_CACHE_ENABLE` + `ORT_TENSORRT_CACHE_PATH`); engines are
   * built once (minutes on a Jetson) and reused. Default: no engine cache. */
  engineCacheDir: z.string().min(1).optional(),
  /** Directory for the timing cache (`ORT_TENSORRT_TIMING_CACHE_ENABLE` + `ORT_TENSORRT_GLOBAL_CACHE_PATH`). Default: none. */
  timingCacheDir: z.string().min(1).optional(),
  /** TensorRT builder workspace in bytes (`ORT_TENSORRT_MAX_WORKSPACE_SIZE`). Default: onnxruntime's. */
  maxWorkspaceBytes: z.number().int().positive().optional(),
});

export const CudaOptionsSchema = z.object({
  name: z.literal('cuda'),
  /** CUDA device ordinal. Default 0. */
  deviceId: z.number().int().nonnegative().default(0),
});

export const CpuOptionsSchema = z.object({
  name: z.literal('cpu'),
  /** Intra-op threads; 0 lets onnxruntime pick (one per physical core). Default 0. */
  threads: z.number().int().nonnegative().default(0),
  /** onnxruntime's CPU memory arena. Default true. */
  useArena: z.boolean().default(true),
});

export const ProviderConfigSchema = z.discriminatedUnion('name', [
  TensorRtOptionsSchema,
  CudaOptionsSchema,
  CpuOptionsSchema,
]);
/** A provider as written in config: a bare name (`'cuda'`) or an options object. */
export const ProviderEntrySchema = z.union([z.enum(['tensorrt', 'cuda', 'cpu']), ProviderConfigSchema]);

export type ProviderName = 'tensorrt' | 'cuda' | 'cpu';
export type ProviderConfig = z.infer<typeof ProviderConfigSchema>;
export type ProviderEntry = z.input<typeof ProviderEntrySchema>;

/** Default order: the fastest first, CPU always last. */
export const DEFAULT_PROVIDERS: readonly ProviderName[] = ['tensorrt', 'cuda', 'cpu'];

/** Normalizes config entries (names or objects) to full option objects. BAD_ARGUMENT naming the index. */
export function parseProviders(entries: readonly ProviderEntry[]): ProviderConfig[] {
  if (entries.length === 0) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', 'executionProviders: the list is empty', {
      field: 'executionProviders',
    });
  }
  return entries.map((e, i) => {
    const parsed = ProviderEntrySchema.safeParse(e);
    if (!parsed.success) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `executionProviders[${i}]: ${parsed.error.issues[0]?.message ?? 'invalid'} (expected tensorrt, cuda or cpu)`,
        { field: `executionProviders[${i}]`, value: e },
      );
    }
    const v = parsed.data;
    return typeof v === 'string' ? ProviderConfigSchema.parse({ name: v }) : v;
  });
}

/** Parses `tensorrt,cuda,cpu` (CLI / env form). */
export function parseProviderList(text: string): ProviderConfig[] {
  return parseProviders(
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '') as ProviderEntry[],
  );
}

/** Session options shared by every provider. */
export interface SessionTuning {
  /** Intra-op threads for the CPU provider when its entry does not set `threads`; 0 = onnxruntime's choice. Default 0. */
  intraOpThreads?: number;
  /** Graph optimization level. Default `'all'`. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** onnxruntime log severity for session messages (0 verbose .. 4 fatal). Default 3 (errors). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** The onnxruntime SessionOptions for one provider attempt (no fallback list: one provider per attempt). */
export function sessionOptionsFor(
  p: ProviderConfig,
  tuning: SessionTuning = {},
): InferenceSession.SessionOptions {
  const common: InferenceSession.SessionOptions = {
    graphOptimizationLevel: tuning.graphOptimizationLevel ?? 'all',
    logSeverityLevel: tuning.logSeverityLevel ?? 3,
  };
  switch (p.name) {
    case 'cpu': {
      const threads = p.threads || tuning.intraOpThreads || 0;
      return {
        ...common,
        executionProviders: [{ name: 'cpu', useArena: p.useArena }],
        enableCpuMemArena: p.useArena,
        ...(threads > 0 ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
      };
    }
    case 'cuda':
      return { ...common, executionProviders: [{ name: 'cuda', deviceId: p.deviceId }] };
    case 'tensorrt':
      // TensorRT leaves unsupported nodes to the next provider in the same session: CUDA, then CPU.
      return {
        ...common,
        executionProviders: [
          { name: 'tensorrt', deviceId: p.deviceId },
          { name: 'cuda', deviceId: p.deviceId },
          'cpu',
        ],
      };
    default: {
      const never: never = p;
      throw new OpenpiEdgeError('BAD_ARGUMENT', `unknown execution provider ${String(never)}`, {});
    }
  }
}

/** What the TensorRT variables depend on besides the provider options: the bundle being loaded. */
export interface TensorRtBundleInfo {
  /** Subdirectory of `engineCacheDir` for this bundle's engines ({@link bundleEngineKey}). Default: none (the
   * engines go straight into `engineCacheDir`). */
  cacheKey?: string;
  /** The bundle's graphs are fp16 (manifest `precision: "float16"`): fp16 engines regardless of `fp16`, since the
   * weights are fp16 already and float32 engines would only be slower. Default false. */
  fp16Graphs?: boolean;
}

/** The TensorRT EP's environment variables for `p` (empty for other providers). */
export function tensorRtEnv(p: ProviderConfig, bundle: TensorRtBundleInfo = {}): Record<string, string> {
  if (p.name !== 'tensorrt') return {};
  const env: Record<string, string> = { ORT_TENSORRT_FP16_ENABLE: p.fp16 || bundle.fp16Graphs ? '1' : '0' };
  if (p.engineCacheDir !== undefined) {
    env.ORT_TENSORRT_ENGINE_CACHE_ENABLE = '1';
    env.ORT_TENSORRT_CACHE_PATH =
      bundle.cacheKey === undefined ? p.engineCacheDir : join(p.engineCacheDir, bundle.cacheKey);
  }
  if (p.timingCacheDir !== undefined) {
    env.ORT_TENSORRT_TIMING_CACHE_ENABLE = '1';
    env.ORT_TENSORRT_GLOBAL_CACHE_PATH = p.timingCacheDir;
  }
  if (p.maxWorkspaceBytes !== undefined) env.ORT_TENSORRT_MAX_WORKSPACE_SIZE = String(p.maxWorkspaceBytes);
  return env;
}

/**
 * The engine-cache subdirectory name of the bundle whose graphs are `graphs` (files in one bundle directory):
 * `<model_type>-<16 hex digits>`, a SHA-256 over manifest.json's bytes, the size and mtime of every graph file and
 * of the external-data files the manifest names, and `salt` (e.g. the onnxruntime version). onnxruntime's TensorRT
 * provider names its engine files after the graph's structure, not its weights, so without this a re-exported or
 * different bundle of the same architecture would load a stale engine. A copy of a bundle (new mtimes) builds its
 * engines once more; that is the price of never reusing a stale one. Works without a manifest (graph files only).
 */
export async function bundleEngineKey(graphs: Readonly<Record<string, string>>, salt = ''): Promise<string> {
  const h = createHash('sha256').update('openpi-edge trt engine cache v1\0').update(salt).update('\0');
  const names = Object.keys(graphs).sort();
  const dir = dirname(graphs[names[0] ?? ''] ?? '.');
  const manifest = await readManifestJson(dir);
  h.update(manifest?.bytes ?? '');
  const files = names.map((n) => [n, graphs[n] as string] as const);
  for (const [name, g] of Object.entries(manifest?.graphs ?? {})) {
    if (typeof g?.external_data === 'string') files.push([`${name}.data`, join(dir, g.external_data)]);
  }
  for (const [name, file] of files) {
    const st = await stat(file).catch(() => undefined);
    h.update(`\0${name}\0${basename(file)}\0${st?.size ?? -1}\0${st?.mtimeMs ?? -1}`);
  }
  const modelType =
    typeof manifest?.modelType === 'string' ? manifest.modelType.replace(/[^\w.-]/g, '_') : 'bundle';
  return `${modelType}-${h.digest('hex').slice(0, 16)}`;
}

/** Whether the manifest beside `graphs` says its graphs are fp16 (`precision: "float16"`). */
export async function bundleHasFp16Graphs(graphs: Readonly<Record<string, string>>): Promise<boolean> {
  const first = Object.values(graphs)[0];
  if (first === undefined) return false;
  const m = await readManifestJson(dirname(first));
  return Object.values(m?.graphs ?? {}).some((g) => g?.precision === 'float16');
}

interface ManifestBits {
  bytes: Buffer;
  modelType: unknown;
  graphs: Record<string, { external_data?: unknown; precision?: unknown } | undefined>;
}

/** manifest.json's bytes and the fields used here; undefined when there is none or it is not JSON (the bundle
 * loader reports that; the cache key then covers the graph files alone). */
async function readManifestJson(dir: string): Promise<ManifestBits | undefined> {
  const bytes = await readFile(join(dir, 'manifest.json')).catch(() => undefined);
  if (bytes === undefined) return undefined;
  try {
    const m = JSON.parse(bytes.toString('utf8')) as { model_type?: unknown; graphs?: unknown };
    const graphs = (
      typeof m.graphs === 'object' && m.graphs !== null ? m.graphs : {}
    ) as ManifestBits['graphs'];
    return { bytes, modelType: m.model_type, graphs };
  } catch {
    return { bytes, modelType: undefined, graphs: {} };
  }
}

/**
 * Values this module exported per environment object: a variable is (re)written when unset or still holding what
 * we wrote, so a second bundle gets its own cache path, while a variable the user set always wins.
 */
const exported = new WeakMap<NodeJS.ProcessEnv, Map<string, string>>();

/** Exports `vars` into `env` under the rule above. */
export function exportProviderEnv(env: NodeJS.ProcessEnv, vars: Readonly<Record<string, string>>): void {
  let ours = exported.get(env);
  if (ours === undefined) {
    ours = new Map();
    exported.set(env, ours);
  }
  for (const [k, v] of Object.entries(vars)) {
    if (env[k] === undefined || env[k] === ours.get(k)) {
      env[k] = v;
      ours.set(k, v);
    }
  }
}

/**
 * Why a provider attempt failed, in `ProviderFailure.code` (the failure's context in NO_EXECUTION_PROVIDER's
 * `context.reasons` and in the fallback warning):
 * - `NO_GPU`: no NVIDIA driver (libcuda.so.1 not found) or no CUDA device visible: this machine cannot run the
 *   provider. Takes precedence: any load failure on a machine without the driver is NO_GPU, with `library`
 *   naming the first missing piece (the reason names both).
 * - `DRIVER_TOO_OLD`: the NVIDIA driver is older than the CUDA runtime the provider was built with (CUDA 13: 580+).
 * - `MISSING_LIBRARY`: a CUDA / cuDNN / TensorRT library the provider needs (`library`) was not found.
 * - `NO_PROVIDER_LIBRARY`: the onnxruntime package has no `libonnxruntime_providers_<name>.so` beside its binding
 *   (the npm onnxruntime-node: CPU only).
 * - `LOAD_FAILED`: the provider library exists but does not load for another reason (named in the message).
 * - `SESSION_FAILED`: anything else onnxruntime reported while creating the session.
 */
export type ProviderFailureCode =
  | 'NO_GPU'
  | 'DRIVER_TOO_OLD'
  | 'MISSING_LIBRARY'
  | 'NO_PROVIDER_LIBRARY'
  | 'LOAD_FAILED'
  | 'SESSION_FAILED';

/** One failed provider attempt. */
export interface ProviderFailure {
  provider: ProviderName;
  /** onnxruntime's message, followed (for load failures) by what is missing and what to do. */
  reason: string;
  /** Classification of the failure; see {@link ProviderFailureCode}. */
  code?: ProviderFailureCode;
  /** The shared library that is missing or fails to load, when known (`libcuda.so.1`, `libnvinfer.so.10`, ...). */
  library?: string;
  /** Whether the NVIDIA driver's libcuda.so.1 loads in this process (probed only for GPU-provider load failures). */
  nvidiaDriver?: 'found' | 'missing';
}

/** Outcome of loading a shared library with the process's dynamic loader. */
export type DlopenProbe =
  | { loaded: true }
  /** `missing`: the library the loader could not find (the file itself or one of its dependencies). */
  | { loaded: false; message: string; missing?: string };

/**
 * Loads `file` (a path, or a bare soname searched like the loader does) with `process.dlopen` and RTLD_LAZY, the way
 * onnxruntime loads a provider library, and reports the loader's own error (dlerror). A library that loads is not a
 * Node addon, which Node reports as "did not self-register": that counts as loaded. Loading it is harmless here:
 * it is only done after onnxruntime itself tried (and failed) to load the same file into this process.
 */
export function probeDlopen(file: string): DlopenProbe {
  try {
    process.dlopen({ exports: {} }, file, osConstants.dlopen.RTLD_LAZY);
    return { loaded: true };
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (/did not self-register/.test(message)) return { loaded: true };
    const missing = /(?:^|: )([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(message)?.[1];
    return missing === undefined ? { loaded: false, message } : { loaded: false, message, missing };
  }
}

/** The driver library every CUDA program loads; present exactly when an NVIDIA driver is installed. */
export const CUDA_DRIVER_LIBRARY = 'libcuda.so.1';

/** The provider library onnxruntime dlopens from beside its binding for each GPU provider. */
export const PROVIDER_LIBRARIES: Readonly<Record<'cuda' | 'tensorrt', string>> = {
  cuda: 'libonnxruntime_providers_cuda.so',
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
};

/** TensorRT's own libraries (not on PyPI as wheels: scripts/ort-gpu.sh --tensorrt-lib copies them in). */
const TENSORRT_LIB = /^lib(nvinfer|nvonnxparser|nvinfer_plugin)\b/;
const ASSEMBLE_HINT = 'run scripts/ort-gpu.sh and pass --ort-path .ort-gpu';

export interface ExplainOptions {
  /** Directory of the onnxruntime binding (where onnxruntime looks for provider libraries). Unknown: no probing. */
  bindingDir?: string;
  /** Loader probe (tests inject one). Default {@link probeDlopen}. */
  probe?: (file: string) => DlopenProbe;
}

/**
 * Turns onnxruntime's error for a failed provider attempt into a {@link ProviderFailure}. onnxruntime-node reports
 * a provider library that does not load only as "...: Failed to load shared library" (the loader's reason goes to
 * its native log), so for cuda/tensorrt that message the provider library is probed with the same loader to name
 * the missing piece: the NVIDIA driver (libcuda.so.1: NO_GPU), another library (MISSING_LIBRARY, with the fix), or
 * the provider library itself (NO_PROVIDER_LIBRARY). The raw message stays first in `reason`.
 */
export function explainProviderFailure(
  provider: ProviderName,
  raw: string,
  options: ExplainOptions = {},
): ProviderFailure {
  const fail = (code: ProviderFailureCode, extra?: string, more: Partial<ProviderFailure> = {}) => ({
    provider,
    reason: extra === undefined ? raw : `${raw}: ${extra}`,
    code,
    ...more,
  });
  if (provider === 'cpu') return fail('SESSION_FAILED');
  // Errors from a provider that loaded: the CUDA runtime's own words for no device / old driver / bad ordinal.
  if (/no CUDA-capable device|cudaErrorNoDevice|CUDA failure 100\b/i.test(raw)) {
    return fail(
      'NO_GPU',
      'no CUDA-capable GPU is visible (the NVIDIA driver loads; check CUDA_VISIBLE_DEVICES)',
    );
  }
  if (/driver version is insufficient|cudaErrorInsufficientDriver|CUDA failure 35\b/i.test(raw)) {
    return fail(
      'DRIVER_TOO_OLD',
      'the NVIDIA driver is older than the CUDA 13 runtime needs (driver 580 or newer)',
    );
  }
  if (/cuDNN is not available|cuDNN library was not found/i.test(raw)) {
    return fail('MISSING_LIBRARY', `libcudnn.so.9 not found: ${ASSEMBLE_HINT}`, { library: 'libcudnn.so.9' });
  }
  if (!/Failed to load shared library|cannot open shared object file/i.test(raw))
    return fail('SESSION_FAILED');

  const probe = options.probe ?? probeDlopen;
  const driver = probe(CUDA_DRIVER_LIBRARY);
  const nvidiaDriver = driver.loaded ? ('found' as const) : ('missing' as const);
  // Without the driver nothing else matters for this machine: NO_GPU, with `library` naming what else is missing.
  const loadFail = (code: ProviderFailureCode, extra: string, more: Partial<ProviderFailure>) =>
    fail(driver.loaded ? code : 'NO_GPU', extra, more);
  const noDriver = driver.loaded
    ? ''
    : `; and no NVIDIA driver either (${CUDA_DRIVER_LIBRARY} not found: this machine has no NVIDIA GPU)`;
  const lib = PROVIDER_LIBRARIES[provider];
  if (options.bindingDir === undefined) {
    return fail(
      driver.loaded ? 'LOAD_FAILED' : 'NO_GPU',
      driver.loaded
        ? `${lib} does not load (set OPENPI_EDGE_ORT_LOG_LEVEL=error for onnxruntime's reason)`
        : `no CUDA-capable GPU / NVIDIA driver: ${CUDA_DRIVER_LIBRARY} not found (this machine has no NVIDIA GPU)`,
      { library: driver.loaded ? lib : CUDA_DRIVER_LIBRARY, nvidiaDriver },
    );
  }
  const path = join(options.bindingDir, lib);
  if (!existsSync(path)) {
    return loadFail(
      'NO_PROVIDER_LIBRARY',
      `this onnxruntime package has no ${provider} provider (${lib} is not in ${options.bindingDir}; the npm ` +
        `onnxruntime-node ships the CPU provider only): ${ASSEMBLE_HINT} (or ${ORT_PATH_ENV})${noDriver}`,
      { library: lib, nvidiaDriver },
    );
  }
  const r = probe(path);
  if (r.loaded) {
    return loadFail(
      'LOAD_FAILED',
      `${lib} loads in this process, so onnxruntime failed for another reason (set OPENPI_EDGE_ORT_LOG_LEVEL=error to see it)`,
      { library: lib, nvidiaDriver },
    );
  }
  if (r.missing === CUDA_DRIVER_LIBRARY) {
    return fail(
      'NO_GPU',
      `no CUDA-capable GPU / NVIDIA driver: ${CUDA_DRIVER_LIBRARY} not found (this machine has no NVIDIA GPU, or ` +
        `its driver is not installed); ${lib} and the CUDA libraries it needs before the driver were found`,
      { library: CUDA_DRIVER_LIBRARY, nvidiaDriver },
    );
  }
  if (r.missing !== undefined && r.missing !== path && TENSORRT_LIB.test(r.missing)) {
    return loadFail(
      'MISSING_LIBRARY',
      `TensorRT library ${r.missing} not found (needed by ${lib}): TensorRT 10 is not on PyPI; run ` +
        `scripts/ort-gpu.sh --tensorrt-lib <TensorRT 10 lib dir> to add it${noDriver}`,
      { library: r.missing, nvidiaDriver },
    );
  }
  if (r.missing !== undefined && r.missing !== path) {
    return loadFail(
      'MISSING_LIBRARY',
      `${r.missing} not found (needed by ${lib} in ${options.bindingDir}): ${ASSEMBLE_HINT}${noDriver}`,
      { library: r.missing, nvidiaDriver },
    );
  }
  return loadFail('LOAD_FAILED', `${lib} does not load: ${r.message}${noDriver}`, {
    library: lib,
    nvidiaDriver,
  });
}

/**
 * Directory of the native binding of a loaded onnxruntime module (onnxruntime looks for provider libraries beside
 * its own library, which the Node packages keep beside the binding): the `onnxruntime_binding.node` among the
 * CommonJS module tree that exports this module's `InferenceSession`. Undefined when it cannot be told (e.g. a
 * module loaded outside the CommonJS loader).
 */
export function ortBindingDir(ort: Ort): string | undefined {
  const cache = createRequire(import.meta.url).cache;
  const find = (m: NodeJS.Module, depth: number): string | undefined => {
    if (m.filename.endsWith('onnxruntime_binding.node')) return dirname(m.filename);
    if (depth === 0) return undefined;
    for (const c of m.children) {
      const d = find(c, depth - 1);
      if (d !== undefined) return d;
    }
    return undefined;
  };
  for (const m of Object.values(cache)) {
    if (m === undefined) continue;
    const ex = m.exports as Partial<Ort> | undefined;
    if (ex?.InferenceSession !== ort.InferenceSession) continue;
    const d = find(m, 4);
    if (d !== undefined) return d;
  }
  return undefined;
}

/** Receives one warning per provider that failed before one worked. */
export type ProviderWarn = (message: string, failure: ProviderFailure) => void;

/** Sessions created on one provider for every graph, plus what was tried before. */
export interface ProviderSelection<K extends string> {
  provider: ProviderConfig;
  sessions: Record<K, InferenceSession>;
  failures: ProviderFailure[];
}

export interface FallbackOptions {
  tuning?: SessionTuning;
  warn?: ProviderWarn;
  /** Where the TensorRT variables go. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Engine-cache subdirectory for this bundle. Default {@link bundleEngineKey} of the graphs (salted with the
   * onnxruntime version). */
  engineCacheKey?: string;
  /** Binding directory of `ort`, for naming what a GPU provider misses. Default {@link ortBindingDir}. */
  bindingDir?: string;
}

/**
 * Creates a session for every graph (`graphs`: name -> file path) with the first provider for which all of them
 * load. All graphs share one provider so tensors never cross devices between them. TensorRT options are exported as
 * environment variables into `options.env` (default `process.env`) unless the user set them there; with an engine
 * cache, engines go to a per-bundle subdirectory ({@link bundleEngineKey}), created if missing, and an fp16 bundle
 * always gets fp16 engines. A failed attempt's reason is classified by {@link explainProviderFailure}.
 * NO_EXECUTION_PROVIDER with every reason when none works.
 */
export async function createSessionsWithFallback<K extends string>(
  ort: Ort,
  graphs: Readonly<Record<K, string>>,
  providers: readonly ProviderConfig[],
  options: FallbackOptions = {},
): Promise<ProviderSelection<K>> {
  const warn = options.warn ?? ((m: string) => console.warn(`[openpi-edge] ${m}`));
  const env = options.env ?? process.env;
  const failures: ProviderFailure[] = [];
  for (const [i, p] of providers.entries()) {
    const sessions: Partial<Record<K, InferenceSession>> = {};
    try {
      if (p.name === 'tensorrt') await prepareTensorRt(ort, p, graphs, env, options.engineCacheKey);
      for (const [name, file] of Object.entries(graphs) as [K, string][]) {
        sessions[name] = await ort.InferenceSession.create(file, sessionOptionsFor(p, options.tuning));
      }
      return { provider: p, sessions: sessions as Record<K, InferenceSession>, failures };
    } catch (e) {
      await Promise.all(Object.values<InferenceSession | undefined>(sessions).map((s) => s?.release()));
      const raw = (e as Error).message ?? String(e);
      const bindingDir = options.bindingDir ?? ortBindingDir(ort);
      const failure = explainProviderFailure(p.name, raw, bindingDir === undefined ? {} : { bindingDir });
      failures.push(failure);
      const next = providers[i + 1];
      if (next !== undefined) {
        warn(
          `execution provider '${p.name}' unavailable (${failure.reason}); falling back to '${next.name}'`,
          failure,
        );
      }
    }
  }
  throw new OpenpiEdgeError(
    'NO_EXECUTION_PROVIDER',
    `no execution provider could load the model: ${failures.map((f) => `${f.provider}: ${f.reason}`).join('; ')}`,
    { reasons: failures, tried: providers.map((p) => p.name) },
  );
}

/** Exports the TensorRT variables for this bundle and creates the cache directories they name. */
async function prepareTensorRt(
  ort: Ort,
  p: Extract<ProviderConfig, { name: 'tensorrt' }>,
  graphs: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv,
  engineCacheKey: string | undefined,
): Promise<void> {
  const version = (ort.env?.versions as { common?: string } | undefined)?.common ?? '';
  const cacheKey =
    p.engineCacheDir === undefined ? undefined : (engineCacheKey ?? (await bundleEngineKey(graphs, version)));
  const vars = tensorRtEnv(p, {
    ...(cacheKey === undefined ? {} : { cacheKey }),
    fp16Graphs: await bundleHasFp16Graphs(graphs),
  });
  exportProviderEnv(env, vars);
  // The directories actually in effect (a user-set variable wins over ours).
  for (const k of ['ORT_TENSORRT_CACHE_PATH', 'ORT_TENSORRT_GLOBAL_CACHE_PATH'] as const) {
    const dir = vars[k] === undefined ? undefined : env[k];
    if (dir === undefined) continue;
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw new Error(`cannot create the TensorRT cache directory ${dir} (${k}): ${(e as Error).message}`);
    }
  }
}
