/**
 * openpi's `WebsocketClientPolicy` for Node and browsers: talks to an openpi websocket policy server (or ours)
 * with the msgpack-numpy codec. Protocol (docs/protocol.md "## Client"): after the handshake the server sends one
 * binary metadata frame; then strict lock-step, one binary request frame -> one binary reply frame; a text reply
 * is the server's traceback (followed by close 1011).
 *
 * Browser-safe: no `node:` imports; in Node the `ws` package is loaded lazily (it is the only way to send the
 * `Authorization` header and to turn compression off explicitly), in browsers `globalThis.WebSocket` is used
 * (browsers cannot set headers: `apiKey` is refused there).
 */
import { type Clock, realClock } from './clock.js';
import { OpenpiEdgeError, ServerError } from './errors.js';
import { packNumpy, unpackNumpy } from './msgpack-numpy.js';
import { isNDArray, isNumpyScalar, type Value } from './ndarray.js';
import type { ClosablePolicy, Obs } from './policy.js';
import { buildUri } from './uri.js';

/** The subset of the WHATWG WebSocket API used here (both browsers' WebSocket and `ws` implement it). */
export interface WebSocketLike {
  binaryType: string;
  /** WHATWG readyState: 1 = OPEN, 2 = CLOSING (close frame sent or received), 3 = CLOSED. */
  readonly readyState?: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens a socket. `headers` is empty unless `apiKey` is set; `maxPayload` is 0 for unlimited. */
export type WebSocketFactory = (
  url: string,
  init: { headers: Record<string, string>; maxPayload: number },
) => WebSocketLike | Promise<WebSocketLike>;

/** Retry policy for opening a connection (the first connect and every reconnect). */
export interface ReconnectOptions {
  /** Attempts per connect, the first included. Default Infinity (openpi waits for its server forever). */
  maxAttempts?: number;
  /** Delay before the second attempt, in ms. Default 250. */
  initialDelayMs?: number;
  /** Upper bound of the delay between attempts, in ms. Default 5000 (openpi's fixed retry interval). */
  maxDelayMs?: number;
  /** Growth of the delay per attempt. Default 2. */
  multiplier?: number;
  /** Random spread of each delay, as a fraction (0.2 = +-20%). Default 0.2. */
  jitter?: number;
}

export type ConnectionState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'disconnected'
  | 'closed';

export interface ConnectionStateEvent {
  state: ConnectionState;
  /** The URI connected to. */
  uri: string;
  /** For `reconnecting`: the attempt that failed (1-based) and the delay before the next one, in ms. */
  attempt?: number;
  delayMs?: number;
  /** For `reconnecting` / `disconnected`: why. */
  error?: OpenpiEdgeError;
}

export interface WebsocketClientPolicyOptions {
  /** Server host, or a full `ws://` / `wss://` URI. Default `0.0.0.0` (openpi's default). */
  host?: string;
  /** Server port, appended as `:port`. Default none (openpi examples use 8000). */
  port?: number;
  /** Sends `Authorization: Api-Key <key>` on the upgrade request (Node only). Default none. */
  apiKey?: string;
  /** Per attempt: handshake plus metadata frame must arrive within this many ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Reply deadline per `infer`, in ms; on expiry the connection is dropped. Default none (openpi waits forever). */
  requestTimeoutMs?: number;
  /** Retry policy for (re)connecting. See {@link ReconnectOptions} for the defaults. */
  reconnect?: ReconnectOptions;
  /** Largest reply frame accepted, in bytes. Default unlimited (openpi's max_size=None). */
  maxMessageBytes?: number;
  /** Socket factory. Default: `ws` in Node (loaded lazily), `globalThis.WebSocket` elsewhere. */
  webSocket?: WebSocketFactory;
  /** Called on every connection state change. */
  onStateChange?: (event: ConnectionStateEvent) => void;
  /** Clock for retry delays and timeouts. Default the real clock. */
  clock?: Clock;
}

const isNode = (): boolean =>
  typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string';

/** The default factory: `ws` in Node, the global WebSocket elsewhere. */
export const defaultWebSocketFactory: WebSocketFactory = async (url, { headers, maxPayload }) => {
  if (isNode()) {
    let mod: { WebSocket?: unknown; default?: unknown };
    try {
      mod = (await import('ws')) as { WebSocket?: unknown; default?: unknown };
    } catch (e) {
      throw new OpenpiEdgeError(
        'NOT_CONNECTED',
        "the 'ws' package is needed in Node: install it (pnpm add ws)",
        {},
        {
          cause: e,
        },
      );
    }
    const WS = (mod.WebSocket ?? mod.default) as new (
      url: string,
      opts: { headers: Record<string, string>; perMessageDeflate: boolean; maxPayload: number },
    ) => WebSocketLike;
    return new WS(url, { headers, perMessageDeflate: false, maxPayload });
  }
  const Global = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (Global === undefined) {
    throw new OpenpiEdgeError(
      'NOT_CONNECTED',
      'no WebSocket implementation: globalThis.WebSocket is missing',
      {
        url,
      },
    );
  }
  if (Object.keys(headers).length > 0) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      'browsers cannot set the Authorization header: apiKey works only in Node (or pass a webSocket factory)',
      { url },
    );
  }
  const ws = new Global(url);
  ws.binaryType = 'arraybuffer';
  return ws;
};

