/**
 * An action chunk broker that never blocks the control loop on inference after the first chunk: it requests the
 * next chunk in the background while the current one executes, early enough for the measured inference latency,
 * drops the rows of the new chunk whose time has passed (and the whole chunk when all of them have: a stale chunk is
 * never followed), and holds the last action when a chunk runs out (a stall).
 * Beyond openpi (which blocks for the whole inference every `action_horizon` steps).
 */
import { checkChunk, checkHorizon, sliceChunk } from './action-chunk-broker.js';
import { type Clock, realClock } from './clock.js';
import { OpenpiEdgeError } from './errors.js';
import type { BasePolicy, Obs } from './policy.js';
import { RTC_OBS_KEY, type RtcRequestMode, rtcEntry } from './rtc-request.js';

export interface AsyncActionChunkBrokerOptions {
  /** Rows of each chunk that are executed (integer >= 1); every array in a result needs at least this many rows. */
  actionHorizon: number;
  /** Control period (ms): the time between two `infer` calls, and between two rows of a chunk. Or give `controlHz`. */
  stepPeriodMs?: number;
  /** Control rate (Hz); `stepPeriodMs = 1000 / controlHz`. Used only when `stepPeriodMs` is absent. */
  controlHz?: number;
  /** Time source for latencies and row timing. Default `realClock`. */
  clock?: Clock;
  /** How the expected latency is estimated from past latencies: `'p90'` of the window, or `'ewma'`. Default `'p90'`. */
  latencyEstimator?: 'p90' | 'ewma';
  /** Latency samples kept for the p50/p90 estimates. Default 32. */
  latencyWindow?: number;
  /** Weight of the newest sample in the EWMA estimate (0 < alpha <= 1). Default 0.3. */
  ewmaAlpha?: number;
  /** Added to the expected latency when deciding when to request (ms). Default one `stepPeriodMs`. */
  safetyMarginMs?: number;
  /** Rows of the current chunk to execute before the next request may start (>= 1). Default 1. */
  minRowsBeforeRequest?: number;
  /** Called synchronously for every broker event (request, chunk, stall, drop, error, discard); must not throw. */
  onEvent?: (event: AsyncBrokerEvent) => void;
  /**
   * Real-time chunking (docs/rtc.md): every background request carries the executing chunk's rows from the
   * request's moment on and the expected delay in steps (`ceil(expectedLatency / stepPeriodMs)`) under the `rtc`
   * key, so a policy that supports it continues that chunk instead of starting afresh. `true` lets the policy pick
   * the mode. Default false (requests are plain openpi observations).
   */
  rtc?: boolean | { mode?: RtcRequestMode };
}

/** Everything the broker reports. Times are readings of the broker's clock (ms). */
export type AsyncBrokerEvent =
  /**
   * A background request started with the observation of this step; `rtcDelay`: the delay (steps) it told the
   * policy, when real-time chunking is on.
   */
  | { type: 'request'; at: number; remainingRows: number; expectedLatencyMs: number; rtcDelay?: number }
  /** A chunk came into use; `skippedRows` rows at its start were dropped because their time had passed. */
  | { type: 'chunk'; at: number; latencyMs: number; startRow: number; skippedRows: number; blocking: boolean }
  /**
   * A background chunk arrived with every executable row in the past (`reason: 'stale'`: after an outage or a slow
   * inference, the row due now, `dueRow = round((at - requestedAt) / stepPeriodMs)`, is `>= actionHorizon`). It was
   * dropped, never followed: the broker keeps serving what it served before (the held last action once the current
   * chunk has run out, reported as a stall) and requests a fresh chunk (on the same step once the current chunk
   * has run out). `lateMs` is how long ago the chunk's last executable row (row `actionHorizon - 1`) was due:
   * `at - (requestedAt + (actionHorizon - 1) * stepPeriodMs)`, always >= stepPeriodMs / 2. `requestedAt` is when
   * its observation was handed to the policy (ms, the broker's clock).
   */
  | {
      type: 'chunk-dropped';
      at: number;
      reason: 'stale';
      latencyMs: number;
      requestedAt: number;
      dueRow: number;
      lateMs: number;
    }
  /** The current chunk ran out before the next arrived: the last action is held from now on. */
  | { type: 'stall-start'; at: number }
  /** A stall ended (a chunk came into use); `heldSteps` steps repeated the last action. */
  | { type: 'stall-end'; at: number; durationMs: number; heldSteps: number }
  /** A background inference failed (it is retried on the next step). */
  | { type: 'error'; at: number; error: unknown }
  /** A result arrived after `reset()` and was dropped. */
  | { type: 'discarded'; at: number; latencyMs: number };

