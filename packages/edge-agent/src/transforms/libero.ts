/**
 * openpi's LIBERO adapter (`policies/libero_policy.py`) for pi0/pi05: agent-view and wrist images, 8-dim state
 * passed through unchanged; outputs are the first 7 action dims.
 */
import type { Value } from '@openpi-edge/client';
import { sliceActions } from './action-slice.js';
import { type FloatImagePolicy, parseImage, zerosLike } from './images.js';
import { requireArray, requireVector } from './obs-access.js';
import type { ActionChunk, AdaptedInputs } from './types.js';

/** Options of the LIBERO adapter (the manifest's `robot.options` for `kind: "libero"`). */
export interface LiberoOptions {
  /** Expected state length (`observation/state`); default 8 (eef pos 3 + axis-angle 3 + gripper qpos 2). */
  state_dim?: number;
  /** Width of the returned action rows; default 7. */
  output_dim?: number;
  /** Float images outside [0, 1]; default `'numpy-x86'` (openpi-identical). */
  float_images?: FloatImagePolicy;
}

/**
 * openpi's `LiberoInputs`: `observation/image` -> base, `observation/wrist_image` -> left wrist, right wrist zeros
 * (mask false); HWC or CHW (CHW when `shape[0] == 3`), uint8 or float in [0, 1]; `observation/state` as is.
 */
export function liberoInputs(
  obs: { readonly [key: string]: Value },
  options: LiberoOptions = {},
): AdaptedInputs {
  const state = requireVector(obs, 'observation/state', { length: options.state_dim ?? 8 });
  const floatImages = options.float_images ?? 'numpy-x86';
  const base = parseImage('observation/image', requireArray(obs, 'observation/image'), { floatImages });
  const wrist = parseImage('observation/wrist_image', requireArray(obs, 'observation/wrist_image'), {
    floatImages,
  });
  const out: AdaptedInputs = {
    state,
    images: { base_0_rgb: base, left_wrist_0_rgb: wrist, right_wrist_0_rgb: zerosLike(base) },
    imageMasks: { base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: false },
  };
  return 'prompt' in obs ? { ...out, prompt: obs.prompt as Value } : out;
}

/** openpi's `LiberoOutputs`: `actions[:, :7]`. */
export function liberoOutputs(actions: ActionChunk, options: LiberoOptions = {}): ActionChunk {
  return sliceActions(actions, options.output_dim ?? 7);
}
