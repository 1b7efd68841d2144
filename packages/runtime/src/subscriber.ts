import type { Obs } from '@openpi-edge/client';
import type { MaybePromise } from './environment.js';

/**
 * Sees every episode and step (openpi's `Subscriber`: recorders, visualizers). Every method is optional and awaited
 * in subscriber order; a throw fails the run with a STEP_FAILED error (onEpisodeEnd is still called).
 */
export interface Subscriber {
  /** After `Environment.reset()` and `Agent.reset()`, before the first step. */
  onEpisodeStart?(): MaybePromise<void>;
  /** After the action was applied, before `isEpisodeComplete()`. */
  onStep?(observation: Obs, action: Obs): MaybePromise<void>;
  /** After the last step of the episode, also when it was stopped or a step failed. */
  onEpisodeEnd?(): MaybePromise<void>;
}
