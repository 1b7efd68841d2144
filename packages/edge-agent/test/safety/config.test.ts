import { isOpenpiEdgeError } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { ALOHA_SAFETY_DEFAULTS } from '../../src/robots/aloha/safety-defaults.js';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { UR5_SAFETY_DEFAULTS } from '../../src/robots/ur5/safety-defaults.js';
import { parseSafetyConfig, perTickLimits } from '../../src/safety/config.js';

const deg = (d: number): number => (d * Math.PI) / 180;

function badArgument(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    expect(isOpenpiEdgeError(e, 'BAD_ARGUMENT')).toBe(true);
    return { message: (e as Error).message, ...(e as { context: Record<string, unknown> }).context };
  }
  throw new Error('expected BAD_ARGUMENT');
}

describe('ALOHA defaults', () => {
  const c = safetyConfigFor('aloha');

  it('has the 14-dim openpi layout: left joints 6, left gripper, right joints 6, right gripper', () => {
    expect(c.joints.map((j) => j.name)).toEqual([
      'left_waist',
      'left_shoulder',
      'left_elbow',
      'left_forearm_roll',
      'left_wrist_angle',
      'left_wrist_rotate',
      'left_gripper',
      'right_waist',
      'right_shoulder',
      'right_elbow',
      'right_forearm_roll',
      'right_wrist_angle',
      'right_wrist_rotate',
      'right_gripper',
    ]);
    expect(c.joints.filter((j) => j.kind === 'gripper').map((j) => j.name)).toEqual([
      'left_gripper',
      'right_gripper',
    ]);
  });

  it('uses the ViperX 300 URDF position limits in radians and [0, 1] for grippers', () => {
    const byName = new Map(c.joints.map((j) => [j.name, j]));
    expect(byName.get('left_waist')).toMatchObject({ min: -(Math.PI - 1e-5), max: Math.PI - 1e-5 });
    expect(byName.get('left_shoulder')?.min).toBeCloseTo(deg(-106), 12);
    expect(byName.get('left_shoulder')?.max).toBeCloseTo(deg(72), 12);
    expect(byName.get('right_elbow')?.min).toBeCloseTo(deg(-101), 12);
    expect(byName.get('right_elbow')?.max).toBeCloseTo(deg(92), 12);
    expect(byName.get('left_forearm_roll')).toMatchObject({ min: -Math.PI, max: Math.PI });
    expect(byName.get('right_wrist_angle')?.min).toBeCloseTo(deg(-107), 12);
    expect(byName.get('right_wrist_angle')?.max).toBeCloseTo(deg(128), 12);
    expect(byName.get('right_wrist_rotate')).toMatchObject({ min: -Math.PI, max: Math.PI });
    expect(byName.get('right_gripper')).toMatchObject({ min: 0, max: 1 });
  });

  it('converts rad/s to rad/tick with the control rate', () => {
    expect(c.controlRateHz).toBe(50);
    const steps = perTickLimits(c);
    expect(steps[0]).toBeCloseTo(Math.PI / 50, 15);
    expect(steps[6]).toBeCloseTo(2 / 50, 15);
    const slow = safetyConfigFor('aloha', { controlRateHz: 100, maxJointVelocity: 1 });
    expect(perTickLimits(slow)[3]).toBeCloseTo(0.01, 15);
    expect(perTickLimits(slow)[13]).toBeCloseTo(0.02, 15);
  });

  it('has the documented watchdog defaults', () => {
    expect(c.watchdog).toEqual({
      jointStaleMs: 100,
      cameraStaleMs: 500,
      policyStallMs: 250,
      requiredCameras: ['cam_high', 'cam_left_wrist', 'cam_right_wrist'],
    });
  });

  it('cannot be mutated through the exported defaults', () => {
    expect(() => {
      (ALOHA_SAFETY_DEFAULTS.joints[0] as { max: number }).max = 100;
    }).toThrow(TypeError);
    expect(Object.isFrozen(UR5_SAFETY_DEFAULTS.watchdog.requiredCameras)).toBe(true);
  });
});

