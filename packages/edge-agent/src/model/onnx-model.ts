/**
 * A loaded bundle on onnxruntime: bundle checks, execution-provider selection with fallback, graph I/O checks,
 * a warm-up chunk, and the sampler. The model layer below the transforms (inputs/outputs are model-space arrays).
 */
import { performance } from 'node:perf_hooks';
import { type Bundle, type LoadBundleOptions, loadBundle } from './bundle.js';
import {
  createSessionsWithFallback,
  DEFAULT_PROVIDERS,
  type ProviderConfig,
  type ProviderEntry,
  type ProviderFailure,
  type ProviderWarn,
  parseProviders,
  type SessionTuning,
} from './execution-providers.js';
import { GraphSession } from './graph-session.js';
import { expectedGraphIO, type Manifest } from './manifest.js';
import { type LoadedOrt, type LoadOrtOptions, loadOrt } from './ort-binding.js';
import { GaussianRng, type NoiseSource } from './rng.js';
import { type BatchInputs, type SampleOptions, type SampleResult, Sampler } from './sampler.js';

export interface OnnxModelOptions extends LoadBundleOptions, SessionTuning {
  /** Providers in priority order (names or option objects). Default `['tensorrt', 'cuda', 'cpu']`. */
  executionProviders?: readonly ProviderEntry[];
  /** Alternative onnxruntime Node package (GPU build). Default: `$OPENPI_EDGE_ORT_PATH`, else `onnxruntime-node`. */
  ortModulePath?: string;
  /** Environment for `OPENPI_EDGE_ORT_PATH` and the TensorRT variables. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Seed of the Gaussian noise generator. Default: random. Ignored when `noise` is given. */
  seed?: number;
  /** Custom noise source. Default: `new GaussianRng(seed)`. */
  noise?: NoiseSource;
  /** Run one chunk on zero inputs at load (first-run allocations, TensorRT engine build). Default true. */
  warmup?: boolean;
  /** Receives one warning per provider that failed. Default: `console.warn`. */
  onProviderWarning?: ProviderWarn;
  /**
   * Load the bundle's guidance graph (real-time chunking with `mode: 'guidance'`) when it has one. Default true;
   * false saves its memory (about the denoise graph's) when RTC guidance is not used.
   */
  loadGuidance?: boolean;
}

/** What load chose, for logs and the `serve` banner. */
export interface ModelLoadReport {
  /** The provider every graph runs on. */
  provider: ProviderConfig;
  /** Providers tried before it, with the reason each failed. */
  fallbacks: ProviderFailure[];
  /** onnxruntime module source (`onnxruntime-node` or the custom path) and version. */
  ort: { source: string; version: string };
  /** Wall time of the warm-up chunk in ms (null when warm-up was off). */
  warmupMs: number | null;
  /** Wall time of session creation (all attempts) in ms. */
  sessionMs: number;
}

export class OnnxModel {
  readonly bundle: Bundle;
  readonly sampler: Sampler;
  readonly report: ModelLoadReport;
  private readonly graphs: GraphSession[];
  private closed = false;

  private constructor(bundle: Bundle, sampler: Sampler, graphs: GraphSession[], report: ModelLoadReport) {
    this.bundle = bundle;
    this.sampler = sampler;
    this.graphs = graphs;
    this.report = report;
  }

  get manifest(): Manifest {
    return this.bundle.manifest;
  }

  /**
   * Loads `dir`: BAD_BUNDLE for a broken bundle or graph I/O that contradicts the manifest, NO_EXECUTION_PROVIDER
   * when no configured provider works, BAD_ARGUMENT for a bad provider list or onnxruntime path.
   */
  static async load(dir: string, options: OnnxModelOptions = {}): Promise<OnnxModel> {
    const providers = parseProviders(options.executionProviders ?? DEFAULT_PROVIDERS);
    const bundle = await loadBundle(dir, options);
    const ortOptions: LoadOrtOptions = {
      ...(options.ortModulePath === undefined ? {} : { modulePath: options.ortModulePath }),
      ...(options.env === undefined ? {} : { env: options.env }),
    };
    const loaded: LoadedOrt = await loadOrt(ortOptions);
    const s0 = performance.now();
    const { guidance: guidancePath, ...required } = bundle.graphPaths;
    const paths: Record<string, string> =
      guidancePath !== undefined && options.loadGuidance !== false
        ? { ...required, guidance: guidancePath }
        : required;
    const selection = await createSessionsWithFallback(loaded.ort, paths, providers, {
      tuning: options,
      ...(options.onProviderWarning === undefined ? {} : { warn: options.onProviderWarning }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    const sessionMs = performance.now() - s0;
    const io = expectedGraphIO(bundle.manifest);
    let graphs: GraphSession[];
    try {
      graphs = (['prefix', 'denoise', 'guidance'] as const)
        .filter((g) => paths[g] !== undefined)
        .map((g) => {
          const session = selection.sessions[g];
          const file = paths[g];
          if (session === undefined || file === undefined) throw new Error(`no session for graph ${g}`);
          return new GraphSession(g, file, session, io[g]);
        });
    } catch (e) {
      await Promise.all(Object.values(selection.sessions).map((s) => s.release()));
      throw e;
    }
    const [prefix, denoise, guidance] = graphs as [GraphSession, GraphSession, GraphSession | undefined];
    const sampler = new Sampler(
      loaded.ort,
      bundle.manifest,
      prefix,
      denoise,
      options.noise ?? new GaussianRng(options.seed),
      guidance ?? null,
    );
    const model = new OnnxModel(bundle, sampler, graphs, {
      provider: selection.provider,
      fallbacks: selection.failures,
      ort: { source: loaded.source, version: loaded.version },
      warmupMs: null,
      sessionMs,
    });
    if (options.warmup !== false) {
      const w0 = performance.now();
      const m = bundle.manifest;
      await sampler.sample(zeroInputs(m, 1), { noise: new Float32Array(sampler.chunkSize) });
      if (sampler.hasGuidance) {
        // The guidance graph's first run too (its allocations; on TensorRT, its engine build).
        const zeros = new Float32Array(sampler.chunkSize);
        await sampler.sample(zeroInputs(m, 1), {
          noise: zeros,
          numSteps: 1,
          rtc: { mode: 'guidance', prevChunk: zeros, weights: zeros, maxGuidance: 0 },
        });
      }
      model.report.warmupMs = performance.now() - w0;
    }
    return model;
  }

  /** One chunk per batch row; see {@link Sampler.sample}. */
  sample(inputs: BatchInputs, options?: SampleOptions): Promise<SampleResult> {
    return this.sampler.sample(inputs, options);
  }

  /** Releases the onnxruntime sessions. Idempotent; `sample` must not be called afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.graphs.map((g) => g.release()));
  }
}

/** All-zero (all-masked) batch inputs of the manifest's sizes: warm-up and benchmarks. */
export function zeroInputs(m: Manifest, batch: number): BatchInputs {
  const images: Record<string, Uint8Array> = {};
  for (const slot of m.images.slots)
    images[slot] = new Uint8Array(batch * m.images.height * m.images.width * 3);
  const tokenMask = new Uint8Array(batch * m.max_token_len);
  for (let b = 0; b < batch; b++) tokenMask[b * m.max_token_len] = 1;
  const imageMask = new Uint8Array(batch * m.images.slots.length).fill(1);
  return {
    batch,
    images,
    imageMask,
    tokens: new Int32Array(batch * m.max_token_len),
    tokenMask,
    state: new Float32Array(batch * m.action_dim),
  };
}
