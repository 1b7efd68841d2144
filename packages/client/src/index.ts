export { OpenpiEdgeError, ServerError, isOpenpiEdgeError, type ErrorCode } from './errors.js';
export { type Clock, type RealClockOptions, type RunUntilOptions, createRealClock, realClock, ManualClock, macrotask } from './clock.js';
export { ActionChunkBroker, sliceChunk, checkChunk } from './action-chunk-broker.js';
export { packNumpy, unpackNumpy, type PackOptions, type UnpackOptions } from './msgpack-numpy.js';
export { dtypeString, parseDtype, type WireDType } from './dtype.js';
