/**
 * openpi's real Python client (openpi_client.WebsocketClientPolicy from .venv, driven by
 * test/python/openpi_client_driver.py) against our WebsocketPolicyServer serving a deterministic TS policy.
 * Values are checked both ways: Python checks every reply against the same formula computed from what it sent;
 * this side checks that the policy received exactly what Python reports having sent.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../packages/client/src/errors.js';
import { isNDArray, type NDArray, ndarray } from '../packages/client/src/ndarray.js';
import {
  type ServerLogger,
  WebsocketPolicyServer,
  type WebsocketPolicyServerOptions,
} from '../packages/client/src/node/websocket-policy-server.js';
import type { BasePolicy, Obs } from '../packages/client/src/policy.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const driver = join(root, 'test', 'python', 'openpi_client_driver.py');
const run = promisify(execFile);

const CAMERAS = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'] as const;
const HORIZON = 50;
const DIM = 14;

/** The driver's "sum policy" (see openpi_client_driver.py); throws when the prompt is "explode". */
class SumPolicy implements BasePolicy {
  readonly received: { state: number[]; sums: Record<string, number>; prompt: string }[] = [];

  async infer(obs: Obs): Promise<Obs> {
    const state = obs.state;
    if (!isNDArray(state) || state.dtype !== 'float32' || state.shape.join() !== String(DIM)) {
      throw new OpenpiEdgeError('BAD_OBSERVATION', 'state must be float32 [14]', { key: 'state' });
    }
    const images = obs.images;
    if (typeof images !== 'object' || images === null || Array.isArray(images) || isNDArray(images)) {
      throw new OpenpiEdgeError('BAD_OBSERVATION', 'images must be a dict', { key: 'images' });
    }
    const sums: Record<string, number> = {};
    for (const cam of CAMERAS) {
      const img = (images as Record<string, unknown>)[cam];
      if (!isNDArray(img) || img.dtype !== 'uint8' || img.shape.join() !== '3,224,224') {
        throw new OpenpiEdgeError('BAD_OBSERVATION', `images.${cam} must be uint8 [3, 224, 224]`, {
          key: `images.${cam}`,
        });
      }
      let s = 0;
      for (const v of (img as NDArray<'uint8'>).data) s += v;
      sums[cam] = s;
    }
    const prompt = typeof obs.prompt === 'string' ? obs.prompt : '';
    const s = state.data as Float32Array;
    this.received.push({ state: [...s], sums, prompt });
    if (prompt === 'explode') {
      throw new OpenpiEdgeError('BAD_OBSERVATION', 'the test asked this policy to fail', {
        key: 'prompt',
        prompt,
      });
    }
    const frac = Array.from({ length: DIM }, (_, j) => ((sums[CAMERAS[j % 4]!] ?? 0) % 1000) / 1000);
    const actions = new Float32Array(HORIZON * DIM);
    for (let t = 0; t < HORIZON; t++) {
      for (let j = 0; j < DIM; j++) actions[t * DIM + j] = (s[j] ?? 0) * (t + 1) + (frac[j] ?? 0);
    }
    return {
      actions: ndarray('float32', [HORIZON, DIM], actions),
      state_seen: state,
      image_sums: sums,
      prompt_seen: prompt,
      policy_timing: { infer_ms: 0.5 },
    };
  }

  reset(): void {}
}

interface InferResult {
  keys: string[];
  actions_type: string;
  actions_dtype: string | null;
  actions_shape: number[] | null;
  actions_equal: boolean;
  state_echo_equal: boolean;
  image_sums_equal: boolean;
  prompt_seen: string | null;
  server_timing: Record<string, string>;
  server_timing_nonnegative: boolean;
  sent_state: number[];
  sent_image_sums: Record<string, number>;
}

async function drive<T>(mode: string, args: string[]): Promise<T> {
  const { stdout } = await run(python, [driver, mode, ...args], { cwd: root, timeout: 60_000 });
  return JSON.parse(stdout) as T;
}

const silent: ServerLogger = { warn: () => {} };
const servers: WebsocketPolicyServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(policy: BasePolicy, options: WebsocketPolicyServerOptions = {}) {
  const server = new WebsocketPolicyServer(policy, { port: 0, logger: silent, ...options });
  servers.push(server);
  const address = await server.listen();
  return { server, port: String(address.port), url: address.url };
}

const RESET_POSE = [0, -1.5, 1.5, 0, 0, 0];

