/**
 * serveBundle with our own TypeScript client over real TCP: metadata frame from the manifest, policy results with
 * openpi's keys, bad observations answered with the error text while the server keeps serving, and the HTTP health
 * check answered while a chunk is being computed (onnxruntime-node runs off the event loop).
 */
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError, ServerError } from '../../../client/src/errors.js';
import type { NDArray } from '../../../client/src/ndarray.js';
import { WebsocketClientPolicy } from '../../../client/src/websocket-client-policy.js';
import { type Golden, readGolden } from '../../src/model/golden.js';
import { type ServingBundle, serveBundle } from '../../src/server/serve-bundle.js';
import { DEMO_BUNDLES } from '../model/helpers.js';

let serving: ServingBundle;
let golden: Golden;
const clients: WebsocketClientPolicy[] = [];

async function client(): Promise<WebsocketClientPolicy> {
  const c = await WebsocketClientPolicy.connect({ host: '127.0.0.1', port: serving.address.port });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  serving = await serveBundle({
    bundle: DEMO_BUNDLES.pi05,
    host: '127.0.0.1',
    port: 0,
    executionProviders: ['cpu'],
    seed: 3,
    logger: { warn: () => {} },
  });
  golden = await readGolden(`${DEMO_BUNDLES.pi05}/golden.json`);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await serving.close();
});

describe('serveBundle (demo π0.5)', () => {
  it('sends the manifest metadata and answers with float64 actions and timings', async () => {
    const c = await client();
    expect(c.getServerMetadata()).toEqual({ reset_pose: [0, -0.96, 1.16, 0, -0.3, 0] });
    const out = await c.infer(golden.rawObservation);
    const actions = out.actions as NDArray<'float64'>;
    expect(actions.dtype).toBe('float64');
    expect(actions.shape).toEqual([50, 14]);
    expect(Object.keys(out).sort()).toEqual(['actions', 'policy_timing', 'server_timing']);
    expect(Object.keys(out.policy_timing as object)).toContain('infer_ms');
  });

  it('answers a bad observation with the error text and serves the next connection', async () => {
    const c = await client();
    const { cam_high: _dropped, ...images } = golden.rawObservation.images as Record<string, NDArray>;
    const err = await c.infer({ ...golden.rawObservation, images }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).traceback).toMatch(/BAD_OBSERVATION[\s\S]*cam_high/);
    const next = await client();
    const out = await next.infer(golden.rawObservation);
    expect((out.actions as NDArray).shape).toEqual([50, 14]);
  });

  it('answers /healthz alongside an in-flight infer request', async () => {
    const c = await client();
    let inferDone = false;
    const pending = c.infer(golden.rawObservation).then(() => {
      inferDone = true;
    });
    const status = await new Promise<number | undefined>((resolve, reject) => {
      get(`http://127.0.0.1:${serving.address.port}/healthz`, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    expect(status).toBe(200);
    await pending;
    expect(inferDone).toBe(true);
  });

  it('fails to bind a taken port and releases the policy', async () => {
    const err = await serveBundle({
      bundle: DEMO_BUNDLES.pi0,
      host: '127.0.0.1',
      port: serving.address.port,
      executionProviders: ['cpu'],
      warmup: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    expect((err as OpenpiEdgeError).code).toBe('BAD_ARGUMENT');
  });
});