function frameData(data: unknown): Uint8Array | string | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function isPlainDict(v: Value): v is Obs {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !isNDArray(v) &&
    !isNumpyScalar(v)
  );
}

/** WebSocket.OPEN. */
const WS_OPEN = 1;

/** What a failed connection attempt says: ws reports errors as `{ error, message }` events. */
function describeSocketError(ev: unknown): { message: string; code?: string; status?: number } {
  const e = ev as { error?: { code?: unknown; message?: unknown }; message?: unknown } | null;
  const message = String(e?.error?.message ?? e?.message ?? 'connection error');
  const code = typeof e?.error?.code === 'string' ? e.error.code : undefined;
  const m = /Unexpected server response: (\d+)/.exec(message);
  return m === null ? { message, ...(code && { code }) } : { message, status: Number(m[1]) };
}

interface Pending {
  resolve(v: Obs): void;
  reject(e: Error): void;
}

/** One open socket: metadata received, at most one request outstanding. */
class Connection {
  pending: Pending | null = null;
  /** The socket closed. */
  dead = false;
  /** We started closing it (or it closed): not usable for requests any more. */
  closing = false;
  private reported = false;
  /** Set by the owner before closing the socket deliberately: the error for the in-flight request. */
  closeReason: OpenpiEdgeError | null = null;
  private lastError: unknown = null;
  private closeWaiters: (() => void)[] = [];

  constructor(
    readonly ws: WebSocketLike,
    readonly uri: string,
    readonly metadata: Obs,
    private readonly maxMessageBytes: number,
    private readonly onDrop: (conn: Connection, error: OpenpiEdgeError) => void,
  ) {
    ws.onmessage = (ev) => this.message(ev.data);
    ws.onerror = (ev) => {
      this.lastError = ev;
    };
    ws.onclose = (ev) => this.closed(ev.code, ev.reason);
  }

  request(bytes: Uint8Array): Promise<Obs> {
    return new Promise<Obs>((resolve, reject) => {
      this.pending = { resolve, reject };
      try {
        this.ws.send(bytes);
      } catch (e) {
        this.pending = null;
        reject(
          new OpenpiEdgeError(
            'CONNECTION_CLOSED',
            `send failed on ${this.uri}`,
            { uri: this.uri },
            { cause: e },
          ),
        );
        void this.drop(null, 1011, 'send failed');
      }
    });
  }

