/**
 * A local {@link ClosablePolicy} running a bundle with onnxruntime: openpi's `Policy.infer` order (input transforms
 * -> sample_actions -> output transforms) with the bundle's robot adapter, norm stats and tokenizer.
 * Result per observation, like openpi's: `{ actions: float64 [H, output_dim], policy_timing: { infer_ms, ... } }`.
 */
import { performance } from 'node:perf_hooks';
import {
  type ClosablePolicy,
  type NDArray,
  type Obs,
  OpenpiEdgeError,
  type Value,
} from '@openpi-edge/client';
import { OnnxModel, type OnnxModelOptions } from '../model/onnx-model.js';
import type { SampleTiming } from '../model/sampler.js';
import { type ModelInputs, type PipelineConfig, TransformPipeline } from '../transforms/pipeline.js';
import type { RobotSpec } from '../transforms/robot-adapter.js';

export interface OnnxPolicyOptions extends OnnxModelOptions {
  /** Euler steps per chunk. Default: the manifest's `num_steps`. */
  numSteps?: number;
}

/** Per-call options of {@link OnnxPolicy.inferBatch}. */
export interface InferOptions {
  /** Overrides the policy's Euler steps for this call. */
  numSteps?: number;
  /** Initial noise `[B, H, action_dim]` (parity tests); default: the model's seeded generator. */
  noise?: Float32Array;
}

/** Plain JSON from the manifest as a wire value (numbers, strings, booleans, null, lists, maps). */
function jsonToValue(v: unknown, field: string): Value {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x, i) => jsonToValue(x, `${field}[${i}]`));
  if (typeof v === 'object') {
    const out: { [key: string]: Value } = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      out[k] = jsonToValue(x, `${field}.${k}`);
    return out;
  }
  throw new OpenpiEdgeError('BAD_BUNDLE', `manifest.json: ${field}: not a JSON value`, { field });
}

/** The transform pipeline a bundle's manifest describes. */
export function pipelineFor(model: OnnxModel): TransformPipeline {
  const m = model.manifest;
  const config: PipelineConfig = {
    modelType: m.model_type,
    actionDim: m.action_dim,
    robot: { kind: m.robot.kind, options: m.robot.options } as RobotSpec,
    normStats: model.bundle.normStats,
    normalization: m.normalization.mode,
    tokenizer: model.bundle.tokenizer,
    discreteStateInput: m.discrete_state_input,
    imageHeight: m.images.height,
    imageWidth: m.images.width,
    defaultPrompt: m.default_prompt ?? null,
  };
  try {
    return new TransformPipeline(config);
  } catch (e) {
    const ctx = e instanceof OpenpiEdgeError ? e.context : {};
    throw new OpenpiEdgeError('BAD_BUNDLE', `${model.bundle.dir}/manifest.json: ${(e as Error).message}`, {
      ...ctx,
      file: `${model.bundle.dir}/manifest.json`,
    });
  }
}

export class OnnxPolicy implements ClosablePolicy {
  readonly model: OnnxModel;
  readonly pipeline: TransformPipeline;
  /** The manifest's `metadata` (openpi's policy metadata, e.g. ALOHA `reset_pose`), as served in the first frame. */
  readonly metadata: Obs;
  private readonly numSteps: number | undefined;

  constructor(model: OnnxModel, options: { numSteps?: number } = {}) {
    this.model = model;
    this.pipeline = pipelineFor(model);
    this.metadata = jsonToValue(model.manifest.metadata, 'metadata') as Obs;
    this.numSteps = options.numSteps;
  }

  /** Loads the bundle at `dir` (see {@link OnnxModel.load} for the errors). */
  static async load(dir: string, options: OnnxPolicyOptions = {}): Promise<OnnxPolicy> {
    const model = await OnnxModel.load(dir, options);
    try {
      return new OnnxPolicy(model, options.numSteps === undefined ? {} : { numSteps: options.numSteps });
    } catch (e) {
      await model.close();
      throw e;
    }
  }

