export { type Agent, PolicyAgent } from './agent.js';
export type { Environment, MaybePromise } from './environment.js';
export { type NextTick, RateTimeline } from './rate-timeline.js';
export { type EpisodeSummary, type RunSummary, Runtime, type RuntimeOptions } from './runtime.js';
export type { Subscriber } from './subscriber.js';
export {
  type EpisodeEndReason,
  type EpisodeEvent,
  type OverrunEvent,
  RuntimeTelemetry,
  type StepTelemetry,
} from './telemetry.js';