  /** Closes the socket; the in-flight request (if any) fails with `reason`. Resolves when the socket closed. */
  drop(reason: OpenpiEdgeError | null, code = 1000, text = ''): Promise<void> {
    if (reason !== null && this.closeReason === null) this.closeReason = reason;
    const done = new Promise<void>((resolve) => {
      if (this.dead) resolve();
      else this.closeWaiters.push(resolve);
    });
    if (!this.dead) {
      const p = this.pending;
      this.pending = null;
      if (p !== null && reason !== null) p.reject(reason);
      if (!this.closing) {
        this.closing = true;
        try {
          this.ws.close(code, text);
        } catch {
          // already closing
        }
        this.report(
          reason ??
            new OpenpiEdgeError('CONNECTION_CLOSED', `closed ${this.uri}: ${text}`, {
              uri: this.uri,
              closeCode: code,
            }),
        );
      }
    }
    return done;
  }

  private message(data: unknown): void {
    const p = this.pending;
    const frame = frameData(data);
    if (p === null) {
      // openpi never sends unasked: the lock-step is broken, so this connection cannot be trusted any more
      void this.drop(
        new OpenpiEdgeError('BAD_MESSAGE', `unsolicited frame from ${this.uri}`, { uri: this.uri }),
        1002,
        'unsolicited frame',
      );
      return;
    }
    this.pending = null;
    if (typeof frame === 'string') {
      p.reject(new ServerError(frame, { uri: this.uri }));
      // openpi closes with 1011 right after the traceback; do not send into the closing socket
      void this.drop(null, 1000, 'server error');
      return;
    }
    if (frame === null) {
      p.reject(
        new OpenpiEdgeError('BAD_MESSAGE', `reply frame of unknown type from ${this.uri}`, { uri: this.uri }),
      );
      return;
    }
    if (frame.length > this.maxMessageBytes) {
      p.reject(
        new OpenpiEdgeError(
          'MESSAGE_TOO_LARGE',
          `reply of ${frame.length} bytes exceeds ${this.maxMessageBytes}`,
          {
            uri: this.uri,
            bytes: frame.length,
            maxMessageBytes: this.maxMessageBytes,
          },
        ),
      );
      void this.drop(null, 1009, 'message too big');
      return;
    }
    let v: Value;
    try {
      v = unpackNumpy(frame);
    } catch (e) {
      p.reject(e as Error);
      return;
    }
    if (!isPlainDict(v)) {
      p.reject(new OpenpiEdgeError('BAD_MESSAGE', `reply from ${this.uri} is not a dict`, { uri: this.uri }));
      return;
    }
    p.resolve(v);
  }

  private report(error: OpenpiEdgeError): void {
    if (this.reported) return;
    this.reported = true;
    this.onDrop(this, error);
  }

  private closed(code: number, reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.closing = true;
    const info = describeSocketError(this.lastError);
    const error =
      this.closeReason ??
      (code === 1009 || info.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? new OpenpiEdgeError('MESSAGE_TOO_LARGE', `reply from ${this.uri} exceeds maxMessageBytes`, {
            uri: this.uri,
            closeCode: code,
            maxMessageBytes: this.maxMessageBytes,
          })
        : new OpenpiEdgeError(
            'CONNECTION_CLOSED',
            `connection to ${this.uri} closed (code ${code}${reason ? `: ${reason}` : ''})`,
            { uri: this.uri, closeCode: code, closeReason: reason },
          ));
    const p = this.pending;
    this.pending = null;
    p?.reject(error);
    for (const w of this.closeWaiters.splice(0)) w();
    this.report(error);
  }
}

interface Job {
  obs: Obs;
  resolve(v: Obs): void;
  reject(e: Error): void;
}

/**
 * A {@link ClosablePolicy} served by a remote openpi policy server.
 *
 * - `infer` calls are queued and sent one at a time, in call order (the protocol is lock-step).
 * - A request in flight when the connection drops fails with CONNECTION_CLOSED; the next `infer` reconnects
 *   (with the retry policy). A text reply rejects with {@link ServerError} (openpi's traceback); the server
 *   closes that connection, so the next `infer` reconnects too.
 * - `close()` rejects queued and in-flight calls with CLOSED; later calls reject with CLOSED.
 */
