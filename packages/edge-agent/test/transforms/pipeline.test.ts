import { join } from 'node:path';
import { chwToHwc, resizeWithPad } from '@openpi-edge/client/node';
import { describe, expect, it } from 'vitest';
import {
  loadSentencePiece,
  makeBoolMask,
  type PipelineConfig,
  PromptTokenizer,
  padToDim,
  parseNormStats,
  TransformPipeline,
} from '../../src/index.js';
import { f32, image, thrown } from './fixtures.js';
import { expectF64, flat, TOKENIZER_DIR, V } from './vectors.js';

const P = V.pipeline;
const model = await loadSentencePiece(join(TOKENIZER_DIR, 'gemma_like.model'));
const normStats = parseNormStats({ norm_stats: { state: P.state_stats, actions: P.action_stats } });

function pipeline(modelType: 'pi0' | 'pi05', extra: Partial<PipelineConfig> = {}): TransformPipeline {
  return new TransformPipeline({
    modelType,
    actionDim: 32,
    robot: { kind: 'aloha', options: { adapt_to_pi: true, delta_action_mask: makeBoolMask(6, -1, 6, -1) } },
    normStats,
    tokenizer: new PromptTokenizer(model, { maxLen: modelType === 'pi0' ? 48 : 200 }),
    ...extra,
  });
}

const obs = {
  state: f32(flat(P.state_f32)),
  images: { cam_high: image([3, 48, 64], 1), cam_left_wrist: image([3, 48, 64], 2) },
  prompt: 'fold_the towel\n',
};
const raw = f32(flat(P.raw_actions_f32), [6, 32]);

describe.each([
  ['pi0', 'zscore'],
  ['pi05', 'quantile'],
] as const)('TransformPipeline %s (%s), ALOHA with delta actions, against numpy', (modelType, mode) => {
  const p = pipeline(modelType);
  const inputs = p.inputTransforms(obs);
  const ref = P[mode];

  it('normalizes the adapter state (float64) and pads it to action_dim as float32', () => {
    expect(p.normalizer.mode).toBe(mode);
    // gripper dims go through asin (V8 vs glibc may differ by an ulp)
    expectF64(inputs.normalizedState.data, ref.normalized_state, 1e-14);
    expect(inputs.state.dtype).toBe('float32');
    expect(inputs.state.shape).toEqual([32]);
    expectF64(Array.from(inputs.state.data), ref.model_state);
  });

  it('resizes every slot to 224x224 HWC with openpi resize_with_pad, masks per camera', () => {
    expect(inputs.images.base_0_rgb).toEqual(resizeWithPad(chwToHwc(obs.images.cam_high), 224, 224));
    expect(inputs.images.right_wrist_0_rgb.shape).toEqual([224, 224, 3]);
    expect(inputs.images.right_wrist_0_rgb.data.every((v) => v === 0)).toBe(true);
    expect(Array.from(inputs.imageMask.data)).toEqual([1, 1, 0]);
  });

  it('tokenizes in the model format (pi05: discretized normalized state in the prompt)', () => {
    if (modelType === 'pi05') {
      expect(inputs.promptText).toBe(
        `Task: fold the towel, State: ${(ref.discretized as number[]).join(' ')};\nAction: `,
      );
    } else {
      expect(inputs.promptText).toBe('fold the towel');
    }
    const direct = p.config.tokenizer.tokenize(
      'fold_the towel\n',
      modelType === 'pi05' ? inputs.normalizedState.data : undefined,
    );
    expect(inputs.tokens).toEqual(direct.tokens);
    expect(inputs.tokenMask).toEqual(direct.mask);
  });

  it('outputs: unnormalize -> absolute actions -> ALOHA encode, float64 [H, 14], bit-identical to numpy', () => {
    const { actions } = p.outputTransforms(raw, inputs.state);
    expect(actions.dtype).toBe(ref.dtype);
    expect(actions.shape).toEqual([6, 14]);
    expectF64(actions.data, flat(ref.actions));
  });

  it('PyTorch-policy semantics (float64 state) differ from JAX ones only by rounding', () => {
    const state64 = padToDim(inputs.normalizedState.data, 32);
    const torch = p.outputTransforms(raw, { dtype: 'float64', shape: [32], data: state64 }).actions;
    const jax = p.outputTransforms(raw, inputs.state).actions;
    for (let i = 0; i < jax.data.length; i++) expect(torch.data[i]).toBeCloseTo(jax.data[i] as number, 5);
  });
});

describe('TransformPipeline prompt and errors', () => {
  const { prompt: _p, ...noPrompt } = obs;

  it('injects the default prompt only when "prompt" is absent', () => {
    const p = pipeline('pi0', { defaultPrompt: 'Transfer cube' });
    expect(p.inputTransforms(noPrompt).promptText).toBe('Transfer cube');
    expect(p.inputTransforms(obs).promptText).toBe('fold the towel');
    expect(noPrompt).not.toHaveProperty('prompt');
  });

  it('a missing prompt without a default is BAD_OBSERVATION naming prompt', () => {
    const e = thrown(() => pipeline('pi0').inputTransforms(noPrompt));
    expect(e.code).toBe('BAD_OBSERVATION');
    expect(e.context.key).toBe('prompt');
  });

  it('a prompt that is None is not replaced by the default (openpi checks the key)', () => {
    const e = thrown(() => pipeline('pi0', { defaultPrompt: 'x' }).inputTransforms({ ...obs, prompt: null }));
    expect(e.context.key).toBe('prompt');
  });

  it('without a delta mask the state is not needed on the output side', () => {
    const p = pipeline('pi0', { robot: { kind: 'aloha', options: { delta_action_mask: null } } });
    const out = p.outputTransforms(raw, { dtype: 'float32', shape: [0], data: new Float32Array(0) });
    expect(out.actions.shape).toEqual([6, 14]);
  });

  it('rejects a state wider than action_dim and a malformed chunk', () => {
    const p = pipeline('pi0', { actionDim: 8, robot: { kind: 'aloha' } });
    expect(thrown(() => p.inputTransforms(obs)).message).toMatch(
      /14 dims, more than the model's action_dim 8/,
    );
    expect(thrown(() => pipeline('pi0').outputTransforms(f32([1, 2, 3]), f32([]))).code).toBe('BAD_SHAPE');
    const ints = { dtype: 'int32' as const, shape: [1, 32], data: new Int32Array(32) };
    expect(thrown(() => pipeline('pi0').outputTransforms(ints, f32([]))).code).toBe('BAD_DTYPE');
  });

  it('rejects a pi05 quantile config whose stats lack q01/q99', () => {
    const noQ = parseNormStats({ norm_stats: { state: { mean: [0], std: [1] } } });
    expect(thrown(() => pipeline('pi05', { normStats: noQ })).message).toMatch(/norm_stats.state.q01/);
  });
});