/** A source of broker events (the runtime's telemetry subscribes through this). */
export interface AsyncBrokerEventSource {
  /** Adds a listener; returns a function that removes it. */
  addListener(listener: (event: AsyncBrokerEvent) => void): () => void;
}

export interface AsyncBrokerStats {
  /** Chunks that came into use (including blocking ones). */
  chunks: number;
  /** Inference requests started (blocking and background). */
  requests: number;
  /** Failed background inferences. */
  errors: number;
  /** Stalls started (the chunk ran out before the next arrived). */
  stalls: number;
  /** Total stall time (ms), including a stall still in progress. */
  stallMs: number;
  /** Steps that returned the held last action. */
  heldSteps: number;
  /** Rows dropped at the start of new chunks because their time had passed. */
  skippedRows: number;
  /** Background chunks dropped whole because every executable row was in the past (`chunk-dropped` events). */
  staleChunks: number;
  /** Results dropped because `reset()` came first. */
  discarded: number;
  /** Latest inference latency (ms); NaN before the first. */
  latencyLastMs: number;
  /** Median latency over the window (ms); NaN before the first. */
  latencyP50Ms: number;
  /** 90th percentile latency over the window (ms); NaN before the first. */
  latencyP90Ms: number;
  /** The latency estimate the request trigger uses now (ms). */
  expectedLatencyMs: number;
  /** Whether the last action is being held right now. */
  stalled: boolean;
}

interface Chunk {
  results: Obs;
  /** Next row to return. */
  cursor: number;
  /** First row used (rows before it were skipped). */
  startRow: number;
}

interface Request {
  generation: number;
  /** Clock reading when the observation was handed to the policy: row k of the result belongs to `at + k * period`. */
  at: number;
  outcome?: { ok: true; results: Obs; latencyMs: number } | { ok: false };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

function positive(name: string, v: number, integer = false): void {
  if (!(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `AsyncActionChunkBroker: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`,
      { [name]: v },
    );
  }
}

/**
 * Serves one row per `infer` call like {@link ActionChunkBroker}, but after the first (blocking) chunk every call
 * returns without waiting for inference:
 * - when `remainingRows * stepPeriodMs <= expectedLatency + safetyMarginMs` it hands the current step's observation
 *   to the inner policy in the background (one request at a time);
 * - a chunk requested at time `t` has row k meant for `t + k * stepPeriodMs`; when it comes into use at `now` it
 *   starts at row `round((now - t) / stepPeriodMs)` (the rows before are skipped);
 * - a chunk whose row for `now` is past its last executable row (`round((now - t) / stepPeriodMs) >= actionHorizon`)
 *   is stale: it is dropped and reported (`chunk-dropped`), never followed, and a fresh chunk is requested (on the
 *   same step once the current chunk has run out); its latency still counts towards the estimate, so later
 *   requests start earlier;
 * - if the current chunk runs out first, the last action is repeated and a stall is reported until a chunk arrives;
 * - a failed background inference is reported and retried on the next step (holding the last action meanwhile).
 * The first call after construction or `reset()` blocks for a chunk and starts at its row 0. Calls must not overlap.
 * The inner policy never sees two concurrent `infer` calls.
 */
export class AsyncActionChunkBroker implements BasePolicy, AsyncBrokerEventSource {
  readonly #policy: BasePolicy;
  readonly #horizon: number;
  readonly #period: number;
  readonly #clock: Clock;
  readonly #estimator: 'p90' | 'ewma';
  readonly #window: number;
  readonly #alpha: number;
  readonly #margin: number;
  readonly #minRows: number;
  readonly #rtc: { mode?: RtcRequestMode } | null;
  readonly #listeners = new Set<(event: AsyncBrokerEvent) => void>();

  #generation = 0;
  #current: Chunk | null = null;
  #request: Request | null = null;
  /** Settles when the inner policy's latest `infer` call has settled (never rejects). */
  #innerIdle: Promise<void> = Promise.resolve();
  #lastOut: Obs | null = null;
  #stallStart: number | null = null;
  #stallHeld = 0;
  #latencies: number[] = [];
  #ewma = Number.NaN;
  #stats = {
    chunks: 0,
    requests: 0,
    errors: 0,
    stalls: 0,
    stallMs: 0,
    heldSteps: 0,
    skippedRows: 0,
    staleChunks: 0,
    discarded: 0,
    latencyLastMs: Number.NaN,
  };

