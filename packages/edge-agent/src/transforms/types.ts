/**
 * Types shared by the input/output transforms: the model's image slots and what a robot input adapter produces
 * (openpi's data dict right after `AlohaInputs` / `LiberoInputs` / ...).
 */
import type { NDArray, Value } from '@openpi-edge/client';

/** openpi's `IMAGE_KEYS` for pi0/pi05, in model order (also the order of the prefix graph's `image_mask` columns). */
export const IMAGE_SLOTS = ['base_0_rgb', 'left_wrist_0_rgb', 'right_wrist_0_rgb'] as const;

/** One of the model's three image slots. */
export type ImageSlot = (typeof IMAGE_SLOTS)[number];

/** A slot -> value map covering every slot. */
export type PerSlot<T> = { [S in ImageSlot]: T };

/**
 * The output of a robot input adapter, in the model's layout but not yet normalized, resized, tokenized or padded.
 * `state` holds float64 values: exact for float32 inputs, and the precision numpy computes the adapters' math in.
 */
export interface AdaptedInputs {
  /** Robot state in the adapter's output space (e.g. ALOHA pi-space), unpadded. */
  readonly state: Float64Array;
  /** HWC uint8 images per slot, at the camera's resolution (resizing comes later). */
  readonly images: PerSlot<NDArray<'uint8'>>;
  /** false = padding image (a missing camera). */
  readonly imageMasks: PerSlot<boolean>;
  /** The observation's `prompt` value as given (absent when the observation had none). */
  readonly prompt?: Value;
}

/** A float64 action chunk `[H, D]`, row-major: what every output transform returns (numpy promotes to float64). */
export type ActionChunk = NDArray<'float64'>;
