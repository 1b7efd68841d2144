/**
 * A policy server that speaks openpi's websocket protocol (openpi `serving/websocket_policy_server.py`), so
 * unchanged openpi clients (Python `WebsocketClientPolicy`, our TS client) can use any {@link BasePolicy}.
 *
 * Wire contract, per connection:
 * 1. after the handshake the server sends one binary frame: msgpack-numpy(metadata);
 * 2. lock-step: binary frame msgpack-numpy(observation) in -> `policy.infer` -> the result plus
 *    `server_timing = {infer_ms, prev_total_ms (from the 2nd request on)}` out as one binary frame;
 * 3. any failure (undecodable frame, text frame, non-map observation, policy throw, unencodable result): one
 *    text frame with a traceback-like description, then close 1011 with openpi's reason. Other connections and
 *    new ones keep being served.
 * HTTP: `GET /healthz` answers 200 "OK\n"; an optional API key guards the upgrade.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { OpenpiEdgeError } from '../errors.js';
import { packNumpy, unpackNumpy } from '../msgpack-numpy.js';
import { isNDArray, isNumpyScalar, npScalar, type Value } from '../ndarray.js';
import type { BasePolicy, Obs } from '../policy.js';

/** Close reason openpi's server sends with code 1011 after the traceback text frame. */
export const INTERNAL_ERROR_REASON = 'Internal server error. Traceback included in previous frame.';

/** Where the server logs. `info` is optional: without it only failures are reported. */
export interface ServerLogger {
  warn(message: string, context?: Record<string, unknown>): void;
  info?(message: string, context?: Record<string, unknown>): void;
}

export interface WebsocketPolicyServerOptions {
  /** Sent as the first frame of every connection (openpi: `train_config.policy_metadata`). Default `{}`. */
  metadata?: Obs;
  /**
   * Interface to bind. Default `'127.0.0.1'` (loopback only). openpi's `serve_policy.py` binds `'0.0.0.0'`
   * (every IPv4 interface): pass `host: '0.0.0.0'` to accept robots on the network the same way.
   */
  host?: string;
  /** TCP port; `0` picks a free ephemeral port (read it from `listen()`'s result). Default 8000 (openpi's). */
  port?: number;
  /**
   * Largest incoming message in bytes; a bigger one closes that connection with 1009. Default `Infinity`
   * (unlimited, like openpi's `max_size=None`): a peer can then make the server buffer a frame of any size
   * in memory, so set a cap (e.g. 64 MiB) when untrusted peers can connect. Finite values: 1 to 2^31-1.
   */
  maxMessageBytes?: number;
  /** When set, the upgrade must carry `Authorization: Api-Key <apiKey>`; otherwise HTTP 401. Default: no check (openpi's server checks nothing). */
  apiKey?: string;
  /** Keepalive ping period in ms; `0` disables pings. Default 20000 (python-websockets' `ping_interval`). */
  pingIntervalMs?: number;
  /** A peer that has not answered a ping within this many ms is dropped (close 1006). Default 20000 (python-websockets' `ping_timeout`). */
  pingTimeoutMs?: number;
  /**
   * How calls into the one policy overlap across connections. `'serialize'` (default, like openpi, whose server
   * runs inference on its event loop): one `infer` at a time, others queue. `'concurrent'`: calls from different
   * connections overlap (the policy must be safe for that). Within one connection requests are always sequential.
   */
  concurrency?: 'serialize' | 'concurrent';
  /** What the error text frame carries: `'traceback'` (default, like openpi) or `'message'` (no stack, no source paths). */
  errorDetail?: 'traceback' | 'message';
  /** How long `close()` waits for peers to finish the close handshake before dropping them, in ms. Default 2000. */
  closeTimeoutMs?: number;
  /**
   * Requests one connection may have received and not yet answered (a client pipelining frames it does not read
   * the replies of). At this many the server stops reading that socket (TCP pushes back on the peer) until one is
   * answered, so a connection holds at most this many messages (each up to `maxMessageBytes`). Default 8
   * (python-websockets, which openpi's server uses, stops reading after a comparable queue). 1 to 1024.
   */
  maxQueuedRequests?: number;
  /**
   * A TCP connection that has not completed the websocket handshake (or an HTTP request) within this many ms is
   * closed: silent sockets would otherwise be kept forever and use up file descriptors. Default 10000. 1 to 2^31-1.
   */
  handshakeTimeoutMs?: number;
  /**
   * An open websocket that sends no request for this many ms (counted from the handshake or from the last reply,
   * never while a request is queued or running) is closed with 1000 and reason `idle timeout`. Default `0`: off.
   * Off by default because openpi clients legitimately sit idle between episodes (an operator resetting the
   * scene) and openpi's Python client does not reconnect: a closed socket fails its next `infer`. Keepalive
   * pings (`pingIntervalMs`) already drop peers that vanished; set this to reclaim connections from clients
   * that stay connected but unused, e.g. when many robots share one server. 0, or 1 to 2^31-1.
   */
  idleTimeoutMs?: number;
  /** Default: failures go to `console.warn`, nothing else is logged. */
  logger?: ServerLogger;
}

