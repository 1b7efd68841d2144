/**
 * The `images` of an ALOHA observation, built on demand (see images-on-demand.ts). The conversion lives in one
 * place, robots/aloha/camera-images.ts, shared with AlohaEnvironment.getObservation; this is
 * {@link AlohaEnvironment.captureImages}, which yields to the event loop between cameras (so a control tick that
 * falls due runs first) and honours `optionalCameras`.
 */
import type { NDArray } from '@openpi-edge/client';
import type { AlohaEnvironment } from '../robots/aloha/environment.js';

/** Captures the environment's cameras into uint8 CHW images keyed by observation name. */
export function captureImages(env: AlohaEnvironment): Promise<Record<string, NDArray<'uint8'>>> {
  return env.captureImages();
}
