/**
 * `--record-mcap <file>`: an MCAP log of what the agent saw and did, written by a worker thread
 * (mcap-recorder-entry.ts) that owns the MCAP writer, the file and the JPEG encoding. This class is the loop
 * thread's side: each tap only packs a few numbers and posts them (mcap-protocol.ts); nothing here encodes,
 * serializes to JSON or touches the file.
 *
 * Bounded memory: at most `maxPendingFrameSets` camera frame sets (one per inference) and `maxPendingTicks` ticks may
 * be in the worker's hands unprocessed; beyond that the loop drops them (counted: `framesDropped`, `ticksDropped`)
 * rather than queueing without bound or waiting.
 *
 * Closing: `close()` ends the file (MCAP summary and footer) and resolves with what was written. If the process
 * exits without it (a second Ctrl-C, `process.exit`, an uncaught exception), an 'exit' listener asks the worker to end
 * the file and blocks the exiting thread until it has (at most `exitWaitMs`). A killed process (SIGKILL, power) leaves
 * the header and every chunk completed so far (at most `chunkBytes` of the newest records are lost); readers that
 * stream records (PyPI mcap's `StreamReader`, `mcap recover`) read it, indexed readers need the footer.
 */
import { Worker } from 'node:worker_threads';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { StepTelemetry } from '@openpi-edge/runtime';
import { framesForPosting, type RawFrames } from '../inference/raw-frames.js';
import { workerLaunchOf } from '../inference/worker-entry-url.js';
import type { CameraFrame, CameraSource } from '../io/cameras/camera-source.js';
import type { EStopEvent } from '../safety/estop.js';
import { FAULT_CODES, type FaultCode, type SafetyFault } from '../safety/faults.js';
import type { GateDecision, MeasuredJoints } from '../safety/gate.js';
import type { LeRobotWriterOptions } from './lerobot-dataset-writer.js';
import {
  type CameraUpdate,
  type FaultRecord,
  type FromRecorder,
  type LoopSideStats,
  type RecorderInit,
  type RecorderResult,
  TICK,
  TICK_HEADER,
  type ToRecorder,
  tickLength,
} from './mcap-protocol.js';

export interface McapRecorderOptions {
  /** MCAP output file (created or truncated). At least one of `file` and `live`. */
  file?: string;
  /**
   * The Foxglove WebSocket live view (`--foxglove-port`): the same topics as the file, served by the worker to
   * viewers on this address. `port` 0 = any free port. Default host 127.0.0.1.
   */
  live?: { host?: string; port: number };
  /**
   * The status page (`--status-port`, live/status-page-server.ts): served by the worker on this address, fed the
   * same messages. `port` 0 = any free port. Default host 127.0.0.1.
   */
  status?: { host?: string; port: number };
  /**
   * The status page's e-stop button was pressed: called on this (the loop's) thread as soon as the worker's message
   * arrives; the agent latches the gate's e-stop here. Default: ignored (with a warning).
   */
  onEstop?: (reason: string) => void;
  /**
   * `--record <dir>`: append each episode to this LeRobot v2.1 dataset (lerobot-dataset-writer.ts), one row per
   * tick, with the newest frame of each of `cameraSources` (checked every tick: a reference compare; a new frame is
   * posted with the tick batch, its bytes shared when the source allocated them in a SharedArrayBuffer, else copied).
   */
  dataset?: Omit<LeRobotWriterOptions, 'joints' | 'cameras'>;
  /** The cameras' sources, for `dataset` (by camera name; `cameras` order). */
  cameraSources?: Readonly<Record<string, CameraSource>>;
  /** Joint names in action order (the robot layout's). */
  joints: readonly string[];
  /** Camera names (one `/camera/<name>` topic each). */
  cameras: readonly string[];
  /** Epoch ms of the agent clock's zero. Default `performance.timeOrigin` (the real clock's). */
  clockOriginMs?: number;
  /** Agent clock, for events that carry no time (overruns). Default `performance.now`. */
  now?: () => number;
  /** JPEG quality of recorded camera frames. Default 85. */
  jpegQuality?: number;
  /** MCAP chunk size (bytes): the most a killed process loses. Default 64 KiB (~1 s at the ALOHA defaults). */
  chunkBytes?: number;
  /** Frame sets (one per inference) in the worker's hands before new ones are dropped. Default 2 (8 with `dataset`). */
  maxPendingFrameSets?: number;
  /** Ticks in the worker's hands before new ones are dropped. Default 5000 (100 s at 50 Hz). */
  maxPendingTicks?: number;
  /**
   * Ticks packed into one message. Default 10 (200 ms at 50 Hz): a post to an idle worker thread costs ~0.1 ms of
   * wake-up on the posting thread (measured), a batch pays it once.
   */
  ticksPerMessage?: number;
  /** Written as the `openpi_edge.run` metadata record. */
  metadata?: Readonly<Record<string, string>>;
  /** Nice value of the worker's thread (Linux). Default 10: the control loop gets the CPU first. */
  threadNice?: number;
  /** How long the process-exit hook waits for the worker to end the file (ms). Default 3000. */
  exitWaitMs?: number;
  /** A worker that failed mid-run (recording stops, the run goes on). Default `console.warn`. */
  warn?: (message: string) => void;
}

