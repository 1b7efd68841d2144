/** The image-prep worker thread: camera frames -> model images (raw-frames.ts), nothing else. See image-prep-worker.ts. */
import type { RawFrames } from './raw-frames.js';
import { framesToImages } from './raw-frames.js';
import { hostWorker } from './worker-host.js';

hostWorker<null, null>({
  init: async () => ({ state: null, info: null }),
  ops: { prepare: (_state, raw) => framesToImages(raw as RawFrames) },
  close: async () => {},
});
