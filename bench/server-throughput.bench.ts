/**
 * Policy-server throughput: 8 concurrent lock-step clients, one ALOHA observation each (4 uint8 CHW 224x224
 * images, float32[14] state, prompt; ~0.6 MB), a dummy policy returning a fixed float32 [50, 14] chunk, against
 * - an openpi-equivalent WebsocketPolicyServer (test/python/openpi_peer_server.py --mode fixed: openpi's server
 *   behaviour over openpi-client's msgpack_numpy and python-websockets, as the compatibility tests use it), and
 * - our WebsocketPolicyServer (this file started with OPENPI_EDGE_SERVER_BENCH_ROLE=server), default options,
 * - the floor (this file with OPENPI_EDGE_SERVER_BENCH_ROLE=floor): not a policy server but a raw-socket Node
 *   server that skips every payload and writes a reply packed once; the most any single Node process can do with
 *   the same sockets here, so it bounds what any change to our server could reach.
 * Every server runs in its own process; the clients run in other processes and are the same for every server:
 * 1. the load generator (this file with OPENPI_EDGE_SERVER_BENCH_ROLE=load): one Node process, 8 `ws`
 *    connections, each sending the same pre-packed observation bytes and decoding every reply (checked:
 *    float32 actions [50, 14] and server_timing). Its masking key is all zeros, so ws skips the XOR on send
 *    (RFC 6455 allows any key; both servers still unmask every byte): the clients stay cheap and the 2-core
 *    machine's second core goes to the server, which is what this measures.
 * 2. 8 openpi-client Python processes (test/python/openpi_load_client.py), what openpi users run. On a 2-core
 *    machine these 8 processes take most of the CPU, so this scenario is client-bound and says more about the
 *    clients than the servers.
 * Reported per server: requests/s, the server process's CPU use (user+sys from /proc, all threads) and
 * requests per server CPU-second, which is less sensitive to what else runs on the machine. Servers take turns in
 * interleaved rounds; each server's figures sum its rounds. Ratios are against openpi's server.
 * Run alone: `node --conditions=source --import tsx bench/server-throughput.bench.ts` (needs .venv:
 * scripts/python-env.sh). OPENPI_EDGE_SERVER_BENCH_WINDOW_MS / _ROUNDS / _PY_ROUNDS (0 skips the Python clients).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { packNumpy, unpackNumpy } from '../packages/client/src/msgpack-numpy.js';
import { isNDArray, ndarray } from '../packages/client/src/ndarray.js';
import {
  WebsocketPolicyServer,
  type WebsocketPolicyServerOptions,
} from '../packages/client/src/node/websocket-policy-server.js';
import { alohaObservation, printMarkdownTable } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const ROLE_ENV = 'OPENPI_EDGE_SERVER_BENCH_ROLE';
const ARGS_ENV = 'OPENPI_EDGE_SERVER_BENCH_ARGS';
const CLIENTS = 8;
/** Per round and server: untimed warm-up, then the measured window (ms). */
const WARMUP_MS = 1_000;
const WINDOW_MS = Number(process.env.OPENPI_EDGE_SERVER_BENCH_WINDOW_MS ?? 3_000);
const ROUNDS = Number(process.env.OPENPI_EDGE_SERVER_BENCH_ROUNDS ?? 3);
/** The Python-client scenario is shorter: 8 interpreters per round. Set to 0 to skip it. */
const PY_ROUNDS = Number(process.env.OPENPI_EDGE_SERVER_BENCH_PY_ROUNDS ?? 2);
const python = join(root, '.venv', 'bin', 'python');

// ---------------------------------------------------------------------------------------------- server role

/** Serves the dummy policy on an ephemeral loopback port, prints {"port": n}, ends when stdin closes. */
async function serveForBench(options: WebsocketPolicyServerOptions): Promise<void> {
  // Same values as the Python dummy: float32(i) * float32(0.01).
  const actions = ndarray(
    'float32',
    [50, 14],
    Float32Array.from({ length: 50 * 14 }, (_, i) => Math.fround(i * Math.fround(0.01))),
  );
  const server = new WebsocketPolicyServer(
    { infer: async () => ({ actions }), reset: () => {} },
    { ...options, port: 0, logger: { warn: (m) => process.stderr.write(`${m}\n`) } },
  );
  const { port } = await server.listen();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void server.close().then(() => process.exit(0));
  });
}