  /** openpi's `Policy.infer`. BAD_OBSERVATION (naming the key) for a malformed observation. */
  async infer(obs: Obs): Promise<Obs> {
    const [out] = await this.inferBatch([obs]);
    return out as Obs;
  }

  /**
   * Several observations in one batched model call (one prefix run, one denoise loop). Results in input order.
   * A bad observation fails the whole call with its index in the error context.
   */
  async inferBatch(observations: readonly Obs[], options: InferOptions = {}): Promise<Obs[]> {
    if (observations.length === 0) return [];
    const t0 = performance.now();
    const inputs: ModelInputs[] = observations.map((o, i) => {
      try {
        return this.pipeline.inputTransforms(o);
      } catch (e) {
        if (e instanceof OpenpiEdgeError && observations.length > 1) {
          throw new OpenpiEdgeError(
            e.code,
            `observation ${i}: ${e.message}`,
            { ...e.context, index: i },
            {
              cause: e,
            },
          );
        }
        throw e;
      }
    });
    const t1 = performance.now();
    const numSteps = options.numSteps ?? this.numSteps;
    const res = await this.model.sample(batchInputs(this.model, inputs), {
      ...(numSteps === undefined ? {} : { numSteps }),
      ...(options.noise === undefined ? {} : { noise: options.noise }),
    });
    const t2 = performance.now();
    const { action_horizon: h, action_dim: d } = this.model.manifest;
    const results = inputs.map((inp, b) => {
      const raw: NDArray<'float32'> = {
        dtype: 'float32',
        shape: [h, d],
        data: res.actions.subarray(b * h * d, (b + 1) * h * d),
      };
      return this.pipeline.outputTransforms(raw, inp.state).actions;
    });
    const outputMs = performance.now() - t2;
    return results.map((actions) => ({
      actions,
      policy_timing: timingValue(res.timing, t1 - t0, outputMs),
    }));
  }

  /** Nothing to reset: each chunk is independent (like openpi's Policy). */
  reset(): void {}

  close(): Promise<void> {
    return this.model.close();
  }
}

/** `policy_timing`: `infer_ms` is the model's sampling time only (openpi's meaning); the rest are extra stages. */
function timingValue(t: SampleTiming, inputMs: number, outputMs: number): { [key: string]: Value } {
  return {
    infer_ms: t.totalMs,
    prefix_ms: t.prefixMs,
    denoise_ms: t.stepMs.reduce((a, b) => a + b, 0),
    input_transforms_ms: inputMs,
    output_transforms_ms: outputMs,
  };
}

/** Stacks per-observation model inputs into the sampler's batched layout. */
export function batchInputs(model: OnnxModel, inputs: readonly ModelInputs[]) {
  const m = model.manifest;
  const B = inputs.length;
  const imgSize = m.images.height * m.images.width * 3;
  const L = m.max_token_len;
  const nSlots = m.images.slots.length;
  const images: Record<string, Uint8Array> = {};
  for (const slot of m.images.slots) images[slot] = new Uint8Array(B * imgSize);
  const imageMask = new Uint8Array(B * nSlots);
  const tokens = new Int32Array(B * L);
  const tokenMask = new Uint8Array(B * L);
  const state = new Float32Array(B * m.action_dim);
  inputs.forEach((inp, b) => {
    for (const slot of m.images.slots) {
      const img = (inp.images as Record<string, NDArray<'uint8'>>)[slot];
      if (img === undefined || img.data.length !== imgSize) {
        throw new OpenpiEdgeError(
          'BAD_SHAPE',
          `image ${slot}: expected ${m.images.height}x${m.images.width}x3 after resize, got [${img?.shape.join(', ')}]`,
          { key: slot, shape: img?.shape },
        );
      }
      (images[slot] as Uint8Array).set(img.data, b * imgSize);
    }
    imageMask.set(inp.imageMask.data, b * nSlots);
    tokens.set(inp.tokens.data, b * L);
    tokenMask.set(inp.tokenMask.data, b * L);
    state.set(inp.state.data, b * m.action_dim);
  });
  return { batch: B, images, imageMask, tokens, tokenMask, state };
}