/** What `listen()` resolves with. */
export interface WebsocketPolicyServerAddress {
  /** The bound address as the OS reports it (e.g. `'127.0.0.1'`, `'0.0.0.0'`, `'::'`). */
  host: string;
  port: number;
  /** `ws://host:port`, usable by openpi's client as its `host` argument. */
  url: string;
}

export interface ConnectionInfo {
  /** Per-server counter, from 1. */
  id: number;
  remoteAddress: string;
  remotePort: number;
  /** Request path of the upgrade (openpi ignores it; so do we). */
  path: string;
}

/** Counters since construction. */
export interface WebsocketPolicyServerStats {
  openConnections: number;
  totalConnections: number;
  /** Requests answered with a result frame. */
  requests: number;
  /** Connections closed with 1011 after an error text frame. */
  failures: number;
  /** Upgrades refused (wrong/missing API key, server closing). */
  rejectedUpgrades: number;
  /** Peers dropped for not answering a keepalive ping in time. */
  keepaliveTimeouts: number;
  /** Most requests any one connection had received and not yet answered (bounded by `maxQueuedRequests`). */
  peakQueuedRequests: number;
  /** Times a connection's reading was paused because its queue was full. */
  backpressurePauses: number;
  /** TCP connections closed for not completing a handshake or request within `handshakeTimeoutMs`. */
  handshakeTimeouts: number;
  /** Websockets closed for sending no request within `idleTimeoutMs`. */
  idleTimeouts: number;
}

export interface WebsocketPolicyServerEvents {
  /** A handshake completed; the metadata frame is being sent. */
  connection: [info: ConnectionInfo];
  /** A connection ended (`code` 1006 when the socket dropped without a close frame). */
  disconnect: [info: ConnectionInfo & { code: number; reason: string }];
  /** A result frame was sent. Times in ms. */
  request: [info: { connectionId: number; inferMs: number; prevTotalMs?: number }];
  /** A request failed; the connection was closed with 1011. */
  failure: [info: { connectionId: number; error: unknown }];
  /** An upgrade was refused with the given HTTP status. */
  rejected: [info: { status: number; remoteAddress: string; path: string }];
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  pingIntervalMs: 20_000,
  pingTimeoutMs: 20_000,
  closeTimeoutMs: 2_000,
  maxQueuedRequests: 8,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  /** TCP keepalive probe delay on every accepted socket (ms): a vanished peer's socket is eventually reclaimed. */
  tcpKeepAliveMs: 10_000,
} as const;

const consoleLogger: ServerLogger = {
  warn: (message, context) =>
    context === undefined
      ? console.warn(`[openpi-edge server] ${message}`)
      : console.warn(`[openpi-edge server] ${message}`, context),
};

/** ws's `maxPayload` is an int32 where 0 means unlimited. */
const MAX_FINITE_PAYLOAD = 2 ** 31 - 1;

