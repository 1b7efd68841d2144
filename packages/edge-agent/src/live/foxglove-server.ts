/**
 * A Foxglove WebSocket protocol server (the live-data protocol Foxglove's app connects to with "Open connection →
 * Foxglove WebSocket"): JSON control messages and binary message-data frames over one websocket per viewer.
 *
 * What it implements, server side (docs/agent.md "Live view in Foxglove"):
 * - Subprotocols `foxglove.sdk.v1` (current Foxglove SDK servers) and `foxglove.websocket.v1` (older tools, the same
 *   messages); an upgrade that offers neither is refused with HTTP 400.
 * - `serverInfo` on connect, `advertise` of every channel (on connect and when one is added), `unadvertise`.
 * - `subscribe` / `unsubscribe` from viewers; messages go only to subscriptions, as frames of opcode 0x01:
 *   u8 opcode, u32 LE subscription id, u64 LE log time in ns since the epoch, payload.
 * - Anything else a viewer sends (unknown ops, client publishing, malformed JSON, binary frames) gets a `status`
 *   message naming what was wrong; the connection stays open.
 * - Backpressure per viewer: a message for a viewer whose socket already buffers more than `maxBufferedBytes` is
 *   dropped for that viewer (counted in `stats().dropped`): a slow viewer never grows the process or delays others.
 *
 * Threading: publishing serializes and writes to sockets, so it belongs off the control loop's thread (the agent
 * runs this server in its telemetry worker). Binds loopback by default.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { listenHttp, urlHost } from './listen.js';

/** Subprotocols accepted, preferred first. */
export const FOXGLOVE_SUBPROTOCOLS = ['foxglove.sdk.v1', 'foxglove.websocket.v1'] as const;

/** One advertised channel: a topic with a JSON schema; messages are JSON text. */
export interface FoxgloveChannelSpec {
  topic: string;
  /** e.g. `foxglove.CompressedImage`, or a name of our own (`openpi_edge.PolicyChunk`). */
  schemaName: string;
  /** The JSON schema, as JSON text (`schemaEncoding` jsonschema). */
  schema: string;
}

export interface FoxgloveServerOptions {
  /** Interface to bind. Default `'127.0.0.1'`. */
  host?: string;
  /** TCP port; 0 = any free port. Default 8765 (Foxglove's default). */
  port?: number;
  /** `serverInfo.name`. Default `'openpi-edge'`. */
  name?: string;
  /** `serverInfo.metadata` (string values). Default `{}`. */
  metadata?: Record<string, string>;
  /** Per viewer: drop new messages while the socket buffers more than this many bytes. Default 8 MiB. */
  maxBufferedBytes?: number;
}

export interface FoxgloveServerStats {
  viewers: number;
  channels: number;
  subscriptions: number;
  /** Message frames written (one per subscribed viewer per message). */
  sent: number;
  /** Message frames not written because that viewer was over `maxBufferedBytes`. */
  dropped: number;
  /** Upgrades refused (no supported subprotocol). */
  refused: number;
  /** Viewer messages answered with an error status (malformed, unknown op, unknown channel). */
  badRequests: number;
}

interface Viewer {
  ws: WebSocket;
  /** subscription id -> channel id. */
  subscriptions: Map<number, number>;
}

interface Channel extends FoxgloveChannelSpec {
  id: number;
}

const STATUS_INFO = 0;
const STATUS_WARNING = 1;
const STATUS_ERROR = 2;
const OP_MESSAGE_DATA = 0x01;

export class FoxgloveServer {
  private readonly host: string;
  private readonly port: number;
  private readonly name: string;
  private readonly metadata: Record<string, string>;
  private readonly maxBufferedBytes: number;
  private readonly sessionId = randomUUID();
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly viewers = new Set<Viewer>();
  private readonly channels = new Map<number, Channel>();
  private nextChannelId = 1;
  private readonly counters = { sent: 0, dropped: 0, refused: 0, badRequests: 0 };

