import { describe, expect, it } from 'vitest';
import { mergeSection } from '../../src/robots/merge-section.js';

describe('mergeSection', () => {
  it('flags over file key by key, one level into nested objects; arrays replaced; undefined flags keep the file', () => {
    const file = {
      transport: 'serial',
      serial: { portLeft: '/a', portRight: '/b' },
      pose: [1, 2],
      gripper: 'openpi',
    };
    const flags = {
      serial: { portLeft: '/c' },
      pose: [3],
      gripper: undefined,
      cameras: { cam_high: { kind: 'none' } },
    };
    expect(mergeSection(file, flags)).toEqual({
      transport: 'serial',
      serial: { portLeft: '/c', portRight: '/b' },
      pose: [3],
      gripper: 'openpi',
      cameras: { cam_high: { kind: 'none' } },
    });
  });
});
