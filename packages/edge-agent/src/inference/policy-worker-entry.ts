/**
 * The policy worker thread: one {@link OnnxPolicy} (bundle sessions, transforms, tokenizer, Euler sampler) and the
 * camera-frame conversion, behind the worker protocol. Started by {@link WorkerPolicy}; never imported elsewhere.
 */
import type { Obs } from '@openpi-edge/client';
import { OnnxPolicy } from '../policy/onnx-policy.js';
import type {
  InferFramesPayload,
  PolicyWorkerEvent,
  PolicyWorkerInfo,
  PolicyWorkerInit,
} from './policy-worker-messages.js';
import { withFrameImages } from './raw-frames.js';
import { hostWorker } from './worker-host.js';

hostWorker<PolicyWorkerInit, OnnxPolicy>({
  async init(init, post) {
    const emit = (e: PolicyWorkerEvent): void => post(e);
    const policy = await OnnxPolicy.load(init.dir, {
      ...init.options,
      onProviderWarning: (message, failure) => emit({ type: 'provider-warning', message, failure }),
      ...(init.forwardTruncate ? { onTruncate: (info) => emit({ type: 'truncate', info }) } : {}),
    });
    const info: PolicyWorkerInfo = {
      dir: policy.model.bundle.dir,
      metadata: policy.metadata,
      manifest: policy.model.manifest,
      report: policy.model.report,
    };
    return { state: policy, info };
  },
  ops: {
    infer: (policy, obs) => policy.infer(obs as Obs),
    inferFrames: async (policy, payload) => {
      const { obs, frames } = payload as InferFramesPayload;
      return policy.infer(await withFrameImages(obs, frames));
    },
  },
  close: (policy) => policy.close(),
});
