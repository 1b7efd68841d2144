/**
 * Loads a model bundle directory (docs/bundle-format.md): reads and validates `manifest.json`, checks that every file
 * it names exists, parses the norm stats and loads the tokenizer, so a broken bundle fails here and not at the first
 * inference. Graph sessions are created by {@link OnnxModel}; their I/O is checked against the manifest there.
 */
import { access, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { NormStats } from '../transforms/norm-stats.js';
import { parseNormStats } from '../transforms/norm-stats.js';
import { PromptTokenizer } from '../transforms/tokenizer.js';
import { type Manifest, parseManifest } from './manifest.js';

/** A validated bundle, ready for session creation. */
export interface Bundle {
  /** Absolute bundle directory. */
  readonly dir: string;
  readonly manifest: Manifest;
  /** Absolute graph paths. */
  /** Absolute graph files; `guidance` only when the manifest lists one. */
  readonly graphPaths: { readonly prefix: string; readonly denoise: string; readonly guidance?: string };
  readonly normStats: NormStats;
  readonly tokenizer: PromptTokenizer;
  /** Absolute path of `golden.json`, when the manifest names one and it exists. */
  readonly goldenPath: string | null;
}

export interface LoadBundleOptions {
  /** Forwarded to the tokenizer: called when a prompt is truncated. Default `console.warn`. */
  onTruncate?: (info: { tokens: number; maxLen: number; text: string }) => void;
}

async function mustExist(dir: string, rel: string, field: string): Promise<string> {
  const path = join(dir, rel);
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error('not a regular file');
  } catch (e) {
    throw new OpenpiEdgeError(
      'BAD_BUNDLE',
      `${path}: missing (named by manifest.json ${field}): ${(e as Error).message}`,
      { file: path, field },
    );
  }
  return path;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new OpenpiEdgeError('BAD_BUNDLE', `${path}: cannot read: ${(e as Error).message}`, { file: path });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new OpenpiEdgeError('BAD_BUNDLE', `${path}: not valid JSON: ${(e as Error).message}`, {
      file: path,
    });
  }
}

/** Reads `<dir>/manifest.json` and validates it (BAD_BUNDLE naming the file and field). */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(resolve(dir), 'manifest.json');
  try {
    await access(path);
  } catch {
    throw new OpenpiEdgeError('BAD_BUNDLE', `${path}: missing: ${dir} is not a model bundle`, {
      file: path,
      dir,
    });
  }
  return parseManifest(await readJson(path), path);
}

/** The state/action widths the robot adapter produces (what the norm stats must cover). */
function robotDims(m: Manifest): { state: number; actions: number } | null {
  const o = m.robot.options as { state_dim?: unknown; output_dim?: unknown };
  const defaults = { aloha: 14, libero: 8, droid: 8, ur5: 7, none: undefined }[m.robot.kind];
  const state = typeof o.state_dim === 'number' ? o.state_dim : defaults;
  if (state === undefined) return null;
  return { state, actions: state };
}

/**
 * Loads and checks a bundle. BAD_BUNDLE naming the file and field for: a missing/invalid manifest, a missing graph
 * or external-data file, missing or malformed norm stats (including q01/q99 for quantile mode and the state key),
 * a missing or unloadable tokenizer.
 */
export async function loadBundle(dir: string, options: LoadBundleOptions = {}): Promise<Bundle> {
  const abs = resolve(dir);
  const manifest = await readManifest(abs);
  const guidance = manifest.graphs.guidance;
  const graphPaths = {
    prefix: await mustExist(abs, manifest.graphs.prefix.file, 'graphs.prefix.file'),
    denoise: await mustExist(abs, manifest.graphs.denoise.file, 'graphs.denoise.file'),
    ...(guidance === undefined
      ? {}
      : { guidance: await mustExist(abs, guidance.file, 'graphs.guidance.file') }),
  };
  for (const g of ['prefix', 'denoise', 'guidance'] as const) {
    const ext = manifest.graphs[g]?.external_data;
    if (ext != null) await mustExist(abs, ext, `graphs.${g}.external_data`);
  }

  const statsPath = await mustExist(abs, manifest.normalization.stats_file, 'normalization.stats_file');
  let normStats: NormStats;
  try {
    normStats = parseNormStats(await readJson(statsPath), statsPath);
  } catch (e) {
    if (e instanceof OpenpiEdgeError && e.code === 'BAD_BUNDLE') throw e;
    const ctx = e instanceof OpenpiEdgeError ? e.context : {};
    throw new OpenpiEdgeError('BAD_BUNDLE', (e as Error).message, { file: statsPath, ...ctx }, { cause: e });
  }
  for (const key of ['state', 'actions'] as const) {
    const entry = normStats[key];
    if (entry === undefined) {
      throw new OpenpiEdgeError('BAD_BUNDLE', `${statsPath}: norm_stats.${key}: missing`, {
        file: statsPath,
        field: `norm_stats.${key}`,
      });
    }
    if (manifest.normalization.mode === 'quantile' && (entry.q01 === undefined || entry.q99 === undefined)) {
      throw new OpenpiEdgeError(
        'BAD_BUNDLE',
        `${statsPath}: norm_stats.${key}: quantile normalization needs q01 and q99`,
        { file: statsPath, field: `norm_stats.${key}.q01` },
      );
    }
  }
  const dims = robotDims(manifest);
  const stateStats = normStats.state;
  if (dims !== null && stateStats !== undefined && stateStats.mean.length < dims.state) {
    throw new OpenpiEdgeError(
      'BAD_BUNDLE',
      `${statsPath}: norm_stats.state has ${stateStats.mean.length} dims, robot '${manifest.robot.kind}' state has ${dims.state}`,
      { file: statsPath, field: 'norm_stats.state.mean', dims: stateStats.mean.length, expected: dims.state },
    );
  }

  const tokPath = await mustExist(abs, manifest.tokenizer.file, 'tokenizer.file');
  let tokenizer: PromptTokenizer;
  try {
    tokenizer = await PromptTokenizer.load(tokPath, {
      maxLen: manifest.max_token_len,
      expectedBosId: manifest.tokenizer.bos_id,
      expectedEosId: manifest.tokenizer.eos_id,
      ...(options.onTruncate === undefined ? {} : { onTruncate: options.onTruncate }),
    });
  } catch (e) {
    const ctx = e instanceof OpenpiEdgeError ? e.context : {};
    throw new OpenpiEdgeError(
      'BAD_BUNDLE',
      `${tokPath}: ${(e as Error).message}`,
      { field: 'tokenizer.file', ...ctx, file: tokPath },
      { cause: e },
    );
  }

  let goldenPath: string | null = null;
  if (manifest.golden != null) {
    const p = join(abs, manifest.golden.file);
    goldenPath = await stat(p).then(
      (s) => (s.isFile() ? p : null),
      () => null,
    );
  }
  return { dir: abs, manifest, graphPaths, normStats, tokenizer, goldenPath };
}