export class WebsocketClientPolicy implements ClosablePolicy {
  readonly uri: string;
  private readonly opts: WebsocketClientPolicyOptions;
  private readonly clock: Clock;
  private readonly maxMessageBytes: number;
  private conn: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  private metadata: Obs | null = null;
  private everConnected = false;
  private isClosed = false;
  private readonly abort = new AbortController();
  private readonly queue: Job[] = [];
  private pumping = false;
  private stateNow: ConnectionState = 'idle';
  private readonly listeners = new Set<(e: ConnectionStateEvent) => void>();

  /** Validates options; connects lazily (first `connect()` / `infer()`). Throws BAD_ARGUMENT. */
  constructor(options: WebsocketClientPolicyOptions = {}) {
    this.opts = options;
    this.uri = buildUri(options.host, options.port);
    this.clock = options.clock ?? realClock;
    this.maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    for (const [k, v] of Object.entries({
      connectTimeoutMs: options.connectTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      maxMessageBytes: options.maxMessageBytes,
      ...options.reconnect,
    })) {
      if (v !== undefined && !(typeof v === 'number' && v >= 0 && !Number.isNaN(v))) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `${k} must be a non-negative number, got ${String(v)}`, {
          option: k,
        });
      }
    }
    if (options.onStateChange) this.listeners.add(options.onStateChange);
  }

  /** Creates a client and waits until it is connected and holds the server's metadata. */
  static async connect(options: WebsocketClientPolicyOptions = {}): Promise<WebsocketClientPolicy> {
    const client = new WebsocketClientPolicy(options);
    await client.connect();
    return client;
  }

  /** Current connection state. */
  get state(): ConnectionState {
    return this.stateNow;
  }

  /** Subscribes to connection state changes; returns the unsubscribe function. */
  onStateChange(listener: (event: ConnectionStateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Connects (retrying per the reconnect policy) unless connected. Resolves once the metadata frame arrived.
   * Rejects with the last attempt's error: NOT_CONNECTED (refused, reset, HTTP status), CONNECT_TIMEOUT,
   * UNAUTHORIZED (HTTP 401/403, not retried), BAD_MESSAGE (undecodable metadata), CLOSED.
   */
  async connect(): Promise<void> {
    await this.ensureConnection();
  }

  /** The metadata dict the server sent on the current (or last) connection. Throws NOT_CONNECTED before one. */
  getServerMetadata(): Obs {
    if (this.metadata === null) {
      throw new OpenpiEdgeError('NOT_CONNECTED', `no metadata yet: connect to ${this.uri} first`, {
        uri: this.uri,
      });
    }
    return this.metadata;
  }

  infer(obs: Obs): Promise<Obs> {
    if (this.isClosed) return Promise.reject(this.closedError());
    return new Promise<Obs>((resolve, reject) => {
      this.queue.push({ obs, resolve, reject });
      void this.pump();
    });
  }

  /** No-op, like openpi's client: the protocol has no reset message. */
  reset(): void {}

  /** Closes the connection (code 1000) and rejects queued and in-flight calls with CLOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.abort.abort();
    for (const job of this.queue.splice(0)) job.reject(this.closedError());
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) await conn.drop(this.closedError(), 1000, 'client closed');
    this.setState({ state: 'closed', uri: this.uri });
  }

  private closedError(): OpenpiEdgeError {
    return new OpenpiEdgeError('CLOSED', `client for ${this.uri} is closed`, { uri: this.uri });
  }

  private setState(e: ConnectionStateEvent): void {
    if (this.stateNow === 'closed') return;
    this.stateNow = e.state;
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a listener's failure must not break the connection logic
      }
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let job = this.queue.shift(); job !== undefined; job = this.queue.shift()) {
        try {
          job.resolve(await this.runOne(job.obs));
        } catch (e) {
          job.reject(e as Error);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async runOne(obs: Obs): Promise<Obs> {
    const bytes = packNumpy(obs); // encode first: a bad observation must not cost a connection
    const conn = await this.ensureConnection();
    if (this.isClosed) throw this.closedError();
    const timeoutMs = this.opts.requestTimeoutMs;
    if (timeoutMs === undefined) return conn.request(bytes);
    const timer = new AbortController();
    const abortTimer = (): void => timer.abort();
    this.abort.signal.addEventListener('abort', abortTimer);
    this.clock.sleep(timeoutMs, timer.signal).then(
      () => {
        void conn.drop(
          new OpenpiEdgeError('REQUEST_TIMEOUT', `no reply from ${this.uri} within ${timeoutMs} ms`, {
            uri: this.uri,
            timeoutMs,
          }),
          1000,
          'request timeout',
        );
      },
      () => {},
    );
    try {
      return await conn.request(bytes);
    } finally {
      timer.abort();
      this.abort.signal.removeEventListener('abort', abortTimer);
    }
  }

  private ensureConnection(): Promise<Connection> {
    if (this.isClosed) return Promise.reject(this.closedError());
    const conn = this.conn;
    if (conn !== null && !conn.closing && (conn.ws.readyState ?? WS_OPEN) !== WS_OPEN) {
      // The server closed (its close frame arrived) but the socket's 'close' has not fired yet: a request sent now
      // would go out on the closing socket and fail. Let it finish closing; use a new connection.
      conn.closing = true;
      this.conn = null;
    }
    if (this.conn !== null && !this.conn.closing) return Promise.resolve(this.conn);
    if (this.connecting === null) {
      this.connecting = this.connectWithRetry().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  private async connectWithRetry(): Promise<Connection> {
    const r = this.opts.reconnect ?? {};
    const maxAttempts = r.maxAttempts ?? Number.POSITIVE_INFINITY;
    const initial = r.initialDelayMs ?? 250;
    const maxDelay = r.maxDelayMs ?? 5000;
    const multiplier = r.multiplier ?? 2;
    const jitter = r.jitter ?? 0.2;
    this.setState({ state: this.everConnected ? 'reconnecting' : 'connecting', uri: this.uri });
    for (let attempt = 1; ; attempt++) {
      try {
        const conn = await this.connectOnce();
        if (this.isClosed) {
          await conn.drop(null);
          throw this.closedError();
        }
        this.conn = conn;
        this.metadata = conn.metadata;
        this.everConnected = true;
        this.setState({ state: 'connected', uri: this.uri });
        return conn;
      } catch (e) {
        const err =
          e instanceof OpenpiEdgeError
            ? e
            : new OpenpiEdgeError(
                'NOT_CONNECTED',
                `cannot connect to ${this.uri}`,
                { uri: this.uri },
                { cause: e },
              );
        // like openpi, keep trying while nobody answers; an HTTP answer other than 101 is final
        const retryable =
          (err.code === 'NOT_CONNECTED' && err.context.status === undefined) ||
          err.code === 'CONNECT_TIMEOUT';
        if (this.isClosed) throw this.closedError();
        if (!retryable || attempt >= maxAttempts) {
          this.setState({ state: 'disconnected', uri: this.uri, error: err });
          throw new OpenpiEdgeError(
            err.code,
            err.message,
            { ...err.context, attempts: attempt },
            { cause: err },
          );
        }
        const base = Math.min(maxDelay, initial * multiplier ** (attempt - 1));
        const delayMs = Math.max(0, base * (1 + jitter * (2 * Math.random() - 1)));
        this.setState({ state: 'reconnecting', uri: this.uri, attempt, delayMs, error: err });
        try {
          await this.clock.sleep(delayMs, this.abort.signal);
        } catch {
          throw this.closedError();
        }
      }
    }
  }

  private async connectOnce(): Promise<Connection> {
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers.Authorization = `Api-Key ${this.opts.apiKey}`;
    const maxPayload = Number.isFinite(this.maxMessageBytes)
      ? Math.max(1, Math.floor(this.maxMessageBytes))
      : 0;
    const ws = await (this.opts.webSocket ?? defaultWebSocketFactory)(this.uri, { headers, maxPayload });
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const uri = this.uri;
    return new Promise<Connection>((resolve, reject) => {
      let settled = false;
      let lastError: unknown = null;
      const timer = new AbortController();
      const onAbort = (): void => finish(this.closedError());
      const finish = (e: OpenpiEdgeError | null, conn?: Connection): void => {
        if (settled) return;
        settled = true;
        timer.abort();
        this.abort.signal.removeEventListener('abort', onAbort);
        if (e !== null) {
          ws.onopen = ws.onmessage = null;
          // Not null: closing a socket whose handshake is pending makes `ws` emit 'error' ("closed before the
          // connection was established"), and an 'error' with no listener would crash the process.
          ws.onerror = () => {};
          ws.onclose = null;
          try {
            ws.close();
          } catch {
            // not open yet
          }
          reject(e);
        } else if (conn) resolve(conn);
      };
      // close() abandons the attempt at once (CLOSED) instead of leaving it to the connect timeout.
      if (this.abort.signal.aborted) onAbort();
      else this.abort.signal.addEventListener('abort', onAbort);
      this.clock.sleep(timeoutMs, timer.signal).then(
        () =>
          finish(
            new OpenpiEdgeError(
              'CONNECT_TIMEOUT',
              `no handshake and metadata from ${uri} within ${timeoutMs} ms`,
              {
                uri,
                timeoutMs,
              },
            ),
          ),
        () => {},
      );
      ws.onerror = (ev) => {
        lastError = ev;
      };
      ws.onclose = (ev) => {
        const info = describeSocketError(lastError);
        if (info.status === 401 || info.status === 403) {
          finish(
            new OpenpiEdgeError('UNAUTHORIZED', `${uri} refused the upgrade with HTTP ${info.status}`, {
              uri,
              status: info.status,
            }),
          );
        } else {
          const e = new OpenpiEdgeError(
            'NOT_CONNECTED',
            `cannot connect to ${uri}: ${info.message} (close code ${ev.code})`,
            {
              uri,
              closeCode: ev.code,
              ...(info.code && { cause: info.code }),
              ...(info.status && { status: info.status }),
            },
          );
          finish(e);
        }
      };
      ws.onmessage = (ev) => {
        const frame = frameData(ev.data);
        if (typeof frame === 'string') {
          finish(new ServerError(frame, { uri, stage: 'metadata' }));
          return;
        }
        let metadata: Value;
        try {
          if (frame === null) throw new OpenpiEdgeError('BAD_MESSAGE', 'metadata frame of unknown type');
          metadata = unpackNumpy(frame, { copy: true });
        } catch (e) {
          const err = e as OpenpiEdgeError;
          finish(
            new OpenpiEdgeError('BAD_MESSAGE', `bad metadata frame from ${uri}: ${err.message}`, {
              uri,
              ...err.context,
            }),
          );
          return;
        }
        if (!isPlainDict(metadata)) {
          finish(new OpenpiEdgeError('BAD_MESSAGE', `metadata from ${uri} is not a dict`, { uri }));
          return;
        }
        const conn = new Connection(ws, uri, metadata, this.maxMessageBytes, (c, error) =>
          this.dropped(c, error),
        );
        finish(null, conn);
      };
    });
  }

  private dropped(conn: Connection, error: OpenpiEdgeError): void {
    if (this.conn !== conn) return;
    this.conn = null;
    if (!this.isClosed) this.setState({ state: 'disconnected', uri: this.uri, error });
  }
}
