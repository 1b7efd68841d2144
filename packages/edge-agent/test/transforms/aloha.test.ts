import { chwToHwc } from '@openpi-edge/client/node';
import { describe, expect, it } from 'vitest';
import {
  ALOHA_JOINT_FLIP_MASK,
  alohaInputs,
  alohaOutputs,
  gripperFromAngular,
  gripperFromAngularInv,
  gripperToAngular,
} from '../../src/index.js';
import { f32, f64, image, thrown } from './fixtures.js';
import { expectF64, flat, V } from './vectors.js';

const A = V.aloha;
const chw = (seed: number) => image([3, 6, 8], seed);

describe('ALOHA gripper conversions', () => {
  it('gripperToAngular matches openpi _gripper_to_angular (float64; asin may differ by 1 ulp)', () => {
    // 1 ulp of asin near 0.55 is 1.1e-16; after (r - 0.5476) / 1.082 it stays within a few 1e-16.
    expectF64((A.gripper_in as number[]).map(gripperToAngular), A.to_angular, 5e-16);
  });

  it('gripperFromAngular / gripperFromAngularInv match openpi bit for bit', () => {
    expectF64((A.gripper_in as number[]).map(gripperFromAngular), A.from_angular);
    expectF64((A.gripper_in as number[]).map(gripperFromAngularInv), A.from_angular_inv);
  });

  it('hand-checked values: the linkage limits map to the pi0 range ends', () => {
    // value 0 -> linear 0.01844 m: asin((0.022^2 + 0.01844^2 - 0.036^2) / (2*0.022*0.01844)) = asin(-0.7886..)
    const r0 = Math.asin((0.022 ** 2 + 0.01844 ** 2 - 0.036 ** 2) / (2 * 0.022 * 0.01844));
    expect(gripperToAngular(0)).toBeCloseTo((r0 - 0.5476) / (1.6296 - 0.5476), 14);
    expect(gripperFromAngular(0)).toBeCloseTo((0.5476 + 0.6213) / 2.1123, 14);
    expect(gripperFromAngular(-0.5476)).toBeCloseTo(0.6213 / 2.1123, 14);
  });

  it('gripperFromAngularInv inverts gripperFromAngular (round trip)', () => {
    for (const v of [-0.3, 0, 0.25, 0.5, 1, 1.7]) {
      expect(gripperFromAngularInv(gripperFromAngular(v))).toBeCloseTo(v, 14);
      expect(gripperFromAngular(gripperFromAngularInv(v))).toBeCloseTo(v, 14);
    }
  });

  it('a NaN gripper stays NaN (np.clip passes NaN through)', () => {
    expect(gripperToAngular(Number.NaN)).toBeNaN();
  });
});

