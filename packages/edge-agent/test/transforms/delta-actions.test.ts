import { describe, expect, it } from 'vitest';
import { absoluteActions, deltaActions, makeBoolMask } from '../../src/index.js';
import { f64 } from './fixtures.js';

describe('makeBoolMask', () => {
  it('follows openpi make_bool_mask semantics', () => {
    expect(makeBoolMask(6, -1, 6, -1)).toEqual([
      ...new Array(6).fill(true),
      false,
      ...new Array(6).fill(true),
      false,
    ]);
    expect(makeBoolMask(6, -1)).toEqual([true, true, true, true, true, true, false]);
    expect(makeBoolMask(-2, 1)).toEqual([false, false, true]);
    expect(makeBoolMask()).toEqual([]);
  });
});

describe('absoluteActions / deltaActions', () => {
  const state = [10, 20, 30];
  const mask = [true, false, true];
  const actions = f64([1, 2, 3, 4, 4, 5, 6, 7], [2, 4]);

  it('adds the state to the masked dims of every row; columns past the mask are untouched', () => {
    const out = absoluteActions(actions, state, mask);
    expect(Array.from(out.data)).toEqual([11, 2, 33, 4, 14, 5, 36, 7]);
    expect(Array.from(actions.data)).toEqual([1, 2, 3, 4, 4, 5, 6, 7]);
  });

  it('delta then absolute round-trips exactly for these values', () => {
    const back = absoluteActions(deltaActions(actions, state, mask), state, mask);
    expect(Array.from(back.data)).toEqual(Array.from(actions.data));
  });

  it('a -0 action in an unmasked dim becomes +0 (numpy adds np.where(mask, state, 0))', () => {
    const out = absoluteActions(f64([-0, -0], [1, 2]), [5, 5], [true, false]);
    expect(Object.is(out.data[1], 0)).toBe(true);
  });

  it('rejects a mask longer than the chunk or the state', () => {
    expect(() => absoluteActions(actions, [1], mask)).toThrow(/delta mask has 3 dims/);
    expect(() => absoluteActions(f64([1, 2], [1, 2]), state, mask)).toThrow(/2 columns/);
  });
});
