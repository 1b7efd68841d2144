/**
 * Our WebsocketClientPolicy against a Python websocket policy server built from openpi's own codec
 * (test/python/openpi_peer_server.py: openpi_client.msgpack_numpy + websockets, openpi's server loop).
 * ALOHA-shaped observations; values are checked both ways: the server echoes what it decoded and reports
 * per-leaf dtype/shape/sum computed in numpy; we check both against what we sent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../packages/client/src/errors.js';
import { type NDArray, ndarray, zeros } from '../packages/client/src/ndarray.js';
import type { Obs } from '../packages/client/src/policy.js';
import { WebsocketClientPolicy } from '../packages/client/src/websocket-client-policy.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const peer = join(root, 'test', 'python', 'openpi_peer_server.py');
const CAMERAS = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'] as const;
const RESET_POSE = [0, -1.5, 1.5, 0, 0, 0];

let server: ChildProcess;
let port: number;
let stderr = '';

beforeAll(async () => {
  server = spawn(python, [peer, '--metadata', JSON.stringify({ reset_pose: RESET_POSE })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: server.stdout! });
  port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (l) => resolve(Number(l)));
    server.once('exit', (code) => reject(new Error(`peer server exited with ${code}: ${stderr}`)));
  });
});

afterAll(() => {
  server.kill('SIGTERM');
});

function alohaObservation(seed: number): Obs {
  const images: Obs = {};
  CAMERAS.forEach((cam, c) => {
    const img = zeros('uint8', [3, 224, 224]);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * (7 + c) + seed) & 0xff;
    images[cam] = img;
  });
  const state = ndarray(
    'float32',
    [14],
    Float32Array.from({ length: 14 }, (_, i) => Math.cos(i + seed) * 0.7),
  );
  return { state, images, prompt: `fold the towel ${seed} \u2713` };
}

/** dtype, shape and element bytes equal (deep-equal over 150k-element typed arrays is needlessly slow). */
function expectSameArray(got: NDArray, want: NDArray): void {
  expect(got.dtype).toBe(want.dtype);
  expect(got.shape).toEqual(want.shape);
  const bytes = (a: NDArray) => {
    const t = a.data as Uint8Array;
    return Buffer.from(t.buffer, t.byteOffset, t.byteLength);
  };
  expect(bytes(got).equals(bytes(want))).toBe(true);
}

const sum = (a: NDArray): number => Array.from(a.data as Float32Array).reduce((s, x) => s + x, 0);

describe('WebsocketClientPolicy against the openpi-codec Python server', () => {
  it('reads the metadata, round-trips ALOHA observations, and gets openpi server timings', async () => {
    const c = await WebsocketClientPolicy.connect({ host: '127.0.0.1', port, apiKey: 'key-123' });
    try {
      expect(c.getServerMetadata()).toEqual({ reset_pose: RESET_POSE });
      for (let step = 0; step < 3; step++) {
        const obs = alohaObservation(step);
        const r = await c.infer(obs);
        // Python decoded exactly what we sent (echoed back through openpi's encoder)...
        const echo = r.echo as Obs;
        expect(Object.keys(echo)).toEqual(['state', 'images', 'prompt']);
        expect(echo.prompt).toBe(obs.prompt);
        expectSameArray(echo.state as NDArray, obs.state as NDArray);
        for (const cam of CAMERAS)
          expectSameArray((echo.images as Obs)[cam] as NDArray, (obs.images as Obs)[cam] as NDArray);
        // ...and numpy agrees on dtype, shape and values
        const summary = r.summary as Record<string, { dtype: string; shape: number[]; sum: number }>;
        expect(summary.state).toEqual({ dtype: '<f4', shape: [14], sum: expect.any(Number) });
        expect(summary.state?.sum).toBeCloseTo(sum(obs.state as NDArray), 5);
        for (const cam of CAMERAS) {
          const img = (obs.images as Obs)[cam] as NDArray<'uint8'>;
          expect(summary[`images.${cam}`]).toEqual({ dtype: '|u1', shape: [3, 224, 224], sum: sum(img) });
        }
        expect(summary.prompt).toEqual({ type: 'str', repr: `'fold the towel ${step} \u2713'` });
        expect(r.authorization).toBe('Api-Key key-123');
        const actions = r.actions as NDArray<'float32'>;
        expect(actions.dtype).toBe('float32');
        expect(actions.shape).toEqual([50, 14]);
        expect(actions.data[15]).toBeCloseTo(0.15, 6);
        const timing = r.server_timing as Record<string, unknown>;
        expect(typeof timing.infer_ms).toBe('number');
        if (step === 0) expect(Object.keys(timing)).toEqual(['infer_ms']);
        else expect(Object.keys(timing)).toEqual(['infer_ms', 'prev_total_ms']);
      }
    } finally {
      await c.close();
    }
  });

  it('surfaces the server traceback as ServerError, then reconnects on the next infer', async () => {
    const c = new WebsocketClientPolicy({ host: `ws://127.0.0.1:${port}`, reconnect: { maxAttempts: 3 } });
    const states: string[] = [];
    c.onStateChange((e) => states.push(e.state));
    try {
      let error: unknown;
      try {
        await c.infer({ raise: 'the gripper is on fire' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ServerError);
      const tb = (error as ServerError).traceback;
      expect(tb).toMatch(/^Traceback \(most recent call last\):/);
      expect(tb).toContain('RuntimeError: the gripper is on fire');
      const r = await c.infer(alohaObservation(9));
      expect(Object.keys(r.server_timing as Obs)).toEqual(['infer_ms']); // a fresh connection
      expect(states).toEqual(['connecting', 'connected', 'disconnected', 'reconnecting', 'connected']);
    } finally {
      await c.close();
    }
  });

  it('answers /healthz with 200 OK', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('OK\n');
  });
});
