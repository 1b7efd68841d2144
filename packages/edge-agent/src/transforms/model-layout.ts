/**
 * The pass-through adapter (manifest `robot.kind: "none"`): the observation is already in the model's layout,
 * `{ image: {base_0_rgb, left_wrist_0_rgb, right_wrist_0_rgb}, image_mask?: {...}, state, prompt? }`.
 */
import { isNDArray, isNumpyScalar, type NDArray, type Value } from '@openpi-edge/client';
import { sliceActions } from './action-slice.js';
import { badObservation, describeValue, requireVector } from './obs-access.js';
import { type ActionChunk, type AdaptedInputs, IMAGE_SLOTS, type PerSlot } from './types.js';

/** Options of the pass-through adapter (the manifest's `robot.options` for `kind: "none"`). */
export interface ModelLayoutOptions {
  /** Expected state length; default: any length. */
  state_dim?: number;
  /** Width of the returned action rows; default: all columns. */
  output_dim?: number;
}

function asDict(key: string, v: Value | undefined): { readonly [k: string]: Value } {
  if (
    typeof v !== 'object' ||
    v === null ||
    Array.isArray(v) ||
    isNDArray(v) ||
    isNumpyScalar(v) ||
    v instanceof Uint8Array
  ) {
    return badObservation(key, `expected a dict, got ${describeValue(v)}`);
  }
  return v;
}

function asBool(key: string, v: Value | undefined): boolean {
  if (typeof v === 'boolean') return v;
  if (isNumpyScalar(v) && v.dtype === 'bool') return v.value === true;
  if (isNDArray(v) && v.dtype === 'bool' && v.shape.length === 0) return (v.data as Uint8Array)[0] !== 0;
  return badObservation(key, `expected a bool, got ${describeValue(v)}`);
}

/**
 * Checks and passes through a model-layout observation. Images must be HWC `[H, W, 3]` uint8, all three slots
 * present (openpi raises on a missing one); a missing mask is true (openpi's `Observation.from_dict`).
 */
export function modelLayoutInputs(
  obs: { readonly [key: string]: Value },
  options: ModelLayoutOptions = {},
): AdaptedInputs {
  const state = requireVector(
    obs,
    'state',
    options.state_dim === undefined ? {} : { length: options.state_dim },
  );
  if (!('image' in obs)) badObservation('image', 'missing', { present: Object.keys(obs) });
  const images = asDict('image', obs.image);
  const masks = 'image_mask' in obs ? asDict('image_mask', obs.image_mask) : {};
  const outImages = {} as PerSlot<NDArray<'uint8'>>;
  const outMasks = {} as PerSlot<boolean>;
  for (const slot of IMAGE_SLOTS) {
    const key = `image/${slot}`;
    if (!(slot in images)) badObservation(key, 'missing', { present: Object.keys(images) });
    const img = images[slot];
    if (!isNDArray(img)) return badObservation(key, `expected a numpy array, got ${describeValue(img)}`);
    if (img.dtype !== 'uint8' || img.shape.length !== 3 || img.shape[2] !== 3) {
      badObservation(key, `expected a uint8 HWC image [H, W, 3], got ${img.dtype}[${img.shape.join(', ')}]`, {
        dtype: img.dtype,
        shape: img.shape,
      });
    }
    outImages[slot] = img as NDArray<'uint8'>;
    outMasks[slot] = slot in masks ? asBool(`image_mask/${slot}`, masks[slot]) : true;
  }
  const out: AdaptedInputs = { state, images: outImages, imageMasks: outMasks };
  return 'prompt' in obs ? { ...out, prompt: obs.prompt as Value } : out;
}

/** `actions[:, :output_dim]` (all columns by default). */
export function modelLayoutOutputs(actions: ActionChunk, options: ModelLayoutOptions = {}): ActionChunk {
  return sliceActions(actions, options.output_dim ?? actions.shape[1] ?? 0);
}