describe('UR5 defaults', () => {
  it('has 6 joints + gripper with ur_description limits', () => {
    const c = safetyConfigFor('ur5');
    expect(c.joints).toHaveLength(7);
    expect(c.joints[2]).toMatchObject({ name: 'elbow', min: -Math.PI, max: Math.PI, maxVelocity: Math.PI });
    expect(c.joints[0]).toMatchObject({ name: 'shoulder_pan', min: -2 * Math.PI, max: 2 * Math.PI });
    expect(c.joints[6]).toMatchObject({ name: 'gripper', kind: 'gripper', min: 0, max: 1 });
  });
});

describe('overrides', () => {
  it('applies global speeds, then per-joint settings', () => {
    const c = safetyConfigFor('aloha', {
      maxJointVelocity: 1.5,
      maxGripperVelocity: 4,
      joints: { right_waist: { maxVelocity: 0.5, min: -1, max: 1 } },
      watchdog: { jointStaleMs: 40 },
      latchOn: ['ACTION_NON_FINITE'],
    });
    expect(c.joints[0]?.maxVelocity).toBe(1.5);
    expect(c.joints[6]?.maxVelocity).toBe(4);
    expect(c.joints[7]).toMatchObject({ name: 'right_waist', maxVelocity: 0.5, min: -1, max: 1 });
    expect(c.watchdog.jointStaleMs).toBe(40);
    expect(c.watchdog.cameraStaleMs).toBe(500);
    expect(c.latchOn).toEqual(['ACTION_NON_FINITE']);
  });

  it('rejects an unknown key, naming it', () => {
    const ctx = badArgument(() => safetyConfigFor('aloha', { maxSpeed: 1 }));
    expect(String(ctx.message)).toContain('maxSpeed');
  });

  it('rejects an unknown joint name', () => {
    const ctx = badArgument(() => safetyConfigFor('aloha', { joints: { left_wrist: { max: 1 } } }));
    expect(ctx).toMatchObject({ robot: 'aloha', joint: 'left_wrist' });
  });

  it('rejects min >= max after merging', () => {
    const ctx = badArgument(() => safetyConfigFor('ur5', { joints: { elbow: { min: 2, max: 1 } } }));
    expect(ctx.issues).toEqual([{ path: 'joints.2.max', message: 'min must be < max' }]);
  });

  it('rejects non-positive, NaN and infinite numbers', () => {
    badArgument(() => safetyConfigFor('aloha', { maxJointVelocity: 0 }));
    badArgument(() => safetyConfigFor('aloha', { controlRateHz: Number.NaN }));
    badArgument(() => safetyConfigFor('aloha', { watchdog: { cameraStaleMs: Number.POSITIVE_INFINITY } }));
    badArgument(() => safetyConfigFor('aloha', { joints: { left_gripper: { rejectMargin: -0.1 } } }));
  });

  it('rejects an unknown fault code in latchOn and an unknown robot', () => {
    badArgument(() => safetyConfigFor('aloha', { latchOn: ['NOPE'] }));
    const ctx = badArgument(() => safetyConfigFor('franka' as 'aloha'));
    expect(ctx.robot).toBe('franka');
  });
});

describe('parseSafetyConfig', () => {
  it('rejects duplicate joint names and an empty joint list', () => {
    const j = { name: 'a', kind: 'joint', min: -1, max: 1, maxVelocity: 1, rejectMargin: 0 };
    const base = { robot: 'x', controlRateHz: 10, watchdog: ALOHA_SAFETY_DEFAULTS.watchdog, latchOn: [] };
    expect(parseSafetyConfig({ ...base, joints: [j] }).joints).toHaveLength(1);
    const ctx = badArgument(() => parseSafetyConfig({ ...base, joints: [j, j] }));
    expect(String(ctx.message)).toContain("duplicate joint name 'a'");
    badArgument(() => parseSafetyConfig({ ...base, joints: [] }));
  });
});