interface Session {
  readonly info: ConnectionInfo;
  readonly ws: WebSocket;
  /** Requests of this connection, handled strictly one after another. */
  chain: Promise<void>;
  /** `performance.now()` when the server started waiting for the next request (openpi's `start_time`). */
  waitStart: number;
  /** Total of the previous request cycle, ms (openpi's `prev_total_time`). */
  prevTotalMs: number | undefined;
  /** Set once an error frame was sent: later queued requests are dropped. */
  failed: boolean;
  /** Messages received and not yet handled (the chain's length). */
  queued: number;
  pingTimer: NodeJS.Timeout | undefined;
  pongTimer: NodeJS.Timeout | undefined;
  /** Armed while nothing is queued, when `idleTimeoutMs` > 0. */
  idleTimer: NodeJS.Timeout | undefined;
}

export class WebsocketPolicyServer extends EventEmitter<WebsocketPolicyServerEvents> {
  private readonly policy: BasePolicy;
  private readonly metadataFrame: Uint8Array;
  private readonly host: string;
  private readonly port: number;
  private readonly maxPayload: number;
  private readonly maxQueued: number;
  private readonly handshakeTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly apiKeyDigest: Buffer | undefined;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly concurrency: 'serialize' | 'concurrent';
  private readonly errorDetail: 'traceback' | 'message';
  private readonly closeTimeoutMs: number;
  private readonly logger: ServerLogger;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  /** Tail of the queue of `infer` calls in `'serialize'` mode. */
  private inferTail: Promise<void> = Promise.resolve();
  private nextId = 1;
  private state: 'idle' | 'listening' | 'closing' | 'closed' = 'idle';
  private closing: Promise<void> | undefined;
  private readonly counters: WebsocketPolicyServerStats = {
    openConnections: 0,
    totalConnections: 0,
    requests: 0,
    failures: 0,
    rejectedUpgrades: 0,
    keepaliveTimeouts: 0,
    peakQueuedRequests: 0,
    backpressurePauses: 0,
    handshakeTimeouts: 0,
    idleTimeouts: 0,
  };

  /** Throws BAD_ARGUMENT for invalid options and ENCODE_FAILED when `metadata` cannot be encoded. */
  constructor(policy: BasePolicy, options: WebsocketPolicyServerOptions = {}) {
    super();
    this.policy = policy;
    this.host = options.host ?? DEFAULTS.host;
    this.port = checkInteger('port', options.port ?? DEFAULTS.port, 0, 65_535);
    const maxBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    this.maxPayload =
      maxBytes === Number.POSITIVE_INFINITY
        ? 0
        : checkInteger('maxMessageBytes', maxBytes, 1, MAX_FINITE_PAYLOAD);
    this.pingIntervalMs = checkInteger(
      'pingIntervalMs',
      options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
      0,
      2 ** 31 - 1,
    );
    this.pingTimeoutMs = checkInteger(
      'pingTimeoutMs',
      options.pingTimeoutMs ?? DEFAULTS.pingTimeoutMs,
      1,
      2 ** 31 - 1,
    );
    this.closeTimeoutMs = checkInteger(
      'closeTimeoutMs',
      options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs,
      0,
      2 ** 31 - 1,
    );
    this.maxQueued = checkInteger(
      'maxQueuedRequests',
      options.maxQueuedRequests ?? DEFAULTS.maxQueuedRequests,
      1,
      1024,
    );
    this.handshakeTimeoutMs = checkInteger(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      1,
      2 ** 31 - 1,
    );
    this.idleTimeoutMs = checkInteger(
      'idleTimeoutMs',
      options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      0,
      2 ** 31 - 1,
    );
    this.concurrency = options.concurrency ?? 'serialize';
    this.errorDetail = options.errorDetail ?? 'traceback';
    this.logger = options.logger ?? consoleLogger;
    if (options.apiKey !== undefined && options.apiKey.length === 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        'apiKey must be a non-empty string (leave it out to disable)',
        {
          option: 'apiKey',
        },
      );
    }
    this.apiKeyDigest = options.apiKey === undefined ? undefined : sha256(options.apiKey);
    this.metadataFrame = packNumpy(options.metadata ?? {});

