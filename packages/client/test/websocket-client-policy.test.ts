/**
 * WebsocketClientPolicy against an in-process `ws` server this test controls frame by frame: metadata, lock-step
 * queueing, dropped connections, timeouts, text replies, malformed replies, auth header, retries, close().
 * (Compatibility with a real openpi-codec Python server: test/compat-client.test.ts.)
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { isOpenpiEdgeError, OpenpiEdgeError, ServerError } from '../src/errors.js';
import { packNumpy, unpackNumpy } from '../src/msgpack-numpy.js';
import { ndarray, type Value } from '../src/ndarray.js';
import type { Obs } from '../src/policy.js';
import { buildUri } from '../src/uri.js';
import { type ConnectionStateEvent, WebsocketClientPolicy } from '../src/websocket-client-policy.js';

type OnRequest = (obs: Value, sock: WebSocket, n: number) => void;

interface TestServer {
  port: number;
  wss: WebSocketServer;
  headers: Record<string, string | string[] | undefined>[];
  sockets: WebSocket[];
  received: Value[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const clients: WebsocketClientPolicy[] = [];

/** A ws server that sends `metadata` on connect (unless null) and answers each request through `onRequest`. */
async function startServer(
  onRequest: OnRequest = (obs, sock) => sock.send(packNumpy({ echo: obs })),
  metadata: Value | null = {},
  port = 0,
): Promise<TestServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const s: TestServer = {
    port: (wss.address() as AddressInfo).port,
    wss,
    headers: [],
    sockets: [],
    received: [],
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
  wss.on('connection', (sock, req) => {
    s.headers.push(req.headers);
    s.sockets.push(sock);
    if (metadata !== null) sock.send(packNumpy(metadata));
    let n = 0;
    sock.on('message', (data: RawData) => {
      const obs = unpackNumpy(new Uint8Array(data as Buffer));
      s.received.push(obs);
      onRequest(obs, sock, n++);
    });
  });
  servers.push(s);
  return s;
}

