export { resizeWithPad, resizedSize, convertToUint8, chwToHwc, hwcToChw, type ResizeWithPadOptions, type ConvertToUint8Options, type OutOfRangePolicy } from './image-tools.js';
export { type PassOrder } from './pillow-resample.js';
export { decodeJpeg, type DecodeJpegOptions } from './jpeg.js';
export { WebsocketPolicyServer, INTERNAL_ERROR_REASON, type WebsocketPolicyServerOptions, type WebsocketPolicyServerAddress, type WebsocketPolicyServerStats, type WebsocketPolicyServerEvents, type ConnectionInfo, type ServerLogger } from './websocket-policy-server.js';
export { resizeWithPadSharp } from './sharp-resize.js';
export { MjpegSplitter, splitMjpeg, type MjpegSplitterOptions, type MjpegSplitterStats } from './mjpeg.js';
