/**
 * An approximate, asynchronous `resizeWithPad` on sharp (libvips): same geometry as openpi, libvips' antialiased
 * linear reduce instead of Pillow's. Not bit-exact (measured difference in docs/image-tools.md); use it only where
 * the policy was not trained on Pillow-resized frames or where the difference was checked to be harmless.
 */
import { OpenpiEdgeError } from '../errors.js';
import type { NDArray } from '../ndarray.js';
import { resizedSize, resizeWithPad } from './image-tools.js';
import { loadSharp } from './jpeg.js';

/**
 * Like {@link resizeWithPad} (same validation, geometry, identity return and errors) but resampled by sharp with
 * its `linear` kernel. Resolves to a new `[..., height, width, 3]` uint8 array.
 */
export async function resizeWithPadSharp(images: NDArray, height: number, width: number): Promise<NDArray> {
  const shape = images.shape;
  const rank = shape.length;
  if (rank >= 3 && shape[rank - 3] === height && shape[rank - 2] === width) return images;
  // Validation (and error contract) shared with the exact path: run it on an empty batch of the same layout.
  if (images.dtype === 'uint8' && rank >= 3) {
    resizeWithPad(
      { dtype: 'uint8', shape: [0, ...shape.slice(rank - 3)], data: new Uint8Array(0) },
      height,
      width,
    );
  } else {
    resizeWithPad(images, height, width);
  }
  const h = shape[rank - 3] as number;
  const w = shape[rank - 2] as number;
  const src = images.data as Uint8Array;
  const frame = h * w * 3;
  const batch = frame === 0 ? 0 : src.length / frame;
  if (!Number.isInteger(batch)) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `resizeWithPadSharp: data length ${src.length} does not match shape`,
      {
        shape,
        elements: src.length,
      },
    );
  }
  const r = resizedSize(h, w, height, width);
  if (r.height <= 0 || r.width <= 0) return resizeWithPad(images, height, width); // throws PIL's BAD_SHAPE
  const sharp = await loadSharp();
  const outFrame = height * width * 3;
  const out = new Uint8Array(batch * outFrame);
  for (let b = 0; b < batch; b++) {
    const input = src.subarray(b * frame, (b + 1) * frame);
    const buf = await sharp(input, { raw: { width: w, height: h, channels: 3 } })
      .resize(r.width, r.height, { kernel: 'linear', fit: 'fill' })
      .extend({
        top: r.padTop,
        bottom: height - r.height - r.padTop,
        left: r.padLeft,
        right: width - r.width - r.padLeft,
        background: { r: 0, g: 0, b: 0 },
      })
      .raw()
      .toBuffer();
    out.set(buf, b * outFrame);
  }
  return { dtype: 'uint8', shape: [...shape.slice(0, rank - 3), height, width, 3], data: out };
}
