/**
 * openpi's ALOHA adapter (`policies/aloha_policy.py`): `AlohaInputs` / `AlohaOutputs` with `adapt_to_pi`, which maps
 * the Aloha runtime's joint signs and linear gripper positions to the pi0 pre-training space and back.
 * All arithmetic is float64, as numpy computes it (`int64 flip mask * state` promotes to float64).
 */
import { isNDArray, type NDArray, type Value } from '@openpi-edge/client';
import { chunkShape, sliceActions } from './action-slice.js';
import { PUPPET_GRIPPER, VX300S_GRIPPER } from './aloha-gripper.js';
import { type FloatImagePolicy, parseImage, zerosLike } from './images.js';
import { badObservation, describeValue, requireVector } from './obs-access.js';
import type { ActionChunk, AdaptedInputs } from './types.js';

/** openpi's `_joint_flip_mask()`: sign per dim of the 14-dim ALOHA state/action. */
export const ALOHA_JOINT_FLIP_MASK: readonly number[] = [1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1];

/** Indices of the left and right gripper in the 14-dim ALOHA vector. */
export const ALOHA_GRIPPER_DIMS: readonly number[] = [6, 13];

/** Camera names `AlohaInputs` accepts (`EXPECTED_CAMERAS`); any other name is an error. */
export const ALOHA_CAMERAS = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'] as const;

// openpi's AlohaInputs/AlohaOutputs use the ACT/openpi puppet gripper constants (PUPPET_GRIPPER: linear position
// close/open in metres, joint close/open in radians) and the Interbotix vx300s linkage (VX300S_GRIPPER); both are
// defined once, with the ViperX driver and the ALOHA robot constants.
const PUPPET_GRIPPER_POSITION_CLOSE = PUPPET_GRIPPER.positionClose;
const PUPPET_GRIPPER_POSITION_OPEN = PUPPET_GRIPPER.positionOpen;
const HORN_RADIUS = VX300S_GRIPPER.hornRadius;
const ARM_LENGTH = VX300S_GRIPPER.armLength;
/** pi0 gripper range in radians (encoder counts 2405..3110 of 4096, zero at 2048). */
const PI0_GRIPPER_MIN = 0.5476;
const PI0_GRIPPER_MAX = 1.6296;
const PUPPET_GRIPPER_JOINT_CLOSE = PUPPET_GRIPPER.jointClose;
const PUPPET_GRIPPER_JOINT_OPEN = PUPPET_GRIPPER.jointOpen;

const normalize = (x: number, lo: number, hi: number): number => (x - lo) / (hi - lo);
const unnormalize = (x: number, lo: number, hi: number): number => x * (hi - lo) + lo;

/**
 * openpi's `_gripper_to_angular`: Aloha's normalized linear gripper position (0 closed .. 1 open) to pi0's
 * normalized angular gripper value. Inverts the Interbotix linear <-> angle linkage; float64.
 */
export function gripperToAngular(value: number): number {
  const linear = unnormalize(value, PUPPET_GRIPPER_POSITION_CLOSE, PUPPET_GRIPPER_POSITION_OPEN);
  const ratio =
    (HORN_RADIUS * HORN_RADIUS + linear * linear - ARM_LENGTH * ARM_LENGTH) / (2 * HORN_RADIUS * linear);
  // np.clip passes NaN through; Math.min/max do too.
  const radians = Math.asin(Math.min(1, Math.max(-1, ratio)));
  return normalize(radians, PI0_GRIPPER_MIN, PI0_GRIPPER_MAX);
}

/** openpi's `_gripper_from_angular`: pi0's gripper value to the Aloha puppet gripper joint command (normalized). */
export function gripperFromAngular(value: number): number {
  return normalize(value + PI0_GRIPPER_MIN, PUPPET_GRIPPER_JOINT_CLOSE, PUPPET_GRIPPER_JOINT_OPEN);
}

/** openpi's `_gripper_from_angular_inv` (used on training actions): the inverse of {@link gripperFromAngular}. */
export function gripperFromAngularInv(value: number): number {
  return unnormalize(value, PUPPET_GRIPPER_JOINT_CLOSE, PUPPET_GRIPPER_JOINT_OPEN) - PI0_GRIPPER_MIN;
}

/** Options of the ALOHA adapter (the manifest's `robot.options` for `kind: "aloha"`). */
export interface AlohaOptions {
  /** Convert between the Aloha runtime space and pi0's pre-training space (flip joints, re-encode grippers). Default true. */
  adapt_to_pi?: boolean;
  /** Expected state length; default 14. */
  state_dim?: number;
  /** Width of the returned action rows; default 14. */
  output_dim?: number;
  /** Float images outside [0, 1]; default `'numpy-x86'` (openpi-identical). */
  float_images?: FloatImagePolicy;
}

/**
 * openpi's `AlohaInputs`: `state` (14) and `images` {cam_high (required), cam_low (ignored), cam_left_wrist,
 * cam_right_wrist}, each CHW (uint8, or float in [0, 1]). Missing wrist cameras become zeros with mask false.
 */
