import type { AsyncBrokerEvent, AsyncBrokerEventSource } from '@openpi-edge/client';
import { Observable, ReplaySubject, Subject, takeUntil } from 'rxjs';

/** Timings of one control step. All times are readings of the runtime's clock (ms). */
export interface StepTelemetry {
  /** 0-based episode index. */
  episode: number;
  /** 0-based step index within the episode. */
  step: number;
  /** Tick of the rate timeline this step ran on (equals `step` unless ticks were skipped; = step when unlimited). */
  tick: number;
  /** When the step was due (ms); equals `startedAt` without rate limiting. */
  scheduledAt: number;
  /** When the step started (ms). */
  startedAt: number;
  /** `Environment.getObservation()` (ms). */
  observeMs: number;
  /** `Agent.getAction()` (ms). */
  actMs: number;
  /** `Environment.applyAction()` (ms). */
  applyMs: number;
  /** The whole step: observe, act, apply, subscribers, completion check (ms). */
  stepMs: number;
  /** Start of this step minus start of the previous one in the episode (ms); NaN for the first step. */
  periodMs: number;
  /** `startedAt - scheduledAt` (ms, >= 0): how late the loop woke up. */
  jitterMs: number;
}

/** A step ran past the next tick's deadline; the loop skipped ahead instead of bursting. */
export interface OverrunEvent {
  episode: number;
  step: number;
  /** How far past the next deadline the step ended (ms). */
  lateMs: number;
  /** Ticks skipped (>= 1). */
  skippedTicks: number;
}

export type EpisodeEvent =
  | { type: 'start'; episode: number; at: number }
  | { type: 'end'; episode: number; at: number; steps: number; reason: EpisodeEndReason };

/**
 * Why an episode ended: the environment said so, the step budget ran out, `markEpisodeComplete()` was called,
 * the runtime was stopped from outside, or a step failed.
 */
export type EpisodeEndReason = 'complete' | 'max-steps' | 'marked' | 'stopped' | 'error';

/** The runtime's telemetry streams. Hot: subscribe before `run()`. All complete when `run()` settles. */
export class RuntimeTelemetry {
  readonly #steps = new Subject<StepTelemetry>();
  readonly #overruns = new Subject<OverrunEvent>();
  readonly #episodes = new Subject<EpisodeEvent>();
  readonly #done = new ReplaySubject<void>(1);

  /** One value per completed step. */
  readonly steps$: Observable<StepTelemetry> = this.#steps.asObservable();
  /** One value per overrun (a step that ended after the next tick's deadline). */
  readonly overruns$: Observable<OverrunEvent> = this.#overruns.asObservable();
  /** Episode start and end. */
  readonly episodes$: Observable<EpisodeEvent> = this.#episodes.asObservable();
  /**
   * Policy-side events (latency per chunk, stalls, background errors) from the source given as
   * `RuntimeOptions.policyEvents`, typically an `AsyncActionChunkBroker`; never emits without one.
   */
  readonly policy$: Observable<AsyncBrokerEvent>;

  constructor(policyEvents?: AsyncBrokerEventSource) {
    const source = new Observable<AsyncBrokerEvent>((sub) =>
      policyEvents === undefined ? undefined : policyEvents.addListener((e) => sub.next(e)),
    );
    this.policy$ = source.pipe(takeUntil(this.#done));
  }

  /** @internal */
  emitStep(s: StepTelemetry): void {
    this.#steps.next(s);
  }
  /** @internal */
  emitOverrun(o: OverrunEvent): void {
    this.#overruns.next(o);
  }
  /** @internal */
  emitEpisode(e: EpisodeEvent): void {
    this.#episodes.next(e);
  }
  /** @internal */
  complete(): void {
    this.#steps.complete();
    this.#overruns.complete();
    this.#episodes.complete();
    this.#done.next();
    this.#done.complete();
  }
}
