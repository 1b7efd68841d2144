/**
 * `infer` round trip of one ALOHA observation (4 uint8 CHW 224x224 images, float32[14] state, prompt; ~0.6 MB)
 * against the same WebsocketPolicyServer, whose trivial policy returns a fixed float32 [50, 14] actions array.
 *
 * The server runs in its own Node process (this file started with OPENPI_EDGE_INFER_BENCH_SERVER=1), so every
 * client below, in this process or in Python's, talks to it over loopback TCP with the server on another core:
 * - raw ws, pre-packed bytes: sends bytes packed once and waits for the reply bytes, no codec (the floor);
 * - raw ws + packNumpy/unpackNumpy: the same, encoding and decoding every time;
 * - our WebsocketClientPolicy.infer (packs, sends, waits, unpacks);
 * - openpi's Python WebsocketClientPolicy.infer (test/python/openpi_client_driver.py bench, its own samples).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { packNumpy, unpackNumpy } from '../packages/client/src/msgpack-numpy.js';
import { ndarray } from '../packages/client/src/ndarray.js';
import { WebsocketPolicyServer } from '../packages/client/src/node/websocket-policy-server.js';
import { WebsocketClientPolicy } from '../packages/client/src/websocket-client-policy.js';
import { alohaObservation, printTable, summarize } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
/** The part of ws's client this bench uses. */
interface RawSocket {
  once(event: 'message', cb: () => void): void;
  once(event: 'error', cb: (err: Error) => void): void;
  on(event: 'message', cb: (data: Buffer) => void): void;
  send(data: Uint8Array): void;
  close(): void;
}
// `ws` is a dependency of @openpi-edge/client, not of the repo root: resolve it from there.
const clientRequire = createRequire(join(root, 'packages', 'client', 'package.json'));
/** ws masks/unmasks every frame in JS unless the optional native `bufferutil` resolves from its directory. */
function wsMasking(): string {
  if (process.env.WS_NO_BUFFER_UTIL) return 'JS (WS_NO_BUFFER_UTIL set)';
  try {
    createRequire(clientRequire.resolve('ws')).resolve('bufferutil');
    return 'native bufferutil';
  } catch {
    return 'JS fallback, no bufferutil';
  }
}
const { WebSocket } = clientRequire('ws') as {
  WebSocket: new (url: string, options: { perMessageDeflate: boolean; maxPayload: number }) => RawSocket;
};
const SERVER_ENV = 'OPENPI_EDGE_INFER_BENCH_SERVER';
const WARMUP = 20;
const ITERATIONS = 200;
/** Contenders take turns in this many rounds of ITERATIONS / ROUNDS calls each. */
const ROUNDS = 4;

/** The server process: serves the trivial policy on an ephemeral loopback port and prints {"port": n}. */
async function serveForBench(): Promise<void> {
  const actions = ndarray(
    'float32',
    [50, 14],
    Float32Array.from({ length: 50 * 14 }, (_, i) => i / 100),
  );
  const server = new WebsocketPolicyServer(
    { infer: async () => ({ actions }), reset: () => {} },
    { port: 0, logger: { warn: (m) => process.stderr.write(`${m}\n`) } },
  );
  const { port } = await server.listen();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  // Ends when the parent closes our stdin (or kills us).
  process.stdin.resume();
  process.stdin.on('end', () => {
    void server.close().then(() => process.exit(0));
  });
}

async function startServerProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, [SERVER_ENV]: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited early with code ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return { child, port };
}

/** One websocket, one request at a time; resolves with the reply bytes. */
async function rawClient(
  url: string,
): Promise<{ roundTrip: (b: Uint8Array) => Promise<Uint8Array>; close: () => void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
  let waiting: ((b: Uint8Array) => void) | undefined;
  const first = new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve()); // metadata frame
    ws.once('error', reject);
  });
  await first;
  ws.on('message', (data: Buffer) => {
    const w = waiting;
    waiting = undefined;
    // A plain Uint8Array view: Buffer#slice does not copy, and the codec relies on Uint8Array#slice copying.
    w?.(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
  return {
    roundTrip: (bytes) =>
      new Promise<Uint8Array>((resolve) => {
        waiting = resolve;
        ws.send(bytes);
      }),
    close: () => ws.close(),
  };
}

/** Times `n` sequential calls of `fn`, in ms each. */
async function timeCalls(fn: () => Promise<unknown>, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function pythonSamples(port: number, n: number, warmup: number): Promise<number[]> {
  const { stdout } = await promisify(execFile)(
    join(root, '.venv', 'bin', 'python'),
    [
      join(root, 'test', 'python', 'openpi_client_driver.py'),
      'bench',
      '--port',
      String(port),
      '--n',
      String(n),
      '--warmup',
      String(warmup),
    ],
    { cwd: root, timeout: 300_000 },
  );
  const py = JSON.parse(stdout) as { samples_ms: number[]; actions_shape: number[] };
  if (py.actions_shape.join() !== '50,14')
    throw new Error(`python got actions [${py.actions_shape.join(', ')}]`);
  return py.samples_ms;
}

export async function run(): Promise<string[]> {
  const { child, port } = await startServerProcess();
  const url = `ws://127.0.0.1:${port}`;
  const names = [
    'raw ws, pre-packed bytes',
    'raw ws + packNumpy/unpackNumpy',
    'our WebsocketClientPolicy',
    'openpi Python WebsocketClientPolicy',
  ] as const;
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  const obs = alohaObservation(7);
  const packed = packNumpy(obs);
  try {
    const raw = await rawClient(url);
    const ours = await WebsocketClientPolicy.connect({ host: url });
    const contenders: Record<(typeof names)[number], (n: number) => Promise<number[]>> = {
      'raw ws, pre-packed bytes': (n) => timeCalls(() => raw.roundTrip(packed), n),
      'raw ws + packNumpy/unpackNumpy': (n) =>
        timeCalls(async () => unpackNumpy(await raw.roundTrip(packNumpy(obs))), n),
      'our WebsocketClientPolicy': (n) => timeCalls(() => ours.infer(obs), n),
      'openpi Python WebsocketClientPolicy': (n) => pythonSamples(port, n, WARMUP),
    };
    for (const name of names.slice(0, 3)) await contenders[name](WARMUP);
    // Interleaved rounds, so load from elsewhere on the machine spreads over every contender alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of names) samples.get(name)?.push(...(await contenders[name](ITERATIONS / ROUNDS)));
    }
    raw.close();
    await ours.close();
  } finally {
    child.stdin?.end();
  }
  const notes: Record<string, string> = {
    'openpi Python WebsocketClientPolicy': 'openpi-client 0.1.2, websockets 17, own process',
  };
  const rows = names.map((n) => summarize(n, samples.get(n) ?? [], notes[n]));
  const payload = `${(packed.byteLength / 1e6).toFixed(3)} MB`;
  return [
    printTable(
      `infer round trip, ALOHA observation (${payload}) -> [50,14] float32, loopback, server in its own process, ws masking: ${wsMasking()}`,
      rows,
      'raw ws, pre-packed bytes',
    ),
  ];
}

if (process.env[SERVER_ENV] === '1') await serveForBench();
