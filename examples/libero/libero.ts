/**
 * openpi's `examples/libero/main.py` client loop in TypeScript: LIBERO-layout requests
 * (`observation/image`, `observation/wrist_image`: uint8 [224, 224, 3]; `observation/state`: float64 [8];
 * `prompt`) and its replanning: `num_steps_wait` dummy steps first, then ask the server whenever the local plan is
 * empty, keep `actions[:replan_steps]`, execute one per step. The simulator is {@link SyntheticLibero}, a stand-in.
 */
import {
  type BasePolicy,
  isNDArray,
  type NDArray,
  ndarray,
  type Obs,
  OpenpiEdgeError,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import { convertToUint8, resizeWithPad } from '@openpi-edge/client/node';
import {
  type Agent,
  type Environment,
  type RunSummary,
  Runtime,
  type Subscriber,
} from '@openpi-edge/runtime';
import { LIBERO_ENV_RESOLUTION, SyntheticLibero, type SyntheticLiberoObs } from './synthetic-libero.js';

/** openpi's dummy action for the wait steps: no motion, gripper open. */
export const LIBERO_DUMMY_ACTION: readonly number[] = [0, 0, 0, 0, 0, 0, -1];

/** Steps per episode by task suite (openpi's `max_steps`, before `num_steps_wait`). */
export const LIBERO_MAX_STEPS = {
  libero_spatial: 220,
  libero_object: 280,
  libero_goal: 300,
  libero_10: 520,
  libero_90: 400,
} as const;

export type LiberoTaskSuite = keyof typeof LIBERO_MAX_STEPS;

/** robosuite's `quat2axisangle` (quaternion x, y, z, w -> axis-angle 3). */
export function quat2axisangle(quat: ArrayLike<number>): [number, number, number] {
  const w = Math.max(-1, Math.min(1, quat[3] ?? 1));
  const den = Math.sqrt(1 - w * w);
  if (Math.abs(den) < 1e-12) return [0, 0, 0];
  const k = (2 * Math.acos(w)) / den;
  return [(quat[0] ?? 0) * k, (quat[1] ?? 0) * k, (quat[2] ?? 0) * k];
}

/** `img[::-1, ::-1]` of an HWC uint8 frame: rows and columns reversed, channels kept. */
export function rotate180(frame: Uint8Array, height: number, width: number): NDArray<'uint8'> {
  const out = new Uint8Array(frame.length);
  const px = height * width;
  for (let i = 0; i < px; i++) out.set(frame.subarray(i * 3, i * 3 + 3), (px - 1 - i) * 3);
  return ndarray('uint8', [height, width, 3], out);
}

/** The request openpi's LIBERO client sends for one simulator observation. */
export function liberoRequest(raw: SyntheticLiberoObs, prompt: string, resizeSize = 224): Obs {
  const n = LIBERO_ENV_RESOLUTION;
  const image = (frame: Uint8Array) =>
    convertToUint8(resizeWithPad(rotate180(frame, n, n), resizeSize, resizeSize));
  const state = new Float64Array(8);
  state.set(raw.robot0_eef_pos, 0);
  state.set(quat2axisangle(raw.robot0_eef_quat), 3);
  state.set(raw.robot0_gripper_qpos, 6);
  return {
    'observation/image': image(raw.agentview_image),
    'observation/wrist_image': image(raw.robot0_eye_in_hand_image),
    'observation/state': ndarray('float64', [8], state),
    prompt,
  };
}

/** The synthetic simulator as a runtime Environment: observations are LIBERO requests, actions `{actions: [7]}`. */
export class LiberoEnvironment implements Environment {
  readonly sim: SyntheticLibero;
  readonly prompt: string;
  readonly resizeSize: number;
  #raw: SyntheticLiberoObs | null = null;
  #done = false;
  /** Episodes that ended with the task done. */
  successes = 0;

  constructor(sim: SyntheticLibero, prompt: string, resizeSize = 224) {
    this.sim = sim;
    this.prompt = prompt;
    this.resizeSize = resizeSize;
  }

  reset(): void {
    this.#raw = this.sim.reset();
    this.#done = false;
  }

  isEpisodeComplete(): boolean {
    return this.#done;
  }

  getObservation(): Obs {
    this.#raw ??= this.sim.reset();
    return liberoRequest(this.#raw, this.prompt, this.resizeSize);
  }

  applyAction(action: Obs): void {
    const a = action.actions;
    if (!isNDArray(a) || a.shape.length !== 1 || a.shape[0] !== 7) {
      throw new OpenpiEdgeError('BAD_SHAPE', 'LIBERO action "actions" must be an array of shape [7]', {
        key: 'actions',
        shape: isNDArray(a) ? a.shape : null,
      });
    }
    const { obs, done } = this.sim.step(Array.from(a.data as ArrayLike<number>, Number));
    this.#raw = obs;
    if (done && !this.#done) this.successes++;
    this.#done = done;
  }
}

export interface LiberoAgentOptions {
  /** Rows of each chunk executed before asking again. Default 5 (openpi's `replan_steps`). */
  replanSteps?: number;
  /** Dummy steps at the start of each episode while objects settle. Default 10 (openpi's `num_steps_wait`). */
  numStepsWait?: number;
}

/** openpi's LIBERO replanning as a runtime Agent. */
export class LiberoAgent implements Agent {
  readonly policy: BasePolicy;
  readonly replanSteps: number;
  readonly numStepsWait: number;
  #t = 0;
  #plan: Float64Array[] = [];
  /** Server requests made. */
  requests = 0;

  constructor(policy: BasePolicy, options: LiberoAgentOptions = {}) {
    this.policy = policy;
    this.replanSteps = options.replanSteps ?? 5;
    this.numStepsWait = options.numStepsWait ?? 10;
  }

  async reset(): Promise<void> {
    this.#t = 0;
    this.#plan = [];
    await this.policy.reset();
  }

  async getAction(observation: Obs): Promise<Obs> {
    const t = this.#t++;
    if (t < this.numStepsWait)
      return { actions: ndarray('float64', [7], Float64Array.from(LIBERO_DUMMY_ACTION)) };
    if (this.#plan.length === 0) {
      this.requests++;
      const result = await this.policy.infer(observation);
      this.#plan = this.#rows(result.actions);
    }
    const row = this.#plan.shift() as Float64Array;
    return { actions: ndarray('float64', [row.length], row) };
  }

  /** `actions[:replan_steps]` as rows of 7 (openpi asserts the chunk has at least `replan_steps` rows). */
  #rows(actions: unknown): Float64Array[] {
    if (
      !isNDArray(actions) ||
      actions.shape.length !== 2 ||
      actions.dtype === 'unicode' ||
      actions.dtype === 'bool'
    ) {
      throw new OpenpiEdgeError('BAD_SHAPE', 'server reply "actions" must be a numeric [H, 7] array', {
        key: 'actions',
        shape: isNDArray(actions) ? actions.shape : null,
        dtype: isNDArray(actions) ? actions.dtype : typeof actions,
      });
    }
    const [h = 0, d = 0] = actions.shape;
    if (h < this.replanSteps || d !== 7) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `server reply "actions" has shape [${h}, ${d}]; need at least ${this.replanSteps} rows of 7 (LIBERO)`,
        { key: 'actions', shape: actions.shape, replanSteps: this.replanSteps },
      );
    }
    const data = actions.data as ArrayLike<number | bigint>;
    return Array.from({ length: this.replanSteps }, (_, r) =>
      Float64Array.from({ length: d }, (_, c) => Number(data[r * d + c])),
    );
  }
}

