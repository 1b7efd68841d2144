/**
 * openpi's `Policy.infer` transforms around the model, composed (policy_config.create_trained_policy order):
 * inputs  = default prompt -> robot adapter -> Normalize -> ResizeImages -> TokenizePrompt -> PadStatesAndActions;
 * outputs = Unnormalize -> AbsoluteActions (delta mask) -> robot output adapter.
 */
import { type NDArray, OpenpiEdgeError, type Value } from '@openpi-edge/client';
import { resizeWithPad } from '@openpi-edge/client/node';
import { chunkShape, chunkToFloat64 } from './action-slice.js';
import { absoluteActions, deltaActions } from './delta-actions.js';
import type { NormStats } from './norm-stats.js';
import { type NormalizationMode, Normalizer } from './normalize.js';
import { padToDim } from './pad.js';
import { injectDefaultPrompt, promptText } from './prompt.js';
import { createRobotAdapter, type RobotAdapter, type RobotSpec } from './robot-adapter.js';
import type { PromptTokenizer } from './tokenizer.js';
import { type ActionChunk, IMAGE_SLOTS, type PerSlot } from './types.js';

/** What the transforms need from the bundle manifest (docs/bundle-format.md); names give the manifest key. */
export interface PipelineConfig {
  /** `model_type`: picks the default normalization (pi0 zscore, pi05 quantile) and state handling. */
  modelType: 'pi0' | 'pi05';
  /** `action_dim`: width the state is padded to and the model's action width (32 for real models). */
  actionDim: number;
  /** `robot`: adapter kind and options, as in the manifest. */
  robot: RobotSpec;
  /** Parsed `norm_stats.json` (see parseNormStats). */
  normStats: NormStats;
  /** `normalization.mode`; default `'zscore'` for pi0, `'quantile'` for pi05 (openpi's `use_quantile_norm`). */
  normalization?: NormalizationMode;
  /** Loaded tokenizer; its maxLen is the manifest's `max_token_len`. */
  tokenizer: PromptTokenizer;
  /** `discrete_state_input`: pi05 state written into the prompt. Default: true for pi05, false for pi0. */
  discreteStateInput?: boolean;
  /** `images.height` in pixels; default 224. */
  imageHeight?: number;
  /** `images.width` in pixels; default 224. */
  imageWidth?: number;
  /** `default_prompt`: used when the observation has no `prompt` key. Default none. */
  defaultPrompt?: string | null;
}

/** The model-side inputs of one observation (batch dimension not added). */
export interface ModelInputs {
  /** HWC uint8 `[height, width, 3]` per slot, after resize-with-pad. */
  readonly images: PerSlot<NDArray<'uint8'>>;
  /** Per-slot validity (false = zero padding image). */
  readonly imageMasks: PerSlot<boolean>;
  /** The same masks as a bool `[3]` array in IMAGE_SLOTS order (the prefix graph's `image_mask` row). */
  readonly imageMask: NDArray<'bool'>;
  /** Normalized state zero-padded to actionDim, float32 (the model's `state`). */
  readonly state: NDArray<'float32'>;
  /** Normalized state before padding, float64 (what pi05 discretizes into the prompt). */
  readonly normalizedState: NDArray<'float64'>;
  /** int32 `[maxLen]` token ids, right-padded with 0. */
  readonly tokens: NDArray<'int32'>;
  /** bool `[maxLen]`, true for real tokens. */
  readonly tokenMask: NDArray<'bool'>;
  /** Exact text the tokenizer encoded. */
  readonly promptText: string;
}

/** The robot-facing result of the output transforms. */
export interface PolicyActions {
  /** float64 `[H, output_dim]` (numpy promotes to float64 through the float64 norm stats). */
  readonly actions: ActionChunk;
}

export class TransformPipeline {
  readonly config: Readonly<PipelineConfig>;
  readonly adapter: RobotAdapter;
  readonly normalizer: Normalizer;
  readonly discreteStateInput: boolean;
  private readonly height: number;
  private readonly width: number;