describe('alohaInputs', () => {
  const obs = {
    state: f32(flat(A.state_f32)),
    images: { cam_high: chw(1), cam_low: chw(2), cam_left_wrist: chw(3), cam_right_wrist: chw(4) },
    prompt: 'fold the towel',
  };

  it('flips joints and re-encodes grippers like openpi _decode_state (adapt_to_pi)', () => {
    const out = alohaInputs(obs);
    expectF64(out.state, A.decoded_state, 5e-16);
    // non-gripper dims are exactly flip * state
    expect(out.state[1]).toBe(-(A.state_f32[1] as number));
  });

  it('adapt_to_pi false passes the state through', () => {
    expectF64(alohaInputs(obs, { adapt_to_pi: false }).state, A.state_f32);
  });

  it('maps cameras to slots, CHW -> HWC, ignores cam_low, keeps the prompt', () => {
    const out = alohaInputs(obs);
    expect(out.images.base_0_rgb).toEqual(chwToHwc(chw(1)));
    expect(out.images.left_wrist_0_rgb).toEqual(chwToHwc(chw(3)));
    expect(out.images.right_wrist_0_rgb).toEqual(chwToHwc(chw(4)));
    expect(out.imageMasks).toEqual({ base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: true });
    expect(out.prompt).toBe('fold the towel');
  });

  it('missing wrist cameras become zeros shaped like the base image, mask false', () => {
    const out = alohaInputs({ state: obs.state, images: { cam_high: chw(1) } });
    expect(out.images.left_wrist_0_rgb.shape).toEqual([6, 8, 3]);
    expect(out.images.left_wrist_0_rgb.data.every((v) => v === 0)).toBe(true);
    expect(out.imageMasks).toEqual({ base_0_rgb: true, left_wrist_0_rgb: false, right_wrist_0_rgb: false });
    expect('prompt' in out).toBe(false);
  });

  it('float images become (255 * x) truncated to uint8 in the array precision', () => {
    const x = [0, 0.5, 1, 0.999, 0.2, 0.7];
    const img = f32(
      Array.from({ length: 18 }, (_, i) => x[i % 6] as number),
      [3, 2, 3],
    );
    const out = alohaInputs({ state: obs.state, images: { cam_high: img } });
    const expected = Float32Array.from(img.data, (v) => Math.trunc(Math.fround(255 * v)));
    expect(Array.from(out.images.base_0_rgb.data).sort()).toEqual(Array.from(expected).sort());
    expect(out.images.base_0_rgb.data[0]).toBe(0);
    expect(out.images.base_0_rgb.data[3]).toBe(127); // 0.5 * 255 = 127.5 -> 127 (x[1] at CHW [0,0,1])
  });

  it.each([
    [{ images: { cam_high: chw(1) } }, 'state', /'state': missing/],
    [
      { state: f32([1, 2, 3]), images: { cam_high: chw(1) } },
      'state',
      /expected 14 elements, got shape \[3\]/,
    ],
    [{ state: obs.state }, 'images', /'images': missing/],
    [{ state: obs.state, images: { cam_left_wrist: chw(1) } }, 'images/cam_high', /required/],
    [
      { state: obs.state, images: { cam_high: chw(1), cam_top: chw(2) } },
      'images',
      /unknown camera 'cam_top'/,
    ],
    [{ state: obs.state, images: { cam_high: image([6, 8, 3]) } }, 'images/cam_high', /CHW \[3, H, W\]/],
    [{ state: obs.state, images: { cam_high: image([6, 8]) } }, 'images/cam_high', /rank 3/],
    [
      {
        state: obs.state,
        images: { cam_high: { dtype: 'int16', shape: [3, 1, 1], data: new Int16Array(3) } },
      },
      'images/cam_high',
      /dtype int16/,
    ],
    [
      { state: { dtype: 'bool', shape: [14], data: new Uint8Array(14) }, images: { cam_high: chw(1) } },
      'state',
      /dtype bool/,
    ],
    [{ state: 'x', images: { cam_high: chw(1) } }, 'state', /expected a numpy array, got string/],
  ])('BAD_OBSERVATION %#, naming %s', (o, key, message) => {
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed observations
    const e = thrown(() => alohaInputs(o as any));
    expect(e.code).toBe('BAD_OBSERVATION');
    expect(e.context.key).toBe(key);
    expect(e.message).toMatch(message);
  });
});

describe('alohaOutputs', () => {
  it('takes [:, :14], flips, and re-encodes grippers like openpi _encode_actions', () => {
    const actions = f64(flat(A.actions), [5, 32]);
    const out = alohaOutputs(actions);
    expect(out.shape).toEqual([5, 14]);
    expect(out.dtype).toBe('float64');
    expectF64(out.data, flat(A.encoded_actions));
    expect(actions.data[1]).toBe(A.actions[0][1]); // input untouched
  });

  it('adapt_to_pi false only slices', () => {
    const out = alohaOutputs(f64(flat(A.actions), [5, 32]), { adapt_to_pi: false });
    expectF64(
      out.data,
      (A.actions as number[][]).flatMap((r) => r.slice(0, 14)),
    );
  });

  it('round trip: decoding a state then encoding it as an action restores the joints', () => {
    const state = f32(flat(A.state_f32));
    const pi = alohaInputs({ state, images: { cam_high: chw(1) } }).state;
    const back = alohaOutputs(f64(Array.from(pi), [1, 14]), { adapt_to_pi: true });
    for (let i = 0; i < 14; i++) {
      if (i === 6 || i === 13) continue; // grippers: state (linear) and command (joint) spaces differ by design
      expect(back.data[i]).toBe(state.data[i]);
    }
    expect(ALOHA_JOINT_FLIP_MASK).toHaveLength(14);
  });

  it('rejects chunks narrower than 14 columns', () => {
    expect(thrown(() => alohaOutputs(f64([1, 2], [1, 2]))).code).toBe('BAD_SHAPE');
  });
});
