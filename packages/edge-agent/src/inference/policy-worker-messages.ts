/** What the policy worker (policy-worker-entry.ts) and {@link WorkerPolicy} exchange, beyond worker-protocol.ts. */
import type { Obs } from '@openpi-edge/client';
import type { ProviderFailure } from '../model/execution-providers.js';
import type { Manifest } from '../model/manifest.js';
import type { ModelLoadReport } from '../model/onnx-model.js';
import type { OnnxPolicyOptions } from '../policy/onnx-policy.js';
import type { RawFrames } from './raw-frames.js';

/** `OnnxPolicy.load` options that can cross to the thread (callbacks are forwarded as events instead). */
export type CloneablePolicyOptions = Omit<OnnxPolicyOptions, 'onProviderWarning' | 'onTruncate' | 'noise'>;

export interface PolicyWorkerInit {
  dir: string;
  options: CloneablePolicyOptions;
  /** Post prompt-truncation events (the caller gave `onTruncate`); otherwise the tokenizer's default warns. */
  forwardTruncate: boolean;
}

/** The `ready` info: what `OnnxPolicy.load` produced, as plain data. */
export interface PolicyWorkerInfo {
  /** Absolute bundle directory. */
  dir: string;
  metadata: Obs;
  manifest: Manifest;
  report: ModelLoadReport;
}

export type PolicyWorkerEvent =
  | { type: 'provider-warning'; message: string; failure: ProviderFailure }
  | { type: 'truncate'; info: { tokens: number; maxLen: number; text: string } };

export interface InferFramesPayload {
  obs: Obs;
  frames: RawFrames;
}