export interface LiberoOptions {
  /** Policy server host (or ws:// URI). Default `'0.0.0.0'` (openpi's; use `localhost` locally). */
  host?: string;
  /** Policy server port. Default 8000. */
  port?: number;
  /** Image side sent to the server (px). Default 224. */
  resizeSize?: number;
  /** Default 5. */
  replanSteps?: number;
  /** Picks the step budget ({@link LIBERO_MAX_STEPS}). Default `'libero_spatial'` (220 steps). */
  taskSuite?: LiberoTaskSuite;
  /** Overrides the suite's step budget (steps after the wait). Default the suite's. */
  maxSteps?: number;
  /** Default 10. */
  numStepsWait?: number;
  /** Episodes. Default 1 (openpi: 50 trials per task over the suite's tasks). */
  numTrials?: number;
  /** Simulator seed. Default 7. */
  seed?: number;
  /** Task description sent as `prompt`. Default `'pick up the black bowl and place it on the plate'`. */
  prompt?: string;
  /** A policy to use instead of connecting (tests, in-process servers). Default: WebsocketClientPolicy(host, port). */
  policy?: BasePolicy;
  /** Extra runtime subscribers. Default none. */
  subscribers?: readonly Subscriber[];
}

export interface LiberoResult {
  summary: RunSummary;
  successes: number;
  requests: number;
  metadata: Obs;
  /** Every action the simulator executed, all episodes in order. */
  actions: number[][];
}

/** Runs `numTrials` episodes as fast as the server answers (LIBERO is a simulator: no control rate). */
export async function runLibero(options: LiberoOptions = {}): Promise<LiberoResult> {
  const client =
    options.policy === undefined
      ? await WebsocketClientPolicy.connect({ host: options.host ?? '0.0.0.0', port: options.port ?? 8000 })
      : undefined;
  try {
    const policy = options.policy ?? (client as WebsocketClientPolicy);
    const sim = new SyntheticLibero({ seed: options.seed ?? 7 });
    const env = new LiberoEnvironment(
      sim,
      options.prompt ?? 'pick up the black bowl and place it on the plate',
      options.resizeSize ?? 224,
    );
    const agent = new LiberoAgent(policy, {
      ...(options.replanSteps === undefined ? {} : { replanSteps: options.replanSteps }),
      ...(options.numStepsWait === undefined ? {} : { numStepsWait: options.numStepsWait }),
    });
    const maxSteps = options.maxSteps ?? LIBERO_MAX_STEPS[options.taskSuite ?? 'libero_spatial'];
    const runtime = new Runtime({
      environment: env,
      agent,
      subscribers: options.subscribers ?? [],
      maxHz: 0,
      numEpisodes: options.numTrials ?? 1,
      maxEpisodeSteps: maxSteps + agent.numStepsWait,
    });
    const summary = await runtime.run();
    return {
      summary,
      successes: env.successes,
      requests: agent.requests,
      metadata: client?.getServerMetadata() ?? {},
      actions: sim.actions.map((a) => [...a]),
    };
  } finally {
    await client?.close();
  }
}