/**
 * The floor, not a policy server: a raw-socket Node server that completes the websocket handshake, then for each
 * incoming frame skips its payload (no copy into a message, no unmask, no decode, no policy) and writes one
 * reply frame packed once at startup. What one Node process on this machine can do with the same sockets and
 * syscalls; no server that decodes observations can be faster.
 */
async function serveFloor(): Promise<void> {
  const { createHash } = await import('node:crypto');
  const { createServer } = await import('node:net');
  const actions = ndarray('float32', [50, 14], new Float32Array(50 * 14));
  const body = packNumpy({ actions, server_timing: { infer_ms: 0.01, prev_total_ms: 1.5 } });
  const frame = (payload: Uint8Array): Buffer => {
    const head =
      payload.byteLength < 126
        ? Buffer.from([0x82, payload.byteLength])
        : Buffer.from([0x82, 126, payload.byteLength >> 8, payload.byteLength & 0xff]);
    return Buffer.concat([head, payload]);
  };
  const reply = frame(body);
  const metadata = frame(packNumpy({}));
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let handshake: Buffer | undefined = Buffer.alloc(0);
    let header: Buffer = Buffer.alloc(0);
    let skip = 0;
    socket.on('data', (chunk: Buffer) => {
      let data: Buffer = chunk;
      if (handshake !== undefined) {
        handshake = Buffer.concat([handshake, data]);
        const end = handshake.indexOf('\r\n\r\n');
        if (end < 0) return;
        const key =
          /sec-websocket-key: *(\S+)/i.exec(handshake.subarray(0, end).toString('latin1'))?.[1] ?? '';
        const accept = createHash('sha1')
          .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
          .digest('base64');
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        socket.write(metadata);
        data = handshake.subarray(end + 4);
        handshake = undefined;
      }
      while (data.byteLength > 0) {
        if (skip > 0) {
          const n = Math.min(skip, data.byteLength);
          skip -= n;
          data = data.subarray(n);
          if (skip === 0) socket.write(reply);
          continue;
        }
        header = header.byteLength === 0 ? data : Buffer.concat([header, data]);
        data = Buffer.alloc(0);
        if (header.byteLength < 2) continue;
        const len7 = (header[1] ?? 0) & 0x7f;
        const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
        const need = 2 + extra + 4; // clients always mask: 4-byte key
        if (header.byteLength < need) continue;
        const len =
          len7 === 126 ? header.readUInt16BE(2) : len7 === 127 ? Number(header.readBigUInt64BE(2)) : len7;
        if ((header[0] ?? 0) & 0x08) {
          socket.destroy(); // a control frame (close): the load generator is done
          return;
        }
        data = header.subarray(need);
        header = Buffer.alloc(0);
        skip = len;
        if (len === 0) socket.write(reply);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

// ------------------------------------------------------------------------------------------------ load role

interface LoadArgs {
  url: string;
  clients: number;
  warmupMs: number;
  windowMs: number;
  /** The server's pid, whose CPU time is read from /proc at the window's edges. */
  serverPid: number;
}

interface LoadResult {
  requests: number;
  seconds: number;
  /** Server process CPU seconds (user + system, all threads) in the window; NaN without /proc. */
  serverCpuS: number;
  /** This load generator's CPU seconds in the window. */
  clientCpuS: number;
  perClient: number[];
}

/** utime + stime of a process in seconds, from /proc/<pid>/stat (Linux); NaN elsewhere. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces): state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 (1-based), in clock ticks: 100 per second on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Zero masking key: ws skips the XOR on send (the server unmasks all the same). */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

function checkReply(bytes: Uint8Array): void {
  const reply = unpackNumpy(bytes) as Record<string, unknown>;
  const actions = reply.actions;
  if (!isNDArray(actions) || actions.dtype !== 'float32' || actions.shape.join() !== '50,14')
    throw new Error('reply without float32 actions [50, 14]');
  if (typeof reply.server_timing !== 'object') throw new Error('reply without server_timing');
}

async function loadGenerator(args: LoadArgs): Promise<LoadResult> {
  const packed = packNumpy(alohaObservation(7));
  let phase: 'warmup' | 'window' | 'done' = 'warmup';
  const perClient = new Array<number>(args.clients).fill(0);
  const sockets = await Promise.all(
    Array.from(
      { length: args.clients },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(args.url, {
            perMessageDeflate: false,
            maxPayload: 0,
            generateMask: zeroMask,
          });
          ws.once('message', () => resolve(ws)); // metadata frame
          ws.once('error', reject);
        }),
    ),
  );
  let failure: Error | undefined;
  const finished = sockets.map(
    (ws, i) =>
      new Promise<void>((resolve) => {
        ws.on('message', (data: Buffer) => {
          try {
            checkReply(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
          } catch (err) {
            failure ??= err as Error;
          }
          if (phase === 'window') perClient[i] = (perClient[i] ?? 0) + 1;
          if (phase === 'done' || failure !== undefined) resolve();
          else ws.send(packed, { binary: true, compress: false });
        });
        ws.on('close', () => resolve());
        ws.send(packed, { binary: true, compress: false });
      }),
  );
  await new Promise((r) => setTimeout(r, args.warmupMs));
  phase = 'window';
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const server0 = processCpuSeconds(args.serverPid);
  await new Promise((r) => setTimeout(r, args.windowMs));
  phase = 'done';
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server1 = processCpuSeconds(args.serverPid);
  await Promise.all(finished);
  for (const ws of sockets) ws.close();
  if (failure !== undefined) throw failure;
  return {
    requests: perClient.reduce((a, b) => a + b, 0),
    seconds,
    serverCpuS: server1 - server0,
    clientCpuS: (cpu.user + cpu.system) / 1e6,
    perClient,
  };
}

// ---------------------------------------------------------------------------------------------- parent role

interface ServerUnderTest {
  name: string;
  note: string;
  child: ChildProcess;
  port: number;
}

async function startServer(
  name: string,
  note: string,
  command: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<ServerUnderTest> {
  const child = spawn(command, argv, { cwd: root, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited early with code ${code}`)));
    lines.once('line', (line) => {
      const v = JSON.parse(line) as number | { port: number };
      resolve(typeof v === 'number' ? v : v.port);
    });
  });
  return { name, note, child, port };
}

function startOurs(
  name: string,
  note: string,
  options: WebsocketPolicyServerOptions,
): Promise<ServerUnderTest> {
  return startServer(name, note, process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    ...process.env,
    [ROLE_ENV]: 'server',
    [ARGS_ENV]: JSON.stringify(options),
  });
}

/** Runs the load role in a new process and returns its JSON result. */
function runNodeLoad(server: ServerUnderTest): Promise<LoadResult> {
  const args: LoadArgs = {
    url: `ws://127.0.0.1:${server.port}`,
    clients: CLIENTS,
    warmupMs: WARMUP_MS,
    windowMs: WINDOW_MS,
    serverPid: server.child.pid ?? -1,
  };
  return runJson<LoadResult>(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    ...process.env,
    [ROLE_ENV]: 'load',
    [ARGS_ENV]: JSON.stringify(args),
  });
}

function runJson<T>(command: string, argv: string[], env: NodeJS.ProcessEnv): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(command, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${command} exited with code ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
    });
  });
}

