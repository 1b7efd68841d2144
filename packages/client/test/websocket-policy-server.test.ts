/**
 * Protocol edge cases of WebsocketPolicyServer, checked with a raw `ws` client over real TCP on loopback.
 * The openpi Python client's view is in test/compat-server.test.ts.
 */
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClientOptions, WebSocket } from 'ws';
import { isOpenpiEdgeError, OpenpiEdgeError } from '../src/errors.js';
import { packNumpy, unpackNumpy } from '../src/msgpack-numpy.js';
import { isNDArray, ndarray, type Value } from '../src/ndarray.js';
import {
  INTERNAL_ERROR_REASON,
  type ServerLogger,
  WebsocketPolicyServer,
  type WebsocketPolicyServerOptions,
} from '../src/node/websocket-policy-server.js';
import type { BasePolicy, Obs } from '../src/policy.js';

// ---------------------------------------------------------------------------------------------------------------
// helpers

type PeerEvent =
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'text'; text: string }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'ping' };

/** A raw websocket client whose incoming frames, pings and close are read one at a time, in order. */
class Peer {
  readonly ws: WebSocket;
  private readonly events: PeerEvent[] = [];
  private readonly waiters: Array<(e: PeerEvent) => void> = [];
  /** Whether 'ping' events are queued (off by default so the frame order stays simple to read). */
  private readonly recordPings: boolean;

