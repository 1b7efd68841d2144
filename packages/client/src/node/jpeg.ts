/**
 * JPEG decoding to HWC RGB uint8 through sharp (libvips + libjpeg-turbo). sharp is loaded on first use so that
 * importing the image tools never pays for (or fails on) the native module.
 */
import type { Sharp, SharpOptions } from 'sharp';
import { OpenpiEdgeError } from '../errors.js';
import type { NDArray } from '../ndarray.js';

type SharpFactory = (input: Uint8Array, options?: SharpOptions) => Sharp;

let sharpPromise: Promise<SharpFactory> | undefined;

/** Loads sharp once; IMAGE_DECODE_FAILED naming the missing module when it cannot be loaded. */
export function loadSharp(): Promise<SharpFactory> {
  sharpPromise ??= import('sharp').then(
    (m) => m.default as unknown as SharpFactory,
    (e: unknown) => {
      sharpPromise = undefined;
      throw new OpenpiEdgeError(
        'IMAGE_DECODE_FAILED',
        `sharp (native image library) could not be loaded: ${String(e)}; install it with \`pnpm add sharp\``,
        { module: 'sharp' },
        { cause: e },
      );
    },
  );
  return sharpPromise;
}

export interface DecodeJpegOptions {
  /** Refuse images with more pixels than this (width * height), before decoding. Default 40_000_000. */
  maxPixels?: number;
}

const JPEG_SOI_0 = 0xff;
const JPEG_SOI_1 = 0xd8;

/**
 * Decodes one JPEG (baseline or progressive, colour or greyscale) to `[H, W, 3]` uint8 RGB, like Pillow's
 * `Image.open(...).convert('RGB')`: no EXIF rotation, greyscale replicated to three channels, alpha dropped.
 * Pixel values can differ from Pillow's by the libjpeg build (measured: at most 1; docs/image-tools.md).
 * Throws IMAGE_DECODE_FAILED (context: byteLength) for bytes that are not a decodable JPEG.
 */
export async function decodeJpeg(
  bytes: Uint8Array,
  options: DecodeJpegOptions = {},
): Promise<NDArray<'uint8'>> {
  const maxPixels = options.maxPixels ?? 40_000_000;
  const byteLength = bytes.byteLength;
  if (byteLength < 4 || bytes[0] !== JPEG_SOI_0 || bytes[1] !== JPEG_SOI_1) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new OpenpiEdgeError(
      'IMAGE_DECODE_FAILED',
      `decodeJpeg: ${byteLength} bytes do not start with a JPEG SOI marker (ff d8), got [${head}]`,
      { byteLength },
    );
  }
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`unexpected decoded layout: ${info.width}x${info.height}x${info.channels}`);
    }
    const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { dtype: 'uint8', shape: [info.height, info.width, 3], data: out };
  } catch (e) {
    throw new OpenpiEdgeError(
      'IMAGE_DECODE_FAILED',
      `decodeJpeg: could not decode ${byteLength} bytes as JPEG: ${e instanceof Error ? e.message : String(e)}`,
      { byteLength },
      { cause: e },
    );
  }
}
