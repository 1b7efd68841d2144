/**
 * What the control loop's thread posts to the MCAP recorder worker (mcap-recorder.ts -> mcap-recorder-entry.ts),
 * and what comes back. Everything the loop sends is small: one packed Float64Array per tick (transferred), a camera
 * frame set per inference (the frames' bytes: shared when the source allocated them in a SharedArrayBuffer, else
 * copied by postMessage; never encoded on the loop), one chunk's actions (a copy, transferred) per inference, and a
 * few strings when the gate's fault set or the e-stop changes. Times are readings of the agent's clock (ms); the
 * worker turns them into epoch nanoseconds with `clockOriginMs`.
 */
import type { CameraFrame } from '../io/cameras/camera-source.js';
import { FAULT_CODES, type FaultCode } from '../safety/faults.js';
import type { DatasetWriteResult, LeRobotWriterOptions } from './lerobot-dataset-writer.js';

/** Topics of a recording (docs/agent.md "Recording an MCAP log"). */
export const TOPICS = {
  camera: (name: string): string => `/camera/${name}`,
  jointStates: '/joint_states',
  chunk: '/policy/chunk',
  decision: '/safety/decision',
  reset: '/safety/reset',
  faults: '/safety/faults',
  estop: '/safety/estop',
  timing: '/loop/timing',
  loopEvents: '/loop/events',
} as const;

/**
 * The packed per-tick record: {@link TICK_HEADER} scalars, then `dim` measured positions, `dim` command values and
 * `dim` per-joint limit flags (bit 0: position clamp, bit 1: rate limit). NaN = absent.
 */
export const TICK = {
  episode: 0,
  step: 1,
  tick: 2,
  scheduledAt: 3,
  startedAt: 4,
  observeMs: 5,
  actMs: 6,
  applyMs: 7,
  stepMs: 8,
  periodMs: 9,
  jitterMs: 10,
  /** 0 no decision this tick, 1 move, 2 hold. */
  kind: 11,
  /** Bit i set = FAULT_CODES[i] held this tick. */
  faultMask: 12,
  positionClamps: 13,
  rateLimits: 14,
  jointStampMs: 15,
  /** 1 when a command was sent (move, or a hold re-sending the last safe command). */
  sent: 16,
  /** The loop's post time (the message's log time). */
  postedAt: 17,
} as const;
export const TICK_HEADER = 18;

/** Length of a packed tick for `dim` joints. */
export const tickLength = (dim: number): number => TICK_HEADER + 3 * dim;

export const faultBit = (code: FaultCode): number => 2 ** FAULT_CODES.indexOf(code);

/** The fault codes of a mask, in check order. */
export function faultCodesOf(mask: number): FaultCode[] {
  return FAULT_CODES.filter((_, i) => Math.floor(mask / 2 ** i) % 2 === 1);
}

/** A reset move's gate decision (phase `reset`): rare enough to send as an object. */
export interface ResetDecisionMessage {
  readonly type: 'reset';
  readonly at: number;
  readonly kind: 'move' | 'hold';
  readonly command: Float64Array | null;
  readonly faults: readonly string[];
}

/** One fault as recorded: the gate's record without its clock stamp. */
export interface FaultRecord {
  readonly code: string;
  readonly message: string;
  readonly name?: string;
  readonly index?: number;
  readonly value?: number;
  readonly limit?: number;
  readonly source?: string;
}

export type ToRecorder =
  | {
      /** `count` packed ticks back to back (`tickLength(dim)` values each). */
      readonly type: 'ticks';
      readonly count: number;
      readonly data: Float64Array;
      /**
       * With `--record` only: each camera's frame that became the newest before tick `row` of this batch (0-based),
       * for the dataset's rows (a camera's frame stays current until its next entry).
       */
      readonly frames?: readonly CameraUpdate[];
    }
  | ResetDecisionMessage
  | {
      /** The frames the policy was given for inference `index` (picked at `at`). */
      readonly type: 'frames';
      readonly index: number;
      readonly at: number;
      readonly frames: Readonly<Record<string, CameraFrame>>;
      readonly height: number;
      readonly width: number;
    }
  | {
      readonly type: 'chunk';
      readonly index: number;
      /** When the policy was asked, when the chunk (or the error) came back. */
      readonly requestedAt: number;
      readonly at: number;
      readonly latencyMs: number;
      readonly episode: number;
      readonly step: number;
      readonly shape: readonly number[] | null;
      readonly actions: Float64Array | Float32Array | null;
      readonly error: string | null;
    }
  | {
      /** The set of active fault codes changed (empty = cleared). */
      readonly type: 'faults';
      readonly at: number;
      readonly episode: number;
      readonly step: number;
      readonly faults: readonly FaultRecord[];
    }
  | {
      readonly type: 'estop';
      readonly at: number;
      readonly event: string;
      readonly source: string;
      readonly reason: string;
    }
  | {
      readonly type: 'loop-event';
      readonly at: number;
      readonly event: 'episode-start' | 'episode-end' | 'overrun';
      readonly episode: number;
      readonly fields: Readonly<Record<string, number | string>>;
    }
  | { readonly type: 'end'; readonly stats: LoopSideStats };