    this.http = createServer((req, res) => this.onHttpRequest(req, res));
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.maxPayload,
      clientTracking: false,
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.http.on('connection', (socket: Socket) => {
      socket.setKeepAlive(true, DEFAULTS.tcpKeepAliveMs);
      socket.setNoDelay(true);
      // Cleared once the socket is upgraded (onConnection); an HTTP request is answered at once and closed.
      socket.setTimeout(this.handshakeTimeoutMs, () => {
        this.counters.handshakeTimeouts++;
        this.logger.info?.('closing a connection that sent no handshake in time', {
          remoteAddress: socket.remoteAddress,
          timeoutMs: this.handshakeTimeoutMs,
        });
        socket.destroy();
      });
    });
  }

  /**
   * Binds and starts accepting connections. Resolves with the bound address (the real port when `port` was 0).
   * Rejects with BAD_ARGUMENT when the address cannot be bound (port in use, unknown host; `context.errno` says which) or CLOSED after `close()`.
   */
  async listen(): Promise<WebsocketPolicyServerAddress> {
    if (this.state !== 'idle') {
      throw new OpenpiEdgeError('CLOSED', `listen() called on a server that is ${this.state}`, {
        state: this.state,
      });
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new OpenpiEdgeError(
            'BAD_ARGUMENT',
            `cannot listen on ${this.host}:${this.port}: ${err.message}`,
            { host: this.host, port: this.port, errno: err.code },
            { cause: err },
          ),
        );
      };
      this.http.once('error', onError);
      this.http.listen({ host: this.host, port: this.port }, () => {
        this.http.off('error', onError);
        resolve();
      });
    });
    this.http.on('error', (err) => this.logger.warn(`http server error: ${err.message}`, { error: err }));
    this.state = 'listening';
    const address = this.address();
    if (address === undefined)
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'server has no address after listen');
    this.logger.info?.(`serving on ${address.url}`, { ...address });
    return address;
  }

  /** The bound address while listening, else undefined. */
  address(): WebsocketPolicyServerAddress | undefined {
    const a = this.http.address() as AddressInfo | string | null;
    if (a === null || typeof a === 'string') return undefined;
    const hostPart = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `ws://${hostPart}:${a.port}` };
  }

  /** A snapshot of the counters. */
  stats(): WebsocketPolicyServerStats {
    return { ...this.counters };
  }

  /**
   * Closes every connection with 1001 (going away), waits up to `closeTimeoutMs` for their close handshakes,
   * drops the rest, and closes the listener. In-flight `infer` calls are not cancelled; their results are
   * discarded. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const wasListening = this.state === 'listening';
    this.state = 'closing';
    this.closing = (async () => {
      const ended = [...this.sessions].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.ws.readyState === WebSocket.CLOSED) return resolve();
            s.ws.once('close', () => resolve());
            s.ws.close(1001, 'Server shutting down');
          }),
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.closeTimeoutMs);
      });
      await Promise.race([Promise.all(ended), timeout]);
      clearTimeout(timer);
      for (const s of this.sessions) s.ws.terminate();
      this.wss.close();
      if (wasListening) {
        await new Promise<void>((resolve) => {
          this.http.close(() => resolve());
          this.http.closeAllConnections();
        });
      }
      this.state = 'closed';
    })();
    return this.closing;
  }

  private onHttpRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 3 });
      res.end(req.method === 'HEAD' ? undefined : 'OK\n');
      return;
    }
    const body = 'Upgrade Required: this is an openpi websocket policy server.\n';
    res.writeHead(426, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Upgrade: 'websocket',
      Connection: 'Upgrade',
    });
    res.end(body);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = req.url ?? '';
    const remoteAddress = req.socket.remoteAddress ?? '';
    // Errors on a socket we refuse (peer reset) must not crash the process.
    socket.on('error', (err) =>
      this.logger.info?.(`upgrade socket error: ${err.message}`, { remoteAddress }),
    );
    if (path === '/healthz') {
      // openpi answers /healthz before the handshake, even on an upgrade request.
      respondRaw(socket, 200, 'OK', 'OK\n');
      return;
    }
    if (this.state !== 'listening') {
      this.reject(socket, 503, 'Service Unavailable', 'server is shutting down\n', remoteAddress, path);
      return;
    }
    if (this.apiKeyDigest !== undefined && !this.authorized(req.headers.authorization)) {
      this.reject(
        socket,
        401,
        'Unauthorized',
        'missing or wrong API key: send "Authorization: Api-Key <key>"\n',
        remoteAddress,
        path,
        { 'WWW-Authenticate': 'Api-Key' },
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
  }

  private reject(
    socket: Duplex,
    status: number,
    statusText: string,
    body: string,
    remoteAddress: string,
    path: string,
    headers: Record<string, string> = {},
  ): void {
    this.counters.rejectedUpgrades++;
    respondRaw(socket, status, statusText, body, headers);
    this.logger.info?.(`upgrade refused with HTTP ${status}`, { remoteAddress, path });
    this.emit('rejected', { status, remoteAddress, path });
  }

  private authorized(header: string | undefined): boolean {
    if (header === undefined || this.apiKeyDigest === undefined) return false;
    const prefix = 'Api-Key ';
    if (!header.startsWith(prefix)) return false;
    // Compare fixed-length digests so the comparison time does not depend on the key.
    return timingSafeEqual(sha256(header.slice(prefix.length)), this.apiKeyDigest);
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    // Upgraded: the handshake timeout no longer applies (keepalive pings watch the peer from here on).
    req.socket.setTimeout(0);
    const info: ConnectionInfo = {
      id: this.nextId++,
      remoteAddress: req.socket.remoteAddress ?? '',
      remotePort: req.socket.remotePort ?? 0,
      path: req.url ?? '',
    };
    const session: Session = {
      info,
      ws,
      chain: Promise.resolve(),
      waitStart: performance.now(),
      prevTotalMs: undefined,
      failed: false,
      queued: 0,
      pingTimer: undefined,
      pongTimer: undefined,
      idleTimer: undefined,
    };
    this.sessions.add(session);
    this.counters.openConnections++;
    this.counters.totalConnections++;

    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.stopIdleTimer(session);
      session.queued += 1;
      if (session.queued > this.counters.peakQueuedRequests)
        this.counters.peakQueuedRequests = session.queued;
      if (session.queued >= this.maxQueued && !ws.isPaused) {
        // Stop reading: frames already parsed still arrive (at most one more read's worth), then TCP pushes back.
        ws.pause();
        this.counters.backpressurePauses++;
      }
      session.chain = session.chain
        .then(() => this.handleMessage(session, data, isBinary))
        .finally(() => {
          session.queued -= 1;
          if (ws.isPaused && session.queued < this.maxQueued) ws.resume();
          if (session.queued === 0) this.startIdleTimer(session);
        });
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection itself after protocol errors (e.g. 1009 for an oversized message).
      this.logger.warn(`connection ${info.id}: ${err.message}`, { connectionId: info.id, wsCode: err.code });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.stopKeepalive(session);
      this.stopIdleTimer(session);
      this.sessions.delete(session);
      this.counters.openConnections--;
      this.logger.info?.(`connection ${info.id} closed (${code})`, { connectionId: info.id, code });
      this.emit('disconnect', { ...info, code, reason: reason.toString('utf8') });
    });

    this.logger.info?.(`connection ${info.id} from ${info.remoteAddress}:${info.remotePort}`, { ...info });
    this.emit('connection', info);
    if (this.state !== 'listening') {
      ws.close(1001, 'Server shutting down');
      return;
    }
    ws.send(this.metadataFrame, { binary: true, compress: false }, (err) => {
      if (err === undefined || err === null) session.waitStart = performance.now();
    });
    this.startKeepalive(session);
    this.startIdleTimer(session);
  }

  /** One request cycle: unpack -> infer -> add server_timing -> pack -> send. Never rejects. */
  private async handleMessage(session: Session, data: RawData, isBinary: boolean): Promise<void> {
    if (session.failed || session.ws.readyState !== WebSocket.OPEN) return;
    const start = session.waitStart;
    try {
      const bytes = toBytes(data);
      if (!isBinary) {
        throw new OpenpiEdgeError(
          'BAD_MESSAGE',
          `expected a binary frame holding a msgpack observation, got a text frame of ${bytes.byteLength} bytes`,
          { frame: 'text', bytes: bytes.byteLength },
        );
      }
      const obs = toObservation(unpackNumpy(bytes), bytes.byteLength);
      const { result, inferMs } = await this.runInfer(obs);
      const serverTiming: Obs = { infer_ms: pyFloat(inferMs) };
      if (session.prevTotalMs !== undefined) serverTiming.prev_total_ms = pyFloat(session.prevTotalMs);
      const reply = packNumpy({ ...checkResult(result), server_timing: serverTiming });
      if (session.ws.readyState !== WebSocket.OPEN) return;
      await sendBinary(session.ws, reply);
      const prevTotalMs = session.prevTotalMs;
      const now = performance.now();
      session.prevTotalMs = now - start;
      session.waitStart = now;
      this.counters.requests++;
      this.emit(
        'request',
        prevTotalMs === undefined
          ? { connectionId: session.info.id, inferMs }
          : { connectionId: session.info.id, inferMs, prevTotalMs },
      );
    } catch (err) {
      this.fail(session, err);
    }
  }

  private async runInfer(obs: Obs): Promise<{ result: unknown; inferMs: number }> {
    const timed = async (): Promise<{ result: unknown; inferMs: number }> => {
      const t0 = performance.now();
      const result: unknown = await this.policy.infer(obs);
      return { result, inferMs: performance.now() - t0 };
    };
    if (this.concurrency === 'concurrent') return timed();
    const previous = this.inferTail;
    let release!: () => void;
    this.inferTail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await timed();
    } finally {
      release();
    }
  }

  private fail(session: Session, err: unknown): void {
    session.failed = true;
    this.counters.failures++;
    const { id } = session.info;
    this.logger.warn(`connection ${id}: request failed: ${describeBrief(err)}`, {
      connectionId: id,
      error: err,
    });
    this.emit('failure', { connectionId: id, error: err });
    if (session.ws.readyState !== WebSocket.OPEN) return;
    session.ws.send(formatErrorText(err, this.errorDetail), { binary: false, compress: false });
    session.ws.close(1011, INTERNAL_ERROR_REASON);
  }

  private startKeepalive(session: Session): void {
    if (this.pingIntervalMs === 0) return;
    session.ws.on('pong', () => {
      clearTimeout(session.pongTimer);
      session.pongTimer = undefined;
    });
    session.pingTimer = setInterval(() => {
      if (session.pongTimer !== undefined || session.ws.readyState !== WebSocket.OPEN) return;
      session.ws.ping();
      session.pongTimer = setTimeout(() => {
        this.counters.keepaliveTimeouts++;
        this.logger.warn(
          `connection ${session.info.id}: no pong within ${this.pingTimeoutMs} ms, dropping it`,
          {
            connectionId: session.info.id,
          },
        );
        session.ws.terminate();
      }, this.pingTimeoutMs);
    }, this.pingIntervalMs);
  }

  /** (Re)arms the idle timer; a no-op when `idleTimeoutMs` is 0. */
  private startIdleTimer(session: Session): void {
    if (this.idleTimeoutMs === 0 || session.failed) return;
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => {
      session.idleTimer = undefined;
      if (session.queued > 0 || session.ws.readyState !== WebSocket.OPEN) return;
      this.counters.idleTimeouts++;
      this.logger.info?.(
        `connection ${session.info.id}: no request for ${this.idleTimeoutMs} ms, closing it`,
        {
          connectionId: session.info.id,
          timeoutMs: this.idleTimeoutMs,
        },
      );
      session.ws.close(1000, 'idle timeout');
    }, this.idleTimeoutMs);
  }

  private stopIdleTimer(session: Session): void {
    clearTimeout(session.idleTimer);
    session.idleTimer = undefined;
  }

  private stopKeepalive(session: Session): void {
    clearInterval(session.pingTimer);
    clearTimeout(session.pongTimer);
    session.pingTimer = undefined;
    session.pongTimer = undefined;
  }
}

