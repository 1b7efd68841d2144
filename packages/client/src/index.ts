export { OpenpiEdgeError, ServerError, isOpenpiEdgeError, type ErrorCode } from './errors.js';
export { type Clock, type RealClockOptions, type RunUntilOptions, createRealClock, realClock, ManualClock, macrotask } from './clock.js';
export { ActionChunkBroker, sliceChunk, checkChunk } from './action-chunk-broker.js';
export { packNumpy, unpackNumpy, type PackOptions, type UnpackOptions } from './msgpack-numpy.js';
export { dtypeString, parseDtype, type WireDType } from './dtype.js';
export { ndarray, zeros, npScalar, isNDArray, isNumpyScalar, sizeOf, itemSize, typedArrayCtor, indexFirstAxis, type NDArray, type DType, type NumericDType, type DataOf, type TypedArray, type NumpyScalar, type Value } from './ndarray.js';
export { type Obs, type BasePolicy, type ClosablePolicy } from './policy.js';
export { AsyncActionChunkBroker, type AsyncActionChunkBrokerOptions, type AsyncBrokerEvent, type AsyncBrokerEventSource, type AsyncBrokerStats } from './async-action-chunk-broker.js';