function client(port: number, extra: Partial<ConstructorParameters<typeof WebsocketClientPolicy>[0]> = {}) {
  const c = new WebsocketClientPolicy({
    host: '127.0.0.1',
    port,
    reconnect: { maxAttempts: 1 },
    connectTimeoutMs: 5000,
    ...extra,
  });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<OpenpiEdgeError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenpiEdgeError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('buildUri (openpi rules)', () => {
  it('prefixes ws:// unless the host starts with ws, and appends :port', () => {
    expect(buildUri()).toBe('ws://0.0.0.0');
    expect(buildUri('localhost', 8000)).toBe('ws://localhost:8000');
    expect(buildUri('wss://policy.example.com')).toBe('wss://policy.example.com');
    expect(buildUri('ws://h', 9)).toBe('ws://h:9');
    expect(() => buildUri('h', 70000)).toThrow(OpenpiEdgeError);
  });
});

describe('WebsocketClientPolicy against an in-process ws server', () => {
  it('reads the metadata frame first, then answers in lock-step', async () => {
    const s = await startServer(undefined, { reset_pose: [0, -1.5, 1.5, 0, 0, 0] });
    const c = await WebsocketClientPolicy.connect({ host: `ws://127.0.0.1:${s.port}` });
    clients.push(c);
    expect(c.getServerMetadata()).toEqual({ reset_pose: [0, -1.5, 1.5, 0, 0, 0] });
    const state = ndarray('float32', [2], new Float32Array([1, 2]));
    const r = await c.infer({ state, prompt: 'p' });
    expect(r).toEqual({ echo: { state, prompt: 'p' } });
    expect(s.headers[0]?.authorization).toBeUndefined();
    expect(s.headers[0]?.['sec-websocket-extensions']).toBeUndefined(); // no permessage-deflate offered
  });

  it('sends Authorization: Api-Key <key>', async () => {
    const s = await startServer();
    await client(s.port, { apiKey: 'secret' }).connect();
    expect(s.headers[0]?.authorization).toBe('Api-Key secret');
  });

  it('queues concurrent infer calls in call order, one in flight at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const s = await startServer((obs, sock) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // answer out of a timer so that later requests would overtake if the client pipelined
      setTimeout(() => {
        inFlight--;
        sock.send(packNumpy({ i: (obs as Obs).i ?? null }));
      }, 5);
    });
    const c = client(s.port);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.infer({ i })));
    expect(results.map((r) => r.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(s.received.map((o) => (o as Obs).i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxInFlight).toBe(1);
  });

  it('rejects a text reply with ServerError carrying the text, then reconnects', async () => {
    const s = await startServer((_obs, sock, n) => {
      if (n === 0 && s.sockets.length === 1) {
        sock.send('Traceback (most recent call last):\nValueError: nope');
        sock.close(1011, 'Internal server error. Traceback included in previous frame.');
      } else sock.send(packNumpy({ ok: true }));
    });
    const c = client(s.port);
    const e = await rejection(c.infer({ a: 1 }));
    expect(e).toBeInstanceOf(ServerError);
    expect((e as ServerError).traceback).toBe('Traceback (most recent call last):\nValueError: nope');
    expect(await c.infer({ a: 2 })).toEqual({ ok: true });
    expect(s.sockets).toHaveLength(2);
  });

  it('fails the request in flight with CONNECTION_CLOSED when the connection drops; the next infer reconnects', async () => {
    const states: string[] = [];
    const s = await startServer((_obs, sock, n) => {
      if (s.sockets.length === 1 && n === 1) sock.terminate();
      else sock.send(packNumpy({ n }));
    });
    const c = client(s.port, { onStateChange: (ev: ConnectionStateEvent) => states.push(ev.state) });
    expect(await c.infer({})).toEqual({ n: 0 });
    const e = await rejection(c.infer({}));
    expect(e.code).toBe('CONNECTION_CLOSED');
    expect(e.context).toMatchObject({ closeCode: 1006 });
    expect(await c.infer({})).toEqual({ n: 0 });
    expect(states).toEqual(['connecting', 'connected', 'disconnected', 'reconnecting', 'connected']);
  });

  it('times out a request with REQUEST_TIMEOUT and does not mix the late reply into the next request', async () => {
    const s = await startServer((obs, sock) => {
      const o = obs as Obs;
      setTimeout(() => sock.send(packNumpy({ id: o.id ?? null })), o.id === 'slow' ? 300 : 0);
    });
    const c = client(s.port, { requestTimeoutMs: 100 });
    const e = await rejection(c.infer({ id: 'slow' }));
    expect(e.code).toBe('REQUEST_TIMEOUT');
    expect(e.context).toMatchObject({ timeoutMs: 100 });
    expect(await c.infer({ id: 'fast' })).toEqual({ id: 'fast' });
    expect(s.sockets.length).toBe(2);
  });

  it('rejects a malformed reply with BAD_MESSAGE and keeps serving', async () => {
    const s = await startServer((_obs, sock, n) => {
      if (n === 0)
        sock.send(new Uint8Array([0x93, 0x01])); // array of 3 with one element
      else if (n === 1)
        sock.send(packNumpy([1, 2])); // not a dict
      else sock.send(packNumpy({ fine: 1 }));
    });
    const c = client(s.port);
    expect((await rejection(c.infer({}))).code).toBe('BAD_MESSAGE');
    expect((await rejection(c.infer({}))).code).toBe('BAD_MESSAGE');
    expect(await c.infer({})).toEqual({ fine: 1 });
    expect(s.sockets).toHaveLength(1);
  });

  it('refuses an observation it cannot encode without touching the connection', async () => {
    const s = await startServer();
    const c = client(s.port);
    await c.connect();
    const e = await rejection(c.infer({ bad: undefined } as unknown as Obs));
    expect(e.code).toBe('ENCODE_FAILED');
    expect(e.context.path).toBe('bad');
    expect(await c.infer({ ok: 1 })).toEqual({ echo: { ok: 1 } });
  });

  it('enforces maxMessageBytes on replies', async () => {
    const s = await startServer((_obs, sock) => sock.send(packNumpy({ big: new Uint8Array(5000) })));
    const c = client(s.port, { maxMessageBytes: 1000 });
    const e = await rejection(c.infer({}));
    expect(e.code).toBe('MESSAGE_TOO_LARGE');
  });

  it('close() rejects in-flight and queued calls with CLOSED, and later calls too', async () => {
    const s = await startServer(() => {}); // never answers
    const c = client(s.port);
    await c.connect();
    const calls = [c.infer({ a: 1 }), c.infer({ a: 2 }), c.infer({ a: 3 })].map(rejection);
    while (s.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    await c.close();
    for (const p of calls) expect((await p).code).toBe('CLOSED');
    expect((await rejection(c.infer({}))).code).toBe('CLOSED');
    expect(c.state).toBe('closed');
    expect(s.received).toHaveLength(1); // the queued ones never went out
  });

  it('fails with NOT_CONNECTED after maxAttempts on a refused port, retrying with backoff', async () => {
    const s = await startServer();
    const port = s.port;
    await s.close();
    servers.length = 0;
    const events: ConnectionStateEvent[] = [];
    const c = client(port, {
      reconnect: { maxAttempts: 3, initialDelayMs: 10, jitter: 0 },
      onStateChange: (e: ConnectionStateEvent) => events.push(e),
    });
    const e = await rejection(c.connect());
    expect(e.code).toBe('NOT_CONNECTED');
    expect(e.context).toMatchObject({ attempts: 3, cause: 'ECONNREFUSED' });
    expect(events.filter((x) => x.state === 'reconnecting').map((x) => x.delayMs)).toEqual([10, 20]);
    expect(events.at(-1)?.state).toBe('disconnected');
  });

  it('waits for a server that starts later (openpi keeps retrying on connection refused)', async () => {
    const probe = await startServer();
    const port = probe.port;
    await probe.close();
    servers.length = 0;
    const c = client(port, { reconnect: { maxAttempts: 50, initialDelayMs: 20, maxDelayMs: 50 } });
    let reconnecting = 0;
    c.onStateChange((e) => {
      if (e.state === 'reconnecting') reconnecting++;
    });
    const connected = c.connect();
    while (reconnecting < 2) await new Promise((r) => setTimeout(r, 10));
    await startServer(undefined, { late: true }, port);
    await connected;
    expect(c.getServerMetadata()).toEqual({ late: true });
  });

  it('gives CONNECT_TIMEOUT when no metadata frame arrives', async () => {
    const s = await startServer(undefined, null);
    const e = await rejection(client(s.port, { connectTimeoutMs: 100 }).connect());
    expect(e.code).toBe('CONNECT_TIMEOUT');
    expect(e.context).toMatchObject({ timeoutMs: 100, attempts: 1 });
  });

  it('maps an HTTP 401 to UNAUTHORIZED without retrying', async () => {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (_info, cb) => cb(false, 401, 'Unauthorized'),
    });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    servers.push({
      port: 0,
      wss,
      headers: [],
      sockets: [],
      received: [],
      close: () => new Promise<void>((r) => wss.close(() => r())),
    });
    const port = (wss.address() as AddressInfo).port;
    const e = await rejection(client(port, { reconnect: { maxAttempts: 5 } }).connect());
    expect(e.code).toBe('UNAUTHORIZED');
    expect(e.context).toMatchObject({ status: 401, attempts: 1 });
  });

  it('refuses bad options with BAD_ARGUMENT', () => {
    expect(() => new WebsocketClientPolicy({ port: -1 })).toThrow(OpenpiEdgeError);
    const e = (() => {
      try {
        new WebsocketClientPolicy({ requestTimeoutMs: -5 });
      } catch (x) {
        return x;
      }
    })();
    expect(isOpenpiEdgeError(e, 'BAD_ARGUMENT')).toBe(true);
  });

  it('reset() is a no-op and getServerMetadata() needs a connection', () => {
    const c = client(1);
    expect(c.reset()).toBeUndefined();
    expect(() => c.getServerMetadata()).toThrow(/connect/);
  });
});

