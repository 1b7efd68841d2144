/**
 * The agent's built-in status page (`start --status-port`): one HTTP server that serves a static page
 * (status-page-html.ts: inline JS/CSS, SVG plots) at `/` and pushes updates to it over a websocket at `/ws`.
 *
 * It runs in the recorder's worker thread next to the MCAP file and the Foxglove live view, and is fed the same
 * messages (`write(topic, logMs, body)`: the topics and JSON bodies of docs/agent.md "Recording an MCAP log").
 * What it does with them (docs/agent.md "Status page"):
 * - per tick (joint states, gate decision, loop timing): one row buffered, sent to the pages in one `ticks` update
 *   every `1000 / updateHz` ms (default 10 Hz);
 * - per inference: the camera frames the policy was given (the recorder's 224x224 JPEG) and the chunk (index, step,
 *   latency, error), sent at once;
 * - faults, e-stop events, episode events: sent at once.
 * Nothing is buffered or sent while no page is connected (`connected()` tells the recorder whether to encode frames
 * for it). A page whose socket buffers more than `maxBufferedBytes` misses updates (counted), never grows the process.
 *
 * E-stop: a page sends `{"type":"estop","reason":"..."}` over its websocket (or anyone POSTs to `/estop`); the server
 * calls `onEstop(reason)` (the worker posts it to the control loop's thread, which latches the gate's e-stop). When the
 * e-stop event comes back through the recorder, the server measures how many ticks and ms the loop took to hold.
 *
 * Requests from other origins (a web page on another site reaching loopback) are refused with 403: the Origin header,
 * when present, must name this server's host. Binds 127.0.0.1 by default.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { listenHttp, urlHost } from './listen.js';
import { statusPageHtml } from './status-page-html.js';

export interface StatusPageServerOptions {
  /** Interface to bind. Default `'127.0.0.1'`. */
  host?: string;
  /** TCP port; 0 = any free port. Default 8080. */
  port?: number;
  /** Joint names in action order. */
  joints: readonly string[];
  /** Camera names. */
  cameras: readonly string[];
  /** Shown on the page (robot, model, control_hz, ...). */
  metadata?: Readonly<Record<string, string>>;
  /** Epoch ms of the agent clock's zero (to turn log times into wall time). Default 0. */
  clockOriginMs?: number;
  /** Plot updates per second. Default 10. */
  updateHz?: number;
  /** Per page: skip updates while its socket buffers more than this many bytes. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** An e-stop request from a page (or POST /estop). */
  onEstop: (reason: string) => void;
  /** Wall clock (epoch ms) for latency figures. Default `performance.timeOrigin + performance.now()`. */
  now?: () => number;
}

export interface StatusPageStats {
  pages: number;
  /** Update messages written (one per page per update). */
  sent: number;
  /** Updates not written to a page over `maxBufferedBytes`. */
  dropped: number;
  /** E-stop requests passed to `onEstop`. */
  estops: number;
  /** Requests answered with an error (bad path, method, origin, message). */
  badRequests: number;
  /** Time spent in `write` and the periodic updates (ms, this thread): the page's cost in the worker. */
  workMs: number;
  /** Messages handled by `write` while a page was connected. */
  handled: number;
}

/** The e-stop as the page sees it: the latch, and (once measured) how fast the loop held. */
export interface EstopState {
  latched: boolean;
  source: string | null;
  reason: string | null;
  /** Agent-clock ms of the latch. */
  atMs: number | null;
  /** Wall ms from the last e-stop request this server passed on to the latch; null when not from here. */
  requestToLatchMs: number | null;
  /** Ticks started after the latch up to and including the first hold (1 = the next tick held). */
  ticksToHold: number | null;
  /** Agent-clock ms from the latch to the start of the first held tick. */
  latchToHoldMs: number | null;
  heldStep: number | null;
}

interface TickRow {
  step: number;
  episode: number;
  t: number;
  pos: (number | null)[] | null;
  cmd: (number | null)[] | null;
  decision: string;
  faults: readonly string[];
  jitter: number | null;
  period: number | null;
}

const MAX_ROWS = 2000;

