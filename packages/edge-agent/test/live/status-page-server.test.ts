/**
 * live/status-page-server.ts on loopback: the page is served, a connected page gets hello / state, throttled tick
 * updates, frames and chunks at once; the e-stop request over the websocket and over POST /estop reaches `onEstop`;
 * the hold after the latch is measured in ticks; bad paths, methods, origins and messages are answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { StatusPageServer } from '../../src/live/status-page-server.js';

const servers: StatusPageServer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close();
});

const JOINTS = ['a', 'b'];

async function start(
  estops: string[] = [],
): Promise<{ server: StatusPageServer; url: string; port: number }> {
  const server = new StatusPageServer({
    port: 0,
    joints: JOINTS,
    cameras: ['cam_high'],
    metadata: { robot: 'test-bot' },
    updateHz: 50,
    onEstop: (r) => estops.push(r),
  });
  servers.push(server);
  const { url, port } = await server.listen();
  return { server, url, port };
}

interface PageSocket {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  next(type: string, pred?: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

async function page(port: number, headers: Record<string, string> = {}): Promise<PageSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers });
  sockets.push(ws);
  const messages: Record<string, unknown>[] = [];
  const waiters: {
    type: string;
    pred: (m: Record<string, unknown>) => boolean;
    resolve: (m: Record<string, unknown>) => void;
  }[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as Record<string, unknown>;
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.type === m.type && w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    next(type, pred = () => true) {
      const seen = messages.find((m) => m.type === type && pred(m));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ type, pred, resolve });
        setTimeout(() => reject(new Error(`no ${type} message`)), 3000).unref();
      });
    },
  };
}

function tick(
  server: StatusPageServer,
  step: number,
  at: number,
  decision = 'move',
  faults: string[] = [],
): void {
  server.write('/joint_states', at, {
    joints: JOINTS.map((name, i) => ({ name, position: step * 0.01 + i })),
  });
  server.write('/safety/decision', at, {
    episode: 0,
    step,
    decision,
    faults,
    command: decision === 'move' ? [step * 0.01, 1 + step * 0.01] : null,
  });
  server.write('/loop/timing', at, { episode: 0, step, jitter_ms: 0.1 * step, period_ms: 20 });
}

describe('StatusPageServer', () => {
  it('binds loopback by default and serves the page at / with the robot layout', async () => {
    const { url } = await start();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('<button id="estop"');
    expect(html).toContain('"joints":["a","b"]');
    expect(html).toContain('openpi-edge · test-bot');
    const head = await fetch(`${url}/index.html`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('answers bad requests: unknown path 404, wrong method 405, cross-origin 403, websocket elsewhere than /ws', async () => {
    const estops: string[] = [];
    const { server, url, port } = await start(estops);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    const post = await fetch(`${url}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${url}/estop`)).status).toBe(405);
    const cross = await fetch(`${url}/estop`, { method: 'POST', headers: { origin: 'http://evil.example' } });
    expect(cross.status).toBe(403);
    expect(estops).toEqual([]);
    const wrongPath = new WebSocket(`ws://127.0.0.1:${port}/other`);
    sockets.push(wrongPath);
    await expect(new Promise((_, reject) => wrongPath.once('error', reject))).rejects.toThrow(/404/);
    const crossWs = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      headers: { origin: 'http://evil.example' },
    });
    sockets.push(crossWs);
    await expect(new Promise((_, reject) => crossWs.once('error', reject))).rejects.toThrow(/403/);
    expect(server.stats().badRequests).toBe(6);
  });

  it('accepts a same-origin page and refuses malformed or unknown messages, keeping the connection', async () => {
    const { port } = await start();
    const p = await page(port, { origin: `http://127.0.0.1:${port}` });
    const hello = await p.next('hello');
    expect(hello.joints).toEqual(JOINTS);
    expect(hello.cameras).toEqual(['cam_high']);
    expect((await p.next('estop', (m) => m.event === 'state')).latched).toBe(false);
    p.ws.send('{not json');
    expect((await p.next('error')).message).toBe('malformed JSON');
    p.ws.send(JSON.stringify({ type: 'subscribe' }));
    expect((await p.next('error', (m) => String(m.message).includes('unknown'))).message).toContain(
      '"subscribe"',
    );
    p.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await p.next('error', (m) => String(m.message).includes('binary'));
    p.ws.send(JSON.stringify({ type: 'ping', id: 7 }));
    expect((await p.next('pong')).id).toBe(7);
  });

  it('costs nothing without a page, then batches ticks into throttled updates and sends frames and chunks at once', async () => {
    const { server, port } = await start();
    tick(server, 0, 0);
    expect(server.stats().handled).toBe(0);
    const p = await page(port);
    await p.next('hello');
    for (let s = 1; s <= 5; s++) tick(server, s, s * 20);
    server.write('/camera/cam_high', 100, { frame_id: 'cam_high', format: 'jpeg', data: '/9j/AAA=' });
    server.write('/policy/chunk', 100, {
      index: 3,
      episode: 0,
      step: 5,
      latency_ms: 42.5,
      shape: [50, 2],
      error: null,
    });
    const frame = await p.next('frame');
    expect(frame).toMatchObject({ camera: 'cam_high', format: 'jpeg', data: '/9j/AAA=' });
    expect(await p.next('chunk')).toMatchObject({ index: 3, step: 5, latencyMs: 42.5 });
    const ticks = await p.next('ticks');
    expect(ticks.step).toEqual([1, 2, 3, 4, 5]);
    expect((ticks.pos as number[][])[0]).toEqual([0.01, 1.01]);
    expect((ticks.cmd as number[][])[4]).toEqual([0.05, 1.05]);
    expect(ticks.jitter).toEqual([0.1, 0.2, 0.30000000000000004, 0.4, 0.5]);
    // one update for all five ticks (throttled), not one per tick
    expect(p.messages.filter((m) => m.type === 'ticks')).toHaveLength(1);
    expect(server.stats().handled).toBe(17);
    expect(server.stats().workMs).toBeGreaterThan(0);
    // a page that connects later gets the last frame and chunk at once
    const late = await page(port);
    expect((await late.next('frame')).data).toBe('/9j/AAA=');
    expect((await late.next('chunk')).index).toBe(3);
  });

  it('passes an e-stop request on, and measures the hold: ticks and ms from the latch to the first held tick', async () => {
    const estops: string[] = [];
    const { server, port } = await start(estops);
    const p = await page(port);
    await p.next('hello');
    p.ws.send(JSON.stringify({ type: 'estop', id: 1, reason: 'operator pressed it' }));
    expect((await p.next('estop-ack')).id).toBe(1);
    expect(estops).toEqual(['operator pressed it']);
    // the loop latches and says so through the recorder, then its next tick holds
    tick(server, 10, 200);
    server.write('/safety/estop', 205, {
      event: 'triggered',
      source: 'status-page',
      reason: 'operator pressed it',
    });
    const latched = await p.next('estop', (m) => m.event === 'triggered');
    expect(latched).toMatchObject({ latched: true, source: 'status-page', atMs: 205, ticksToHold: null });
    expect(typeof latched.requestToLatchMs).toBe('number');
    tick(server, 11, 220, 'hold', ['E_STOP']);
    const held = await p.next('estop', (m) => m.event === 'held');
    expect(held).toMatchObject({ latched: true, ticksToHold: 1, latchToHoldMs: 15, heldStep: 11 });
    expect(server.estopState().heldStep).toBe(11);
    expect(server.stats().estops).toBe(1);
  });

  it('takes POST /estop (same origin or none) with the body as the reason', async () => {
    const estops: string[] = [];
    const { url, port } = await start(estops);
    const r = await fetch(`${url}/estop`, { method: 'POST', body: 'from curl' });
    expect(r.status).toBe(202);
    const same = await fetch(`${url}/estop`, {
      method: 'POST',
      headers: { origin: `http://127.0.0.1:${port}` },
    });
    expect(same.status).toBe(202);
    expect(estops).toEqual(['from curl', 'e-stop requested over HTTP']);
    const status = (await (await fetch(`${url}/status.json`)).json()) as { stats: { estops: number } };
    expect(status.stats.estops).toBe(2);
  });

  it('refuses an invalid port or rate, and a port in use with BAD_ARGUMENT', async () => {
    expect(() => new StatusPageServer({ port: 70000, joints: [], cameras: [], onEstop: () => {} })).toThrow(
      /0\.\.65535/,
    );
    expect(
      () => new StatusPageServer({ port: 0, updateHz: 0, joints: [], cameras: [], onEstop: () => {} }),
    ).toThrow(/updateHz/);
    const { port } = await start();
    const again = new StatusPageServer({ port, joints: [], cameras: [], onEstop: () => {} });
    await expect(again.listen()).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
