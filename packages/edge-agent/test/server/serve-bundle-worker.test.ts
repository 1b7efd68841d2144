/**
 * serveBundle runs its policy in a worker thread: while one client's chunk is being computed (the worker's thread
 * blocked inside the request, as a long onnxruntime graph blocks it), another client's websocket handshake and
 * metadata frame, and the HTTP health check, complete first. Ordering only: the test hook's gate holds the first
 * inference until the other connection is done, so nothing here depends on how long anything takes.
 */
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NDArray } from '../../../client/src/ndarray.js';
import { WebsocketClientPolicy } from '../../../client/src/websocket-client-policy.js';
import { WorkerPolicy } from '../../src/inference/worker-policy.js';
import { type Golden, readGolden } from '../../src/model/golden.js';
import { type ServingBundle, serveBundle } from '../../src/server/serve-bundle.js';
import { waitWhile } from '../inference/helpers.js';
import { DEMO_BUNDLES } from '../model/helpers.js';

const gate = new SharedArrayBuffer(8);
const g = new Int32Array(gate);
let serving: ServingBundle;
let golden: Golden;
const clients: WebsocketClientPolicy[] = [];

async function connect(): Promise<WebsocketClientPolicy> {
  const c = await WebsocketClientPolicy.connect({ host: '127.0.0.1', port: serving.address.port });
  clients.push(c);
  return c;
}

function healthz(): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${serving.address.port}/healthz`, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
}

/** Resolves once the worker has entered request number `n` (and is blocked at the gate). */
async function entered(n: number): Promise<void> {
  for (;;) {
    const now = Atomics.load(g, 1);
    if (now >= n) return;
    await waitWhile(g, 1, now);
  }
}

function release(n: number): void {
  Atomics.store(g, 0, n);
  Atomics.notify(g, 0);
}

beforeAll(async () => {
  serving = await serveBundle({
    bundle: DEMO_BUNDLES.pi0,
    host: '127.0.0.1',
    port: 0,
    executionProviders: [{ name: 'cpu', threads: 1 }],
    seed: 2,
    logger: { warn: () => {} },
    testHooks: { gate },
  });
  golden = await readGolden(`${DEMO_BUNDLES.pi0}/golden.json`);
});
afterAll(async () => {
  release(1_000);
  await Promise.all(clients.map((c) => c.close()));
  await serving.close();
});

describe('serveBundle with the policy in a worker', () => {
  it('exposes the WorkerPolicy (manifest, report, dir, stats)', () => {
    expect(serving.policy).toBeInstanceOf(WorkerPolicy);
    expect(serving.policy.manifest.model_type).toBe('pi0');
    expect(serving.policy.report.provider.name).toBe('cpu');
    expect(serving.policy.dir).toBe(DEMO_BUNDLES.pi0);
    expect(serving.policy.stats).toEqual({ restarts: 0, crashes: 0, hangs: 0 });
  });

  it("completes a second client's handshake + metadata and /healthz before the first client's chunk arrives", async () => {
    const order: string[] = [];
    const first = await connect();
    const reply = first.infer(golden.rawObservation).then((out) => {
      order.push('first client: chunk');
      return out;
    });
    await entered(1); // the worker's thread is now inside the first client's request
    const second = await connect();
    order.push('second client: connected');
    expect(second.getServerMetadata()).toEqual({ reset_pose: [0, -0.96, 1.16, 0, -0.3, 0] });
    expect(await healthz()).toBe(200);
    order.push('healthz: 200');
    release(1);
    const out = await reply;
    expect((out.actions as NDArray).shape).toEqual([50, 14]);
    expect(order).toEqual(['second client: connected', 'healthz: 200', 'first client: chunk']);
    // The second client is served next.
    const next = second.infer(golden.rawObservation);
    await entered(2);
    release(2);
    expect(((await next).actions as NDArray).shape).toEqual([50, 14]);
  });
});