function checkInteger(option: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${option} must be an integer in [${min}, ${max}], got ${value}`,
      {
        option,
        value,
      },
    );
  }
  return value;
}

/** A number that travels as msgpack float64 even when integral (openpi's timings are always Python floats). */
function pyFloat(x: number): Value {
  return Number.isInteger(x) ? npScalar('float64', x) : x;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Writes a complete HTTP/1.1 response on a raw upgrade socket and ends it. */
function respondRaw(
  socket: Duplex,
  status: number,
  statusText: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  const lines = [
    `HTTP/1.1 ${status} ${statusText}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * ws hands binary data as a Buffer (binaryType 'nodebuffer'). Returned as a plain Uint8Array view (no copy):
 * `Buffer#slice` does not copy, unlike `Uint8Array#slice`, and code written for Uint8Array (the codec copies
 * unaligned array data with `.slice()`) must get the standard semantics.
 */
function toBytes(data: RawData): Uint8Array {
  const buf = Array.isArray(data) ? Buffer.concat(data) : data;
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function sendBinary(ws: WebSocket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.send(bytes, { binary: true, compress: false }, (err) => (err ? reject(err) : resolve()));
  });
}

function isDict(v: unknown): v is { [key: string]: Value } {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !ArrayBuffer.isView(v) &&
    !isNDArray(v) &&
    !isNumpyScalar(v)
  );
}