export function alohaInputs(
  obs: { readonly [key: string]: Value },
  options: AlohaOptions = {},
): AdaptedInputs {
  const stateDim = options.state_dim ?? 14;
  const raw = requireVector(obs, 'state', { length: stateDim });
  const state = options.adapt_to_pi === false ? raw : encodeAlohaVector(raw, 'to-pi');

  if (!('images' in obs)) badObservation('images', 'missing', { present: Object.keys(obs) });
  const imagesValue = obs.images;
  if (
    typeof imagesValue !== 'object' ||
    imagesValue === null ||
    Array.isArray(imagesValue) ||
    isNDArray(imagesValue) ||
    imagesValue instanceof Uint8Array ||
    '__npgeneric__' in imagesValue
  ) {
    return badObservation(
      'images',
      `expected a dict of camera name -> image, got ${describeValue(imagesValue)}`,
    );
  }
  const names = Object.keys(imagesValue);
  const unknown = names.filter((n) => !(ALOHA_CAMERAS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    badObservation(
      'images',
      `unknown camera ${unknown.map((n) => `'${n}'`).join(', ')}; expected a subset of ${ALOHA_CAMERAS.join(', ')}`,
      {
        cameras: names,
        unknown,
      },
    );
  }
  const parsed: Record<string, NDArray<'uint8'>> = {};
  for (const name of names) {
    const img = (imagesValue as { [k: string]: Value })[name];
    const key = `images/${name}`;
    if (!isNDArray(img)) badObservation(key, `expected a numpy array, got ${describeValue(img)}`);
    parsed[name] = parseImage(key, img, { chw: 'always', floatImages: options.float_images ?? 'numpy-x86' });
  }
  const base = parsed.cam_high;
  if (base === undefined)
    badObservation('images/cam_high', 'missing (the base camera is required)', { cameras: names });
  const left = parsed.cam_left_wrist;
  const right = parsed.cam_right_wrist;
  const out: AdaptedInputs = {
    state,
    images: {
      base_0_rgb: base,
      left_wrist_0_rgb: left ?? zerosLike(base),
      right_wrist_0_rgb: right ?? zerosLike(base),
    },
    imageMasks: {
      base_0_rgb: true,
      left_wrist_0_rgb: left !== undefined,
      right_wrist_0_rgb: right !== undefined,
    },
  };
  return 'prompt' in obs ? { ...out, prompt: obs.prompt as Value } : out;
}

/**
 * Flip mask and gripper re-encoding of one 14-dim vector: `'to-pi'` = openpi's `_decode_state`
 * (state -> pi space), `'from-pi'` = `_encode_actions` (pi space -> Aloha commands).
 */
export function encodeAlohaVector(v: Float64Array, direction: 'to-pi' | 'from-pi'): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = (ALOHA_JOINT_FLIP_MASK[i] ?? 1) * (v[i] as number);
  const grip = direction === 'to-pi' ? gripperToAngular : gripperFromAngular;
  for (const g of ALOHA_GRIPPER_DIMS) out[g] = grip(out[g] as number);
  return out;
}

/**
 * The inverse of {@link alohaOutputs} on the rows it returns (openpi's `_encode_actions_inv`, which its training
 * inputs apply to recorded actions): flip, then grippers through {@link gripperFromAngularInv}. Robot-space
 * `[n, D]` -> model space `[n, D]` (unnormalized). Real-time chunking uses it to bring the executing chunk back
 * to the model.
 */
export function alohaActionsToModel(actions: ActionChunk, options: AlohaOptions = {}): ActionChunk {
  const [h, d] = chunkShape(actions, 'alohaActionsToModel');
  const data = Float64Array.from(actions.data);
  if (options.adapt_to_pi !== false) {
    for (let r = 0; r < h; r++) {
      const row = data.subarray(r * d, (r + 1) * d);
      for (let i = 0; i < row.length; i++) row[i] = (ALOHA_JOINT_FLIP_MASK[i] ?? 1) * (row[i] as number);
      for (const g of ALOHA_GRIPPER_DIMS) if (g < d) row[g] = gripperFromAngularInv(row[g] as number);
    }
  }
  return { dtype: 'float64', shape: [h, d], data };
}

/**
 * openpi's `AlohaOutputs`: `actions[:, :14]`, then (adapt_to_pi) flipped and grippers through
 * {@link gripperFromAngular}. `actions` is `[H, D]` with D >= output_dim.
 */
export function alohaOutputs(actions: ActionChunk, options: AlohaOptions = {}): ActionChunk {
  const sliced = sliceActions(actions, options.output_dim ?? 14);
  if (options.adapt_to_pi === false) return sliced;
  const [h, d] = sliced.shape as [number, number];
  const data = sliced.data;
  for (let r = 0; r < h; r++) {
    data.set(encodeAlohaVector(data.subarray(r * d, (r + 1) * d), 'from-pi'), r * d);
  }
  return sliced;
}