const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** Per-joint limit flags: bit 0 position clamp, bit 1 rate limit. */
const LIMIT_POSITION = 1;
const LIMIT_RATE = 2;

function maskOf(faults: readonly SafetyFault[]): number {
  let m = 0;
  for (const f of faults) {
    const bit = 2 ** FAULT_CODES.indexOf(f.code as FaultCode);
    if (Math.floor(m / bit) % 2 === 0) m += bit;
  }
  return m;
}

function faultRecord(f: SafetyFault): FaultRecord {
  return {
    code: f.code,
    message: f.message,
    ...(f.name === undefined ? {} : { name: f.name }),
    ...(f.index === undefined ? {} : { index: f.index }),
    ...(f.value === undefined ? {} : { value: f.value }),
    ...(f.limit === undefined ? {} : { limit: f.limit }),
    ...(f.source === undefined ? {} : { source: f.source }),
  };
}

export class McapRecorder {
  /** The MCAP file, or null (live view only). */
  readonly file: string | null;
  /** The LeRobot dataset folder (`--record`), or null. */
  readonly datasetRoot: string | null;
  /** `ws://host:port` of the Foxglove live view, or null. */
  readonly liveUrl: string | null;
  /** `http://host:port` of the status page, or null. */
  readonly statusUrl: string | null;
  /** Set by the agent when it is not given as an option (see `McapRecorderOptions.onEstop`). */
  onEstop: ((reason: string) => void) | null;
  readonly #worker: Worker;
  readonly #dim: number;
  readonly #doneFlag: Int32Array;
  readonly #now: () => number;
  readonly #maxFrameSets: number;
  readonly #maxTicks: number;
  readonly #exitWaitMs: number;
  readonly #batchTicks: number;
  readonly #tickLen: number;
  /** The batch being filled (fresh, zeroed, after each post). */
  #batch: Float64Array;
  #batched = 0;
  /** `--record`: the sources polled every tick, the frame last posted per camera, the updates of this batch. */
  readonly #sources: readonly [string, CameraSource][];
  readonly #lastFrames = new Map<string, CameraFrame>();
  #updates: CameraUpdate[] = [];
  /** Whether anything takes the per-inference frame sets (the file, the live view, the status page). */
  readonly #framesWanted: boolean;
  readonly #warn: (message: string) => void;
  #pendingFrameSets = 0;
  #pendingTicks = 0;
  #lastMask = 0;
  #episode = -1;
  #step = -1;
  #failed: string | null = null;
  #ending = false;
  #closed: Promise<RecorderResult | null> | null = null;
  #onClosed: ((r: RecorderResult | null) => void) | null = null;
  readonly #exitHook = (): void => this.#closeAtExit();
  /** What the loop did not post (memory bound). */
  readonly stats: LoopSideStats = { framesDropped: 0, frameSetsDropped: 0, ticksDropped: 0 };
  /** Frame sets and ticks posted. */
  frameSetsPosted = 0;
  ticksPosted = 0;

