/**
 * Camera frames as the control loop hands them to a policy: picked on the loop thread (a reference to each camera's
 * newest fresh frame, no pixel work), converted where the policy runs (decode -> RGB -> openpi's resize_with_pad ->
 * uint8 CHW), e.g. in the policy worker. The conversion is the one of robots/aloha/camera-images.ts
 * (`captureCameraImages`), primitive for primitive, so the images are bit-identical to it.
 *
 * Zero copy: `postMessage` copies a frame's bytes unless they live in a SharedArrayBuffer, in which case the
 * receiving thread sees the same memory. A camera source may allocate its frames with {@link toSharedBytes} (or
 * directly in a SharedArrayBuffer) so that handing 4 x 640x480x3 frames to a worker costs no copy. A shared frame
 * must not be written after it was published (sources replace frames, they never reuse a published buffer).
 */
import type { ClosablePolicy, NDArray, Obs } from '@openpi-edge/client';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { CameraFrame } from '../io/cameras/camera-source.js';
import { frameToImage } from '../io/cameras/frame-convert.js';

/** Camera frames picked on the loop thread (a cheap reference to each camera's newest fresh frame), to be converted (decode -> RGB -> openpi resize_with_pad -> uint8 CHW) off it. */
export interface RawFrames {
  /** Frame per observation image name (e.g. `cam_high`), in the order the images should have. */
  readonly frames: Readonly<Record<string, CameraFrame>>;
  /** Output image size (px), e.g. 224 x 224 (openpi's model input). */
  readonly height: number;
  readonly width: number;
  /** Image layout: `chw` uint8 [3, H, W] (openpi's ALOHA client) or `hwc` [H, W, 3] (UR5, DROID, LIBERO). Default `chw`. */
  readonly format?: 'chw' | 'hwc';
  /**
   * Where the images go in the observation: under this key as a record (`images` for ALOHA), or, with `null`, each
   * image at the top level under its camera name (openpi's UR5 / DROID layouts). Default `images`.
   */
  readonly key?: string | null;
}

/** A policy that can take raw frames and convert them where it runs. */
export interface FramePolicy extends ClosablePolicy {
  /** `obs` without images plus `frames`: the images are converted where the policy runs, then `infer`. */
  inferFrames(obs: Obs, frames: RawFrames): Promise<Obs>;
}

export function isFramePolicy(p: unknown): p is FramePolicy {
  if (typeof p !== 'object' || p === null) return false;
  const f = p as Partial<Record<keyof FramePolicy, unknown>>;
  return (
    typeof f.inferFrames === 'function' &&
    typeof f.infer === 'function' &&
    typeof f.reset === 'function' &&
    typeof f.close === 'function'
  );
}

/**
 * `u8`'s bytes copied once into a new SharedArrayBuffer: the view then crosses `postMessage` shared, not copied.
 * For camera sources that want their frames to reach a worker without a per-request copy.
 */
export function toSharedBytes(u8: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(u8.byteLength));
  out.set(u8);
  return out;
}

/**
 * `raw` ready for `postMessage`: structured clone copies the whole ArrayBuffer behind a view, so a frame whose
 * bytes are a view into a larger (non-shared) buffer, e.g. a slice of a pipe read, is first copied to a buffer of its
 * own size. Shared and tight frames are passed as they are (the common case: no work).
 */
export function framesForPosting(raw: RawFrames): RawFrames {
  let frames: Record<string, CameraFrame> | undefined;
  for (const [name, f] of Object.entries(raw.frames)) {
    const b = f.data.buffer;
    const tight =
      b instanceof SharedArrayBuffer || (f.data.byteOffset === 0 && f.data.byteLength === b.byteLength);
    if (tight) continue;
    frames ??= { ...raw.frames };
    frames[name] = { ...f, data: f.data.slice() };
  }
  return frames === undefined ? raw : { ...raw, frames };
}

function checkSize(raw: RawFrames): void {
  for (const key of ['height', 'width'] as const) {
    const v = raw[key];
    if (!Number.isInteger(v) || v < 1) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `RawFrames.${key} must be a positive integer, got ${v}`, {
        field: key,
        value: v,
      });
    }
  }
}

/**
 * Every frame of `raw` converted, keyed and ordered like `raw.frames`. A frame that cannot be decoded fails the
 * call with BAD_OBSERVATION naming the camera (key `images.<name>`, the decoder's context kept), as
 * `captureCameraImages` does.
 */
export async function framesToImages(raw: RawFrames): Promise<Record<string, NDArray<'uint8'>>> {
  checkSize(raw);
  const images: Record<string, NDArray<'uint8'>> = {};
  for (const [name, frame] of Object.entries(raw.frames)) {
    try {
      images[name] = await frameToImage(frame, name, raw.height, raw.width, raw.format ?? 'chw');
    } catch (e) {
      const ctx = e instanceof OpenpiEdgeError ? e.context : {};
      throw new OpenpiEdgeError(
        'BAD_OBSERVATION',
        `observation: camera ${name} unusable: ${e instanceof Error ? e.message : String(e)}`,
        { ...ctx, key: raw.key === null ? name : `${raw.key ?? 'images'}.${name}`, camera: name },
        { cause: e },
      );
    }
  }
  return images;
}

/**
 * `obs` with the converted images added under `raw.key` (default `images`; merged over a record it already has; the
 * frames win), or at the top level when the key is null. BAD_OBSERVATION when the key holds something other than a
 * record.
 */
export async function withFrameImages(obs: Obs, raw: RawFrames): Promise<Obs> {
  const images = await framesToImages(raw);
  if (raw.key === null) return { ...obs, ...images };
  const key = raw.key ?? 'images';
  const existing = obs[key];
  if (existing === undefined) return { ...obs, [key]: images };
  if (
    typeof existing !== 'object' ||
    existing === null ||
    Array.isArray(existing) ||
    ArrayBuffer.isView(existing) ||
    'dtype' in existing
  ) {
    throw new OpenpiEdgeError(
      'BAD_OBSERVATION',
      `inferFrames: observation.${key} must be absent or a record of images when frames are given`,
      { key },
    );
  }
  return { ...obs, [key]: { ...(existing as Record<string, NDArray>), ...images } };
}