  /** Throws BAD_ARGUMENT for an invalid port or buffer limit. */
  constructor(options: FoxgloveServerOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 8765;
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65535) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `foxglove port must be 0..65535, got ${this.port}`, {
        option: 'port',
      });
    }
    this.name = options.name ?? 'openpi-edge';
    this.metadata = options.metadata ?? {};
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 2 ** 20;
    if (!(this.maxBufferedBytes > 0)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `maxBufferedBytes must be > 0, got ${this.maxBufferedBytes}`,
        {
          option: 'maxBufferedBytes',
        },
      );
    }
    this.http = createServer((_req, res) => {
      res
        .writeHead(426, { 'content-type': 'text/plain' })
        .end('Foxglove WebSocket server: connect with a websocket\n');
    });
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      // Viewers send small JSON control messages only.
      maxPayload: 1 << 20,
      handleProtocols: (offered) => FOXGLOVE_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((s) => s.trim());
      if (!FOXGLOVE_SUBPROTOCOLS.some((p) => offered.includes(p))) {
        this.counters.refused++;
        socket.end(
          'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
            `offer one of the subprotocols ${FOXGLOVE_SUBPROTOCOLS.join(', ')}\n`,
        );
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onViewer(ws));
    });
  }

  /** Binds; resolves with the bound address (the real port when `port` was 0). BAD_ARGUMENT when it cannot bind. */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    const a = await listenHttp(this.http, this.host, this.port);
    return { host: a.address, port: a.port, url: `ws://${urlHost(this.host)}:${a.port}` };
  }

  /** Adds a channel and advertises it to every connected viewer; returns its id. */
  addChannel(spec: FoxgloveChannelSpec): number {
    const channel: Channel = { ...spec, id: this.nextChannelId++ };
    this.channels.set(channel.id, channel);
    for (const v of this.viewers) this.sendJson(v, { op: 'advertise', channels: [wireChannel(channel)] });
    return channel.id;
  }

  /** Removes a channel: viewers get `unadvertise` and lose their subscriptions to it. */
  removeChannel(channelId: number): void {
    if (!this.channels.delete(channelId)) return;
    for (const v of this.viewers) {
      for (const [sub, ch] of v.subscriptions) if (ch === channelId) v.subscriptions.delete(sub);
      this.sendJson(v, { op: 'unadvertise', channelIds: [channelId] });
    }
  }

  /** Whether any viewer subscribes to the channel (lets a publisher skip serializing). */
  hasSubscribers(channelId: number): boolean {
    for (const v of this.viewers)
      for (const ch of v.subscriptions.values()) if (ch === channelId) return true;
    return false;
  }

  /**
   * Sends one message (JSON text or its UTF-8 bytes) with log time `logTimeNs` (ns since the epoch) to every
   * subscription of the channel. Unknown channel ids are ignored (the channel may have just been removed).
   */
  publish(channelId: number, logTimeNs: bigint, payload: string | Uint8Array): void {
    let body: Uint8Array | undefined;
    for (const v of this.viewers) {
      for (const [sub, ch] of v.subscriptions) {
        if (ch !== channelId) continue;
        if (v.ws.readyState !== WebSocket.OPEN || v.ws.bufferedAmount > this.maxBufferedBytes) {
          this.counters.dropped++;
          continue;
        }
        body ??= typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
        // One frame per subscription: the header carries that subscription's id.
        const frame = Buffer.allocUnsafe(13 + body.byteLength);
        frame[0] = OP_MESSAGE_DATA;
        frame.writeUInt32LE(sub, 1);
        frame.writeBigUInt64LE(logTimeNs, 5);
        frame.set(body, 13);
        v.ws.send(frame, { binary: true });
        this.counters.sent++;
      }
    }
  }

  /** Sends a status message (level info / warning / error) to every viewer, e.g. a fault. */
  broadcastStatus(level: 'info' | 'warning' | 'error', message: string): void {
    for (const v of this.viewers) this.status(v, level, message);
  }

  stats(): FoxgloveServerStats {
    let subscriptions = 0;
    for (const v of this.viewers) subscriptions += v.subscriptions.size;
    return { viewers: this.viewers.size, channels: this.channels.size, subscriptions, ...this.counters };
  }

  /** Closes every viewer (1001) and the listener. */
  async close(): Promise<void> {
    for (const v of this.viewers) v.ws.close(1001, 'server shutting down');
    const deadline = setTimeout(() => {
      for (const v of this.viewers) v.ws.terminate();
    }, 1000);
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    clearTimeout(deadline);
    this.wss.close();
  }

  private onViewer(ws: WebSocket): void {
    const viewer: Viewer = { ws, subscriptions: new Map() };
    this.viewers.add(viewer);
    this.sendJson(viewer, {
      op: 'serverInfo',
      name: this.name,
      capabilities: [],
      supportedEncodings: ['json'],
      metadata: this.metadata,
      sessionId: this.sessionId,
    });
    if (this.channels.size > 0) {
      this.sendJson(viewer, { op: 'advertise', channels: [...this.channels.values()].map(wireChannel) });
    }
    ws.on('message', (data: RawData, isBinary: boolean) => this.onViewerMessage(viewer, data, isBinary));
    ws.on('close', () => this.viewers.delete(viewer));
    ws.on('error', () => this.viewers.delete(viewer));
  }

  private onViewerMessage(viewer: Viewer, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.bad(viewer, 'binary messages from viewers (client publishing) are not supported by this server');
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch (e) {
      this.bad(viewer, `malformed JSON: ${(e as Error).message}`);
      return;
    }
    const op = (msg as { op?: unknown } | null)?.op;
    if (op === 'subscribe') {
      const subs = (msg as { subscriptions?: unknown }).subscriptions;
      if (!Array.isArray(subs)) {
        this.bad(viewer, 'subscribe needs subscriptions: [{ id, channelId }]');
        return;
      }
      for (const s of subs as { id?: unknown; channelId?: unknown }[]) {
        const { id, channelId } = s ?? {};
        if (!isUint32(id) || !isUint32(channelId)) {
          this.bad(viewer, `subscribe: id and channelId must be unsigned integers, got ${JSON.stringify(s)}`);
          continue;
        }
        if (!this.channels.has(channelId)) {
          this.bad(viewer, `subscribe: no channel ${channelId}`);
          continue;
        }
        if (viewer.subscriptions.has(id)) {
          this.bad(viewer, `subscribe: subscription id ${id} is already in use`);
          continue;
        }
        viewer.subscriptions.set(id, channelId);
      }
    } else if (op === 'unsubscribe') {
      const ids = (msg as { subscriptionIds?: unknown }).subscriptionIds;
      if (!Array.isArray(ids)) {
        this.bad(viewer, 'unsubscribe needs subscriptionIds: [id, ...]');
        return;
      }
      for (const id of ids) viewer.subscriptions.delete(id as number);
    } else {
      this.bad(
        viewer,
        `unsupported op ${JSON.stringify(op)} (this server has no capabilities beyond subscribing)`,
      );
    }
  }

  private bad(viewer: Viewer, message: string): void {
    this.counters.badRequests++;
    this.status(viewer, 'error', message);
  }

  private status(viewer: Viewer, level: 'info' | 'warning' | 'error', message: string): void {
    const code = level === 'info' ? STATUS_INFO : level === 'warning' ? STATUS_WARNING : STATUS_ERROR;
    this.sendJson(viewer, { op: 'status', level: code, message });
  }

  private sendJson(viewer: Viewer, value: unknown): void {
    if (viewer.ws.readyState === WebSocket.OPEN) viewer.ws.send(JSON.stringify(value));
  }
}

function wireChannel(c: Channel): Record<string, unknown> {
  return {
    id: c.id,
    topic: c.topic,
    encoding: 'json',
    schemaName: c.schemaName,
    schema: c.schema,
    schemaEncoding: 'jsonschema',
  };
}

function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
