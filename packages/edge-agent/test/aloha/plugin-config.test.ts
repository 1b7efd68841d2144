/**
 * ALOHA plugin cameras by transport: generated frames only on the emulator, real sources required on serial and
 * ROS 2, `none` only for cameras the watchdog does not require; and the `--camera` flag syntax.
 */
import { describe, expect, it } from 'vitest';
import { parseCameraFlag } from '../../src/robots/aloha/config.js';
import { resolveAlohaCameras } from '../../src/robots/aloha/plugin.js';

const required = ['cam_high', 'cam_left_wrist', 'cam_right_wrist'];

describe('resolveAlohaCameras', () => {
  it('emulator: generated frames by default (640x480 @ 30 Hz)', () => {
    const c = resolveAlohaCameras({ transport: 'emulator' }, required);
    expect(c.cam_high).toEqual({ kind: 'generated', width: 640, height: 480, fps: 30 });
    expect(c.cam_low.kind).toBe('generated');
  });

  it('serial: no default for a required camera; the error names the camera and how to give one', () => {
    expect(() => resolveAlohaCameras({ transport: 'serial' }, required)).toThrow(
      expect.objectContaining({
        code: 'CONFIG_MISMATCH',
        message: expect.stringContaining('--camera cam_high='),
      }),
    );
    const c = resolveAlohaCameras(
      {
        transport: 'serial',
        cameras: {
          cam_high: { kind: 'v4l2', device: '/dev/video0' },
          cam_left_wrist: { kind: 'v4l2', device: '/dev/video2' },
          cam_right_wrist: { kind: 'v4l2', device: '/dev/video4' },
        },
      },
      required,
    );
    expect(c.cam_low).toEqual({ kind: 'none' });
  });

  it('serial and ros2 refuse generated frames; none is refused for a required camera', () => {
    for (const transport of ['serial', 'ros2'] as const) {
      expect(() =>
        resolveAlohaCameras({ transport, cameras: { cam_high: { kind: 'generated' } } }, required),
      ).toThrow(
        expect.objectContaining({
          code: 'CONFIG_MISMATCH',
          context: expect.objectContaining({ camera: 'cam_high' }),
        }),
      );
    }
    expect(() =>
      resolveAlohaCameras({ transport: 'ros2', cameras: { cam_left_wrist: { kind: 'none' } } }, required),
    ).toThrow(/cam_left_wrist is required by the watchdog/);
    const r = resolveAlohaCameras({ transport: 'ros2', cameras: { cam_low: { kind: 'none' } } }, required);
    expect(r.cam_high).toEqual({ kind: 'ros2' });
    expect(r.cam_low).toEqual({ kind: 'none' });
  });

  it('ROS 2 image topics need the ros2 transport', () => {
    expect(() =>
      resolveAlohaCameras({ transport: 'emulator', cameras: { cam_high: { kind: 'ros2' } } }, required),
    ).toThrow(/need the ros2 transport/);
  });
});

describe('parseCameraFlag', () => {
  it('reads device paths, v4l2:, ros2[:topic], testsrc and none; refuses unknown names and sources', () => {
    expect(parseCameraFlag('cam_high=/dev/video0')).toEqual([
      'cam_high',
      { kind: 'v4l2', device: '/dev/video0' },
    ]);
    expect(parseCameraFlag('cam_low=v4l2:/dev/v4l/by-id/x')).toEqual([
      'cam_low',
      { kind: 'v4l2', device: '/dev/v4l/by-id/x' },
    ]);
    expect(parseCameraFlag('cam_left_wrist=ros2:/wrist/image')).toEqual([
      'cam_left_wrist',
      { kind: 'ros2', topic: '/wrist/image' },
    ]);
    expect(parseCameraFlag('cam_right_wrist=none')).toEqual(['cam_right_wrist', { kind: 'none' }]);
    expect(() => parseCameraFlag('cam_top=/dev/video0')).toThrow(/name one of/);
    expect(() => parseCameraFlag('cam_high=rtsp://x')).toThrow(/unknown source/);
  });
});
