import type { BasePolicy, Obs } from '@openpi-edge/client';
import type { MaybePromise } from './environment.js';

/** Chooses actions from observations (openpi's `Agent`). */
export interface Agent {
  /** The action for this observation; awaited before it is applied. */
  getAction(observation: Obs): MaybePromise<Obs>;
  /** Called at the start of every episode, after `Environment.reset()`. */
  reset(): MaybePromise<void>;
}

/** An agent that asks a policy (openpi's `PolicyAgent`): `getAction = policy.infer`, `reset = policy.reset`. */
export class PolicyAgent implements Agent {
  readonly policy: BasePolicy;

  constructor(policy: BasePolicy) {
    this.policy = policy;
  }

  getAction(observation: Obs): Promise<Obs> {
    return this.policy.infer(observation);
  }

  async reset(): Promise<void> {
    await this.policy.reset();
  }
}