/** A camera's new newest frame, as of one tick of a batch. */
export interface CameraUpdate {
  readonly row: number;
  readonly camera: string;
  readonly frame: CameraFrame;
}

/** Counters kept on the loop's side (what it did not post). */
export interface LoopSideStats {
  framesDropped: number;
  frameSetsDropped: number;
  ticksDropped: number;
}

/** What the worker reports when the file is closed. */
export interface RecorderResult {
  /** The MCAP file; null when only the live view ran. */
  readonly file: string | null;
  readonly bytes: number;
  readonly messages: number;
  /** Messages per topic. */
  readonly topics: Readonly<Record<string, number>>;
  readonly framesWritten: number;
  readonly framesDropped: number;
  readonly ticksDropped: number;
  /** Frames that could not be encoded (bad frame data), skipped. */
  readonly frameErrors: number;
  readonly chunks: number;
  readonly durationS: number;
  /** The Foxglove live view's counters at the end (message frames sent / dropped for slow viewers); null when off. */
  readonly live: { readonly url: string; readonly sent: number; readonly dropped: number } | null;
  /** The status page's counters at the end (live/status-page-server.ts); null when off. */
  /** The LeRobot dataset (`--record`): episodes written by this run and the totals after it; null when off. */
  readonly dataset: DatasetWriteResult | null;
  readonly status: {
    readonly url: string;
    /** Update messages sent to pages / skipped for slow pages. */
    readonly sent: number;
    readonly dropped: number;
    /** E-stop requests passed to the loop. */
    readonly estops: number;
    /** Worker time spent on the page's updates (ms) and the messages it handled while a page was connected. */
    readonly workMs: number;
    readonly handled: number;
  } | null;
}

export type FromRecorder =
  | { readonly type: 'ready'; readonly liveUrl: string | null; readonly statusUrl: string | null }
  /** The status page's e-stop button (or POST /estop): the loop thread latches the gate's e-stop. */
  | { readonly type: 'estop-request'; readonly source: 'status-page'; readonly reason: string }
  | { readonly type: 'failed'; readonly message: string; readonly code: string }
  | { readonly type: 'ack'; readonly frameSets: number; readonly ticks: number }
  | { readonly type: 'closed'; readonly result: RecorderResult };

/** Static description of the recording, given to the worker at start. */
export interface RecorderInit {
  /** MCAP output; null: no file, only the live view. */
  readonly file: string | null;
  /** Foxglove WebSocket live view (live/foxglove-server.ts) on this address; null: none. */
  readonly live: { readonly host: string; readonly port: number } | null;
  /** The status page (live/status-page-server.ts) on this address; null: none. */
  readonly status: { readonly host: string; readonly port: number } | null;
  /** The LeRobot v2.1 dataset to append episodes to (`--record`); null: none. */
  readonly dataset: LeRobotWriterOptions | null;
  /** Epoch ms of the agent clock's zero (performance.timeOrigin for the real clock). */
  readonly clockOriginMs: number;
  readonly joints: readonly string[];
  readonly cameras: readonly string[];
  /** JPEG quality 1-100. */
  readonly jpegQuality: number;
  /** MCAP chunk size (bytes): how much a killed process can lose at most. */
  readonly chunkBytes: number;
  /** Metadata record `openpi_edge.run` (robot, model, config). */
  readonly metadata: Readonly<Record<string, string>>;
  /** SharedArrayBuffer Int32 word set to 1 once the file is closed (for the synchronous close at process exit). */
  readonly doneFlag: SharedArrayBuffer;
  /** Nice value of the worker's thread (Linux). */
  readonly threadNice: number;
}
