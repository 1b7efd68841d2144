/** Camera sources: generated frames on a manual clock, ROS image topics through the fake graph, ffmpeg testsrc. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ManualClock, realClock } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { checkCamera, freshFrame } from '../../src/io/cameras/camera-source.js';
import { FfmpegCamera, ffmpegArgs } from '../../src/io/cameras/ffmpeg-camera.js';
import { frameToRgb } from '../../src/io/cameras/frame-convert.js';
import {
  drawPatternFrame,
  GeneratedCamera,
  generatedPattern,
} from '../../src/io/cameras/generated-camera.js';
import { RosImageCamera } from '../../src/io/cameras/ros-image-camera.js';
import { ROS2_TYPES } from '../../src/ros2/messages.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';

const settle = () => new Promise((r) => setImmediate(r));

describe('GeneratedCamera', () => {
  it('produces deterministic frames on the clock grid, moving between frames', async () => {
    const clock = new ManualClock(1000);
    const cam = new GeneratedCamera({ name: 'cam_high', width: 64, height: 48, fps: 20, clock });
    expect(cam.latest()).toBeNull();
    await cam.start();
    const f0 = cam.latest();
    // Frames carry their recipe (`pattern`, 12 bytes); the pixels are drawn where the frame is converted.
    expect(f0?.frame).toMatchObject({
      seq: 0,
      stampMs: 1000,
      width: 64,
      height: 48,
      encoding: 'pattern',
      step: 192,
    });
    expect(f0?.frame.data).toHaveLength(12);
    await clock.advance(120); // frames at 1050 and 1100; only the newest is built
    const f1 = cam.latest();
    expect(f1?.frame.stampMs).toBe(1100);
    expect(f1?.ageMs).toBe(20);
    expect(f1?.frame.seq).toBe(1);
    const pixels1 = drawPatternFrame(f1!.frame, 'cam_high');
    expect(pixels1).toEqual(generatedPattern(64, 48, 2, cam.seed));
    expect(pixels1).not.toEqual(drawPatternFrame(f0!.frame, 'cam_high'));
    const other = new GeneratedCamera({ name: 'cam_low', width: 64, height: 48, clock });
    await other.start();
    expect(drawPatternFrame(other.latest()!.frame, 'cam_low')).not.toEqual(
      generatedPattern(64, 48, 0, cam.seed),
    );
    const rgb = await frameToRgb(f1!.frame);
    expect(rgb.shape).toEqual([48, 64, 3]);
    expect(rgb.data).toEqual(pixels1);
    // A malformed recipe is refused naming the camera.
    expect(() => drawPatternFrame({ ...f1!.frame, data: new Uint8Array(3) }, 'cam_high')).toThrow(
      expect.objectContaining({
        code: 'IMAGE_DECODE_FAILED',
        context: expect.objectContaining({ camera: 'cam_high' }),
      }),
    );
  });

  it('nextFrame waits on the clock for the next grid point', async () => {
    const clock = new ManualClock(0);
    const cam = new GeneratedCamera({ name: 'c', width: 8, height: 8, fps: 10, clock });
    await cam.start();
    const f = await clock.runUntil(cam.nextFrame(1000));
    expect(f.stampMs).toBe(100);
    expect(clock.now()).toBe(100);
  });
});

describe('stale and missing detection', () => {
  it('reports missing before the first frame and stale past the threshold, naming the camera', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const node = graph.createNode('cams');
    const cam = new RosImageCamera({ name: 'cam_left_wrist', node, topic: '/cam_left_wrist/image', clock });
    await cam.start();
    expect(checkCamera(cam, 100)).toMatchObject({ camera: 'cam_left_wrist', state: 'missing' });
    expect(() => freshFrame(cam, 100)).toThrow(
      expect.objectContaining({
        code: 'CAMERA_STALE',
        context: expect.objectContaining({ camera: 'cam_left_wrist' }),
      }),
    );
    graph.deliver('/cam_left_wrist/image', ROS2_TYPES.image, {
      header: { stamp: { sec: 1, nanosec: 0 }, frame_id: '' },
      height: 1,
      width: 1,
      encoding: 'rgb8',
      is_bigendian: 0,
      step: 3,
      data: new Uint8Array([1, 2, 3]),
    });
    await settle();
    expect(checkCamera(cam, 100)).toMatchObject({ state: 'ok', ageMs: 0 });
    await clock.advance(150);
    expect(checkCamera(cam, 100)).toMatchObject({ state: 'stale', ageMs: 150 });
    const err = (() => {
      try {
        freshFrame(cam, 100);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({
      code: 'CAMERA_STALE',
      context: { camera: 'cam_left_wrist', ageMs: 150, maxAgeMs: 100 },
    });
    const waiting = cam.nextFrame(200).catch((e: unknown) => e);
    await clock.advance(200);
    expect(await waiting).toMatchObject({
      code: 'CAMERA_STALE',
      context: { camera: 'cam_left_wrist', timeoutMs: 200 },
    });
  });
});

describe('RosImageCamera', () => {
  it('subscribes with sensor QoS, turns bgr8 with row padding into RGB, rejects other encodings', async () => {
    const graph = new FakeRos2Graph();
    const node = graph.createNode('cams');
    const cam = new RosImageCamera({
      name: 'cam_high',
      node,
      topic: '/cam_high/camera/color/image_rect_raw',
    });
    await cam.start();
    expect(graph.subscribers('/cam_high/camera/color/image_rect_raw')).toEqual([
      { type: 'sensor_msgs/msg/Image', qos: 'sensor' },
    ]);
    // 2x2 bgr8, step 8 (2 bytes padding per row)
    const data = new Uint8Array([10, 20, 30, 11, 21, 31, 0, 0, 12, 22, 32, 13, 23, 33, 0, 0]);
    graph.deliver('/cam_high/camera/color/image_rect_raw', ROS2_TYPES.image, {
      header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
      height: 2,
      width: 2,
      encoding: 'bgr8',
      is_bigendian: 0,
      step: 8,
      data,
    });
    await settle();
    const rgb = await frameToRgb(cam.latest()!.frame, 'cam_high');
    expect(rgb.shape).toEqual([2, 2, 3]);
    expect(Array.from(rgb.data as Uint8Array)).toEqual([30, 20, 10, 31, 21, 11, 32, 22, 12, 33, 23, 13]);
    graph.deliver('/cam_high/camera/color/image_rect_raw', ROS2_TYPES.image, {
      height: 1,
      width: 1,
      encoding: 'mono8',
      step: 1,
      data: new Uint8Array([5]),
    });
    await settle();
    expect(cam.rejected).toBe(1);
    expect(cam.failure).toMatchObject({
      code: 'BAD_MESSAGE',
      context: { field: 'encoding', encoding: 'mono8' },
    });
    expect(checkCamera(cam, 1e9)).toMatchObject({ state: 'missing' });
    graph.deliver('/cam_high/camera/color/image_rect_raw', ROS2_TYPES.image, {
      height: 4,
      width: 4,
      encoding: 'rgb8',
      step: 12,
      data: new Uint8Array(10),
    });
    await settle();
    expect(cam.failure).toMatchObject({ code: 'BAD_MESSAGE', context: { field: 'data', byteCount: 10 } });
    await cam.close();
    expect(graph.subscribers('/cam_high/camera/color/image_rect_raw')).toEqual([]);
  });

  it('compressed topics carry JPEG that decodes on use', async () => {
    const graph = new FakeRos2Graph();
    const node = graph.createNode('cams');
    const cam = new RosImageCamera({
      name: 'cam_low',
      node,
      topic: '/cam_low/compressed',
      transport: 'compressed',
    });
    await cam.start();
    // 16x8 uniform grey (200) written by Pillow.
    const jpeg = readFileSync(new URL('./fixtures/gray200-16x8.jpg', import.meta.url));
    graph.deliver('/cam_low/compressed', ROS2_TYPES.compressedImage, {
      header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
      format: 'jpeg',
      data: new Uint8Array(jpeg),
    });
    await settle();
    const frame = cam.latest()!.frame;
    expect(frame.encoding).toBe('jpeg');
    const rgb = await frameToRgb(frame, 'cam_low');
    expect(rgb.shape).toEqual([8, 16, 3]);
    expect(Math.abs((rgb.data as Uint8Array)[0]! - 200)).toBeLessThanOrEqual(2);
    expect(await frameToRgb(frame, 'cam_low')).toBe(rgb); // decoded once
  });

  it("a topic named as image_transport's compressed one is CompressedImage unless told otherwise", async () => {
    const graph = new FakeRos2Graph();
    const node = graph.createNode('cams');
    const topic = '/cam_high/camera/color/image_rect_raw/compressed';
    const inferred = new RosImageCamera({ name: 'cam_high', node, topic });
    await inferred.start();
    expect(graph.subscribers(topic)).toEqual([{ type: ROS2_TYPES.compressedImage, qos: 'sensor' }]);
    await inferred.close();
    const raw = new RosImageCamera({ name: 'cam_high', node, topic, transport: 'raw' });
    await raw.start();
    expect(graph.subscribers(topic)).toEqual([{ type: ROS2_TYPES.image, qos: 'sensor' }]);
    await raw.close();
  });
});

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;

describe('FfmpegCamera', () => {
  it('builds the documented argument lists', () => {
    expect(ffmpegArgs({ kind: 'v4l2', device: '/dev/video2', width: 640, height: 480, fps: 30 })).toEqual([
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-f',
      'v4l2',
      '-input_format',
      'mjpeg',
      '-video_size',
      '640x480',
      '-framerate',
      '30',
      '-i',
      '/dev/video2',
      '-c:v',
      'copy',
      '-f',
      'mjpeg',
      '-',
    ]);
    expect(ffmpegArgs({ kind: 'testsrc', width: 320, height: 240, fps: 15 })).toContain(
      'testsrc=size=320x240:rate=15',
    );
  });

  it('a missing executable is a NOT_CONNECTED error naming the camera', async () => {
    const cam = new FfmpegCamera({
      name: 'cam_high',
      input: { kind: 'testsrc' },
      ffmpegPath: '/nonexistent/ffmpeg',
    });
    await expect(cam.start()).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
      context: { camera: 'cam_high' },
    });
    expect(checkCamera(cam, 1000)).toMatchObject({ state: 'missing' });
    await cam.close();
  });

  // ffmpeg is in CI's apt list; without it this case cannot run here (install: apt-get install -y ffmpeg).
  const live = hasFfmpeg ? ['lavfi testsrc through the MJPEG pipe'] : [];
  for (const name of live) {
    it(`${name}: timestamped, increasing frames that decode to the requested size`, async () => {
      const cam = new FfmpegCamera({
        name: 'cam_high',
        input: { kind: 'testsrc', width: 160, height: 120, fps: 30 },
      });
      await cam.start();
      try {
        const a = await cam.nextFrame(10_000);
        const b = await cam.nextFrame(10_000);
        expect(b.seq).toBeGreaterThan(a.seq);
        expect(b.stampMs).toBeGreaterThanOrEqual(a.stampMs);
        expect(b.stampMs).toBeLessThanOrEqual(realClock.now());
        const rgb = await frameToRgb(b, 'cam_high');
        expect(rgb.shape).toEqual([120, 160, 3]);
        expect(checkCamera(cam, 60_000)).toMatchObject({ camera: 'cam_high', state: 'ok' });
      } finally {
        await cam.close();
      }
      expect(cam.failure).toBeUndefined();
    });
  }
});
