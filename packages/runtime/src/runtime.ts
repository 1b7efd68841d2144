import {
  type AsyncBrokerEventSource,
  type Clock,
  isOpenpiEdgeError,
  macrotask,
  type Obs,
  OpenpiEdgeError,
  realClock,
} from '@openpi-edge/client';
import type { Agent } from './agent.js';
import type { Environment } from './environment.js';
import { RateTimeline } from './rate-timeline.js';
import type { Subscriber } from './subscriber.js';
import { type EpisodeEndReason, RuntimeTelemetry } from './telemetry.js';

export interface RuntimeOptions {
  environment: Environment;
  agent: Agent;
  /** Called in this order for every episode and step. Default none. */
  subscribers?: readonly Subscriber[];
  /** Control rate (Hz); 0 = as fast as possible (one macrotask between steps). Default 0. */
  maxHz?: number;
  /** Episodes to run. Default 1. */
  numEpisodes?: number;
  /** Step budget per episode; 0 = until the environment says complete. Default 0. See `stepCount`. */
  maxEpisodeSteps?: number;
  /**
   * `'exact'`: an episode with `maxEpisodeSteps = N` runs N steps. `'openpi'`: N + 1 steps, as openpi's Runtime
   * does (it compares the step count before incrementing it). Default `'exact'`.
   */
  stepCount?: 'exact' | 'openpi';
  /** Time source for rate control and telemetry. Default `realClock` (hybrid timer + spin sleep). */
  clock?: Clock;
  /** Aborting it has the effect of `stop()`. */
  signal?: AbortSignal;
  /** Policy-side events to forward on `telemetry.policy$` (e.g. an `AsyncActionChunkBroker`). */
  policyEvents?: AsyncBrokerEventSource;
}

export interface EpisodeSummary {
  /** 0-based episode index. */
  index: number;
  /** Steps executed. */
  steps: number;
  /** Episode start to end (ms). */
  durationMs: number;
  endReason: EpisodeEndReason;
}

export interface RunSummary {
  episodes: EpisodeSummary[];
  /** Steps over all episodes. */
  totalSteps: number;
  /** Steps that ended after the next tick's deadline. */
  overruns: number;
  /** Ticks skipped by overruns. */
  skippedTicks: number;
  /** Whether `stop()` (or the signal) ended the run early. */
  stopped: boolean;
  /** `run()` start to end, including the final reset (ms). */
  durationMs: number;
}

type Phase =
  | 'environment.reset'
  | 'agent.reset'
  | 'onEpisodeStart'
  | 'getObservation'
  | 'getAction'
  | 'applyAction'
  | 'onStep'
  | 'isEpisodeComplete'
  | 'onEpisodeEnd'
  | 'final environment.reset';

function stepFailed(phase: Phase, episode: number, step: number, cause: unknown): OpenpiEdgeError {
  const what = cause instanceof Error ? cause.message : String(cause);
  const where = step >= 0 ? `episode ${episode} step ${step}` : `episode ${episode}`;
  return new OpenpiEdgeError(
    'STEP_FAILED',
    `${phase} failed in ${where}: ${what}`,
    { phase, episode, step },
    { cause },
  );
}

/**
 * The control loop (openpi's `Runtime`): for each episode `environment.reset()`, `agent.reset()`,
 * `onEpisodeStart`, then steps (observe -> act -> apply -> `onStep` -> completion check) until the episode ends,
 * then `onEpisodeEnd`; after the last episode one more `environment.reset()` (move the robot home) — also after
 * `stop()`, not after a failure.
 *
 * Rate control: step k of an episode is due at `start + k * 1000 / maxHz` on an absolute timeline (no drift); the
 * loop sleeps with the clock's `sleepUntil` (the real clock uses a timer, then spins the last ~2 ms). A step that
 * ends after the next deadline is an overrun: the loop skips to the next grid point instead of bursting.
 *
 * Errors: a throw from any environment, agent or subscriber call rejects `run()` with a STEP_FAILED
 * OpenpiEdgeError (context: phase, episode, step; `cause`: the original), after `onEpisodeEnd` has been called.
 */
export class Runtime {
  readonly telemetry: RuntimeTelemetry;
  readonly #env: Environment;
  readonly #agent: Agent;
  readonly #subscribers: readonly Subscriber[];
  readonly #periodMs: number;
  readonly #numEpisodes: number;
  readonly #maxSteps: number;
  readonly #openpiCount: boolean;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  #started = false;
  #inEpisode = false;
  #marked = false;
  #episodeSteps = 0;

