import { chwToHwc } from '@openpi-edge/client/node';
import { describe, expect, it } from 'vitest';
import {
  createRobotAdapter,
  droidInputs,
  droidOutputs,
  liberoInputs,
  liberoOutputs,
  modelLayoutInputs,
  ur5Inputs,
  ur5Outputs,
} from '../../src/index.js';
import { f32, f64, image, thrown } from './fixtures.js';

const chunk = f64(
  Array.from({ length: 2 * 32 }, (_, i) => i / 10),
  [2, 32],
);
const row0 = (n: number) => Array.from({ length: n }, (_, i) => i / 10);

describe('LIBERO adapter', () => {
  const hwc = image([10, 12, 3], 1);
  const wrist = image([10, 12, 3], 2);

  it('maps images, passes the state through, right wrist zeros with mask false', () => {
    const out = liberoInputs({
      'observation/image': hwc,
      'observation/wrist_image': wrist,
      'observation/state': f32([1, 2, 3, 4, 5, 6, 7, 8]),
      prompt: 'put the bowl on the plate',
    });
    expect(Array.from(out.state)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(out.images.base_0_rgb).toBe(hwc);
    expect(out.images.left_wrist_0_rgb).toBe(wrist);
    expect(out.images.right_wrist_0_rgb.shape).toEqual([10, 12, 3]);
    expect(out.images.right_wrist_0_rgb.data.every((v) => v === 0)).toBe(true);
    expect(out.imageMasks).toEqual({ base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: false });
    expect(out.prompt).toBe('put the bowl on the plate');
  });

  it('converts CHW to HWC only when shape[0] == 3', () => {
    const c = image([3, 10, 12], 5);
    const out = liberoInputs({
      'observation/image': c,
      'observation/wrist_image': hwc,
      'observation/state': f32(new Array(8).fill(0)),
    });
    expect(out.images.base_0_rgb).toEqual(chwToHwc(c));
    expect(out.images.left_wrist_0_rgb).toBe(hwc);
  });

  it('outputs actions[:, :7]', () => {
    const out = liberoOutputs(chunk);
    expect(out.shape).toEqual([2, 7]);
    expect(Array.from(out.data.subarray(0, 7))).toEqual(row0(7));
  });

  it('names the missing key', () => {
    const e = thrown(() =>
      liberoInputs({ 'observation/image': hwc, 'observation/state': f32(new Array(8).fill(0)) }),
    );
    expect(e.code).toBe('BAD_OBSERVATION');
    expect(e.context.key).toBe('observation/wrist_image');
  });
});

describe('DROID adapter', () => {
  const ext = image([8, 8, 3], 1);
  const wrist = image([8, 8, 3], 2);
  const base = {
    'observation/exterior_image_1_left': ext,
    'observation/wrist_image_left': wrist,
    'observation/joint_position': f32([1, 2, 3, 4, 5, 6, 7]),
  };

  it('state = joints 7 + gripper (vector or 0-d)', () => {
    const a = droidInputs({ ...base, 'observation/gripper_position': f32([0.5]) });
    expect(Array.from(a.state)).toEqual([1, 2, 3, 4, 5, 6, 7, 0.5]);
    const b = droidInputs({ ...base, 'observation/gripper_position': f64([0.25], []) });
    expect(Array.from(b.state)).toEqual([1, 2, 3, 4, 5, 6, 7, 0.25]);
    expect(b.imageMasks).toEqual({ base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: false });
    expect(b.images.base_0_rgb).toBe(ext);
    expect(b.images.left_wrist_0_rgb).toBe(wrist);
  });

  it('decodes a bytes prompt as UTF-8 and rejects invalid UTF-8', () => {
    const obs = { ...base, 'observation/gripper_position': f32([0]) };
    expect(droidInputs({ ...obs, prompt: new TextEncoder().encode('tür öffnen') }).prompt).toBe('tür öffnen');
    expect(droidInputs({ ...obs, prompt: 'as str' }).prompt).toBe('as str');
    const e = thrown(() => droidInputs({ ...obs, prompt: Uint8Array.of(0xff, 0xfe) }));
    expect(e.code).toBe('BAD_OBSERVATION');
    expect(e.message).toMatch(/bytes \(2\) are not valid UTF-8/);
  });

  it('outputs actions[:, :8]', () => {
    expect(Array.from(droidOutputs(chunk).data.subarray(0, 8))).toEqual(row0(8));
  });

  it('names a wrong joint shape', () => {
    const e = thrown(() =>
      droidInputs({
        ...base,
        'observation/joint_position': f32([1, 2, 3]),
        'observation/gripper_position': f32([0]),
      }),
    );
    expect(e.context.key).toBe('observation/joint_position');
    expect(e.message).toMatch(/expected 7 elements, got shape \[3\]/);
  });
});

describe('UR5 adapter', () => {
  const obs = {
    joints: f32([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
    gripper: f32([0.9]),
    base_rgb: image([3, 8, 8], 1),
    wrist_rgb: image([8, 8, 3], 2),
  };

  it('state = joints 6 + gripper 1, base_rgb -> base, wrist_rgb -> left wrist, right wrist zeros', () => {
    const out = ur5Inputs(obs);
    expect(Array.from(out.state)).toEqual(Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9])));
    expect(out.images.base_0_rgb).toEqual(chwToHwc(obs.base_rgb));
    expect(out.images.left_wrist_0_rgb).toBe(obs.wrist_rgb);
    expect(out.imageMasks.right_wrist_0_rgb).toBe(false);
  });

  it('outputs actions[:, :7]', () => {
    expect(ur5Outputs(chunk).shape).toEqual([2, 7]);
  });

  it('names the missing gripper', () => {
    const { gripper: _g, ...rest } = obs;
    expect(thrown(() => ur5Inputs(rest)).context.key).toBe('gripper');
  });
});

