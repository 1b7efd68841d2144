/**
 * Execution-provider selection. onnxruntime-node throws when a listed provider cannot load (instead of falling
 * back), so each provider in the configured order gets its own session attempt; a failure is reported as a warning
 * naming the reason and the next one is tried. Only when every provider failed is the load an error, with all the
 * reasons in one message.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { InferenceSession } from 'onnxruntime-node';
import { z } from 'zod';
import type { Ort } from './ort-binding.js';

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

/** The TensorRT EP's environment variables for `p` (empty for other providers). */
export function tensorRtEnv(p: ProviderConfig): Record<string, string> {
  if (p.name !== 'tensorrt') return {};
  const env: Record<string, string> = { ORT_TENSORRT_FP16_ENABLE: p.fp16 ? '1' : '0' };
  if (p.engineCacheDir !== undefined) {
    env.ORT_TENSORRT_ENGINE_CACHE_ENABLE = '1';
    env.ORT_TENSORRT_CACHE_PATH = p.engineCacheDir;
  }
  if (p.timingCacheDir !== undefined) {
    env.ORT_TENSORRT_TIMING_CACHE_ENABLE = '1';
    env.ORT_TENSORRT_GLOBAL_CACHE_PATH = p.timingCacheDir;
  }
  if (p.maxWorkspaceBytes !== undefined) env.ORT_TENSORRT_MAX_WORKSPACE_SIZE = String(p.maxWorkspaceBytes);
  return env;
}

/** One failed provider attempt. */
export interface ProviderFailure {
  provider: ProviderName;
  reason: string;
}

/** Receives one warning per provider that failed before one worked. */
export type ProviderWarn = (message: string, failure: ProviderFailure) => void;

/** Sessions created on one provider for every graph, plus what was tried before. */
export interface ProviderSelection<K extends string> {
  provider: ProviderConfig;
  sessions: Record<K, InferenceSession>;
  failures: ProviderFailure[];
}

/**
 * Creates a session for every graph (`graphs`: name -> file path) with the first provider for which all of them
 * load. All graphs share one provider so tensors never cross devices between them. TensorRT options are exported as
 * environment variables into `options.env` (default `process.env`) unless already set there.
 * NO_EXECUTION_PROVIDER with every reason when none works.
 */
export async function createSessionsWithFallback<K extends string>(
  ort: Ort,
  graphs: Readonly<Record<K, string>>,
  providers: readonly ProviderConfig[],
  options: { tuning?: SessionTuning; warn?: ProviderWarn; env?: NodeJS.ProcessEnv } = {},
): Promise<ProviderSelection<K>> {
  const warn = options.warn ?? ((m: string) => console.warn(`[openpi-edge] ${m}`));
  const env = options.env ?? process.env;
  const failures: ProviderFailure[] = [];
  for (const [i, p] of providers.entries()) {
    for (const [k, v] of Object.entries(tensorRtEnv(p))) env[k] ??= v;
    const sessions: Partial<Record<K, InferenceSession>> = {};
    try {
      for (const [name, file] of Object.entries(graphs) as [K, string][]) {
        sessions[name] = await ort.InferenceSession.create(file, sessionOptionsFor(p, options.tuning));
      }
      return { provider: p, sessions: sessions as Record<K, InferenceSession>, failures };
    } catch (e) {
      await Promise.all(Object.values<InferenceSession | undefined>(sessions).map((s) => s?.release()));
      const reason = (e as Error).message ?? String(e);
      const failure = { provider: p.name, reason };
      failures.push(failure);
      const next = providers[i + 1];
      if (next !== undefined) {
        warn(
          `execution provider '${p.name}' unavailable (${reason}); falling back to '${next.name}'`,
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
