/** Camera frames for the inference tests: every encoding the conversion handles, as CameraFrames and as sources. */
import { readFileSync } from 'node:fs';
import { toSharedBytes } from '../../src/inference/raw-frames.js';
import type { CameraFrame, CameraSource } from '../../src/io/cameras/camera-source.js';
import { generatedPattern } from '../../src/io/cameras/generated-camera.js';

const JPEG = new Uint8Array(readFileSync(new URL('../cameras/fixtures/gray200-16x8.jpg', import.meta.url)));

/** bgr8 copy of an rgb8 pattern with `pad` extra bytes per row. */
function bgrPadded(rgb: Uint8Array, width: number, height: number, pad: number): Uint8Array {
  const step = width * 3 + pad;
  const out = new Uint8Array(step * height).fill(7);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const o = y * step + x * 3;
      out[o] = rgb[i + 2] as number;
      out[o + 1] = rgb[i + 1] as number;
      out[o + 2] = rgb[i] as number;
    }
  }
  return out;
}

/**
 * The four ALOHA cameras: cam_high rgb8 640x480, cam_low bgr8 640x480 with row padding, cam_left_wrist JPEG
 * (16x8 fixture), cam_right_wrist rgb8 480x640 whose bytes live in a SharedArrayBuffer. `k` varies the patterns.
 */
export function testFrames(k = 0, shared = false): Record<string, CameraFrame> {
  const base = { stampMs: 0, seq: k };
  const bytes = (u8: Uint8Array): Uint8Array => (shared ? toSharedBytes(u8) : u8);
  const high = generatedPattern(640, 480, k, 11);
  return {
    cam_high: { ...base, encoding: 'rgb8', width: 640, height: 480, step: 1920, data: bytes(high) },
    cam_low: {
      ...base,
      encoding: 'bgr8',
      width: 640,
      height: 480,
      step: 1924,
      data: bytes(bgrPadded(generatedPattern(640, 480, k, 22), 640, 480, 4)),
    },
    cam_left_wrist: { ...base, encoding: 'jpeg', width: 0, height: 0, step: 0, data: bytes(JPEG) },
    cam_right_wrist: {
      ...base,
      encoding: 'rgb8',
      width: 480,
      height: 640,
      step: 1440,
      data: toSharedBytes(generatedPattern(480, 640, k, 33)),
    },
  };
}

/** A CameraSource per frame, each holding that frame as its newest, age 0. */
export function sourcesFor(frames: Readonly<Record<string, CameraFrame>>): Record<string, CameraSource> {
  const out: Record<string, CameraSource> = {};
  for (const [name, frame] of Object.entries(frames)) {
    out[name] = {
      name,
      description: 'test',
      start: async () => {},
      latest: () => ({ frame, ageMs: 0 }),
      nextFrame: async () => frame,
      failure: undefined,
      close: async () => {},
    };
  }
  return out;
}

/** `Atomics.waitAsync` (Node >= 16; not in the ES2023 lib typings): resolves once `g[index]` is no longer `value`. */
export async function waitWhile(g: Int32Array, index: number, value: number): Promise<void> {
  const waitAsync = (
    Atomics as unknown as {
      waitAsync(a: Int32Array, i: number, v: number): { value: Promise<string> | string };
    }
  ).waitAsync;
  await waitAsync(g, index, value).value;
}