describe('model-layout adapter (robot kind none)', () => {
  const images = {
    base_0_rgb: image([4, 4, 3]),
    left_wrist_0_rgb: image([4, 4, 3]),
    right_wrist_0_rgb: image([4, 4, 3]),
  };

  it('passes through, a missing mask is true', () => {
    const out = modelLayoutInputs({
      image: images,
      image_mask: { right_wrist_0_rgb: false },
      state: f32([1, 2]),
    });
    expect(out.imageMasks).toEqual({ base_0_rgb: true, left_wrist_0_rgb: true, right_wrist_0_rgb: false });
    expect(out.images.base_0_rgb).toBe(images.base_0_rgb);
  });

  it('requires all three slots as HWC uint8', () => {
    const { right_wrist_0_rgb: _r, ...two } = images;
    expect(thrown(() => modelLayoutInputs({ image: two, state: f32([1]) })).context.key).toBe(
      'image/right_wrist_0_rgb',
    );
    const e = thrown(() =>
      modelLayoutInputs({ image: { ...images, base_0_rgb: image([3, 4, 4]) }, state: f32([1]) }),
    );
    expect(e.message).toMatch(/uint8 HWC image \[H, W, 3\], got uint8\[3, 4, 4\]/);
  });
});

describe('createRobotAdapter', () => {
  it('builds each kind from the manifest robot object', () => {
    expect(createRobotAdapter({ kind: 'aloha', options: { adapt_to_pi: true } }).kind).toBe('aloha');
    const libero = createRobotAdapter({ kind: 'libero', options: { delta_action_mask: [true, false] } });
    expect(libero.deltaActionMask).toEqual([true, false]);
    expect(createRobotAdapter({ kind: 'droid' }).deltaActionMask).toBeNull();
    expect(createRobotAdapter({ kind: 'ur5', options: { output_dim: 7 } }).outputs(chunk).shape).toEqual([
      2, 7,
    ]);
    expect(createRobotAdapter({ kind: 'none', options: { output_dim: 3 } }).outputs(chunk).shape).toEqual([
      2, 3,
    ]);
  });

  it('rejects unknown kinds and inconsistent options', () => {
    // biome-ignore lint/suspicious/noExplicitAny: deliberately invalid spec
    const e = thrown(() => createRobotAdapter({ kind: 'franka' } as any));
    expect(e.message).toMatch(/unknown robot.kind 'franka'/);
    expect(thrown(() => createRobotAdapter({ kind: 'aloha', options: { state_dim: 16 } })).code).toBe(
      'BAD_ARGUMENT',
    );
    const badMask = [1, 0] as unknown as boolean[];
    const m = thrown(() => createRobotAdapter({ kind: 'ur5', options: { delta_action_mask: badMask } }));
    expect(m.context.field).toBe('robot.options.delta_action_mask');
  });
});
