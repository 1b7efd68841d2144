/**
 * The native boundary: the one file that loads onnxruntime. Everything else receives the loaded module.
 *
 * Default: the `onnxruntime-node` npm package (CPU execution provider only). A Jetson or GPU host points the agent at
 * an onnxruntime Node binding built with CUDA/TensorRT (`./build.sh --use_tensorrt --use_cuda --build_nodejs`,
 * then the `js/node` package directory) through `ortModulePath` or the `OPENPI_EDGE_ORT_PATH` environment variable;
 * see docs/execution-providers.md.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type * as OrtTypes from 'onnxruntime-node';

/** The onnxruntime module surface used here (onnxruntime-node's, or a compatible custom build's). */
export type Ort = typeof OrtTypes;

/** Environment variable naming an alternative onnxruntime Node package (a directory or module path). */
export const ORT_PATH_ENV = 'OPENPI_EDGE_ORT_PATH';

/** Which module was loaded and from where. */
export interface LoadedOrt {
  readonly ort: Ort;
  /** `'onnxruntime-node'` or the absolute path given by option/env. */
  readonly source: string;
  /** onnxruntime version as reported by the module (`env.versions.node` / `common`). */
  readonly version: string;
}

export interface LoadOrtOptions {
  /** Path of an onnxruntime Node package (directory with package.json) or its entry file. Default: `$OPENPI_EDGE_ORT_PATH`, else the npm `onnxruntime-node`. */
  modulePath?: string;
  /** Environment to read `OPENPI_EDGE_ORT_PATH` from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

const cache = new Map<string, Promise<LoadedOrt>>();
const require = createRequire(import.meta.url);

function versionOf(ort: Ort): string {
  const v = ort.env?.versions as { node?: string; common?: string } | undefined;
  return v?.node ?? v?.common ?? 'unknown';
}

/**
 * Loads onnxruntime once per source. BAD_ARGUMENT naming the path and the env variable when a custom module
 * cannot be loaded or does not look like onnxruntime (no `InferenceSession.create` / `Tensor`).
 */
export function loadOrt(options: LoadOrtOptions = {}): Promise<LoadedOrt> {
  const env = options.env ?? process.env;
  const given = options.modulePath ?? (env[ORT_PATH_ENV] || undefined);
  const key = given === undefined ? 'onnxruntime-node' : resolve(given);
  let p = cache.get(key);
  if (p === undefined) {
    p = load(key, given !== undefined);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function load(source: string, custom: boolean): Promise<LoadedOrt> {
  let mod: unknown;
  try {
    // onnxruntime-node is CommonJS; a custom build's js/node package is too. require() keeps one instance per path.
    mod = custom ? require(source) : await import('onnxruntime-node');
  } catch (e) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      custom
        ? `cannot load onnxruntime from ${source} (${ORT_PATH_ENV} / ortModulePath): ${(e as Error).message}`
        : `cannot load onnxruntime-node: ${(e as Error).message}`,
      { source, env: ORT_PATH_ENV },
      { cause: e },
    );
  }
  const m = mod as Partial<Ort> & { default?: Partial<Ort> };
  const ort = (typeof m.InferenceSession?.create === 'function' ? m : m.default) as Ort | undefined;
  if (
    ort === undefined ||
    typeof ort.InferenceSession?.create !== 'function' ||
    typeof ort.Tensor !== 'function'
  ) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${source} is not an onnxruntime Node module (no InferenceSession.create / Tensor export)`,
      { source, env: ORT_PATH_ENV },
    );
  }
  // onnxruntime's native logger prints a red error line per execution provider that fails to load, before the
  // exception we turn into a fallback warning naming the same reason. Its default level is 'warning'; we default
  // to 'fatal' (errors still surface as exceptions). Set OPENPI_EDGE_ORT_LOG_LEVEL (verbose|info|warning|error|
  // fatal) to see them. Takes effect only before the first session is created (onnxruntime's env is global).
  const level = process.env[ORT_LOG_LEVEL_ENV] ?? 'fatal';
  const ortEnv = (ort as { env?: { logLevel?: string } }).env;
  if (ortEnv !== undefined) ortEnv.logLevel = level;
  return { ort, source, version: versionOf(ort) };
}

/** Environment variable selecting onnxruntime's native log level (default `fatal`). */
export const ORT_LOG_LEVEL_ENV = 'OPENPI_EDGE_ORT_LOG_LEVEL';
