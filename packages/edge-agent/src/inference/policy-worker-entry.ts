/**
 * The policy worker thread: one {@link OnnxPolicy} (bundle sessions, transforms, tokenizer, Euler sampler) and the
 * camera-frame conversion, behind the worker protocol. Started by {@link WorkerPolicy}; never imported elsewhere.
 * Loads this thread's onnxruntime module first (the one OnnxModel.load gets from the same cache) and routes its
 * native entry points through the host's native-call guard (native-guard.ts).
 */
import type { Obs } from '@openpi-edge/client';
import { type LoadOrtOptions, loadOrt } from '../model/ort-binding.js';
import { OnnxPolicy } from '../policy/onnx-policy.js';
import { guardOrt } from './native-guard.js';
import type {
  InferFramesPayload,
  PolicyWorkerEvent,
  PolicyWorkerInfo,
  PolicyWorkerInit,
} from './policy-worker-messages.js';
import { withFrameImages } from './raw-frames.js';
import { hostWorker } from './worker-host.js';

hostWorker<PolicyWorkerInit, OnnxPolicy>({
  async init(init, post, guard) {
    const { ortModulePath, env } = init.options;
    const ortOptions: LoadOrtOptions = {
      ...(ortModulePath === undefined ? {} : { modulePath: ortModulePath }),
      ...(env === undefined ? {} : { env }),
    };
    // Loading the binding is native work too. A failure to load is OnnxPolicy.load's to report (it loads again);
    // a guard that refuses (the thread is being stopped) fails the start-up.
    const loaded = await guard.run(() => loadOrt(ortOptions).catch(() => undefined));
    if (loaded !== undefined) guardOrt(loaded.ort, guard);
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
