/**
 * The `images` of an ALOHA observation, built on demand (see images-on-demand.ts). The conversion itself lives in
 * one place, robots/aloha/camera-images.ts, shared with AlohaEnvironment.getObservation: given the environment this
 * is {@link AlohaEnvironment.captureImages} (which yields to the event loop between cameras, so a control tick that
 * falls due runs first, and honours `optionalCameras`); given a bare camera record it converts every camera with
 * the same yields and fails on any unusable one.
 */
import type { NDArray } from '@openpi-edge/client';
import type { CameraSource } from '../io/cameras/camera-source.js';
import { captureCameraImages } from '../robots/aloha/camera-images.js';
import { AlohaEnvironment } from '../robots/aloha/environment.js';

export interface CaptureImagesOptions {
  /** Output size (px), camera records only (the environment uses its own). Default 224 x 224. */
  height?: number;
  width?: number;
  /** A frame older than this is refused (ms), camera records only. Default 500 (AlohaEnvironment's). */
  maxAgeMs?: number;
}

/** Captures the environment's cameras (or every camera of a record, by observation name) into uint8 CHW images. */
export async function captureImages(
  source: AlohaEnvironment | Readonly<Record<string, CameraSource | undefined>>,
  options: CaptureImagesOptions = {},
): Promise<Record<string, NDArray<'uint8'>>> {
  if (source instanceof AlohaEnvironment) return source.captureImages();
  const { images } = await captureCameraImages(source, { ...options, yieldBetweenCameras: true });
  return images;
}