  constructor(policy: BasePolicy, options: AsyncActionChunkBrokerOptions) {
    checkHorizon(options.actionHorizon, 'AsyncActionChunkBroker');
    const period =
      options.stepPeriodMs ?? (options.controlHz === undefined ? Number.NaN : 1000 / options.controlHz);
    if (Number.isNaN(period) && options.stepPeriodMs === undefined && options.controlHz === undefined) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'AsyncActionChunkBroker: give stepPeriodMs or controlHz', {});
    }
    positive('stepPeriodMs', period);
    this.#policy = policy;
    this.#horizon = options.actionHorizon;
    this.#period = period;
    this.#clock = options.clock ?? realClock;
    this.#estimator = options.latencyEstimator ?? 'p90';
    this.#window = options.latencyWindow ?? 32;
    positive('latencyWindow', this.#window, true);
    this.#alpha = options.ewmaAlpha ?? 0.3;
    if (!(this.#alpha > 0 && this.#alpha <= 1)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `AsyncActionChunkBroker: ewmaAlpha must be in (0, 1], got ${this.#alpha}`,
        {
          ewmaAlpha: this.#alpha,
        },
      );
    }
    this.#margin = options.safetyMarginMs ?? period;
    if (!(this.#margin >= 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `AsyncActionChunkBroker: safetyMarginMs must be >= 0`, {
        safetyMarginMs: this.#margin,
      });
    }
    this.#minRows = options.minRowsBeforeRequest ?? 1;
    positive('minRowsBeforeRequest', this.#minRows, true);
    if (options.onEvent) this.#listeners.add(options.onEvent);
    this.#rtc =
      options.rtc === true ? {} : options.rtc === false || options.rtc === undefined ? null : options.rtc;
  }

  addListener(listener: (event: AsyncBrokerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Control period in ms. */
  get stepPeriodMs(): number {
    return this.#period;
  }

  /** The latency the request trigger expects (ms): p90 or EWMA of past latencies; 0 before the first. */
  get expectedLatencyMs(): number {
    if (this.#latencies.length === 0) return 0;
    return this.#estimator === 'ewma'
      ? this.#ewma
      : quantile(
          [...this.#latencies].sort((a, b) => a - b),
          0.9,
        );
  }

  stats(): AsyncBrokerStats {
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const ongoing = this.#stallStart === null ? 0 : this.#clock.now() - this.#stallStart;
    return {
      ...this.#stats,
      stallMs: this.#stats.stallMs + ongoing,
      latencyP50Ms: quantile(sorted, 0.5),
      latencyP90Ms: quantile(sorted, 0.9),
      expectedLatencyMs: this.expectedLatencyMs,
      stalled: this.#stallStart !== null,
    };
  }

  async infer(obs: Obs): Promise<Obs> {
    if (this.#current === null) await this.#blockingChunk(obs);
    else this.#adoptArrived();
    const chunk = this.#current as Chunk;
    let out: Obs;
    if (chunk.cursor < this.#horizon) {
      out = sliceChunk(chunk.results, chunk.cursor);
      chunk.cursor += 1;
      this.#lastOut = out;
    } else {
      if (this.#stallStart === null) {
        this.#stallStart = this.#clock.now();
        this.#stallHeld = 0;
        this.#stats.stalls += 1;
        this.#emit({ type: 'stall-start', at: this.#stallStart });
      }
      this.#stallHeld += 1;
      this.#stats.heldSteps += 1;
      out = this.#lastOut as Obs;
    }
    this.#maybeRequest(obs, chunk);
    return out;
  }

  /**
   * Drops the current chunk and ignores any result still in flight, then resets the inner policy. The next `infer`
   * blocks (after the in-flight inner call settles) for a fresh chunk.
   */
  async reset(): Promise<void> {
    this.#generation += 1;
    const req = this.#request;
    if (req?.outcome?.ok) {
      this.#stats.discarded += 1;
      this.#emit({ type: 'discarded', at: this.#clock.now(), latencyMs: req.outcome.latencyMs });
    }
    this.#current = null;
    this.#request = null;
    this.#lastOut = null;
    if (this.#stallStart !== null) {
      this.#stats.stallMs += this.#clock.now() - this.#stallStart;
      this.#stallStart = null;
    }
    await this.#policy.reset();
  }

  #emit(event: AsyncBrokerEvent): void {
    for (const l of this.#listeners) l(event);
  }

  #recordLatency(ms: number): void {
    this.#stats.latencyLastMs = ms;
    this.#latencies.push(ms);
    if (this.#latencies.length > this.#window) this.#latencies.shift();
    this.#ewma = Number.isNaN(this.#ewma) ? ms : this.#alpha * ms + (1 - this.#alpha) * this.#ewma;
  }

  async #blockingChunk(obs: Obs): Promise<void> {
    await this.#innerIdle;
    const generation = this.#generation;
    const t0 = this.#clock.now();
    this.#stats.requests += 1;
    const call = this.#policy.infer(obs);
    this.#innerIdle = call.then(
      () => {},
      () => {},
    );
    const results = await call;
    const latencyMs = this.#clock.now() - t0;
    checkChunk(results, this.#horizon);
    if (generation !== this.#generation) {
      throw new OpenpiEdgeError(
        'ABORTED',
        'AsyncActionChunkBroker: reset() during the blocking inference',
        {},
      );
    }
    this.#recordLatency(latencyMs);
    this.#current = { results, cursor: 0, startRow: 0 };
    this.#stats.chunks += 1;
    this.#emit({
      type: 'chunk',
      at: this.#clock.now(),
      latencyMs,
      startRow: 0,
      skippedRows: 0,
      blocking: true,
    });
  }

  #adoptArrived(): void {
    const req = this.#request;
    if (req?.outcome === undefined) return;
    this.#request = null;
    if (!req.outcome.ok) return;
    const now = this.#clock.now();
    const due = Math.round((now - req.at) / this.#period);
    if (due >= this.#horizon) {
      // Every executable row's time has passed. Following the last one would command a pose the policy meant for
      // an earlier moment (after an outage, possibly long ago); keep what is being served (the current chunk's
      // remaining rows, or the held action: a stall) and let #maybeRequest ask for a fresh chunk on this step.
      this.#stats.staleChunks += 1;
      this.#emit({
        type: 'chunk-dropped',
        at: now,
        reason: 'stale',
        latencyMs: req.outcome.latencyMs,
        requestedAt: req.at,
        dueRow: due,
        lateMs: now - (req.at + (this.#horizon - 1) * this.#period),
      });
      return;
    }
    const startRow = Math.max(0, due);
    this.#current = { results: req.outcome.results, cursor: startRow, startRow };
    this.#stats.chunks += 1;
    this.#stats.skippedRows += startRow;
    this.#emit({
      type: 'chunk',
      at: now,
      latencyMs: req.outcome.latencyMs,
      startRow,
      skippedRows: startRow,
      blocking: false,
    });
    if (this.#stallStart !== null) {
      const durationMs = now - this.#stallStart;
      this.#stats.stallMs += durationMs;
      this.#stallStart = null;
      this.#emit({ type: 'stall-end', at: now, durationMs, heldSteps: this.#stallHeld });
    }
  }

  #maybeRequest(obs: Obs, chunk: Chunk): void {
    if (this.#request !== null) return;
    const remainingRows = this.#horizon - chunk.cursor;
    const used = chunk.cursor - chunk.startRow;
    if (remainingRows > 0 && used < this.#minRows) return;
    const expectedLatencyMs = this.expectedLatencyMs;
    if (remainingRows * this.#period > expectedLatencyMs + this.#margin) return;
    const req: Request = { generation: this.#generation, at: this.#clock.now() };
    this.#request = req;
    this.#stats.requests += 1;
    let request = obs;
    let rtcDelay: number | undefined;
    if (this.#rtc !== null) {
      // The row served on this step (cursor - 1) is the new chunk's row 0: both belong to this moment.
      const fromRow = Math.max(0, chunk.cursor - 1);
      const entry = rtcEntry(chunk.results, fromRow, expectedLatencyMs / this.#period, this.#rtc.mode);
      rtcDelay = entry.delay as number;
      request = { ...obs, [RTC_OBS_KEY]: entry };
    }
    this.#emit({
      type: 'request',
      at: req.at,
      remainingRows,
      expectedLatencyMs,
      ...(rtcDelay === undefined ? {} : { rtcDelay }),
    });
    // The previous inner call has settled: requests start only when none is pending, and reset() makes the next
    // infer() wait for #innerIdle before the blocking call.
    const call = this.#policy.infer(request);
    this.#innerIdle = call.then(
      () => {},
      () => {},
    );
    call.then(
      (results) => {
        const latencyMs = this.#clock.now() - req.at;
        if (req.generation !== this.#generation) {
          this.#stats.discarded += 1;
          this.#emit({ type: 'discarded', at: this.#clock.now(), latencyMs });
          return;
        }
        this.#recordLatency(latencyMs);
        try {
          checkChunk(results, this.#horizon);
        } catch (error) {
          this.#fail(req, error);
          return;
        }
        req.outcome = { ok: true, results, latencyMs };
      },
      (error: unknown) => {
        if (req.generation !== this.#generation) {
          this.#stats.discarded += 1;
          this.#emit({ type: 'discarded', at: this.#clock.now(), latencyMs: this.#clock.now() - req.at });
          return;
        }
        this.#fail(req, error);
      },
    );
  }

  #fail(req: Request, error: unknown): void {
    this.#stats.errors += 1;
    req.outcome = { ok: false };
    this.#emit({ type: 'error', at: this.#clock.now(), error });
  }
}
