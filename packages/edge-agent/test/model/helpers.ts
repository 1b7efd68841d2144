/** Shared fixtures for the model-layer tests: the committed demo bundles and throwaway copies of them. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Golden } from '../../src/model/golden.js';
import type { Manifest } from '../../src/model/manifest.js';
import type { BatchInputs } from '../../src/model/sampler.js';

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_ROOT = join(PACKAGE_DIR, '..', '..');
/** The committed demo bundles: π0 and π0.5 for the ALOHA adapter, π0 for the UR5 adapter. */
export const DEMO_BUNDLES = {
  pi0: join(PACKAGE_DIR, 'assets', 'demo-bundle-pi0'),
  pi05: join(PACKAGE_DIR, 'assets', 'demo-bundle-pi05'),
  ur5: join(PACKAGE_DIR, 'assets', 'demo-bundle-ur5'),
} as const;
/** How `python -m openpi_edge_export demo` regenerates each of {@link DEMO_BUNDLES}. */
export const DEMO_BUNDLE_ARGS = {
  pi0: { modelType: 'pi0', robot: 'aloha' },
  pi05: { modelType: 'pi05', robot: 'aloha' },
  ur5: { modelType: 'pi0', robot: 'ur5' },
} as const satisfies Record<keyof typeof DEMO_BUNDLES, { modelType: 'pi0' | 'pi05'; robot: 'aloha' | 'ur5' }>;

/** Copies a bundle into a fresh temp dir; `cleanup` removes it. */
export async function copyBundle(src: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'openpi-edge-bundle-'));
  const dir = join(root, 'bundle');
  await cp(src, dir, { recursive: true });
  return { dir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Rewrites `<dir>/manifest.json` through `edit`. */
export async function editManifest(dir: string, edit: (m: Manifest) => void): Promise<void> {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  edit(m);
  await writeFile(path, JSON.stringify(m));
}

/** The golden file's batch-1 model inputs in the sampler's layout. */
export function goldenBatch(g: Golden): BatchInputs {
  const mi = g.modelInputs;
  const get = <T>(k: string): T => {
    const a = mi[k];
    if (a === undefined) throw new Error(`golden model_inputs.${k} missing`);
    return a.data as T;
  };
  return {
    batch: 1,
    images: {
      base_0_rgb: get<Uint8Array>('base_0_rgb'),
      left_wrist_0_rgb: get<Uint8Array>('left_wrist_0_rgb'),
      right_wrist_0_rgb: get<Uint8Array>('right_wrist_0_rgb'),
    },
    imageMask: get<Uint8Array>('image_mask'),
    tokens: get<Int32Array>('tokenized_prompt'),
    tokenMask: get<Uint8Array>('tokenized_prompt_mask'),
    ...(mi.state === undefined ? {} : { state: get<Float32Array>('state') }),
  };
}
