/**
 * FoxgloveServer against Foxglove's own protocol client (`FoxgloveClient` of npm @foxglove/ws-protocol, the client
 * library Foxglove published for this protocol) and raw `ws` sockets, over loopback: serverInfo and advertise,
 * subscribe and message-data frames (subscription id, log time, JSON payload), both subprotocol names, refusal of
 * an upgrade without one, error statuses for bad viewer messages with the connection kept, unadvertise, and
 * per-viewer backpressure (a viewer that stops reading loses messages; the others get every one).
 */
import { FoxgloveClient } from '@foxglove/ws-protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FoxgloveServer } from '../../src/live/foxglove-server.js';

const SCHEMA = JSON.stringify({
  type: 'object',
  properties: { step: { type: 'integer' }, value: { type: 'number' } },
});

const servers: FoxgloveServer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close();
});

async function start(options: ConstructorParameters<typeof FoxgloveServer>[0] = {}) {
  const server = new FoxgloveServer({
    port: 0,
    name: 'test-agent',
    metadata: { robot: 'aloha' },
    ...options,
  });
  servers.push(server);
  const address = await server.listen();
  return { server, url: address.url };
}

function socket(url: string, protocols: string[]): WebSocket {
  const ws = new WebSocket(url, protocols);
  sockets.push(ws);
  return ws;
}

