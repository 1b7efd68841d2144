/** Messages between {@link startUrEmulatorThread} (emulator-thread.ts) and the emulator's worker (emulator-thread-entry.ts). */
import type { UrEmulatorOptions, UrEmulatorPort, UrEmulatorSnapshot } from './emulator.js';

/** workerData: the options without the trace function (functions cannot cross threads); trace → trace messages. */
export interface ThreadData {
  readonly options: Omit<UrEmulatorOptions, 'trace'>;
  readonly trace: boolean;
}

export type ThreadOp =
  | { op: 'snapshot' }
  | { op: 'lastScript' }
  | { op: 'injectProtectiveStop'; reason?: string }
  | { op: 'injectEmergencyStop' }
  | { op: 'releaseEmergencyStop' }
  | { op: 'setRemoteControl'; on: boolean }
  | { op: 'dropRtdeConnections' }
  | { op: 'subscribeTargets'; on: boolean }
  | { op: 'close' };

export type ToThread = { kind: 'request'; id: number } & ThreadOp;

export type FromThread =
  | { kind: 'ready'; ports: Record<UrEmulatorPort, number> }
  | { kind: 'start-failed'; message: string; code?: string; context?: Record<string, unknown> }
  | { kind: 'reply'; id: number; ok: true; value?: UrEmulatorSnapshot | string | null }
  | { kind: 'reply'; id: number; ok: false; message: string }
  /** A new target; atEpochMs = the worker's performance.timeOrigin + performance.now(). */
  | { kind: 'target'; q: number[]; atEpochMs: number }
  | { kind: 'trace'; line: string };