/** 8 openpi-client Python processes at once; the window starts after every interpreter has had time to load. */
async function runPythonLoad(server: ServerUnderTest): Promise<LoadResult> {
  const startupS = 4;
  const startAt = Date.now() / 1000 + startupS;
  const endAt = startAt + WINDOW_MS / 1000;
  const pid = server.child.pid ?? -1;
  let server0 = Number.NaN;
  const sampleStart = setTimeout(
    () => {
      server0 = processCpuSeconds(pid);
    },
    startAt * 1000 - Date.now(),
  );
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      runJson<{ requests: number; seconds: number; cpu_s: number }>(
        python,
        [
          join(root, 'test', 'python', 'openpi_load_client.py'),
          '--port',
          String(server.port),
          '--start-at',
          String(startAt),
          '--end-at',
          String(endAt),
          '--seed',
          String(i),
        ],
        process.env,
      ),
    ),
  );
  clearTimeout(sampleStart);
  // The last client finishes its last request shortly after endAt; the server's CPU is read once all are done.
  const server1 = processCpuSeconds(pid);
  return {
    requests: results.reduce((a, r) => a + r.requests, 0),
    seconds: WINDOW_MS / 1000,
    serverCpuS: server1 - server0,
    clientCpuS: results.reduce((a, r) => a + r.cpu_s, 0),
    perClient: results.map((r) => r.requests),
  };
}

