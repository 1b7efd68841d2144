/**
 * The UR5 adapter of openpi's UR5 example (`examples/ur5/README.md`): state = 6 joints + 1 gripper,
 * `base_rgb` -> base, `wrist_rgb` -> left wrist, right wrist zeros (mask false); outputs the first 7 action dims.
 */
import type { Value } from '@openpi-edge/client';
import { sliceActions } from './action-slice.js';
import { type FloatImagePolicy, parseImage, zerosLike } from './images.js';
import { requireArray, requireVector } from './obs-access.js';
import type { ActionChunk, AdaptedInputs } from './types.js';

/** Options of the UR5 adapter (the manifest's `robot.options` for `kind: "ur5"`). */
export interface Ur5Options {
  /** Expected state length (joints + gripper); default 7. */
  state_dim?: number;
  /** Width of the returned action rows; default 7 (6 joints + gripper). */
  output_dim?: number;
  /** Float images outside [0, 1]; default `'numpy-x86'` (openpi-identical). */
  float_images?: FloatImagePolicy;
}

/**
 * `UR5Inputs`: state = concat(`joints`, `gripper` (1-element vector or 0-d array)); images `base_rgb`,
 * `wrist_rgb` as HWC, or CHW when `shape[0] == 3` (the README's `_parse_image`), uint8 or float in [0, 1].
 */
export function ur5Inputs(obs: { readonly [key: string]: Value }, options: Ur5Options = {}): AdaptedInputs {
  const stateDim = options.state_dim ?? 7;
  const joints = requireVector(obs, 'joints', { length: stateDim - 1 });
  const gripper = requireVector(obs, 'gripper', { length: 1, allowScalar: true });
  const state = new Float64Array(stateDim);
  state.set(joints);
  state.set(gripper, joints.length);
  const floatImages = options.float_images ?? 'numpy-x86';
  const base = parseImage('base_rgb', requireArray(obs, 'base_rgb'), { floatImages });
  const wrist = parseImage('wrist_rgb', requireArray(obs, 'wrist_rgb'), { floatImages });
  const out: AdaptedInputs = {
    state,
    images: { base_0_rgb: base, left_wrist_0_rgb: wrist, right_wrist_0_rgb: zerosLike(base) },
    imageMasks: { base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: false },
  };
  return 'prompt' in obs ? { ...out, prompt: obs.prompt as Value } : out;
}

/** `UR5Outputs`: `actions[:, :7]`. */
export function ur5Outputs(actions: ActionChunk, options: Ur5Options = {}): ActionChunk {
  return sliceActions(actions, options.output_dim ?? 7);
}
