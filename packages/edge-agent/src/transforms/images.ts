/**
 * Camera image parsing shared by the robot adapters: float images to uint8 the way openpi does
 * (`(255 * x).astype(np.uint8)`) and the CHW -> HWC layout change.
 */
import type { NDArray } from '@openpi-edge/client';
import { chwToHwc, convertToUint8, type OutOfRangePolicy } from '@openpi-edge/client/node';
import { badObservation } from './obs-access.js';

/** How float camera images outside [0, 1] cast to uint8; see `convertToUint8` in @openpi-edge/client/node. */
export type FloatImagePolicy = OutOfRangePolicy;

/** Options of {@link parseImage}. */
export interface ParseImageOptions {
  /**
   * Layout change: `'always'` = the array is CHW and becomes HWC (openpi's ALOHA adapter, unconditional);
   * `'if-first-dim-3'` = only when `shape[0] == 3` (openpi's LIBERO/DROID `_parse_image`). Default `'if-first-dim-3'`.
   */
  chw?: 'always' | 'if-first-dim-3';
  /** Float images: `255 * x` outside [0, 256). Default `'numpy-x86'` (bit-identical to openpi on x86-64). */
  floatImages?: FloatImagePolicy;
}

/**
 * One camera image as openpi's adapters parse it, checked to end up as HWC `[H, W, 3]` uint8 (what the model
 * and `resize_with_pad` accept). BAD_OBSERVATION naming `key` for a wrong rank, channel count or dtype.
 */
export function parseImage(key: string, img: NDArray, options: ParseImageOptions = {}): NDArray<'uint8'> {
  const chw = options.chw ?? 'if-first-dim-3';
  if (img.shape.length !== 3) {
    badObservation(
      key,
      `expected an image of rank 3 (${chw === 'always' ? 'CHW' : 'HWC or CHW'}), got shape [${img.shape.join(', ')}]`,
      {
        dtype: img.dtype,
        shape: img.shape,
      },
    );
  }
  const isFloat = img.dtype === 'float16' || img.dtype === 'float32' || img.dtype === 'float64';
  if (!isFloat && img.dtype !== 'uint8') {
    badObservation(key, `expected a uint8 or float image, got dtype ${img.dtype}`, {
      dtype: img.dtype,
      shape: img.shape,
    });
  }
  const u8 = convertToUint8(img, { outOfRange: options.floatImages ?? 'numpy-x86' }) as NDArray<'uint8'>;
  const toHwc = chw === 'always' || u8.shape[0] === 3;
  const hwc = toHwc ? chwToHwc(u8) : u8;
  if (hwc.shape[2] !== 3) {
    badObservation(
      key,
      `expected 3 colour channels (${chw === 'always' ? 'CHW [3, H, W]' : 'HWC [H, W, 3] or CHW [3, H, W]'}), got shape [${img.shape.join(', ')}]`,
      { dtype: img.dtype, shape: img.shape },
    );
  }
  return hwc;
}

/** `np.zeros_like(image)` for a uint8 image. */
export function zerosLike(image: NDArray<'uint8'>): NDArray<'uint8'> {
  return { dtype: 'uint8', shape: [...image.shape], data: new Uint8Array(image.data.length) };
}
