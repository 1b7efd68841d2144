/** Messages between the UR servo worker (servo-worker-entry.ts) and its host (servo-streamer.ts). */
import type { SafetyConfig } from '../../safety/config.js';
import type { ControllerVersion, TextMessage } from './rtde/codec.js';
import type { ServoProgramParams } from './servo-program.js';

export interface ServoWorkerData {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** The shared state/command block (servo-shared.ts). */
  readonly buffer: SharedArrayBuffer;
  /** The arm's 6 joints (limits, speeds); the worker sets its rate. */
  readonly safety: SafetyConfig;
  /** Highest servo rate (Hz); the controller's own maximum caps it (500 e-Series, 125 CB3). */
  readonly maxServoHz: number;
  /** Program parameters (steptime is set from the servo rate). */
  readonly params: ServoProgramParams;
  readonly linkTimeoutMs: number;
  readonly commandStaleMs: number;
  /** Read only: no input recipe, nothing is ever sent. */
  readonly dryRun: boolean;
  /** The thread's nice value to ask for (Linux; a negative one needs CAP_SYS_NICE). */
  readonly threadNice?: number;
  /** SCHED_FIFO priority to ask for (1–99, Linux, CAP_SYS_NICE); absent: none. */
  readonly realtimePriority?: number;
}

export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly context: Record<string, unknown>;
}

export interface ServoStats {
  readonly cycles: number;
  readonly missed: number;
  readonly jitterP50Ms: number;
  readonly jitterP90Ms: number;
  readonly jitterP99Ms: number;
  readonly jitterMaxMs: number;
  readonly maxWorkMs: number;
  /** Cycles that sent servo targets / a hold. */
  readonly moves: number;
  readonly holds: number;
}

export type ToServoWorker =
  | { type: 'expect-program' }
  | { type: 'clear'; id: number }
  | { type: 'stats'; id: number; reset?: boolean }
  | { type: 'close' };

export type FromServoWorker =
  | {
      type: 'ready';
      version: ControllerVersion;
      servoHz: number;
      params: ServoProgramParams;
      /** The thread's nice value in effect, null where it cannot be read. */
      nice: number | null;
      /** The SCHED_FIFO priority it runs at, null when not real-time. */
      realtime: number | null;
    }
  | { type: 'error'; error: SerializedError }
  | { type: 'link-lost'; error: SerializedError }
  | { type: 'text'; message: TextMessage }
  | { type: 'cleared'; id: number; remaining: number }
  | { type: 'stats'; id: number; stats: ServoStats }
  | { type: 'closed' };
