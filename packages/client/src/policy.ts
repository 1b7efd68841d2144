import type { Value } from './ndarray.js';

/** An observation or a policy result: a string-keyed tree of arrays, scalars, strings, lists and dicts. */
export type Obs = { [key: string]: Value };

/**
 * openpi's `BasePolicy`: `infer(obs) -> dict`, `reset()`. Async here because every real policy
 * (websocket, onnxruntime) is. Implementations must not mutate the observation they receive.
 */
export interface BasePolicy {
  infer(obs: Obs): Promise<Obs>;
  /** Clears per-episode state. openpi's websocket client has nothing to reset; brokers drop their chunk. */
  reset(): Promise<void> | void;
}

/** A policy that holds a resource (socket, session) and must be closed. */
export interface ClosablePolicy extends BasePolicy {
  close(): Promise<void>;
}
