/**
 * openpi's DROID adapter (`policies/droid_policy.py`) for pi0/pi05: exterior + wrist images, state = 7 joint
 * positions + gripper position; a `bytes` prompt is decoded as UTF-8. Outputs are the first 8 action dims.
 */
import type { Value } from '@openpi-edge/client';
import { sliceActions } from './action-slice.js';
import { type FloatImagePolicy, parseImage, zerosLike } from './images.js';
import { badObservation, requireArray, requireVector } from './obs-access.js';
import type { ActionChunk, AdaptedInputs } from './types.js';

/** Options of the DROID adapter (the manifest's `robot.options` for `kind: "droid"`). */
export interface DroidOptions {
  /** Expected state length (joints + gripper); default 8. */
  state_dim?: number;
  /** Width of the returned action rows; default 8 (7 joint velocities + gripper position). */
  output_dim?: number;
  /** Float images outside [0, 1]; default `'numpy-x86'` (openpi-identical). */
  float_images?: FloatImagePolicy;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * openpi's `DroidInputs`: `observation/exterior_image_1_left` -> base, `observation/wrist_image_left` -> left wrist,
 * right wrist zeros (mask false); state = concat(`observation/joint_position`, `observation/gripper_position`
 * (a 1-element vector or a 0-d array)).
 */
export function droidInputs(
  obs: { readonly [key: string]: Value },
  options: DroidOptions = {},
): AdaptedInputs {
  const stateDim = options.state_dim ?? 8;
  const joints = requireVector(obs, 'observation/joint_position', { length: stateDim - 1 });
  const gripper = requireVector(obs, 'observation/gripper_position', { length: 1, allowScalar: true });
  const state = new Float64Array(stateDim);
  state.set(joints);
  state.set(gripper, joints.length);
  const floatImages = options.float_images ?? 'numpy-x86';
  const exteriorKey = 'observation/exterior_image_1_left';
  const wristKey = 'observation/wrist_image_left';
  const base = parseImage(exteriorKey, requireArray(obs, exteriorKey), { floatImages });
  const wrist = parseImage(wristKey, requireArray(obs, wristKey), { floatImages });
  const out: AdaptedInputs = {
    state,
    images: { base_0_rgb: base, left_wrist_0_rgb: wrist, right_wrist_0_rgb: zerosLike(base) },
    imageMasks: { base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: false },
  };
  if (!('prompt' in obs)) return out;
  const prompt = obs.prompt as Value;
  if (prompt instanceof Uint8Array) {
    let text: string;
    try {
      text = utf8.decode(prompt);
    } catch {
      return badObservation('prompt', `bytes (${prompt.length}) are not valid UTF-8`, {
        bytes: prompt.length,
      });
    }
    return { ...out, prompt: text };
  }
  return { ...out, prompt };
}

/** openpi's `DroidOutputs`: `actions[:, :8]`. */
export function droidOutputs(actions: ActionChunk, options: DroidOptions = {}): ActionChunk {
  return sliceActions(actions, options.output_dim ?? 8);
}