  private constructor(
    worker: Worker,
    options: McapRecorderOptions,
    doneFlag: Int32Array,
    urls: { liveUrl: string | null; statusUrl: string | null },
  ) {
    this.file = options.file ?? null;
    this.datasetRoot = options.dataset?.root ?? null;
    this.liveUrl = urls.liveUrl;
    this.statusUrl = urls.statusUrl;
    this.onEstop = options.onEstop ?? null;
    this.#worker = worker;
    this.#dim = options.joints.length;
    this.#doneFlag = doneFlag;
    this.#now = options.now ?? (() => performance.now());
    // With a dataset the worker's queue also holds its rows (frame conversion, pipe backpressure): allow more sets
    this.#maxFrameSets = options.maxPendingFrameSets ?? (options.dataset === undefined ? 2 : 8);
    this.#maxTicks = options.maxPendingTicks ?? 5000;
    this.#exitWaitMs = options.exitWaitMs ?? 3000;
    this.#batchTicks = Math.max(1, Math.floor(options.ticksPerMessage ?? 10));
    this.#tickLen = tickLength(this.#dim);
    this.#batch = new Float64Array(this.#batchTicks * this.#tickLen);
    this.#warn = options.warn ?? ((s) => console.warn(s));
    this.#framesWanted =
      options.file !== undefined || options.live !== undefined || options.status !== undefined;
    this.#sources =
      options.dataset === undefined
        ? []
        : options.cameras.flatMap((c): [string, CameraSource][] => {
            const src = options.cameraSources?.[c];
            return src === undefined ? [] : [[c, src]];
          });
    worker.on('message', (m: FromRecorder) => this.#onMessage(m));
    worker.on('error', (e) => this.#fail(`recorder worker crashed: ${e.message}`));
    worker.on('exit', (code) => {
      if (this.#closed === null || code !== 0) this.#fail(`recorder worker exited (code ${code})`);
    });
    process.on('exit', this.#exitHook);
  }

  /**
   * Starts the worker, which creates the file and writes the MCAP header, schemas, channels and the run metadata.
   * BAD_ARGUMENT naming the file when it cannot be created.
   */
  static async open(options: McapRecorderOptions): Promise<McapRecorder> {
    // sharp (libvips) must be loaded by the main thread before a worker uses it (sharp's worker-thread advice).
    await import('sharp');
    if (
      options.file === undefined &&
      options.live === undefined &&
      options.status === undefined &&
      options.dataset === undefined
    ) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        'McapRecorder needs a file, a dataset, a live view or a status page (any of them)',
        {},
      );
    }
    const done = new SharedArrayBuffer(4);
    const init: RecorderInit = {
      file: options.file ?? null,
      live:
        options.live === undefined
          ? null
          : { host: options.live.host ?? '127.0.0.1', port: options.live.port },
      status:
        options.status === undefined
          ? null
          : { host: options.status.host ?? '127.0.0.1', port: options.status.port },
      dataset:
        options.dataset === undefined
          ? null
          : { ...options.dataset, joints: [...options.joints], cameras: [...options.cameras] },
      clockOriginMs: options.clockOriginMs ?? performance.timeOrigin,
      joints: [...options.joints],
      cameras: [...options.cameras],
      jpegQuality: options.jpegQuality ?? 85,
      chunkBytes: options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
      metadata: { ...options.metadata },
      doneFlag: done,
      threadNice: options.threadNice ?? 10,
    };
    const launch = workerLaunchOf(new URL('./mcap-recorder-entry.ts', import.meta.url));
    const worker = new Worker(launch.filename, {
      eval: launch.eval,
      execArgv: launch.execArgv,
      workerData: init,
    });
    // Which flag a start-up failure names: the live view's address, else the file.
    const liveFailed = (message: string): boolean => message.startsWith('foxglove live view:');
    const statusFailed = (message: string): boolean => message.startsWith('status page:');
    const datasetFailed = (message: string): boolean => message.startsWith('dataset:');
    const urls = await new Promise<{ liveUrl: string | null; statusUrl: string | null }>(
      (resolve, reject) => {
        const onMessage = (m: FromRecorder): void => {
          if (m.type === 'ready') {
            cleanup();
            resolve({ liveUrl: m.liveUrl, statusUrl: m.statusUrl });
          } else if (m.type === 'failed') {
            cleanup();
            reject(
              datasetFailed(m.message)
                ? new OpenpiEdgeError(
                    m.code === 'BAD_DATASET' ? 'BAD_DATASET' : 'BAD_ARGUMENT',
                    `--record ${options.dataset?.root}: ${m.message.slice('dataset: '.length)}`,
                    { option: 'record', root: options.dataset?.root, cause: m.code },
                  )
                : statusFailed(m.message)
                  ? new OpenpiEdgeError(
                      'BAD_ARGUMENT',
                      `--status-port ${options.status?.port}: ${m.message}`,
                      {
                        option: 'status-port',
                        host: init.status?.host,
                        port: options.status?.port,
                        cause: m.code,
                      },
                    )
                  : liveFailed(m.message)
                    ? new OpenpiEdgeError(
                        'BAD_ARGUMENT',
                        `--foxglove-port ${options.live?.port}: ${m.message}`,
                        {
                          option: 'foxglove-port',
                          host: init.live?.host,
                          port: options.live?.port,
                          cause: m.code,
                        },
                      )
                    : new OpenpiEdgeError('BAD_ARGUMENT', `--record-mcap ${options.file}: ${m.message}`, {
                        option: 'record-mcap',
                        file: options.file,
                        cause: m.code,
                      }),
            );
          }
        };
        const onError = (e: Error): void => {
          cleanup();
          reject(
            new OpenpiEdgeError(
              'WORKER_CRASHED',
              `MCAP recorder worker failed to start: ${e.message}`,
              { file: options.file },
              { cause: e },
            ),
          );
        };
        const cleanup = (): void => {
          worker.off('message', onMessage);
          worker.off('error', onError);
        };
        worker.on('message', onMessage);
        worker.on('error', onError);
      },
    ).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    // An idle recorder does not keep the process alive; the exit hook ends the file then.
    worker.unref();
    return new McapRecorder(worker, options, new Int32Array(done), urls);
  }

  /** The worker stopped (recording ends there; the run goes on), or null. */
  get failure(): string | null {
    return this.#failed;
  }

  #onMessage(m: FromRecorder): void {
    if (m.type === 'ack') {
      this.#pendingFrameSets -= m.frameSets;
      this.#pendingTicks -= m.ticks;
    } else if (m.type === 'estop-request') {
      if (this.onEstop !== null) this.onEstop(m.reason);
      else this.#warn(`warning: status page e-stop request ignored (no e-stop wired): ${m.reason}`);
    } else if (m.type === 'closed') {
      this.#onClosed?.(m.result);
    } else if (m.type === 'failed') {
      this.#fail(`recording to ${this.file ?? this.liveUrl} failed: ${m.code}: ${m.message}`);
    }
  }

  #fail(reason: string): void {
    if (this.#failed !== null) return;
    this.#failed = reason;
    if (!this.#ending) this.#warn(`warning: ${reason}; the run goes on without recording`);
    this.#onClosed?.(null);
  }

  #post(m: ToRecorder, transfer: ArrayBuffer[] = []): boolean {
    if (this.#failed !== null || this.#ending) return false;
    this.#worker.postMessage(m, transfer);
    return true;
  }

  /**
   * One control step: its timing, the gate's decision (null if none) and the measured joints, packed into the
   * current batch (a Float64Array, transferred once `ticksPerMessage` ticks are in it). Also posts the fault set
   * when it changed since the previous tick.
   */
  tick(s: StepTelemetry, d: GateDecision | null, measured: MeasuredJoints | null): void {
    this.#episode = s.episode;
    this.#step = s.step;
    if (this.#failed !== null || this.#ending) return;
    const faults = d !== null && d.kind === 'hold' ? d.faults : [];
    const mask = maskOf(faults);
    if (mask !== this.#lastMask) {
      this.#lastMask = mask;
      this.#post({
        type: 'faults',
        at: s.startedAt,
        episode: s.episode,
        step: s.step,
        faults: faults.map(faultRecord),
      });
    }
    if (this.#pendingTicks + this.#batched >= this.#maxTicks) {
      this.stats.ticksDropped += 1;
      return;
    }
    const dim = this.#dim;
    const a = this.#batch.subarray(this.#batched * this.#tickLen, (this.#batched + 1) * this.#tickLen);
    a[TICK.episode] = s.episode;
    a[TICK.step] = s.step;
    a[TICK.tick] = s.tick;
    a[TICK.scheduledAt] = s.scheduledAt;
    a[TICK.startedAt] = s.startedAt;
    a[TICK.observeMs] = s.observeMs;
    a[TICK.actMs] = s.actMs;
    a[TICK.applyMs] = s.applyMs;
    a[TICK.stepMs] = s.stepMs;
    a[TICK.periodMs] = s.periodMs;
    a[TICK.jitterMs] = s.jitterMs;
    a[TICK.kind] = d === null ? 0 : d.kind === 'move' ? 1 : 2;
    a[TICK.faultMask] = mask;
    a[TICK.jointStampMs] = measured?.stampMs ?? Number.NaN;
    a[TICK.postedAt] = this.#now();
    const pos = measured?.positions;
    for (let i = 0; i < dim; i++)
      a[TICK_HEADER + i] = pos === undefined ? Number.NaN : (pos[i] ?? Number.NaN);
    const cmd = d?.command ?? null;
    a[TICK.sent] = d !== null && (d.kind === 'move' || d.safe !== null) ? 1 : 0;
    for (let i = 0; i < dim; i++)
      a[TICK_HEADER + dim + i] = cmd === null ? Number.NaN : (cmd[i] ?? Number.NaN);
    if (d !== null && d.kind === 'move' && d.limited.length > 0) {
      let p = 0;
      let r = 0;
      for (const l of d.limited) {
        const j = TICK_HEADER + 2 * dim + l.index;
        const flag = l.kind === 'position' ? LIMIT_POSITION : LIMIT_RATE;
        if (l.kind === 'position') p += 1;
        else r += 1;
        if (l.index >= 0 && l.index < dim) a[j] = (a[j] ?? 0) | flag;
      }
      a[TICK.positionClamps] = p;
      a[TICK.rateLimits] = r;
    }
    for (const [name, src] of this.#sources) {
      const frame = src.latest()?.frame;
      if (frame !== undefined && frame !== this.#lastFrames.get(name)) {
        this.#lastFrames.set(name, frame);
        this.#updates.push({ row: this.#batched, camera: name, frame });
      }
    }
    this.#batched += 1;
    this.ticksPosted += 1;
    if (this.#batched === this.#batchTicks) this.#flushTicks();
  }

  /** Posts the ticks batched so far. */
  #flushTicks(): void {
    if (this.#batched === 0 || this.#failed !== null) return;
    const data = this.#batch.subarray(0, this.#batched * this.#tickLen);
    const m: ToRecorder =
      this.#updates.length === 0
        ? { type: 'ticks', count: this.#batched, data }
        : { type: 'ticks', count: this.#batched, data, frames: this.#updates };
    this.#worker.postMessage(m, [this.#batch.buffer as ArrayBuffer]);
    if (this.#updates.length > 0) this.#updates = [];
    this.#pendingTicks += this.#batched;
    this.#batched = 0;
    this.#batch = new Float64Array(this.#batchTicks * this.#tickLen);
  }

  /** A reset move's gate decision (phase `reset`). */
  resetDecision(d: GateDecision, at: number): void {
    this.#post({
      type: 'reset',
      at,
      kind: d.kind,
      command: d.command,
      faults: d.kind === 'hold' ? d.faults.map((f) => f.code) : [],
    });
  }

  /**
   * The frames the policy was given for inference `index`, picked at `at`: posted as they are (shared bytes cross
   * without a copy); dropped (counted) while `maxPendingFrameSets` sets are still being encoded.
   */
  frames(index: number, at: number, raw: RawFrames): void {
    // with only `--record`, the dataset takes its frames per tick (`cameraSources`), not per inference
    if (this.#failed !== null || this.#ending || !this.#framesWanted) return;
    if (this.#pendingFrameSets >= this.#maxFrameSets) {
      this.stats.frameSetsDropped += 1;
      this.stats.framesDropped += Object.keys(raw.frames).length;
      return;
    }
    const posted = framesForPosting(raw);
    this.#post({
      type: 'frames',
      index,
      at,
      frames: posted.frames,
      height: raw.height,
      width: raw.width,
    });
    this.#pendingFrameSets += 1;
    this.frameSetsPosted += 1;
  }

  /** A chunk (or the error) of inference `index`: its actions copied and transferred. */
  chunk(
    index: number,
    requestedAt: number,
    at: number,
    latencyMs: number,
    actions: { shape: readonly number[]; data: ArrayLike<number> } | null,
    error: string | null,
  ): void {
    if (this.#failed !== null || this.#ending) return;
    let data: Float64Array | Float32Array | null = null;
    if (actions !== null) {
      const src = actions.data;
      data = src instanceof Float32Array ? src.slice() : Float64Array.from(src);
    }
    this.#post(
      {
        type: 'chunk',
        index,
        requestedAt,
        at,
        latencyMs,
        episode: this.#episode,
        step: this.#step,
        shape: actions === null ? null : [...actions.shape],
        actions: data,
        error,
      },
      data === null ? [] : [data.buffer as ArrayBuffer],
    );
  }

  /** An e-stop latch event. */
  estop(e: EStopEvent): void {
    const cause = e.type === 'triggered' ? e.cause : e.type === 'reset' ? e.cleared : null;
    this.#post({
      type: 'estop',
      at: e.type === 'triggered' ? e.cause.atMs : e.atMs,
      event: e.type,
      source: e.type === 'triggered' ? e.cause.source : e.by,
      reason:
        e.type === 'reset_refused'
          ? `refused: ${e.faults.map((f) => f.code).join(', ')}`
          : (cause?.reason ?? ''),
    });
  }

