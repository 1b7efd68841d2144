/**
 * @openpi-edge/client — the browser-safe core: types, the msgpack-numpy codec, policies and chunk brokers.
 * Node-only pieces (the policy server, image tools) live on `@openpi-edge/client/node`.
 */

// Chunk brokers and time
export { ActionChunkBroker, checkChunk, sliceChunk } from './action-chunk-broker.js';
export {
  AsyncActionChunkBroker,
  type AsyncActionChunkBrokerOptions,
  type AsyncBrokerEvent,
  type AsyncBrokerEventSource,
  type AsyncBrokerStats,
} from './async-action-chunk-broker.js';
export {
  type Clock,
  createRealClock,
  ManualClock,
  macrotask,
  type RealClockOptions,
  type RunUntilOptions,
  realClock,
} from './clock.js';
export { dtypeString, parseDtype, type WireDType } from './dtype.js';
// Errors
export { type ErrorCode, isOpenpiEdgeError, OpenpiEdgeError, ServerError } from './errors.js';
// Wire codec (byte-compatible with openpi_client.msgpack_numpy)
export { type PackOptions, packNumpy, type UnpackOptions, unpackNumpy } from './msgpack-numpy.js';
// Arrays and values (numpy's model)
export {
  type DataOf,
  type DType,
  indexFirstAxis,
  isNDArray,
  isNumericDType,
  isNumpyScalar,
  itemSize,
  type NDArray,
  NUMERIC_DTYPES,
  type NumericDType,
  type NumpyScalar,
  ndarray,
  npScalar,
  sizeOf,
  type TypedArray,
  typedArrayCtor,
  type Value,
  zeros,
} from './ndarray.js';
// Policies
export type { BasePolicy, ClosablePolicy, Obs } from './policy.js';
export { RTC_OBS_KEY, type RtcRequestMode, rtcEntry } from './rtc-request.js';
export { buildUri } from './uri.js';
export {
  type ConnectionState,
  type ConnectionStateEvent,
  defaultWebSocketFactory,
  type ReconnectOptions,
  type WebSocketFactory,
  type WebSocketLike,
  WebsocketClientPolicy,
  type WebsocketClientPolicyOptions,
} from './websocket-client-policy.js';