interface Row {
  name: string;
  note: string;
  requests: number;
  seconds: number;
  serverCpuS: number;
  clientCpuS: number;
}

function table(title: string, rows: Row[]): string {
  const base = rows[0];
  const rps = (r: Row): number => r.requests / r.seconds;
  const perCpu = (r: Row): number => r.requests / r.serverCpuS;
  const header = [
    'server',
    'req/s',
    'ratio',
    'server CPU (cores)',
    'req per server CPU-s',
    'ratio',
    'client CPU (cores)',
    'requests',
    'note',
  ];
  const body = rows.map((r) => [
    r.name,
    rps(r).toFixed(0),
    base === undefined ? '' : `${(rps(r) / rps(base)).toFixed(2)}x`,
    (r.serverCpuS / r.seconds).toFixed(2),
    perCpu(r).toFixed(0),
    base === undefined ? '' : `${(perCpu(r) / perCpu(base)).toFixed(2)}x`,
    (r.clientCpuS / r.seconds).toFixed(2),
    String(r.requests),
    r.note,
  ]);
  return printMarkdownTable(title, header, body);
}

async function measureAll(
  servers: ServerUnderTest[],
  rounds: number,
  load: (s: ServerUnderTest) => Promise<LoadResult>,
): Promise<Row[]> {
  const rows = servers.map((s) => ({
    name: s.name,
    note: s.note,
    requests: 0,
    seconds: 0,
    serverCpuS: 0,
    clientCpuS: 0,
  }));
  for (let round = 0; round < rounds; round++) {
    // Interleaved, and the order reversed every other round, so load from elsewhere spreads over all alike.
    const order = round % 2 === 0 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i);
    for (const i of order) {
      const server = servers[i];
      const row = rows[i];
      if (server === undefined || row === undefined) continue;
      const r = await load(server);
      row.requests += r.requests;
      row.seconds += r.seconds;
      row.serverCpuS += r.serverCpuS;
      row.clientCpuS += r.clientCpuS;
    }
  }
  return rows;
}

export async function run(): Promise<string[]> {
  const servers: ServerUnderTest[] = [];
  try {
    servers.push(
      await startServer(
        "openpi's WebsocketPolicyServer",
        'test/python/openpi_peer_server.py: Python 3.11, websockets 17, openpi-client 0.1.2 msgpack_numpy',
        python,
        [
          join(root, 'test', 'python', 'openpi_peer_server.py'),
          '--mode',
          'fixed',
          '--host',
          '127.0.0.1',
          '--port',
          '0',
        ],
        process.env,
      ),
    );
    servers.push(await startOurs('our WebsocketPolicyServer', 'default options', {}));
    servers.push(
      await startServer(
        'floor: raw-socket Node server',
        'not a policy server: skips payloads, fixed reply (see serveFloor)',
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url)],
        { ...process.env, [ROLE_ENV]: 'floor' },
      ),
    );
    const title = `${CLIENTS} lock-step clients, ALOHA observation (${(packNumpy(alohaObservation(7)).byteLength / 1e6).toFixed(3)} MB) -> dummy policy [50,14] float32, loopback, ${ROUNDS} x ${WINDOW_MS} ms per server`;
    const out = [
      table(
        `server throughput, Node load generator: ${title}`,
        await measureAll(servers, ROUNDS, runNodeLoad),
      ),
    ];
    if (PY_ROUNDS > 0) {
      const pyTitle = `${CLIENTS} openpi-client Python processes, ALOHA observation -> dummy policy, loopback, ${PY_ROUNDS} x ${WINDOW_MS} ms per server`;
      out.push(table(`server throughput, ${pyTitle}`, await measureAll(servers, PY_ROUNDS, runPythonLoad)));
    }
    return out;
  } finally {
    for (const s of servers) {
      s.child.stdin?.end();
      s.child.kill();
    }
  }
}

const role = process.env[ROLE_ENV];
if (role === 'floor') {
  await serveFloor();
} else if (role === 'server') {
  await serveForBench(JSON.parse(process.env[ARGS_ENV] ?? '{}') as WebsocketPolicyServerOptions);
} else if (role === 'load') {
  const result = await loadGenerator(JSON.parse(process.env[ARGS_ENV] ?? '{}') as LoadArgs);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await run();
}
