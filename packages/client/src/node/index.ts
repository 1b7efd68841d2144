/**
 * @openpi-edge/client/node — Node-only pieces: the openpi-compatible policy server (ws) and image tools
 * (exact Pillow-bilinear resize-with-pad, sharp-based JPEG decode, MJPEG stream splitting).
 */

// Image tools
export {
  type ConvertToUint8Options,
  chwToHwc,
  convertToUint8,
  hwcToChw,
  type OutOfRangePolicy,
  type ResizeWithPadOptions,
  resizedSize,
  resizeWithPad,
} from './image-tools.js';
export { type DecodeJpegOptions, decodeJpeg } from './jpeg.js';
export { MjpegSplitter, type MjpegSplitterOptions, type MjpegSplitterStats, splitMjpeg } from './mjpeg.js';
export type { PassOrder } from './pillow-resample.js';
export { resizeWithPadSharp } from './sharp-resize.js';
// Server
export {
  type ConnectionInfo,
  INTERNAL_ERROR_REASON,
  type ServerLogger,
  WebsocketPolicyServer,
  type WebsocketPolicyServerAddress,
  type WebsocketPolicyServerEvents,
  type WebsocketPolicyServerOptions,
  type WebsocketPolicyServerStats,
} from './websocket-policy-server.js';
