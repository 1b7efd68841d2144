/**
 * The one camera -> observation image conversion of ALOHA (AlohaEnvironment.getObservation / captureImages and the
 * agent's on-demand images): each camera's newest frame (CAMERA_STALE / missing -> BAD_OBSERVATION naming the
 * camera) -> RGB -> openpi's resize_with_pad -> uint8 CHW.
 */
import { macrotask, type NDArray, OpenpiEdgeError } from '@openpi-edge/client';
import { type CameraSource, freshFrame } from '../../io/cameras/camera-source.js';
import { frameToImage } from '../../io/cameras/frame-convert.js';

export interface CameraImagesOptions {
  /** Output size (px). Default 224 x 224 (openpi's model input). */
  height?: number;
  width?: number;
  /** A frame older than this is refused (ms). Default 500. */
  maxAgeMs?: number;
  /** Cameras left out (listed in `missing`) instead of failing when they have no source or no fresh frame. Default none. */
  optional?: ReadonlySet<string>;
  /**
   * Yield to the event loop (one macrotask) after each camera's conversion, so a control tick on
   * the same thread that falls due runs first (4 x 640x480 frames are ~25-45 ms of work). Default false.
   */
  yieldBetweenCameras?: boolean;
}

export interface CameraImages {
  /** uint8 [3, height, width] per camera, in the order of the input record. */
  images: Record<string, NDArray<'uint8'>>;
  /** Optional cameras left out. */
  missing: string[];
}

/** Captures every camera of `cameras` (by observation name, in record order); an undefined source is missing. */
export async function captureCameraImages(
  cameras: Readonly<Record<string, CameraSource | undefined>>,
  options: CameraImagesOptions = {},
): Promise<CameraImages> {
  const { height = 224, width = 224, maxAgeMs = 500, yieldBetweenCameras = false } = options;
  const optional = options.optional ?? new Set<string>();
  const images: Record<string, NDArray<'uint8'>> = {};
  const missing: string[] = [];
  for (const [name, source] of Object.entries(cameras)) {
    if (source === undefined) {
      missing.push(name);
      continue;
    }
    let image: NDArray<'uint8'>;
    try {
      image = await frameToImage(freshFrame(source, maxAgeMs).frame, name, height, width);
    } catch (e) {
      if (optional.has(name)) {
        missing.push(name);
        continue;
      }
      const ctx = e instanceof OpenpiEdgeError ? e.context : {};
      throw new OpenpiEdgeError(
        'BAD_OBSERVATION',
        `ALOHA observation: camera ${name} unusable: ${e instanceof Error ? e.message : String(e)}`,
        { ...ctx, key: `images.${name}`, camera: name },
        { cause: e },
      );
    }
    images[name] = image;
    if (yieldBetweenCameras) await macrotask();
  }
  return { images, missing };
}