function send(ws: WebSocket, text: string, limit: number, stats: StatusPageStats): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount > limit) {
    stats.dropped++;
    return;
  }
  ws.send(text);
  stats.sent++;
}

const numOrNull = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export class StatusPageServer {
  readonly #host: string;
  readonly #port: number;
  readonly #opts: StatusPageServerOptions;
  readonly #limit: number;
  readonly #periodMs: number;
  readonly #now: () => number;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #pages = new Set<WebSocket>();
  readonly #stats: StatusPageStats = {
    pages: 0,
    sent: 0,
    dropped: 0,
    estops: 0,
    badRequests: 0,
    workMs: 0,
    handled: 0,
  };
  #rows: TickRow[] = [];
  #pendingPos: (number | null)[] | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #estop: EstopState = {
    latched: false,
    source: null,
    reason: null,
    atMs: null,
    requestToLatchMs: null,
    ticksToHold: null,
    latchToHoldMs: null,
    heldStep: null,
  };
  /** Wall time of the last e-stop request passed on, until the latch event comes back. */
  #requestedAt: number | null = null;
  #ticksSinceLatch = 0;
  #lastChunk: Record<string, unknown> | null = null;
  #lastFaults: Record<string, unknown> | null = null;
  #lastFrames = new Map<string, string>();
  #boundPort = 0;
  #html = '';

  /** Throws BAD_ARGUMENT for an invalid port or rate. */
  constructor(options: StatusPageServerOptions) {
    this.#opts = options;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 8080;
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `status page port must be 0..65535, got ${this.#port}`, {
        option: 'status-port',
      });
    }
    const hz = options.updateHz ?? 10;
    if (!(hz > 0 && hz <= 100)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `status page updateHz must be in (0, 100], got ${hz}`, {
        option: 'updateHz',
      });
    }
    this.#periodMs = 1000 / hz;
    this.#limit = options.maxBufferedBytes ?? 4 * 2 ** 20;
    this.#now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.#http = createServer((req, res) => this.#onRequest(req, res));
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      const refuse = (status: string, text: string): void => {
        this.#stats.badRequests++;
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${text}\n`);
      };
      if (path !== '/ws') return refuse('404 Not Found', 'the status websocket is at /ws');
      if (!this.#sameOrigin(req))
        return refuse('403 Forbidden', 'cross-origin status connections are refused');
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onPage(ws));
    });
  }

  /** Binds; resolves with the bound address (the real port when `port` was 0). BAD_ARGUMENT when it cannot bind. */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    this.#boundPort = (await listenHttp(this.#http, this.#host, this.#port)).port;
    return {
      host: this.#host,
      port: this.#boundPort,
      url: `http://${urlHost(this.#host)}:${this.#boundPort}`,
    };
  }

  /** Whether a page is connected (messages cost nothing otherwise). */
  connected(): boolean {
    return this.#pages.size > 0;
  }

  stats(): StatusPageStats {
    return { ...this.#stats, pages: this.#pages.size };
  }

  /** The e-stop as last seen (a copy). */
  estopState(): EstopState {
    return { ...this.#estop };
  }

  /** One recorded message (topic and JSON body as in the MCAP log), logged at `logMs` (agent clock). */
  write(topic: string, logMs: number, body: Readonly<Record<string, unknown>>): void {
    // The e-stop's hold measurement needs the decisions even without a page.
    if (topic === '/safety/estop') this.#onEstopEvent(logMs, body);
    else if (topic === '/safety/decision' && this.#estop.latched && this.#estop.ticksToHold === null) {
      this.#measureHold(logMs, body);
    }
    if (this.#pages.size === 0) return;
    const t0 = performance.now();
    this.#stats.handled++;
    if (topic === '/joint_states') {
      const joints = body.joints as readonly { position: number | null }[] | undefined;
      this.#pendingPos = joints === undefined ? null : joints.map((j) => numOrNull(j.position));
    } else if (topic === '/safety/decision') {
      const cmd = body.command as readonly (number | null)[] | null | undefined;
      this.#rows.push({
        step: Number(body.step),
        episode: Number(body.episode),
        t: logMs,
        pos: this.#pendingPos,
        cmd: cmd === null || cmd === undefined ? null : [...cmd],
        decision: String(body.decision),
        faults: (body.faults as readonly string[] | undefined) ?? [],
        jitter: null,
        period: null,
      });
      this.#pendingPos = null;
      if (this.#rows.length > MAX_ROWS) this.#rows.splice(0, this.#rows.length - MAX_ROWS);
    } else if (topic === '/loop/timing') {
      const last = this.#rows[this.#rows.length - 1];
      if (last !== undefined && last.step === Number(body.step)) {
        last.jitter = numOrNull(body.jitter_ms);
        last.period = numOrNull(body.period_ms);
      }
    } else if (topic.startsWith('/camera/')) {
      const camera = topic.slice('/camera/'.length);
      const data = String(body.data ?? '');
      this.#lastFrames.set(camera, data);
      this.#broadcast(JSON.stringify({ type: 'frame', camera, format: body.format, data }));
    } else if (topic === '/policy/chunk') {
      this.#lastChunk = {
        type: 'chunk',
        index: body.index,
        episode: body.episode,
        step: body.step,
        latencyMs: body.latency_ms,
        shape: body.shape,
        error: body.error,
        t: logMs,
      };
      this.#broadcast(JSON.stringify(this.#lastChunk));
    } else if (topic === '/safety/faults') {
      this.#lastFaults = { type: 'faults', active: body.active, raised: body.raised, cleared: body.cleared };
      this.#broadcast(JSON.stringify(this.#lastFaults));
    } else if (topic === '/loop/events') {
      this.#broadcast(
        JSON.stringify({ type: 'event', event: body.event, episode: body.episode, fields: body.fields }),
      );
    }
    this.#stats.workMs += performance.now() - t0;
  }

  /** Closes every page and the server. */
  async close(): Promise<void> {
    this.#stopTimer();
    for (const ws of this.#pages) ws.close(1001, 'agent shutting down');
    this.#http.closeAllConnections?.();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const ws of this.#pages) ws.terminate();
    this.#wss.close();
  }

  #onEstopEvent(logMs: number, body: Readonly<Record<string, unknown>>): void {
    const event = String(body.event);
    // a request is answered by the next trigger event (a repeat while latched included)
    const requested = event === 'triggered' ? this.#requestedAt : null;
    if (event === 'triggered') this.#requestedAt = null;
    if (event === 'triggered' && !this.#estop.latched) {
      this.#estop = {
        latched: true,
        source: String(body.source),
        reason: String(body.reason),
        atMs: logMs,
        requestToLatchMs:
          requested !== null && String(body.source) === 'status-page'
            ? this.#epochOf(logMs) - requested
            : null,
        ticksToHold: null,
        latchToHoldMs: null,
        heldStep: null,
      };
      this.#ticksSinceLatch = 0;
    } else if (event === 'reset') {
      this.#estop = { ...this.#estop, latched: false };
    }
    this.#broadcast(JSON.stringify({ type: 'estop', event, ...this.#estop }));
  }

  #measureHold(logMs: number, body: Readonly<Record<string, unknown>>): void {
    const at = this.#estop.atMs ?? Number.POSITIVE_INFINITY;
    if (!(logMs >= at)) return;
    this.#ticksSinceLatch++;
    const faults = (body.faults as readonly string[] | undefined) ?? [];
    if (body.decision === 'hold' && faults.includes('E_STOP')) {
      this.#estop = {
        ...this.#estop,
        ticksToHold: this.#ticksSinceLatch,
        latchToHoldMs: logMs - at,
        heldStep: Number(body.step),
      };
      this.#broadcast(JSON.stringify({ type: 'estop', event: 'held', ...this.#estop }));
    }
  }

  #epochOf(logMs: number): number {
    return (this.#opts.clockOriginMs ?? 0) + logMs;
  }

  #flush(): void {
    if (this.#rows.length === 0 || this.#pages.size === 0) return;
    const t0 = performance.now();
    const rows = this.#rows;
    this.#rows = [];
    const text = JSON.stringify({
      type: 'ticks',
      step: rows.map((r) => r.step),
      episode: rows.map((r) => r.episode),
      t: rows.map((r) => r.t),
      pos: rows.map((r) => r.pos),
      cmd: rows.map((r) => r.cmd),
      decision: rows.map((r) => r.decision),
      faults: rows.map((r) => (r.faults.length === 0 ? null : r.faults)),
      jitter: rows.map((r) => r.jitter),
      period: rows.map((r) => r.period),
      stats: { workMs: this.#stats.workMs, dropped: this.#stats.dropped },
    });
    this.#broadcast(text);
    this.#stats.workMs += performance.now() - t0;
  }

  #broadcast(text: string): void {
    for (const ws of this.#pages) send(ws, text, this.#limit, this.#stats);
  }

  #startTimer(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.#flush(), this.#periodMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser page (curl, a script)
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  #answer(res: ServerResponse, status: number, text: string, bad = true): void {
    if (bad) this.#stats.badRequests++;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        this.#answer(res, 405, 'method not allowed: the page is GET /');
        return;
      }
      if (this.#html === '') {
        this.#html = statusPageHtml({
          joints: this.#opts.joints,
          cameras: this.#opts.cameras,
          metadata: this.#opts.metadata ?? {},
        });
      }
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'content-security-policy':
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
        })
        .end(req.method === 'HEAD' ? undefined : this.#html);
      return;
    }
    if (path === '/estop') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        this.#answer(res, 405, 'method not allowed: POST /estop latches the e-stop');
        return;
      }
      if (!this.#sameOrigin(req)) {
        this.#answer(res, 403, 'cross-origin e-stop requests are refused');
        return;
      }
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (s: string) => {
        if (body.length < 1024) body += s;
      });
      req.on('end', () => {
        this.#requestEstop(body.trim() === '' ? 'e-stop requested over HTTP' : body.trim().slice(0, 200));
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}\n');
      });
      return;
    }
    if (path === '/status.json' && req.method === 'GET') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ estop: this.#estop, stats: this.stats(), lastChunk: this.#lastChunk }));
      return;
    }
    this.#answer(res, 404, `not found: ${path}`);
  }

  #requestEstop(reason: string): void {
    this.#stats.estops++;
    if (this.#requestedAt === null) this.#requestedAt = this.#now();
    this.#opts.onEstop(reason);
  }

  #onPage(ws: WebSocket): void {
    this.#pages.add(ws);
    this.#startTimer();
    ws.send(
      JSON.stringify({
        type: 'hello',
        joints: this.#opts.joints,
        cameras: this.#opts.cameras,
        metadata: this.#opts.metadata ?? {},
        updateHz: 1000 / this.#periodMs,
      }),
    );
    ws.send(JSON.stringify({ type: 'estop', event: 'state', ...this.#estop }));
    if (this.#lastChunk !== null) ws.send(JSON.stringify(this.#lastChunk));
    if (this.#lastFaults !== null) ws.send(JSON.stringify(this.#lastFaults));
    for (const [camera, data] of this.#lastFrames) {
      ws.send(JSON.stringify({ type: 'frame', camera, format: 'jpeg', data }));
    }
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onPageMessage(ws, data, isBinary));
    ws.on('close', () => {
      this.#pages.delete(ws);
      if (this.#pages.size === 0) {
        this.#stopTimer();
        this.#rows = [];
        this.#lastFrames.clear();
      }
    });
    ws.on('error', () => ws.terminate());
  }

  #onPageMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    const fail = (message: string): void => {
      this.#stats.badRequests++;
      ws.send(JSON.stringify({ type: 'error', message }));
    };
    if (isBinary) {
      fail('binary messages are not understood; send JSON text');
      return;
    }
    let m: unknown;
    try {
      m = JSON.parse(String(data));
    } catch {
      fail('malformed JSON');
      return;
    }
    const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined;
    if (type === 'estop') {
      const r = (m as { reason?: unknown }).reason;
      const id = (m as { id?: unknown }).id;
      this.#requestEstop(
        typeof r === 'string' && r !== '' ? r.slice(0, 200) : 'e-stop button on the status page',
      );
      ws.send(JSON.stringify({ type: 'estop-ack', id: typeof id === 'number' ? id : null }));
      return;
    }
    if (type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong', id: (m as { id?: unknown }).id ?? null }));
      return;
    }
    fail(`unknown message type ${JSON.stringify(type ?? null)} (known: estop, ping)`);
  }
}