  constructor(options: RuntimeOptions) {
    const { maxHz = 0, numEpisodes = 1, maxEpisodeSteps = 0 } = options;
    if (!(maxHz >= 0) || !Number.isFinite(maxHz)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `Runtime: maxHz must be >= 0, got ${maxHz}`, { maxHz });
    }
    for (const [name, v] of [
      ['numEpisodes', numEpisodes],
      ['maxEpisodeSteps', maxEpisodeSteps],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `Runtime: ${name} must be an integer >= 0, got ${v}`, {
          [name]: v,
        });
      }
    }
    this.#env = options.environment;
    this.#agent = options.agent;
    this.#subscribers = options.subscribers ?? [];
    this.#periodMs = maxHz > 0 ? 1000 / maxHz : 0;
    this.#numEpisodes = numEpisodes;
    this.#maxSteps = maxEpisodeSteps;
    this.#openpiCount = options.stepCount === 'openpi';
    this.#clock = options.clock ?? realClock;
    this.telemetry = new RuntimeTelemetry(options.policyEvents);
    const { signal } = options;
    if (signal?.aborted) this.stop();
    else signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  /** Steps executed so far in the current episode. */
  get episodeSteps(): number {
    return this.#episodeSteps;
  }

  /** Whether `stop()` was called (or the signal aborted). */
  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Ends the current episode after the step in progress (openpi's `mark_episode_complete`). */
  markEpisodeComplete(): void {
    if (this.#inEpisode) this.#marked = true;
  }

  /**
   * Stops the run: the step in progress finishes, `onEpisodeEnd` runs, the final `environment.reset()` runs and
   * `run()` resolves with `stopped: true`. A sleep between steps is cut short. Idempotent.
   */
  stop(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(new OpenpiEdgeError('ABORTED', 'Runtime stopped', {}));
  }

  /** Runs all episodes. May be called once per Runtime; telemetry streams complete when it settles. */
  async run(): Promise<RunSummary> {
    if (this.#started) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'Runtime.run() may be called only once per Runtime', {});
    }
    this.#started = true;
    const t0 = this.#clock.now();
    const summary: RunSummary = {
      episodes: [],
      totalSteps: 0,
      overruns: 0,
      skippedTicks: 0,
      stopped: false,
      durationMs: 0,
    };
    try {
      for (let e = 0; e < this.#numEpisodes && !this.stopped; e++) {
        const ep = await this.#runEpisode(e, summary);
        summary.episodes.push(ep);
        summary.totalSteps += ep.steps;
      }
      await this.#call('final environment.reset', this.#numEpisodes, -1, () => this.#env.reset());
      summary.stopped = this.stopped;
      summary.durationMs = this.#clock.now() - t0;
      return summary;
    } finally {
      this.telemetry.complete();
    }
  }

  async #call<T>(phase: Phase, episode: number, step: number, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw stepFailed(phase, episode, step, e);
    }
  }

  async #runEpisode(episode: number, summary: RunSummary): Promise<EpisodeSummary> {
    await this.#call('environment.reset', episode, -1, () => this.#env.reset());
    await this.#call('agent.reset', episode, -1, () => this.#agent.reset());
    for (const s of this.#subscribers)
      await this.#call('onEpisodeStart', episode, -1, () => s.onEpisodeStart?.());
    const start = this.#clock.now();
    this.telemetry.emitEpisode({ type: 'start', episode, at: start });
    this.#inEpisode = true;
    this.#marked = false;
    this.#episodeSteps = 0;
    let reason: EpisodeEndReason = 'complete';
    let failure: unknown;
    try {
      reason = await this.#loop(episode, start, summary);
    } catch (e) {
      reason = 'error';
      failure = e;
    }
    this.#inEpisode = false;
    for (const s of this.#subscribers) {
      try {
        await s.onEpisodeEnd?.();
      } catch (e) {
        failure ??= stepFailed('onEpisodeEnd', episode, -1, e);
      }
    }
    const end = this.#clock.now();
    this.telemetry.emitEpisode({ type: 'end', episode, at: end, steps: this.#episodeSteps, reason });
    if (failure !== undefined) throw failure;
    return { index: episode, steps: this.#episodeSteps, durationMs: end - start, endReason: reason };
  }

  async #loop(episode: number, start: number, summary: RunSummary): Promise<EpisodeEndReason> {
    const timeline = this.#periodMs > 0 ? new RateTimeline(this.#periodMs, start) : null;
    const clock = this.#clock;
    let tick = 0;
    let prevStart = Number.NaN;
    for (;;) {
      if (this.stopped) return 'stopped';
      const step = this.#episodeSteps;
      const startedAt = clock.now();
      const scheduledAt = timeline === null ? startedAt : timeline.deadline(tick);
      const obs: Obs = await this.#call('getObservation', episode, step, () => this.#env.getObservation());
      const t1 = clock.now();
      const action: Obs = await this.#call('getAction', episode, step, () => this.#agent.getAction(obs));
      const t2 = clock.now();
      await this.#call('applyAction', episode, step, () => this.#env.applyAction(action));
      const t3 = clock.now();
      for (const s of this.#subscribers)
        await this.#call('onStep', episode, step, () => s.onStep?.(obs, action));
      const complete = await this.#call('isEpisodeComplete', episode, step, () =>
        this.#env.isEpisodeComplete(),
      );
      this.#episodeSteps = step + 1;
      const ended = clock.now();
      this.telemetry.emitStep({
        episode,
        step,
        tick,
        scheduledAt,
        startedAt,
        observeMs: t1 - startedAt,
        actMs: t2 - t1,
        applyMs: t3 - t2,
        stepMs: ended - startedAt,
        periodMs: startedAt - prevStart,
        jitterMs: startedAt - scheduledAt,
      });
      prevStart = startedAt;
      // openpi compares the count before this step's increment (N+1 steps for max_episode_steps=N).
      const counted = this.#openpiCount ? step : step + 1;
      if (complete) return 'complete';
      if (this.#maxSteps > 0 && counted >= this.#maxSteps) return 'max-steps';
      if (this.#marked) return 'marked';
      if (this.stopped) return 'stopped';
      if (timeline === null) {
        await macrotask();
        continue;
      }
      const next = timeline.next(tick, ended);
      if (next.skipped > 0) {
        summary.overruns += 1;
        summary.skippedTicks += next.skipped;
        this.telemetry.emitOverrun({ episode, step, lateMs: next.lateMs, skippedTicks: next.skipped });
      }
      tick = next.tick;
      try {
        await clock.sleepUntil(next.at, this.#abort.signal);
      } catch (e) {
        if (isOpenpiEdgeError(e, 'ABORTED')) return 'stopped';
        throw e;
      }
    }
  }
}