describe('WebsocketClientPolicy against a listener that never answers the handshake', () => {
  // A TCP port taken by something that accepts and stays silent: the websocket handshake stays pending.
  async function silentListener(): Promise<{ port: number; close: () => Promise<void> }> {
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as AddressInfo).port,
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    };
  }

  it('a connect timeout during the pending handshake rejects with CONNECT_TIMEOUT (no unhandled error event)', async () => {
    const l = await silentListener();
    const client = new WebsocketClientPolicy({
      host: '127.0.0.1',
      port: l.port,
      connectTimeoutMs: 150,
      reconnect: { maxAttempts: 1 },
    });
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'CONNECT_TIMEOUT',
      context: { uri: `ws://127.0.0.1:${l.port}`, timeoutMs: 150, attempts: 1 },
    });
    // Let any error the socket emits after the abort surface within the test.
    await new Promise((r) => setTimeout(r, 100));
    await client.close();
    await l.close();
  });

  it('close() during a connect attempt rejects the attempt with CLOSED at once (no unhandled error event)', async () => {
    const l = await silentListener();
    const client = new WebsocketClientPolicy({ host: '127.0.0.1', port: l.port, connectTimeoutMs: 60_000 });
    const pending = client.connect().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await client.close();
    const err = await pending;
    expect(err).toMatchObject({ code: 'CLOSED' });
    // Not the 60 s connect timeout: the attempt was abandoned by close().
    expect(Date.now() - t0).toBeLessThan(30_000);
    await new Promise((r) => setTimeout(r, 100));
    await l.close();
  });
});

describe('WebsocketClientPolicy after the server closed cleanly', () => {
  it('the next infer reconnects instead of going out on the closing socket', async () => {
    // The server answers, then closes with 1000 and stops reading: the client has the close frame but the closing
    // handshake does not finish, so its socket sits in CLOSING (as behind a slow or half-gone server).
    const server = await startServer((obs, sock, n) => {
      sock.send(packNumpy({ echo: obs }));
      if (n === 0) {
        sock.close(1000, 'server done');
        (sock as unknown as { _socket: { pause(): void } })._socket.pause();
      }
    });
    const c = client(server.port);
    expect(await c.infer({ step: 1 })).toEqual({ echo: { step: 1 } });
    // The close frame arrives right behind the reply.
    await new Promise((r) => setTimeout(r, 100));
    expect(await c.infer({ step: 2 })).toEqual({ echo: { step: 2 } });
    expect(server.sockets).toHaveLength(2);
  });
});
