/**
 * Camera frames converted off the loop thread: framesToImages (and the image-prep worker) give exactly the images
 * captureCameraImages gives for the same frames, for rgb8, padded bgr8, JPEG and SharedArrayBuffer-backed bytes;
 * decode failures name the camera; shared bytes cross postMessage without a copy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import { ImagePrepWorker } from '../../src/inference/image-prep-worker.js';
import {
  framesForPosting,
  framesToImages,
  isFramePolicy,
  type RawFrames,
  toSharedBytes,
  withFrameImages,
} from '../../src/inference/raw-frames.js';
import type { CameraFrame } from '../../src/io/cameras/camera-source.js';
import { captureCameraImages } from '../../src/robots/aloha/camera-images.js';
import { sourcesFor, testFrames } from './helpers.js';

describe('framesToImages', () => {
  it.each([
    ['plain', false],
    ['SharedArrayBuffer-backed', true],
  ])('equals captureCameraImages bit for bit (%s frames)', async (_label, shared) => {
    const frames = testFrames(3, shared);
    const raw: RawFrames = { frames, height: 224, width: 224 };
    const mine = await framesToImages(raw);
    const today = await captureCameraImages(sourcesFor(frames));
    expect(Object.keys(mine)).toEqual(['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist']);
    expect(mine).toEqual(today.images);
    for (const img of Object.values(mine)) expect(img.shape).toEqual([3, 224, 224]);
  });

  it('honours the output size', async () => {
    const { cam_high } = testFrames(1);
    const out = await framesToImages({ frames: { cam_high: cam_high as never }, height: 96, width: 128 });
    const today = await captureCameraImages(sourcesFor({ cam_high: cam_high as never }), {
      height: 96,
      width: 128,
    });
    expect(out.cam_high?.shape).toEqual([3, 96, 128]);
    expect(out).toEqual(today.images);
  });

  it('fails with BAD_OBSERVATION naming the camera for an undecodable frame', async () => {
    const bad = {
      stampMs: 0,
      seq: 0,
      encoding: 'jpeg',
      width: 0,
      height: 0,
      step: 0,
      data: new Uint8Array(9),
    };
    const err = await framesToImages({ frames: { cam_low: bad } as never, height: 224, width: 224 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    expect(err).toMatchObject({
      code: 'BAD_OBSERVATION',
      context: { key: 'images.cam_low', camera: 'cam_low' },
    });
    expect((err as Error).message).toContain('camera cam_low unusable');
  });

  it('rejects a non-positive output size with BAD_ARGUMENT', async () => {
    await expect(framesToImages({ frames: {}, height: 0, width: 224 })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { field: 'height' },
    });
  });

  it('withFrameImages merges over an images record and refuses other images values', async () => {
    const { cam_high } = testFrames(0);
    const raw = { frames: { cam_high: cam_high as never }, height: 32, width: 32 };
    const keep = { dtype: 'uint8', shape: [3, 32, 32], data: new Uint8Array(3 * 32 * 32) } as const;
    const merged = await withFrameImages({ prompt: 'x', images: { cam_low: keep } }, raw);
    expect(Object.keys(merged.images as object)).toEqual(['cam_low', 'cam_high']);
    await expect(withFrameImages({ images: 'nope' }, raw)).rejects.toMatchObject({ code: 'BAD_OBSERVATION' });
  });
});

describe('toSharedBytes / isFramePolicy', () => {
  it('copies once into a SharedArrayBuffer that structured clone shares', () => {
    const src = new Uint8Array([1, 2, 3]);
    const shared = toSharedBytes(src);
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...shared]).toEqual([1, 2, 3]);
    const clone = structuredClone(shared);
    clone[0] = 9;
    expect(shared[0]).toBe(9); // same memory, not a copy
    expect(src[0]).toBe(1);
  });

  it('framesForPosting gives views into larger buffers a buffer of their own and leaves the others', () => {
    const frames = testFrames(0);
    const high = frames.cam_high as CameraFrame;
    const big = new Uint8Array(1920 * 480 + 100);
    big.set(high.data, 50);
    const raw: RawFrames = {
      frames: {
        ...frames,
        cam_high: { ...high, data: big.subarray(50, 50 + 1920 * 480) },
      },
      height: 224,
      width: 224,
    };
    const posted = framesForPosting(raw);
    const data = posted.frames.cam_high?.data as Uint8Array;
    expect(data.buffer.byteLength).toBe(1920 * 480);
    expect(data).toEqual(high.data);
    expect(posted.frames.cam_low).toBe(raw.frames.cam_low); // tight: untouched
    expect(posted.frames.cam_right_wrist).toBe(raw.frames.cam_right_wrist); // shared: untouched
    const tight = { frames, height: 224, width: 224 };
    expect(framesForPosting(tight)).toBe(tight);
  });

  it('recognises frame policies by their methods', () => {
    const base = { infer: async () => ({}), reset: () => {}, close: async () => {} };
    expect(isFramePolicy(base)).toBe(false);
    expect(isFramePolicy({ ...base, inferFrames: async () => ({}) })).toBe(true);
    expect(isFramePolicy(null)).toBe(false);
  });
});

describe('ImagePrepWorker', () => {
  let worker: ImagePrepWorker;
  beforeAll(async () => {
    worker = await ImagePrepWorker.start({ hangTimeoutMs: 20_000 });
  });
  afterAll(async () => {
    await worker.close();
  });

  it('prepares the same images as captureCameraImages, for plain and shared frames, in order', async () => {
    const plain = testFrames(5);
    const shared = testFrames(6, true);
    const [a, b] = await Promise.all([
      worker.prepare({ frames: plain, height: 224, width: 224 }),
      worker.prepare({ frames: shared, height: 224, width: 224 }),
    ]);
    expect(a).toEqual((await captureCameraImages(sourcesFor(plain))).images);
    expect(b).toEqual((await captureCameraImages(sourcesFor(shared))).images);
  });

  it('reports a conversion error with the same code, message and context as in-thread', async () => {
    const bad = {
      stampMs: 0,
      seq: 0,
      encoding: 'rgb8',
      width: 4,
      height: 4,
      step: 12,
      data: new Uint8Array(5),
    };
    const raw = { frames: { cam_high: bad } as never, height: 8, width: 8 };
    const local = (await framesToImages(raw).catch((e: unknown) => e)) as OpenpiEdgeError;
    const remote = (await worker.prepare(raw).catch((e: unknown) => e)) as OpenpiEdgeError;
    expect(remote).toBeInstanceOf(OpenpiEdgeError);
    expect(remote.code).toBe('BAD_OBSERVATION');
    expect(remote.message).toBe(local.message);
    expect(remote.context).toEqual(local.context);
    expect((remote.cause as OpenpiEdgeError).code).toBe('IMAGE_DECODE_FAILED');
    expect(worker.stats).toEqual({ restarts: 0, crashes: 0, hangs: 0 });
  });
});