/** Collects a raw socket's JSON messages and binary frames. */
function collect(ws: WebSocket): { json: Record<string, unknown>[]; frames: Buffer[] } {
  const out = { json: [] as Record<string, unknown>[], frames: [] as Buffer[] };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) out.frames.push(data);
    else out.json.push(JSON.parse(data.toString()) as Record<string, unknown>);
  });
  return out;
}

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('FoxgloveServer with Foxglove ws-protocol client', () => {
  it('sends serverInfo and advertises channels; subscribed messages arrive with their log time', async () => {
    const { server, url } = await start();
    const chunk = server.addChannel({ topic: '/policy/chunk', schemaName: 'test.Chunk', schema: SCHEMA });
    server.addChannel({ topic: '/unused', schemaName: 'test.Unused', schema: SCHEMA });
    const ws = socket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
    const client = new FoxgloveClient({ ws: ws as never });
    const info = new Promise<Record<string, unknown>>((resolve) =>
      client.on('serverInfo', (i) => resolve(i as never)),
    );
    const advertised = new Promise<{ id: number; topic: string; schemaName: string; encoding: string }[]>(
      (resolve) => client.on('advertise', (c) => resolve(c as never)),
    );
    const received: { subscriptionId: number; timestamp: bigint; body: unknown }[] = [];
    client.on('message', (m) =>
      received.push({
        subscriptionId: m.subscriptionId,
        timestamp: m.timestamp,
        body: JSON.parse(
          new TextDecoder().decode(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength)),
        ),
      }),
    );
    expect(await info).toMatchObject({ name: 'test-agent', metadata: { robot: 'aloha' }, capabilities: [] });
    const channels = await advertised;
    expect(channels.map((c) => [c.topic, c.schemaName, c.encoding])).toEqual([
      ['/policy/chunk', 'test.Chunk', 'json'],
      ['/unused', 'test.Unused', 'json'],
    ]);
    const sub = client.subscribe(chunk);
    await until(() => server.hasSubscribers(chunk));
    const t0 = 1_764_000_000_000_000_000n;
    for (let step = 0; step < 3; step++) {
      server.publish(chunk, t0 + BigInt(step) * 20_000_000n, JSON.stringify({ step, value: step / 2 }));
    }
    await until(() => received.length === 3);
    expect(received).toEqual(
      [0, 1, 2].map((step) => ({
        subscriptionId: sub,
        timestamp: t0 + BigInt(step) * 20_000_000n,
        body: { step, value: step / 2 },
      })),
    );
    expect(server.stats()).toMatchObject({ viewers: 1, channels: 2, subscriptions: 1, sent: 3, dropped: 0 });

    const gone = new Promise<number[]>((resolve) => client.on('unadvertise', (ids) => resolve(ids)));
    server.removeChannel(chunk);
    expect(await gone).toEqual([chunk]);
    expect(server.hasSubscribers(chunk)).toBe(false);
  });

  it('accepts foxglove.sdk.v1 too, and refuses an upgrade that offers neither subprotocol with 400', async () => {
    const { server, url } = await start();
    const sdk = socket(url, ['foxglove.sdk.v1']);
    await new Promise((resolve) => sdk.once('open', resolve));
    expect(sdk.protocol).toBe('foxglove.sdk.v1');
    const plain = socket(url, []);
    const status = await new Promise<number>((resolve) => {
      plain.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      plain.once('error', () => resolve(-1));
    });
    expect(status).toBe(400);
    expect(server.stats().refused).toBe(1);
  });

  it('answers malformed and unsupported viewer messages with an error status and keeps the connection', async () => {
    const { server, url } = await start();
    const ch = server.addChannel({ topic: '/x', schemaName: 'test.X', schema: SCHEMA });
    const ws = socket(url, ['foxglove.websocket.v1']);
    const got = collect(ws);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('{not json');
    ws.send(JSON.stringify({ op: 'advertise', channels: [] }));
    ws.send(JSON.stringify({ op: 'subscribe', subscriptions: [{ id: 1, channelId: 999 }] }));
    ws.send(JSON.stringify({ op: 'subscribe', subscriptions: [{ id: -1, channelId: ch }] }));
    ws.send(Buffer.from([1, 2, 3]));
    await until(() => got.json.filter((m) => m.op === 'status').length === 5);
    const statuses = got.json.filter((m) => m.op === 'status');
    expect(statuses.every((s) => s.level === 2)).toBe(true);
    const text = statuses.map((s) => String(s.message)).join('\n');
    expect(text).toContain('malformed JSON');
    expect(text).toContain('unsupported op "advertise"');
    expect(text).toContain('no channel 999');
    expect(text).toContain('unsigned integers');
    expect(text).toContain('binary messages');
    expect(server.stats().badRequests).toBe(5);
    // Still usable.
    ws.send(JSON.stringify({ op: 'subscribe', subscriptions: [{ id: 7, channelId: ch }] }));
    await until(() => server.hasSubscribers(ch));
    server.publish(ch, 5n, '{"step":1}');
    await until(() => got.frames.length === 1);
    const f = got.frames[0] as Buffer;
    expect([f[0], f.readUInt32LE(1), f.readBigUInt64LE(5), f.subarray(13).toString()]).toEqual([
      1,
      7,
      5n,
      '{"step":1}',
    ]);
  });

  it('drops messages for a viewer that stops reading, and only for that viewer', async () => {
    const { server, url } = await start({ maxBufferedBytes: 64 * 1024 });
    const ch = server.addChannel({ topic: '/camera', schemaName: 'test.Frame', schema: SCHEMA });
    const fast = socket(url, ['foxglove.websocket.v1']);
    const slow = socket(url, ['foxglove.websocket.v1']);
    const fastGot = collect(fast);
    await Promise.all([fast, slow].map((s) => new Promise((resolve) => s.once('open', resolve))));
    for (const [s, id] of [
      [fast, 1],
      [slow, 2],
    ] as const) {
      s.send(JSON.stringify({ op: 'subscribe', subscriptions: [{ id, channelId: ch }] }));
    }
    await until(() => server.stats().subscriptions === 2);
    // The slow viewer's process stops reading its socket: the kernel buffers fill, then ws buffers on the server.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const payload = JSON.stringify({ blob: 'x'.repeat(20_000) });
    // 20 MB in small bursts: more than the slow viewer's kernel buffers hold, never a burst the fast one lags on.
    const N = 1000;
    for (let i = 0; i < N; i++) {
      server.publish(ch, BigInt(i), payload);
      if (i % 5 === 4) await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => fastGot.frames.length === N, 20_000);
    const stats = server.stats();
    expect(stats.dropped).toBeGreaterThan(0);
    expect(stats.sent + stats.dropped).toBe(2 * N);
  }, 30_000);
});