describe("openpi's Python WebsocketClientPolicy against our WebsocketPolicyServer", () => {
  it('reads the metadata frame (the ALOHA reset_pose) in its constructor', async () => {
    const { port } = await serve(new SumPolicy(), { metadata: { reset_pose: RESET_POSE } });
    const out = await drive<{ metadata: unknown }>('metadata', ['--port', port]);
    expect(out.metadata).toEqual({ reset_pose: RESET_POSE });
  });

  it('reads an empty metadata dict by default, connecting through a ws:// URI as host', async () => {
    const { url } = await serve(new SumPolicy());
    const out = await drive<{ metadata: unknown }>('metadata', ['--host', url]);
    expect(out.metadata).toEqual({});
  });

  it('runs ALOHA-shaped inferences; values match on both sides; server_timing like openpi', async () => {
    const policy = new SumPolicy();
    const { port, server } = await serve(policy, { metadata: { reset_pose: RESET_POSE } });
    const out = await drive<{ metadata: unknown; results: InferResult[] }>('infer', [
      '--port',
      port,
      '--n',
      '3',
      '--seed',
      '7',
    ]);
    expect(out.metadata).toEqual({ reset_pose: RESET_POSE });
    expect(out.results).toHaveLength(3);
    out.results.forEach((r, i) => {
      expect(r.keys).toEqual([
        'actions',
        'image_sums',
        'policy_timing',
        'prompt_seen',
        'server_timing',
        'state_seen',
      ]);
      expect(r.actions_type).toBe('ndarray');
      expect(r.actions_dtype).toBe('<f4');
      expect(r.actions_shape).toEqual([HORIZON, DIM]);
      expect(r.actions_equal).toBe(true);
      expect(r.state_echo_equal).toBe(true);
      expect(r.image_sums_equal).toBe(true);
      expect(r.prompt_seen).toBe('do something');
      expect(r.server_timing).toEqual(
        i === 0 ? { infer_ms: 'float' } : { infer_ms: 'float', prev_total_ms: 'float' },
      );
      expect(r.server_timing_nonnegative).toBe(true);
      // What our policy received is what Python sent.
      const got = policy.received[i];
      expect(got?.state).toEqual(r.sent_state);
      expect(got?.sums).toEqual(r.sent_image_sums);
    });
    // Distinct random observations, not one repeated.
    expect(out.results[0]?.sent_state).not.toEqual(out.results[1]?.sent_state);
    expect(server.stats()).toMatchObject({ requests: 3, failures: 0, totalConnections: 1 });
  });

  it("surfaces a policy error as openpi's RuntimeError carrying our traceback text, and keeps serving", async () => {
    const { port } = await serve(new SumPolicy());
    const out = await drive<{ raised: boolean; type: string; message: string }>('error', [
      '--port',
      port,
      '--prompt',
      'explode',
    ]);
    expect(out.raised).toBe(true);
    expect(out.type).toBe('RuntimeError');
    expect(out.message.startsWith('Error in inference server:\nTraceback')).toBe(true);
    expect(out.message).toContain('OpenpiEdgeError [BAD_OBSERVATION]: the test asked this policy to fail');
    expect(out.message).toContain('"key":"prompt"');
    const after = await drive<{ results: InferResult[] }>('infer', ['--port', port, '--n', '1']);
    expect(after.results[0]?.actions_equal).toBe(true);
  });

  it('answers /healthz to urllib with 200 "OK\\n" text/plain', async () => {
    const { port } = await serve(new SumPolicy());
    const out = await drive<{ status: number; body: string; content_type: string }>('healthz', [
      '--port',
      port,
    ]);
    expect(out).toEqual({ status: 200, body: 'OK\n', content_type: 'text/plain; charset=utf-8' });
  });

  it("accepts openpi's api_key header and refuses a wrong or missing key with HTTP 401", async () => {
    const policy = new SumPolicy();
    const { port } = await serve(policy, { apiKey: 'k-123', metadata: { reset_pose: RESET_POSE } });
    const ok = await drive<{ results: InferResult[] }>('infer', [
      '--port',
      port,
      '--n',
      '1',
      '--api-key',
      'k-123',
    ]);
    expect(ok.results[0]?.actions_equal).toBe(true);
    for (const extra of [['--api-key', 'wrong'], []]) {
      const refused = await drive<{ raised: boolean; type: string; status: number | null }>('connect-fail', [
        '--port',
        port,
        ...extra,
      ]);
      expect(refused).toMatchObject({ raised: true, type: 'InvalidStatus', status: 401 });
    }
    expect(policy.received).toHaveLength(1);
  });
});
