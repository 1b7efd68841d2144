import type { Obs } from '@openpi-edge/client';

/** A value or a promise of it: every runtime callback may be sync or async; the runtime awaits each in turn. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The robot and the world it acts in (openpi's `Environment`). The runtime calls these strictly one at a time,
 * awaiting each; none is called concurrently with another.
 */
export interface Environment {
  /** Brings the environment to its initial state. Called before every episode and once after the last one
   *  (openpi: "move the robot to its home position"). */
  reset(): MaybePromise<void>;
  /** Asked after every step (after the subscribers saw it); `true` ends the episode. */
  isEpisodeComplete(): MaybePromise<boolean>;
  /** The current observation. The runtime does not mutate it. */
  getObservation(): MaybePromise<Obs>;
  /** Applies one action (one row of a chunk when the agent's policy is a broker). */
  applyAction(action: Obs): MaybePromise<void>;
}
