/**
 * The `images` of an ALOHA observation, built on demand (see images-on-demand.ts) in small pieces: the control loop
 * runs on the same thread, so after each camera's frame is fetched and again after it is resized this yields to the
 * event loop (one macrotask), and a control tick that falls due meanwhile runs first. Without the yields the four
 * 480x640 frames are ~25-45 ms of uninterrupted work, more than a 20 ms tick. Same conversion as
 * AlohaEnvironment.getObservation: newest frame (CAMERA_STALE when missing or older than `maxAgeMs`) -> RGB ->
 * openpi's resize_with_pad to 224x224 -> uint8 CHW.
 */
import { macrotask, type NDArray, OpenpiEdgeError } from '@openpi-edge/client';
import { convertToUint8, hwcToChw, resizeWithPad } from '@openpi-edge/client/node';
import { type CameraSource, freshFrame } from '../io/cameras/camera-source.js';
import { frameToRgb } from '../io/cameras/frame-convert.js';

export interface CaptureImagesOptions {
  /** Output size (px). Default 224 x 224 (openpi's model input). */
  height?: number;
  width?: number;
  /** A frame older than this is refused (ms). Default 500 (AlohaEnvironment's). */
  maxAgeMs?: number;
}

/** Captures every camera in `cameras` (by observation name) into uint8 CHW images. */
export async function captureImages(
  cameras: Readonly<Record<string, CameraSource | undefined>>,
  options: CaptureImagesOptions = {},
): Promise<Record<string, NDArray<'uint8'>>> {
  const { height = 224, width = 224, maxAgeMs = 500 } = options;
  const out: Record<string, NDArray<'uint8'>> = {};
  for (const [name, source] of Object.entries(cameras)) {
    if (source === undefined) continue;
    let rgb: NDArray<'uint8'>;
    try {
      rgb = await frameToRgb(freshFrame(source, maxAgeMs).frame, name);
    } catch (e) {
      const ctx = e instanceof OpenpiEdgeError ? e.context : {};
      throw new OpenpiEdgeError(
        'BAD_OBSERVATION',
        `ALOHA observation: camera ${name} unusable: ${e instanceof Error ? e.message : String(e)}`,
        { ...ctx, key: `images.${name}`, camera: name },
        { cause: e },
      );
    }
    await macrotask();
    out[name] = hwcToChw(convertToUint8(resizeWithPad(rgb, height, width)) as NDArray<'uint8'>);
    await macrotask();
  }
  return out;
}
