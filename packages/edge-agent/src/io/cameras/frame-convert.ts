/** Camera frames to `[H, W, 3]` uint8 RGB, the layout openpi's image tools take. */
import { type NDArray, OpenpiEdgeError } from '@openpi-edge/client';
import { convertToUint8, decodeJpeg, hwcToChw, resizeWithPad } from '@openpi-edge/client/node';
import type { CameraFrame } from './camera-source.js';
import { drawPatternFrame } from './generated-camera.js';

const cache = new WeakMap<CameraFrame, Promise<NDArray<'uint8'>>>();

function packed(frame: CameraFrame, camera: string): NDArray<'uint8'> {
  const { width, height, step, data, encoding } = frame;
  if (step < width * 3 || data.length < step * height) {
    throw new OpenpiEdgeError(
      'IMAGE_DECODE_FAILED',
      `camera ${camera}: ${encoding} frame ${width}x${height} step ${step} has ${data.length} bytes`,
      { camera, width, height, step, byteCount: data.length },
    );
  }
  const out = new Uint8Array(width * height * 3);
  const swap = encoding === 'bgr8';
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * step, y * step + width * 3);
    const o = y * width * 3;
    if (!swap) {
      out.set(row, o);
      continue;
    }
    for (let x = 0; x < width * 3; x += 3) {
      out[o + x] = row[x + 2] as number;
      out[o + x + 1] = row[x + 1] as number;
      out[o + x + 2] = row[x] as number;
    }
  }
  return { dtype: 'uint8', shape: [height, width, 3], data: out };
}

/**
 * The frame as `[H, W, 3]` uint8 RGB: rgb8 rows copied (padding dropped), bgr8 swapped to RGB, JPEG decoded, a
 * generated `pattern` drawn. The
 * result is cached per frame, so polling the same frame twice decodes once. IMAGE_DECODE_FAILED names the camera.
 */
export function frameToRgb(frame: CameraFrame, camera = 'camera'): Promise<NDArray<'uint8'>> {
  let p = cache.get(frame);
  if (p === undefined) {
    p =
      frame.encoding === 'jpeg'
        ? decodeJpeg(frame.data).catch((e: unknown) => {
            throw new OpenpiEdgeError(
              'IMAGE_DECODE_FAILED',
              `camera ${camera}: ${e instanceof Error ? e.message : String(e)}`,
              { camera, byteCount: frame.data.length, seq: frame.seq },
              { cause: e },
            );
          })
        : frame.encoding === 'pattern'
          ? Promise.resolve().then(() => ({
              dtype: 'uint8' as const,
              shape: [frame.height, frame.width, 3],
              data: drawPatternFrame(frame, camera),
            }))
          : Promise.resolve().then(() => packed(frame, camera));
    cache.set(frame, p);
  }
  return p;
}

/**
 * One frame -> uint8 `[3, height, width]` (or `[height, width, 3]` with `hwc`): RGB (IMAGE_DECODE_FAILED naming the
 * camera), resize_with_pad, CHW.
 */
export async function frameToImage(
  frame: CameraFrame,
  camera: string,
  height: number,
  width: number,
  format: 'chw' | 'hwc' = 'chw',
): Promise<NDArray<'uint8'>> {
  const rgb = await frameToRgb(frame, camera);
  const hwc = convertToUint8(resizeWithPad(rgb, height, width)) as NDArray<'uint8'>;
  return format === 'hwc' ? hwc : hwcToChw(hwc);
}
