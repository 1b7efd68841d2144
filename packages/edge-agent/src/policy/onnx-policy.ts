/**
 * A local {@link ClosablePolicy} running a bundle with onnxruntime: openpi's `Policy.infer` order (input transforms
 * -> sample_actions -> output transforms) with the bundle's robot adapter, norm stats and tokenizer.
 * Result per observation, like openpi's: `{ actions: float64 [H, output_dim], policy_timing: { infer_ms, ... } }`.
 */
import { performance } from 'node:perf_hooks';
import {
  type ClosablePolicy,
  isNDArray,
  type NDArray,
  type Obs,
  OpenpiEdgeError,
  RTC_OBS_KEY,
  type Value,
} from '@openpi-edge/client';
import { OnnxModel, type OnnxModelOptions } from '../model/onnx-model.js';
import {
  DEFAULT_MAX_GUIDANCE,
  RTC_MODES,
  type RtcMode,
  type RtcSchedule,
  type RtcTarget,
  rtcTarget,
} from '../model/rtc.js';
import type { SampleTiming } from '../model/sampler.js';
import { type ModelInputs, type PipelineConfig, TransformPipeline } from '../transforms/pipeline.js';
import type { RobotSpec } from '../transforms/robot-adapter.js';

/** Defaults for requests that carry a real-time chunking entry (model/rtc.ts, docs/rtc.md). */
export interface RtcPolicyOptions {
  /**
   * Mode when the request names none. Default `guidance` when the bundle has the graph, else `inpaint`. `off`:
   * requests' entries are ignored (plain chunks, as openpi's policies do).
   */
  mode?: RtcMode | 'off';
  /** Soft-mask decay. Default `exp`. */
  schedule?: RtcSchedule;
  /** β. Default 5. */
  maxGuidance?: number;
}

export interface OnnxPolicyOptions extends OnnxModelOptions {
  /** Euler steps per chunk. Default: the manifest's `num_steps`. */
  numSteps?: number;
  /** Real-time chunking defaults. */
  rtc?: RtcPolicyOptions;
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
  private readonly rtc: RtcPolicyOptions;