  private constructor(ws: WebSocket, recordPings: boolean) {
    this.ws = ws;
    this.recordPings = recordPings;
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      this.push(
        isBinary ? { kind: 'binary', bytes: new Uint8Array(data) } : { kind: 'text', text: data.toString() },
      ),
    );
    ws.on('ping', () => {
      if (this.recordPings) this.push({ kind: 'ping' });
    });
    ws.on('close', (code: number, reason: Buffer) =>
      this.push({ kind: 'close', code, reason: reason.toString() }),
    );
  }

  static open(url: string, options: ClientOptions & { recordPings?: boolean } = {}): Promise<Peer> {
    const { recordPings = false, ...wsOptions } = options;
    const ws = new WebSocket(url, { perMessageDeflate: false, ...wsOptions });
    const peer = new Peer(ws, recordPings);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(peer));
      ws.once('error', reject);
    });
  }

  private push(e: PeerEvent): void {
    const w = this.waiters.shift();
    if (w) w(e);
    else this.events.push(e);
  }

  next(): Promise<PeerEvent> {
    const e = this.events.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async nextBinary(): Promise<Uint8Array> {
    const e = await this.next();
    if (e.kind !== 'binary') throw new Error(`expected a binary frame, got ${JSON.stringify(e)}`);
    return e.bytes;
  }

  /** Sends one observation and decodes the reply. */
  async infer(obs: Obs): Promise<Obs> {
    this.ws.send(packNumpy(obs));
    const reply = unpackNumpy(await this.nextBinary());
    return reply as Obs;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** HTTP status of a refused upgrade (or 101 when it was accepted). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

interface CapturedLogger extends ServerLogger {
  warnings: string[];
}

function captureLogger(): CapturedLogger {
  const warnings: string[] = [];
  return { warnings, warn: (m) => warnings.push(m) };
}

const servers: WebsocketPolicyServer[] = [];
const peers: Peer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(policy: BasePolicy, options: WebsocketPolicyServerOptions = {}) {
  const logger = captureLogger();
  const server = new WebsocketPolicyServer(policy, { port: 0, logger, ...options });
  servers.push(server);
  const address = await server.listen();
  return { server, address, logger, url: address.url };
}

async function connect(url: string, options: ClientOptions & { recordPings?: boolean } = {}): Promise<Peer> {
  const p = await Peer.open(url, options);
  peers.push(p);
  return p;
}

/** Returns `{actions: state * 2}` and counts calls. */
class DoublingPolicy implements BasePolicy {
  calls = 0;
  async infer(obs: Obs): Promise<Obs> {
    this.calls++;
    const state = obs.state;
    if (!isNDArray(state) || state.dtype !== 'float32') {
      throw new OpenpiEdgeError('BAD_OBSERVATION', 'state must be a float32 array', { key: 'state' });
    }
    const data = Float32Array.from(state.data as Float32Array, (x) => x * 2);
    return { actions: ndarray('float32', state.shape, data) };
  }
  reset(): void {}
}

function stateObs(values: number[]): Obs {
  return { state: ndarray('float32', [values.length], Float32Array.from(values)) };
}

function timing(reply: Obs): Record<string, Value> {
  const t = reply.server_timing;
  if (typeof t !== 'object' || t === null || Array.isArray(t) || isNDArray(t)) {
    throw new Error(`server_timing missing: ${JSON.stringify(Object.keys(reply))}`);
  }
  return t as Record<string, Value>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A promise with its resolver, for policies the test releases by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

// ---------------------------------------------------------------------------------------------------------------

describe('WebsocketPolicyServer: handshake and metadata', () => {
  it('sends an empty msgpack map (0x80) as the first frame by default', async () => {
    const { url } = await serve(new DoublingPolicy());
    const peer = await connect(url);
    expect(await peer.nextBinary()).toEqual(new Uint8Array([0x80]));
  });

  it('sends the metadata encoded like openpi as the first frame, before any request', async () => {
    const metadata = { reset_pose: [0, -1.5, 1.5, 0, 0, 0] };
    const { url } = await serve(new DoublingPolicy(), { metadata });
    const peer = await connect(url);
    const first = await peer.nextBinary();
    // fixmap(1), fixstr(10) "reset_pose", fixarray(6), then ints as positive fixint and floats as float64.
    const f64 = (x: number): number[] => {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, x);
      return [0xcb, ...new Uint8Array(b.buffer)];
    };
    const expected = [
      0x81,
      0xaa,
      ...new TextEncoder().encode('reset_pose'),
      0x96,
      0x00,
      ...f64(-1.5),
      ...f64(1.5),
      0x00,
      0x00,
      0x00,
    ];
    expect([...first]).toEqual(expected);
    expect(first).toEqual(packNumpy(metadata));
  });

  it('accepts the upgrade on any path, like openpi', async () => {
    const { url } = await serve(new DoublingPolicy());
    const peer = await connect(`${url}/some/other/path?x=1`);
    expect(await peer.nextBinary()).toEqual(new Uint8Array([0x80]));
  });

  it('negotiates no permessage-deflate even when the client offers it', async () => {
    const { url } = await serve(new DoublingPolicy());
    const peer = await connect(url, { perMessageDeflate: true });
    await peer.nextBinary();
    expect(peer.ws.extensions).toBe('');
  });
});

describe('WebsocketPolicyServer: request loop', () => {
  it('answers each request with the policy result plus server_timing; prev_total_ms from the 2nd request on', async () => {
    const policy = new DoublingPolicy();
    const { url, server } = await serve(policy);
    const peer = await connect(url);
    await peer.nextBinary();

    const r1 = await peer.infer(stateObs([1, 2, 3]));
    const a1 = r1.actions;
    expect(isNDArray(a1) && a1.dtype === 'float32' && [...(a1.data as Float32Array)]).toEqual([2, 4, 6]);
    const t1 = timing(r1);
    expect(Object.keys(t1)).toEqual(['infer_ms']);
    expect(typeof t1.infer_ms).toBe('number');

    const r2 = await peer.infer(stateObs([5]));
    const t2 = timing(r2);
    expect(Object.keys(t2).sort()).toEqual(['infer_ms', 'prev_total_ms']);
    // The previous cycle's total includes that cycle's inference.
    expect(t2.prev_total_ms as number).toBeGreaterThanOrEqual(t1.infer_ms as number);

    const r3 = await peer.infer(stateObs([7]));
    expect(timing(r3).prev_total_ms as number).toBeGreaterThanOrEqual(t2.infer_ms as number);
    expect(policy.calls).toBe(3);
    expect(server.stats()).toMatchObject({
      requests: 3,
      failures: 0,
      openConnections: 1,
      totalConnections: 1,
    });
  });

  it('decodes float32 arrays at any byte offset inside the received frame', async () => {
    const { url } = await serve(new DoublingPolicy());
    const peer = await connect(url);
    await peer.nextBinary();
    for (let pad = 0; pad < 4; pad++) {
      // The padding string shifts where the array bytes sit in the message (and so in ws's Buffer).
      const reply = await peer.infer({ pad: 'x'.repeat(pad), ...stateObs([pad, 1.5]) });
      expect(isNDArray(reply.actions) && [...(reply.actions.data as Float32Array)]).toEqual([2 * pad, 3]);
    }
  });

  it('overwrites a server_timing returned by the policy and leaves the policy result unmodified', async () => {
    const result: Obs = { actions: 1, server_timing: { infer_ms: -1 } };
    const { url } = await serve({ infer: async () => result, reset: () => {} });
    const peer = await connect(url);
    await peer.nextBinary();
    const reply = await peer.infer({});
    expect(timing(reply).infer_ms).not.toBe(-1);
    expect(result.server_timing).toEqual({ infer_ms: -1 });
  });

  it('starts prev_total_ms afresh on every connection', async () => {
    const { url } = await serve(new DoublingPolicy());
    const a = await connect(url);
    await a.nextBinary();
    await a.infer(stateObs([1]));
    expect(Object.keys(timing(await a.infer(stateObs([1]))))).toContain('prev_total_ms');
    const b = await connect(url);
    await b.nextBinary();
    expect(Object.keys(timing(await b.infer(stateObs([1]))))).toEqual(['infer_ms']);
  });
});

describe('WebsocketPolicyServer: errors', () => {
  async function expectFailure(peer: Peer): Promise<string> {
    const text = await peer.next();
    if (text.kind !== 'text') throw new Error(`expected a text frame, got ${JSON.stringify(text)}`);
    const close = await peer.next();
    expect(close).toEqual({ kind: 'close', code: 1011, reason: INTERNAL_ERROR_REASON });
    return text.text;
  }

  it('answers a text frame from the client with a traceback text frame and close 1011', async () => {
    const policy = new DoublingPolicy();
    const { url, server } = await serve(policy);
    const peer = await connect(url);
    await peer.nextBinary();
    peer.ws.send('hello');
    const text = await expectFailure(peer);
    expect(text).toContain('[BAD_MESSAGE]');
    expect(text).toContain('got a text frame of 5 bytes');
    expect(text).toContain('"frame":"text"');
    expect(policy.calls).toBe(0);
    expect(server.stats()).toMatchObject({ failures: 1, requests: 0 });
  });

  it('answers malformed msgpack with 1011 and keeps serving new connections', async () => {
    const { url, logger } = await serve(new DoublingPolicy());
    const bad = await connect(url);
    await bad.nextBinary();
    // fixmap(1) whose key claims 5 bytes of str but only 2 follow.
    bad.ws.send(new Uint8Array([0x81, 0xa5, 0x61, 0x62]));
    const text = await expectFailure(bad);
    expect(text).toMatch(/OpenpiEdgeError \[[A-Z_]+\]/);
    expect(text).toContain('    at ');
    expect(logger.warnings.some((w) => w.includes('request failed'))).toBe(true);

    const good = await connect(url);
    expect(await good.nextBinary()).toEqual(new Uint8Array([0x80]));
    const reply = await good.infer(stateObs([4]));
    expect(isNDArray(reply.actions) && [...(reply.actions.data as Float32Array)]).toEqual([8]);
  });

  it('refuses an observation that is not a map with BAD_OBSERVATION', async () => {
    const { url } = await serve(new DoublingPolicy());
    const peer = await connect(url);
    await peer.nextBinary();
    peer.ws.send(packNumpy([1, 2, 3]));
    const text = await expectFailure(peer);
    expect(text).toContain('[BAD_OBSERVATION]');
    expect(text).toContain('got array');
  });

  it("sends the policy's error (name, code, message, context, stack, cause) and other connections keep working", async () => {
    const policy: BasePolicy = {
      async infer(obs) {
        if (obs.explode === true) {
          throw new OpenpiEdgeError(
            'BAD_OBSERVATION',
            'observation.images.cam_high has shape [3, 10, 10], expected [3, 224, 224]',
            { key: 'images.cam_high', shape: [3, 10, 10] },
            { cause: new RangeError('inner reason') },
          );
        }
        return { ok: true };
      },
      reset() {},
    };
    const { url, server } = await serve(policy);
    const other = await connect(url);
    await other.nextBinary();
    const peer = await connect(url);
    await peer.nextBinary();
    peer.ws.send(packNumpy({ explode: true }));
    const text = await expectFailure(peer);
    expect(text.split('\n')[0]).toContain('Traceback');
    expect(text).toContain(
      'OpenpiEdgeError [BAD_OBSERVATION]: observation.images.cam_high has shape [3, 10, 10]',
    );
    expect(text).toContain('context: {"key":"images.cam_high","shape":[3,10,10]}');
    expect(text).toMatch(/\n {4}at .*websocket-policy-server\.test\.ts/);
    expect(text).toContain('Caused by:\nRangeError: inner reason');

    expect((await other.infer({})).ok).toBe(true);
    expect(server.stats()).toMatchObject({ failures: 1, requests: 1 });
  });

  it("leaves stacks out with errorDetail 'message'", async () => {
    const { url } = await serve(
      {
        infer: async () => {
          throw new Error('nope');
        },
        reset() {},
      },
      { errorDetail: 'message' },
    );
    const peer = await connect(url);
    await peer.nextBinary();
    peer.ws.send(packNumpy({}));
    const text = await expectFailure(peer);
    expect(text).toContain('Error: nope');
    expect(text).not.toContain('    at ');
  });

  it('fails the request when the policy resolves to something that is not a dict', async () => {
    const { url } = await serve({ infer: async () => [1, 2] as unknown as Obs, reset() {} });
    const peer = await connect(url);
    await peer.nextBinary();
    peer.ws.send(packNumpy({}));
    expect(await expectFailure(peer)).toContain('policy.infer must resolve to a dict, got array');
  });

  it('closes with 1009 when a message exceeds maxMessageBytes, and keeps serving', async () => {
    const { url } = await serve(new DoublingPolicy(), { maxMessageBytes: 1024 });
    const big = await connect(url);
    await big.nextBinary();
    big.ws.send(packNumpy(stateObs(new Array(300).fill(1))));
    const close = await big.next();
    expect(close).toMatchObject({ kind: 'close', code: 1009 });

    const small = await connect(url);
    await small.nextBinary();
    const reply = await small.infer(stateObs([3]));
    expect(isNDArray(reply.actions) && [...(reply.actions.data as Float32Array)]).toEqual([6]);
  });
});

describe('WebsocketPolicyServer: concurrency and the event loop', () => {
  it("a slow inference does not delay another connection's handshake and metadata frame", async () => {
    const order: string[] = [];
    const started = gate();
    const policy: BasePolicy = {
      async infer(obs) {
        order.push(`infer ${String(obs.who)} start`);
        started.open();
        await sleep(1500);
        return { who: obs.who ?? null };
      },
      reset() {},
    };
    const { url } = await serve(policy);
    const a = await connect(url);
    await a.nextBinary();
    a.ws.send(packNumpy({ who: 'A' }));
    const replyA = a.nextBinary().then(() => order.push('A reply'));
    await started.promise;
    const b = await connect(url);
    await b.nextBinary();
    order.push('B metadata');
    await replyA;
    expect(order).toEqual(['infer A start', 'B metadata', 'A reply']);
  });

  it('keeps sending keepalive pings during a slow inference', async () => {
    const release = gate();
    const { url } = await serve(
      {
        infer: async () => {
          await release.promise;
          return {};
        },
        reset() {},
      },
      { pingIntervalMs: 20 },
    );
    const peer = await connect(url, { recordPings: true });
    // Skip pings that may come before the metadata frame.
    let e = await peer.next();
    while (e.kind === 'ping') e = await peer.next();
    expect(e.kind).toBe('binary');
    peer.ws.send(packNumpy({}));
    expect(await peer.next()).toEqual({ kind: 'ping' });
    expect(await peer.next()).toEqual({ kind: 'ping' });
    release.open();
    e = await peer.next();
    while (e.kind === 'ping') e = await peer.next();
    expect(e.kind).toBe('binary');
  });

  it('drops a peer that does not answer pings (close 1006) and counts it', async () => {
    const { url, server } = await serve(new DoublingPolicy(), { pingIntervalMs: 20, pingTimeoutMs: 50 });
    const deaf = await connect(url, { autoPong: false });
    await deaf.nextBinary();
    const close = await deaf.next();
    expect(close).toMatchObject({ kind: 'close', code: 1006 });
    expect(server.stats().keepaliveTimeouts).toBe(1);
  });

  it("'serialize' (default) runs one infer at a time across connections, in arrival order", async () => {
    const order: string[] = [];
    let active = 0;
    let maxActive = 0;
    const policy: BasePolicy = {
      async infer(obs) {
        active++;
        maxActive = Math.max(maxActive, active);
        order.push(`start ${String(obs.who)}`);
        await sleep(obs.who === 'A' ? 300 : 1);
        order.push(`end ${String(obs.who)}`);
        active--;
        return { who: obs.who ?? null };
      },
      reset() {},
    };
    const { url } = await serve(policy);
    const a = await connect(url);
    const b = await connect(url);
    await a.nextBinary();
    await b.nextBinary();
    const ra = a.infer({ who: 'A' });
    await sleep(20);
    const rb = b.infer({ who: 'B' });
    expect((await Promise.all([ra, rb])).map((r) => r.who)).toEqual(['A', 'B']);
    expect(maxActive).toBe(1);
    expect(order).toEqual(['start A', 'end A', 'start B', 'end B']);
  });

  it("'concurrent' lets a fast request of one connection overtake a slow one of another", async () => {
    const order: string[] = [];
    const release = gate();
    let active = 0;
    let maxActive = 0;
    const policy: BasePolicy = {
      async infer(obs) {
        active++;
        maxActive = Math.max(maxActive, active);
        if (obs.who === 'A') await release.promise;
        active--;
        return { who: obs.who ?? null };
      },
      reset() {},
    };
    const { url } = await serve(policy, { concurrency: 'concurrent' });
    const a = await connect(url);
    const b = await connect(url);
    await a.nextBinary();
    await b.nextBinary();
    const ra = a.infer({ who: 'A' }).then(() => order.push('reply A'));
    await sleep(20);
    await b.infer({ who: 'B' });
    order.push('reply B');
    release.open();
    await ra;
    expect(maxActive).toBe(2);
    expect(order).toEqual(['reply B', 'reply A']);
  });

  it('handles pipelined requests of one connection strictly in order', async () => {
    const seen: number[] = [];
    const policy: BasePolicy = {
      async infer(obs) {
        seen.push(obs.i as number);
        await sleep(5);
        return { i: obs.i ?? null };
      },
      reset() {},
    };
    const { url } = await serve(policy, { concurrency: 'concurrent' });
    const peer = await connect(url);
    await peer.nextBinary();
    for (let i = 0; i < 5; i++) peer.ws.send(packNumpy({ i }));
    const replies: Value[] = [];
    for (let i = 0; i < 5; i++) replies.push((unpackNumpy(await peer.nextBinary()) as Obs).i ?? null);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(replies).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('WebsocketPolicyServer: HTTP, auth, binding, lifecycle', () => {
  it('answers GET /healthz with 200 "OK\\n" text/plain and other plain HTTP requests with 426', async () => {
    const { address } = await serve(new DoublingPolicy());
    const res = await fetch(`http://127.0.0.1:${address.port}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('OK\n');
    const other = await fetch(`http://127.0.0.1:${address.port}/`);
    expect(other.status).toBe(426);
    await other.text();
  });

  it('answers /healthz with 200 even on an upgrade request, like openpi', async () => {
    const { url } = await serve(new DoublingPolicy());
    expect(await upgradeStatus(`${url}/healthz`)).toBe(200);
  });

  it('refuses an upgrade without the right API key with HTTP 401 and accepts the right one', async () => {
    const { url, server } = await serve(new DoublingPolicy(), { apiKey: 's3cret' });
    const rejected: number[] = [];
    server.on('rejected', (r) => rejected.push(r.status));
    expect(await upgradeStatus(url)).toBe(401);
    expect(await upgradeStatus(url, { Authorization: 'Api-Key wrong' })).toBe(401);
    expect(await upgradeStatus(url, { Authorization: 'Bearer s3cret' })).toBe(401);
    expect(await upgradeStatus(url, { Authorization: 'Api-Key s3cret' })).toBe(101);
    expect(rejected).toEqual([401, 401, 401]);
    expect(server.stats()).toMatchObject({ rejectedUpgrades: 3, totalConnections: 1 });
    const peer = await connect(url, { headers: { Authorization: 'Api-Key s3cret' } });
    expect(await peer.nextBinary()).toEqual(new Uint8Array([0x80]));
  });

  it('binds 127.0.0.1 by default and is not reachable on other interfaces', async () => {
    const server = new WebsocketPolicyServer(new DoublingPolicy(), { port: 0, logger: captureLogger() });
    servers.push(server);
    const address = await server.listen();
    expect(address.host).toBe('127.0.0.1');
    expect(address.url).toBe(`ws://127.0.0.1:${address.port}`);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    if (external !== undefined) {
      await expect(Peer.open(`ws://${external.address}:${address.port}`)).rejects.toMatchObject({
        code: 'ECONNREFUSED',
      });
    }
  });

  it('binds the given host and picks distinct ephemeral ports for port 0', async () => {
    const a = await serve(new DoublingPolicy(), { host: '0.0.0.0' });
    const b = await serve(new DoublingPolicy());
    expect(a.address.host).toBe('0.0.0.0');
    expect(a.address.port).toBeGreaterThan(0);
    expect(a.address.port).not.toBe(b.address.port);
    const peer = await connect(`ws://127.0.0.1:${a.address.port}`);
    expect(await peer.nextBinary()).toEqual(new Uint8Array([0x80]));
  });

  it('rejects listen() on a port in use with BAD_ARGUMENT naming the errno', async () => {
    const { address } = await serve(new DoublingPolicy());
    const second = new WebsocketPolicyServer(new DoublingPolicy(), {
      port: address.port,
      logger: captureLogger(),
    });
    servers.push(second);
    const err = await second.listen().catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'BAD_ARGUMENT')).toBe(true);
    expect((err as OpenpiEdgeError).context).toMatchObject({ port: address.port, errno: 'EADDRINUSE' });
  });

  it('rejects invalid options with BAD_ARGUMENT naming the option', () => {
    const make = (o: WebsocketPolicyServerOptions) => () =>
      new WebsocketPolicyServer(new DoublingPolicy(), o);
    expect(make({ port: 70000 })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', context: { option: 'port', value: 70000 } }),
    );
    expect(make({ maxMessageBytes: 0 })).toThrow(/maxMessageBytes/);
    expect(make({ maxMessageBytes: 2 ** 32 })).toThrow(/maxMessageBytes/);
    expect(make({ pingTimeoutMs: -1 })).toThrow(/pingTimeoutMs/);
    expect(make({ apiKey: '' })).toThrow(/apiKey/);
  });

  it('close() closes every connection with 1001, then the listener; events and counters follow', async () => {
    const { url, server } = await serve(new DoublingPolicy());
    const events: string[] = [];
    server.on('connection', (c) => events.push(`connection ${c.id}`));
    server.on('request', (r) => events.push(`request ${r.connectionId}`));
    server.on('disconnect', (d) => events.push(`disconnect ${d.id} ${d.code}`));
    const a = await connect(url);
    await a.nextBinary();
    await a.infer(stateObs([1]));
    const b = await connect(url);
    await b.nextBinary();
    expect(server.stats()).toMatchObject({ openConnections: 2, totalConnections: 2, requests: 1 });

    await server.close();
    expect(await a.next()).toMatchObject({ kind: 'close', code: 1001 });
    expect(await b.next()).toMatchObject({ kind: 'close', code: 1001 });
    expect(server.stats().openConnections).toBe(0);
    expect(events.slice(0, 3)).toEqual(['connection 1', 'request 1', 'connection 2']);
    expect(events.slice(3).sort()).toEqual(['disconnect 1 1001', 'disconnect 2 1001']);
    await expect(Peer.open(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(server.listen()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('WebsocketPolicyServer: a client that pipelines frames without reading', () => {
  it('stops reading that socket at maxQueuedRequests (bounded memory) and still answers every frame in order', async () => {
    const slow: BasePolicy = {
      infer: async (obs) => {
        await new Promise((r) => setTimeout(r, 40));
        return { n: obs.n as number };
      },
      reset: () => {},
    };
    const { server, url } = await serve(slow, { maxQueuedRequests: 4 });
    const peer = await connect(url);
    await peer.nextBinary(); // metadata
    // 30 frames of 256 KiB sent at once (7.5 MiB): without a bound every one of them is parsed into the queue.
    const payload = ndarray('uint8', [256 * 1024], new Uint8Array(256 * 1024));
    for (let n = 0; n < 30; n++) peer.ws.send(packNumpy({ n, payload }));
    await new Promise((r) => setTimeout(r, 300));
    const mid = server.stats();
    // A read that was under way when reading paused can still hold a frame or two.
    expect(mid.peakQueuedRequests).toBeLessThanOrEqual(4 + 2);
    expect(mid.backpressurePauses).toBeGreaterThanOrEqual(1);
    for (let n = 0; n < 30; n++) expect((unpackNumpy(await peer.nextBinary()) as Obs).n).toBe(n);
    expect(server.stats()).toMatchObject({ requests: 30, failures: 0 });
  });

  it('refuses a maxQueuedRequests outside 1..1024', () => {
    const p: BasePolicy = { infer: async () => ({}), reset: () => {} };
    expect(() => new WebsocketPolicyServer(p, { maxQueuedRequests: 0 })).toThrow(/maxQueuedRequests/);
  });
});

describe('WebsocketPolicyServer: connections that never complete a handshake', () => {
  it('closes silent TCP connections after handshakeTimeoutMs; a websocket peer idle past it stays', async () => {
    const { createConnection } = await import('node:net');
    const echo: BasePolicy = { infer: async (obs) => obs, reset: () => {} };
    const { server, address, url } = await serve(echo, { handshakeTimeoutMs: 200 });
    const silent = await Promise.all(
      Array.from({ length: 5 }, () => {
        const sock = createConnection({ host: '127.0.0.1', port: address.port });
        sock.on('error', () => {});
        const closed = new Promise<void>((r) => sock.once('close', () => r()));
        return new Promise<{ closed: Promise<void> }>((r) => sock.once('connect', () => r({ closed })));
      }),
    );
    // A half-sent handshake is as silent as none.
    const slow = createConnection({ host: '127.0.0.1', port: address.port });
    slow.on('error', () => {});
    const slowClosed = new Promise<void>((r) => slow.once('close', () => r()));
    slow.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    const peer = await connect(url);
    await peer.nextBinary(); // metadata
    await Promise.all([...silent.map((s) => s.closed), slowClosed]);
    expect(server.stats().handshakeTimeouts).toBe(6);
    // The upgraded peer, idle for longer than the handshake timeout, is still served.
    await new Promise((r) => setTimeout(r, 400));
    expect(await peer.infer({ x: 1 })).toMatchObject({ x: 1 });
  });
});

describe('WebsocketPolicyServer: idleTimeoutMs', () => {
  it('is off by default: an upgraded peer idle past every other timeout is still served', async () => {
    const echo: BasePolicy = { infer: async (obs) => obs, reset: () => {} };
    const { server, url } = await serve(echo, { handshakeTimeoutMs: 50 });
    const peer = await connect(url);
    await peer.nextBinary(); // metadata
    await sleep(300);
    expect(await peer.infer({ x: 1 })).toMatchObject({ x: 1 });
    expect(server.stats().idleTimeouts).toBe(0);
  });

  it('closes a websocket that sends no request for idleTimeoutMs with 1000, counted from the last reply', async () => {
    const echo: BasePolicy = { infer: async (obs) => obs, reset: () => {} };
    const { server, url } = await serve(echo, { idleTimeoutMs: 300 });
    const peer = await connect(url);
    await peer.nextBinary(); // metadata
    // Requests every 150 ms keep it open well past 300 ms.
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      expect(await peer.infer({ i })).toMatchObject({ i });
    }
    const t0 = Date.now();
    const e = await peer.next();
    expect(e).toEqual({ kind: 'close', code: 1000, reason: 'idle timeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(server.stats().idleTimeouts).toBe(1);
  });

  it('does not count a slow inference as idle', async () => {
    const slow: BasePolicy = {
      infer: async (obs) => {
        await sleep(400);
        return obs;
      },
      reset: () => {},
    };
    const { server, url } = await serve(slow, { idleTimeoutMs: 150 });
    const peer = await connect(url);
    await peer.nextBinary();
    expect(await peer.infer({ y: 2 })).toMatchObject({ y: 2 });
    expect(server.stats().idleTimeouts).toBe(0);
    expect(await peer.next()).toEqual({ kind: 'close', code: 1000, reason: 'idle timeout' });
  });

  it('refuses an idleTimeoutMs that is not an integer in 0..2^31-1', () => {
    const p: BasePolicy = { infer: async () => ({}), reset: () => {} };
    expect(() => new WebsocketPolicyServer(p, { idleTimeoutMs: -1 })).toThrow(/idleTimeoutMs/);
    expect(() => new WebsocketPolicyServer(p, { idleTimeoutMs: 1.5 })).toThrow(/idleTimeoutMs/);
  });
});
