/**
 * @openpi-edge/client in a real browser: test/browser/page/main.ts is bundled with esbuild for the browser
 * platform from the client's root entry, served from loopback, and run in headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core), where it uses the browser's own WebSocket. Against our
 * WebsocketPolicyServer (metadata, an ALOHA-shaped round trip, a policy error arriving as ServerError, a reconnect
 * after the server restarts on the same port) and against the real `edge-agent serve` CLI on the demo π0 bundle.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NDArray, ndarray, type Obs } from '../../packages/client/src/index.js';
import { WebsocketPolicyServer } from '../../packages/client/src/node/websocket-policy-server.js';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../chromium.js';
import { startServeProcess } from '../serve-process.js';
import type { ErrorSummary, InferSummary, OpenpiTestApi } from './page/api.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'packages', 'edge-agent', 'bin', 'edge-agent.js');
const METADATA = { reset_pose: [0, -0.96, 1.16, 0, -0.3, 0], served_by: 'browser-test' };

/**
 * The test policy: actions[r][j] = state[j] + r as float32 [50, 14]; the prompt 'raise' makes it throw, the way a
 * policy bug surfaces to openpi clients (error text frame, close 1011).
 */
const policy = {
  async infer(obs: Obs): Promise<Obs> {
    if (obs.prompt === 'raise') throw new Error('policy refused: prompt was raise');
    const state = (obs.state as NDArray<'float32'>).data;
    const images = obs.images as Record<string, NDArray<'uint8'>>;
    if (Object.keys(images).length !== 4) throw new Error(`expected 4 cameras, got ${Object.keys(images)}`);
    const out = new Float32Array(50 * 14);
    for (let r = 0; r < 50; r++) for (let j = 0; j < 14; j++) out[r * 14 + j] = (state[j] as number) + r;
    return { actions: ndarray('float32', [50, 14], out) };
  },
  reset(): void {},
};

let http: Server;
let pageUrl: string;
let browser: Browser;
let page: Page;
let server: WebsocketPolicyServer;
let serverPort: number;
/** What the server logged as failures (the 'raise' request). */
const serverWarnings: string[] = [];

/** Calls `window.openpiTest[name](...args)` in the page. */
function call<K extends keyof OpenpiTestApi>(
  name: K,
  ...args: Parameters<OpenpiTestApi[K]>
): Promise<Awaited<ReturnType<OpenpiTestApi[K]>>> {
  return page.evaluate(
    ([n, a]) => {
      const api = (globalThis as unknown as { openpiTest: Record<string, (...x: unknown[]) => unknown> })
        .openpiTest;
      return api[n as string]?.(...(a as unknown[]));
    },
    [name, args] as const,
  ) as Promise<Awaited<ReturnType<OpenpiTestApi[K]>>>;
}

function ok(r: InferSummary | { error: ErrorSummary }): InferSummary {
  if ('error' in r) throw new Error(`infer failed in the browser: ${JSON.stringify(r.error)}`);
  return r;
}

/** Starts a server on `port` (0: any) and records the bound port. */
async function startServer(port: number): Promise<WebsocketPolicyServer> {
  const s = new WebsocketPolicyServer(policy, {
    host: '127.0.0.1',
    port,
    metadata: METADATA,
    logger: { warn: (message) => serverWarnings.push(message) },
  });
  serverPort = (await s.listen()).port;
  return s;
}

beforeAll(async () => {
  requireChromium();
  const bundle = await build({
    entryPoints: [join(root, 'test', 'browser', 'page', 'main.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    // The workspace's TypeScript sources (the `source` export condition), as a dev build of an app would.
    conditions: ['source'],
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]?.text ?? '';
  const html =
    '<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="/main.js"></script>';
  http = createServer((req, res) => {
    if (req.url === '/main.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  pageUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;

  server = await startServer(0);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(pageUrl);
  await page.waitForFunction("document.title.endsWith('ready')", undefined, { timeout: 20_000 }).catch(() => {
    throw new Error(`the page did not start: ${pageErrors.join('; ')}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
});

describe('@openpi-edge/client bundled for the browser, in headless Chromium', () => {
  it('runs in a browser (no Node process global)', async () => {
    const env = await call('environment');
    expect(env.hasProcess).toBe(false);
    expect(env.userAgent).toMatch(/HeadlessChrome|Chrome/);
  });

  it('receives the metadata frame and does an ALOHA-shaped round trip against WebsocketPolicyServer', async () => {
    const meta = await call('connect', `ws://127.0.0.1:${serverPort}`);
    expect(meta).toEqual(METADATA);
    const r = ok(await call('infer', 3, 'fold the towel'));
    expect(r.keys).toEqual(['actions', 'server_timing']);
    expect(r.dtype).toBe('float32');
    expect(r.shape).toEqual([50, 14]);
    expect(r.first).toEqual(Array.from(new Float32Array(14).map((_, j) => 3 + j / 100)));
    expect(r.finite).toBe(true);
    expect(r.serverTimingKeys).toContain('infer_ms');
  });

  it('surfaces a policy error as ServerError with the traceback, then reconnects for the next request', async () => {
    const r = await call('infer', 1, 'raise');
    if (!('error' in r)) throw new Error(`expected an error, got ${JSON.stringify(r)}`);
    expect(r.error.isServerError).toBe(true);
    expect(r.error.code).toBe('SERVER_ERROR');
    expect(r.error.message).toContain('policy refused: prompt was raise');
    expect(serverWarnings.length).toBe(1);
    const next = ok(await call('infer', 2, 'go on'));
    expect(next.first[0]).toBeCloseTo(2, 5);
  });

  it('reconnects after the server restarts on the same port', async () => {
    ok(await call('infer', 4, 'before'));
    await server.close();
    server = await startServer(serverPort);
    const after = ok(await call('infer', 5, 'after'));
    expect(after.first[0]).toBeCloseTo(5, 5);
    expect(await call('state')).toBe('connected');
    expect(server.stats().totalConnections).toBe(1);
  });

  it('talks to the real edge-agent serve (demo π0 bundle)', async () => {
    const served = await startServeProcess(
      process.execPath,
      [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--seed', '3'],
      { cwd: root },
    );
    try {
      const port = served.port;
      const meta = await call('connect', `ws://127.0.0.1:${port}`);
      expect(meta).toEqual({ reset_pose: [0, -0.96, 1.16, 0, -0.3, 0] });
      const r = ok(await call('infer', 0, 'pick up the cube'));
      expect(r.shape).toEqual([50, 14]);
      expect(r.finite).toBe(true);
      expect(r.keys).toEqual(['actions', 'policy_timing', 'server_timing']);
      await call('close');
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 120_000);
});