  /** BAD_ARGUMENT for an inconsistent config (unknown robot kind, quantile stats missing, bad sizes). */
  constructor(config: PipelineConfig) {
    if (!Number.isInteger(config.actionDim) || config.actionDim <= 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `action_dim must be a positive integer, got ${config.actionDim}`,
        {
          field: 'action_dim',
        },
      );
    }
    this.config = config;
    this.adapter = createRobotAdapter(config.robot);
    this.normalizer = new Normalizer(
      config.normStats,
      config.normalization ?? (config.modelType === 'pi0' ? 'zscore' : 'quantile'),
    );
    this.discreteStateInput = config.discreteStateInput ?? config.modelType === 'pi05';
    this.height = config.imageHeight ?? 224;
    this.width = config.imageWidth ?? 224;
  }

  /**
   * Observation (robot layout, as sent over openpi's protocol) -> model inputs. Does not mutate `obs`.
   * BAD_OBSERVATION naming the key for a missing/ill-typed entry or a missing prompt.
   */
  inputTransforms(obs: { readonly [key: string]: Value }): ModelInputs {
    const adapted = this.adapter.inputs(injectDefaultPrompt(obs, this.config.defaultPrompt));
    const normalized = this.normalizer.normalize('state', adapted.state);
    const images = {} as PerSlot<NDArray<'uint8'>>;
    for (const slot of IMAGE_SLOTS) {
      images[slot] = resizeWithPad(adapted.images[slot], this.height, this.width) as NDArray<'uint8'>;
    }
    const tokenized = this.config.tokenizer.tokenize(
      promptText(adapted.prompt),
      this.discreteStateInput ? normalized : undefined,
    );
    if (normalized.length > this.config.actionDim) {
      throw new OpenpiEdgeError(
        'BAD_OBSERVATION',
        `state has ${normalized.length} dims, more than the model's action_dim ${this.config.actionDim}`,
        { key: 'state', dims: normalized.length, actionDim: this.config.actionDim },
      );
    }
    const padded = Float32Array.from(padToDim(normalized, this.config.actionDim));
    return {
      images,
      imageMasks: { ...adapted.imageMasks },
      imageMask: {
        dtype: 'bool',
        shape: [IMAGE_SLOTS.length],
        data: Uint8Array.from(IMAGE_SLOTS, (s) => (adapted.imageMasks[s] ? 1 : 0)),
      },
      state: { dtype: 'float32', shape: [padded.length], data: padded },
      normalizedState: { dtype: 'float64', shape: [normalized.length], data: normalized },
      tokens: tokenized.tokens,
      tokenMask: tokenized.mask,
      promptText: tokenized.text,
    };
  }

  /**
   * Model output `[H, action_dim]` (normalized space) -> the robot's actions. `state` is the model-side state the
   * chunk was computed from: `ModelInputs.state` reproduces openpi's JAX policy (which hands the float32 model state
   * to its output transforms); pass `padToDim(normalizedState)` as float64 to reproduce its PyTorch policy.
   */
  outputTransforms(rawActions: NDArray, state: NDArray): PolicyActions {
    const actions = chunkToFloat64(rawActions, 'outputTransforms');
    const [, d] = chunkShape(actions, 'outputTransforms');
    this.normalizer.unnormalizeRows(
      'actions',
      actions.data,
      d,
      rawActions.dtype === 'float32' ? 'float32' : 'float64',
    );
    const mask = this.adapter.deltaActionMask;
    if (mask === null) return { actions: this.adapter.outputs(actions) };
    if (state.shape.length !== 1 || (state.dtype !== 'float32' && state.dtype !== 'float64')) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `outputTransforms: state must be a float vector, got ${state.dtype}[${state.shape.join(', ')}]`,
        {
          dtype: state.dtype,
          shape: state.shape,
        },
      );
    }
    const unnormState = this.normalizer.unnormalize(
      'state',
      state.data as Float32Array | Float64Array,
      state.dtype,
    );
    return { actions: this.adapter.outputs(absoluteActions(actions, unnormState, mask)) };
  }

  /**
   * The inverse of {@link outputTransforms}: robot actions `[n, D]` (e.g. the rest of the executing chunk) ->
   * normalized model space, float32 `[n, action_dim]` row-major, columns D.. zero. `inputs` are the model inputs of
   * the observation the next chunk is computed from: delta dims are taken relative to its state, as the next
   * chunk's will be. Real-time chunking's previous-chunk target. BAD_SHAPE / BAD_DTYPE for a malformed chunk or
   * D > action_dim.
   */
  actionsToModel(actions: NDArray, inputs: ModelInputs): { rows: number; dims: number; data: Float32Array } {
    const chunk = chunkToFloat64(actions, 'actionsToModel');
    const [n, d] = chunkShape(chunk, 'actionsToModel');
    const width = this.config.actionDim;
    if (d > width) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `actionsToModel: actions have ${d} columns, more than the model's action_dim ${width}`,
        { shape: actions.shape, actionDim: width },
      );
    }
    let model = this.adapter.actionsToModel(chunk);
    const mask = this.adapter.deltaActionMask;
    if (mask !== null) {
      const state = this.normalizer.unnormalize('state', inputs.state.data, 'float32');
      const dims = mask.slice(0, d);
      model = deltaActions(model, state, dims);
    }
    const out = new Float32Array(n * width);
    for (let r = 0; r < n; r++) {
      const row = new Float64Array(width);
      row.set(model.data.subarray(r * d, (r + 1) * d));
      out.set(this.normalizer.normalizeLikeUnnormalize('actions', row).subarray(0, d), r * width);
    }
    return { rows: n, dims: d, data: out };
  }
}