  constructor(model: OnnxModel, options: { numSteps?: number; rtc?: RtcPolicyOptions } = {}) {
    this.model = model;
    this.pipeline = pipelineFor(model);
    this.metadata = jsonToValue(model.manifest.metadata, 'metadata') as Obs;
    this.numSteps = options.numSteps;
    this.rtc = options.rtc ?? {};
    if (this.rtc.mode === 'guidance' && !model.sampler.hasGuidance) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `real-time chunking mode guidance needs the bundle's guidance graph, which ${model.bundle.dir} lacks (re-export without --no-rtc-guidance, or use --rtc inpaint)`,
        { bundle: model.bundle.dir, mode: 'guidance' },
      );
    }
  }

  /** Loads the bundle at `dir` (see {@link OnnxModel.load} for the errors). */
  static async load(dir: string, options: OnnxPolicyOptions = {}): Promise<OnnxPolicy> {
    const model = await OnnxModel.load(dir, options);
    try {
      return new OnnxPolicy(model, {
        ...(options.numSteps === undefined ? {} : { numSteps: options.numSteps }),
        ...(options.rtc === undefined ? {} : { rtc: options.rtc }),
      });
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
    // Requests tied to a previous chunk (real-time chunking) run one at a time: the guidance graph is batch 1 and
    // each has its own target. The rest share one batched call.
    const plain: number[] = [];
    const tied: number[] = [];
    const off = this.rtc.mode === 'off';
    observations.forEach((o, i) => {
      (o[RTC_OBS_KEY] === undefined || off ? plain : tied).push(i);
    });
    const out = new Array<Obs>(observations.length);
    if (plain.length > 0) {
      const res = await this.run(
        plain.map((i) => observations[i] as Obs),
        options,
        plain.length === observations.length ? null : plain,
      );
      plain.forEach((i, k) => {
        out[i] = res[k] as Obs;
      });
    }
    for (const i of tied) {
      const [res] = await this.run([observations[i] as Obs], options, observations.length > 1 ? [i] : null);
      out[i] = res as Obs;
    }
    return out;
  }

  /** One batched model call; `indices` (when part of a larger batch) name the rows in errors. */
  private async run(
    observations: readonly Obs[],
    options: InferOptions,
    indices: readonly number[] | null,
  ): Promise<Obs[]> {
    const t0 = performance.now();
    const many = indices !== null || observations.length > 1;
    const inputs: ModelInputs[] = [];
    let rtc: RtcTarget | undefined;
    observations.forEach((o, k) => {
      const index = indices?.[k] ?? k;
      try {
        const { [RTC_OBS_KEY]: tie, ...obs } = o;
        const inp = this.pipeline.inputTransforms(obs);
        inputs.push(inp);
        if (tie !== undefined && this.rtc.mode !== 'off') rtc = this.rtcTargetOf(tie, inp);
      } catch (e) {
        if (e instanceof OpenpiEdgeError && many) {
          throw new OpenpiEdgeError(
            e.code,
            `observation ${index}: ${e.message}`,
            { ...e.context, index },
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
      ...(rtc === undefined ? {} : { rtc }),
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

  /**
   * The request's real-time chunking entry (`{prev_actions: float [n, D], delay: int, mode?: str}`, the executing
   * chunk's rows from this observation's moment on, in the robot's action space) -> the sampler's target.
   * BAD_OBSERVATION naming the field when it is malformed.
   */
  private rtcTargetOf(tie: Value, inputs: ModelInputs): RtcTarget {
    const bad = (field: string, message: string, context: Record<string, unknown> = {}): never => {
      throw new OpenpiEdgeError('BAD_OBSERVATION', `${RTC_OBS_KEY}.${field}: ${message}`, {
        key: `${RTC_OBS_KEY}.${field}`,
        ...context,
      });
    };
    if (
      typeof tie !== 'object' ||
      tie === null ||
      Array.isArray(tie) ||
      isNDArray(tie) ||
      tie instanceof Uint8Array
    ) {
      return bad('', 'expected a dict {prev_actions, delay, mode?}');
    }
    const entry = tie as { readonly [k: string]: Value };
    const prev = entry.prev_actions;
    if (
      !isNDArray(prev) ||
      prev.shape.length !== 2 ||
      (prev.dtype !== 'float32' && prev.dtype !== 'float64')
    ) {
      return bad('prev_actions', 'expected a float32/float64 array [n, action_dims]');
    }
    const data = prev.data as Float32Array | Float64Array;
    for (const v of data) if (!Number.isFinite(v)) bad('prev_actions', 'contains a non-finite value');
    const delay = entry.delay;
    const delayNum =
      typeof delay === 'number' ? delay : typeof delay === 'bigint' ? Number(delay) : Number.NaN;
    if (!Number.isInteger(delayNum) || delayNum < 0)
      bad('delay', `expected an integer >= 0, got ${String(delay)}`);
    const fallback = this.model.sampler.hasGuidance ? 'guidance' : 'inpaint';
    const configured = this.rtc.mode === 'off' ? undefined : this.rtc.mode;
    const mode = entry.mode ?? configured ?? fallback;
    if (typeof mode !== 'string' || !(RTC_MODES as readonly string[]).includes(mode)) {
      bad('mode', `expected one of ${RTC_MODES.join(', ')}, got ${String(mode)}`);
    }
    const model = this.pipeline.actionsToModel(prev, inputs);
    const m = this.model.manifest;
    return rtcTarget({
      mode: mode as RtcMode,
      prev: model.data,
      rows: model.rows,
      dims: model.dims,
      delay: delayNum,
      schedule: this.rtc.schedule ?? 'exp',
      maxGuidance: this.rtc.maxGuidance ?? DEFAULT_MAX_GUIDANCE,
      horizon: m.action_horizon,
      actionDim: m.action_dim,
    });
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