  /** Episode start / end, overrun (`at` default now). */
  loopEvent(
    event: 'episode-start' | 'episode-end' | 'overrun',
    episode: number,
    fields: Record<string, number | string>,
    at = this.#now(),
  ): void {
    // The episode's last ticks first: the dataset writer ends the episode at this event.
    if (event === 'episode-end') this.#flushTicks();
    this.#post({ type: 'loop-event', at, event, episode, fields });
  }

  /**
   * Ends the file (pending frames are encoded first) and stops the worker. Resolves with what was written, or
   * null when the worker had failed. Idempotent.
   */
  close(): Promise<RecorderResult | null> {
    if (this.#closed !== null) return this.#closed;
    this.#closed = this.#close();
    return this.#closed;
  }

  async #close(): Promise<RecorderResult | null> {
    if (this.#failed !== null) {
      process.off('exit', this.#exitHook);
      await this.#worker.terminate();
      return null;
    }
    this.#worker.ref();
    this.#flushTicks();
    const result = new Promise<RecorderResult | null>((resolve) => {
      this.#onClosed = resolve;
    });
    this.#worker.postMessage({ type: 'end', stats: { ...this.stats } } satisfies ToRecorder);
    this.#ending = true;
    const r = await result;
    process.off('exit', this.#exitHook);
    await new Promise<void>((resolve) => {
      if (this.#worker.threadId === -1) resolve();
      else this.#worker.once('exit', () => resolve());
    });
    return this.#failed !== null ? null : r;
  }

  /** Process exit without `close()`: ask the worker to end the file and wait for it (blocking; see the module comment). */
  #closeAtExit(): void {
    if (this.#failed !== null || Atomics.load(this.#doneFlag, 0) === 1) return;
    if (!this.#ending) {
      this.#flushTicks();
      this.#ending = true;
      this.#worker.postMessage({ type: 'end', stats: { ...this.stats } } satisfies ToRecorder);
    }
    Atomics.wait(this.#doneFlag, 0, 0, this.#exitWaitMs);
  }
}