function kindOf(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'array';
  if (isNDArray(v)) return `ndarray ${v.dtype}[${v.shape.join(', ')}]`;
  if (isNumpyScalar(v)) return `numpy scalar ${v.dtype}`;
  if (ArrayBuffer.isView(v)) return 'bin';
  return typeof v;
}

function toObservation(v: Value, bytes: number): Obs {
  if (!isDict(v)) {
    throw new OpenpiEdgeError(
      'BAD_OBSERVATION',
      `an observation must be a msgpack map with str keys, got ${kindOf(v)} (${bytes} bytes)`,
      { got: kindOf(v), bytes },
    );
  }
  return v;
}

function checkResult(v: unknown): Obs {
  if (!isDict(v)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `policy.infer must resolve to a dict, got ${kindOf(v)}`, {
      got: kindOf(v),
    });
  }
  return v;
}

function describeBrief(err: unknown): string {
  if (err instanceof OpenpiEdgeError) return `${err.name} [${err.code}]: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** JSON for error context: bigint as string, typed arrays summarised, capped in length. */
function contextJson(context: Readonly<Record<string, unknown>>): string {
  let text: string;
  try {
    text = JSON.stringify(context, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (ArrayBuffer.isView(value)) return `<${value.constructor.name} of ${value.byteLength} bytes>`;
      return value;
    });
  } catch {
    text = '<unserializable context>';
  }
  return text.length > 4000 ? `${text.slice(0, 4000)}...` : text;
}

/**
 * The text frame sent before a 1011 close: error name, code, message and context, then the stack, then
 * the `cause` chain (at most 5 deep). With `'message'` detail the stacks are left out.
 */
function formatErrorText(err: unknown, detail: 'traceback' | 'message'): string {
  const lines = ['Traceback (openpi-edge WebsocketPolicyServer, most recent call first):'];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined; depth++) {
    if (depth > 0) lines.push('', 'Caused by:');
    if (!(current instanceof Error)) {
      lines.push(`thrown value: ${String(current)}`);
      break;
    }
    lines.push(describeBrief(current));
    if (current instanceof OpenpiEdgeError) lines.push(`context: ${contextJson(current.context)}`);
    if (detail === 'traceback' && current.stack !== undefined) {
      lines.push(...current.stack.split('\n').filter((l) => /^\s+at /.test(l)));
    }
    current = current.cause;
  }
  return lines.join('\n');
}
