/**
 * Inference off the control thread: the in-thread OnnxPolicy (the design before WorkerPolicy) against WorkerPolicy,
 * side by side in one run, on onnxruntime-node's CPU provider (1 intra-op thread each, so both designs leave the
 * same cores to the loop):
 * 1. A 50 Hz loop (Runtime + AsyncActionChunkBroker, horizon 25, trivial environment returning the golden ALOHA
 *    observation) while the model computes chunks: loop period p50/p99, lateness (`jitterMs`: tick start minus its
 *    deadline) p50/p99/max, overruns (ticks skipped), next to a run without a model (an instant constant chunk: what
 *    the machine allows the loop at that moment, e.g. with other processes on the cores). The demo π0 bundle and a depth-realistic π0 (18 layers,
 *    ~0.46 s prefix graph; exported once by test/python/edge_model_tools.py and cached, see DEEP_CACHE below).
 * 2. In the same runs, e-stop -> hold latency: a child process (the external e-stop input) writes
 *    `performance.timeOrigin + performance.now()` to a pipe at random moments (37-237 ms apart); this thread's
 *    'data' handler latches the stamp, and the next control tick holds; the time from the child's stamp to the start
 *    of that tick (both on the epoch time base).
 * 3. Serve: another connection's websocket handshake + metadata frame latency, probed from a child process at random
 *    moments while a client keeps the server computing deep-model chunks back to back: WebsocketPolicyServer with the
 *    in-thread OnnxPolicy vs serveBundle (WorkerPolicy).
 * 4. postMessage of four 640x480 RGB frames to a worker: plain ArrayBuffers (copied) vs SharedArrayBuffer (shared),
 *    the sender's postMessage call and the round trip to a worker that acknowledges receipt.
 * Steps per loop run: OPENPI_EDGE_WORKER_BENCH_STEPS (default 500 = 10 s); the first two steps (waiting for the
 * first, blocking chunk in both designs) are left out of every statistic. Goals: worker jitter p99 <= 1 ms, e-stop
 * p99 <= one tick (20 ms), handshake p99 <= 20 ms. The 18-layer chunk takes longer than a 25-row chunk lasts on this
 * CPU, so the broker drops its chunks as stale and holds: the loop still runs at 50 Hz, which is what is measured.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { AsyncActionChunkBroker } from '../packages/client/src/async-action-chunk-broker.js';
import { WebsocketPolicyServer } from '../packages/client/src/node/websocket-policy-server.js';
import type { ClosablePolicy, Obs } from '../packages/client/src/policy.js';
import { WebsocketClientPolicy } from '../packages/client/src/websocket-client-policy.js';
import { WorkerPolicy } from '../packages/edge-agent/src/inference/worker-policy.js';
import { readGolden } from '../packages/edge-agent/src/model/golden.js';
import { OnnxPolicy } from '../packages/edge-agent/src/policy/onnx-policy.js';
import { serveBundle } from '../packages/edge-agent/src/server/serve-bundle.js';
import { PolicyAgent } from '../packages/runtime/src/agent.js';
import type { Environment } from '../packages/runtime/src/environment.js';
import { Runtime } from '../packages/runtime/src/runtime.js';
import { deepBundle } from './deep-bundle.js';
import { printTable, type Stats, summarize } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run$ = promisify(execFile);
const STEPS = Number(process.env.OPENPI_EDGE_WORKER_BENCH_STEPS ?? 500);
const HZ = 50;
const HORIZON = 25;
const CPU = { executionProviders: [{ name: 'cpu' as const, threads: 1 }], seed: 0 };
const IN_THREAD = 'in-thread OnnxPolicy (current design)';
const WORKER = 'WorkerPolicy';
const DEMO_PI0 = join(root, 'packages', 'edge-agent', 'assets', 'demo-bundle-pi0');
/** Epoch milliseconds with sub-ms resolution, comparable across processes. */
const epochMs = (): number => performance.timeOrigin + performance.now();

type Loader = (dir: string) => Promise<ClosablePolicy>;
const designs: readonly [string, Loader][] = [
  [IN_THREAD, (dir) => OnnxPolicy.load(dir, CPU)],
  [WORKER, (dir) => WorkerPolicy.load(dir, CPU)],
];

/** The external e-stop: a child process that writes its epoch stamp on stdout at random moments until killed. */
function startEstopChild(): ChildProcess {
  const code = `
    const { performance } = require('node:perf_hooks');
    const fire = () => {
      process.stdout.write(String(performance.timeOrigin + performance.now()) + '\\n');
      setTimeout(fire, 37 + Math.random() * 200);
    };
    setTimeout(fire, 100);
  `;
  return spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
}

interface LoopResult {
  period: number[];
  jitter: number[];
  overruns: number;
  skipped: number;
  estop: number[];
  stalls: number;
  chunks: number;
  latencyP50: number;
}

/** One 50 Hz run of STEPS steps against `policy` (see the module comment, parts 1 and 2). */
async function loopRun(policy: ClosablePolicy, obs: Obs): Promise<LoopResult> {
  const broker = new AsyncActionChunkBroker(policy, { actionHorizon: HORIZON, controlHz: HZ });
  const estop: number[] = [];
  let latched: number | undefined;
  // E-stops count from step 2 on: steps 0-1 wait for the first (blocking) chunk in both designs.
  let armed = false;
  const child = startEstopChild();
  let buf = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) if (armed) latched ??= Number(line); // the e-stop handler: latch only
  });
  const env: Environment = {
    reset: () => {},
    isEpisodeComplete: () => false,
    getObservation: () => {
      if (latched !== undefined) {
        estop.push(epochMs() - latched); // this tick holds
        latched = undefined;
      }
      return obs;
    },
    applyAction: () => {},
  };
  const runtime = new Runtime({
    environment: env,
    agent: new PolicyAgent(broker),
    maxHz: HZ,
    maxEpisodeSteps: STEPS,
  });
  const period: number[] = [];
  const jitter: number[] = [];
  let overruns = 0;
  let skipped = 0;
  // Step 0 waits for the first (blocking) chunk in both designs: left out.
  runtime.telemetry.steps$.subscribe((s) => {
    armed ||= s.step >= 1;
    if (s.step < 2) return;
    period.push(s.periodMs);
    jitter.push(s.jitterMs);
  });
  runtime.telemetry.overruns$.subscribe((o) => {
    if (o.step === 0) return;
    overruns += 1;
    skipped += o.skippedTicks;
  });
  try {
    await runtime.run();
  } finally {
    child.kill();
  }
  await broker.reset();
  const st = broker.stats();
  return {
    period,
    jitter,
    overruns,
    skipped,
    estop,
    stalls: st.stalls,
    chunks: st.chunks,
    latencyP50: st.latencyP50Ms,
  };
}

/** A policy without a model: a constant [50, 14] chunk at once. The loop's floor on this machine, right now. */
function instantPolicy(): ClosablePolicy {
  const actions = { dtype: 'float64' as const, shape: [50, 14], data: new Float64Array(50 * 14) };
  return { infer: async () => ({ actions }), reset: () => {}, close: async () => {} };
}

const BASELINE = 'no model: instant constant chunk (the machine floor)';

async function loopTables(bundles: readonly [string, string][]): Promise<string[]> {
  const loopRows: Stats[] = [];
  const estopRows: Stats[] = [];
  const measureRun = async (name: string, policy: ClosablePolicy, obs: Obs): Promise<void> => {
    const r = await loopRun(policy, obs);
    const j = summarize('', r.jitter);
    loopRows.push({
      ...summarize(name, r.period),
      note:
        `jitter p50 ${j.p50.toFixed(3)} / p99 ${j.p99.toFixed(3)} / max ${Math.max(...r.jitter).toFixed(1)} ms, ` +
        `overruns ${r.overruns} (${r.skipped} ticks skipped), ${r.chunks} chunks (latency p50 ` +
        `${r.latencyP50.toFixed(1)} ms), ${r.stalls} stalls`,
    });
    estopRows.push(summarize(name, r.estop, `${r.estop.length} e-stops at random moments`));
  };
  const first = await readGolden(join(bundles[0]?.[1] ?? DEMO_PI0, 'golden.json'));
  await measureRun(BASELINE, instantPolicy(), first.rawObservation);
  for (const [label, dir] of bundles) {
    const golden = await readGolden(join(dir, 'golden.json'));
    for (const [design, load] of designs) {
      const policy = await load(dir);
      try {
        await measureRun(`${label}: ${design}`, policy, golden.rawObservation);
      } finally {
        await policy.close();
      }
    }
  }
  return [
    printTable(
      `50 Hz loop (Runtime + AsyncActionChunkBroker, H=${HORIZON}) while the model computes, ${STEPS} steps: period (ms)`,
      loopRows,
      BASELINE,
    ),
    printTable(
      'e-stop -> hold: external stamp (child process, pipe) to the start of the tick that holds (ms)',
      estopRows,
      BASELINE,
    ),
  ];
}

/**
 * Probes `url` from a child process: `n` connections at random moments (50-300 ms apart), each timed from the
 * socket's creation to the metadata frame (handshake + first frame). Resolves with the latencies (ms).
 */
async function probeHandshakes(url: string, n: number): Promise<number[]> {
  const code = `
    const { performance } = require('node:perf_hooks');
    const WebSocket = require('ws');
    const out = [];
    const one = () => new Promise((resolve, reject) => {
      const t0 = performance.now();
      const ws = new WebSocket(process.env.URL);
      ws.once('message', () => { out.push(performance.now() - t0); ws.terminate(); resolve(); });
      ws.once('error', reject);
    });
    (async () => {
      for (let i = 0; i < Number(process.env.N); i++) {
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
        await one();
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const { stdout } = await run$(process.execPath, ['-e', code], {
    cwd: root,
    env: { ...process.env, URL: url, N: String(n) },
    timeout: 300_000,
  });
  return JSON.parse(stdout) as number[];
}

/** Keeps a client asking for chunks back to back until `stop()`; resolves with the chunks computed. */
function keepBusy(port: number, obs: Obs): { stop: () => Promise<number> } {
  let running = true;
  const done = (async () => {
    const c = await WebsocketClientPolicy.connect({ host: '127.0.0.1', port });
    let chunks = 0;
    try {
      while (running) {
        await c.infer(obs);
        chunks += 1;
      }
    } finally {
      await c.close();
    }
    return chunks;
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

async function serveTable(deep: string): Promise<string> {
  const golden = await readGolden(join(deep, 'golden.json'));
  const rows: Stats[] = [];
  const N = 60;
  const quiet = { warn: () => {} };
  {
    const policy = await OnnxPolicy.load(deep, CPU);
    const server = new WebsocketPolicyServer(policy, {
      metadata: policy.metadata,
      host: '127.0.0.1',
      port: 0,
      logger: quiet,
    });
    const address = await server.listen();
    const busy = keepBusy(address.port, golden.rawObservation);
    try {
      const lat = await probeHandshakes(address.url, N);
      rows.push(
        summarize(`${IN_THREAD} + WebsocketPolicyServer`, lat, `${await busy.stop()} chunks meanwhile`),
      );
    } finally {
      await server.close();
      await policy.close();
    }
  }
  {
    const serving = await serveBundle({ bundle: deep, host: '127.0.0.1', port: 0, logger: quiet, ...CPU });
    const busy = keepBusy(serving.address.port, golden.rawObservation);
    try {
      const lat = await probeHandshakes(serving.address.url, N);
      rows.push(summarize(`${WORKER} (serveBundle)`, lat, `${await busy.stop()} chunks meanwhile`));
    } finally {
      await serving.close();
    }
  }
  return printTable(
    'serve, 18-layer pi0 chunks back to back: another connection, handshake + metadata frame (ms)',
    rows,
    `${IN_THREAD} + WebsocketPolicyServer`,
  );
}

async function postMessageTable(): Promise<string> {
  const FRAME = 640 * 480 * 3;
  // Acknowledges every message after it was received (i.e. deserialized) on the worker's thread.
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (m) => parentPort.postMessage(m === null ? 0 : Object.keys(m).length));`,
    { eval: true },
  );
  const plain = Array.from({ length: 4 }, (_, i) => new Uint8Array(FRAME).fill(i));
  const shared = plain.map((u8) => {
    const s = new Uint8Array(new SharedArrayBuffer(FRAME));
    s.set(u8);
    return s;
  });
  const framesOf = (arrays: Uint8Array[]) =>
    Object.fromEntries(
      arrays.map((data, i) => [
        `cam_${i}`,
        { stampMs: 0, seq: 0, encoding: 'rgb8', width: 640, height: 480, step: 1920, data },
      ]),
    );
  const send = async (msg: unknown): Promise<{ post: number; rtt: number }> => {
    const ack = new Promise((r) => worker.once('message', r));
    const t0 = performance.now();
    worker.postMessage(msg);
    const t1 = performance.now();
    await ack;
    return { post: t1 - t0, rtt: performance.now() - t0 };
  };
  const rows: Stats[] = [];
  try {
    for (const [name, msg] of [
      ['4 frames, ArrayBuffer (copied)', framesOf(plain)],
      ['4 frames, SharedArrayBuffer (shared)', framesOf(shared)],
      ['empty message (baseline)', null],
    ] as const) {
      for (let i = 0; i < 20; i++) await send(msg);
      const post: number[] = [];
      const rtt: number[] = [];
      for (let i = 0; i < 200; i++) {
        const r = await send(msg);
        post.push(r.post);
        rtt.push(r.rtt);
      }
      const p = summarize('', post);
      rows.push(
        summarize(
          `${name}: round trip`,
          rtt,
          `sender's postMessage call p50 ${p.p50.toFixed(3)} / p99 ${p.p99.toFixed(3)} ms`,
        ),
      );
    }
    // The alternative design: a child process. Node's IPC channel with advanced (structured-clone) serialization, the
    // fastest it offers; SharedArrayBuffers cannot cross a process boundary, so the frames are always copied.
    const child = spawn(
      process.execPath,
      ['-e', "process.on('message', (m) => process.send(m === null ? 0 : Object.keys(m).length))"],
      { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    try {
      const sendChild = async (msg: unknown): Promise<number> => {
        const ack = new Promise((r) => child.once('message', r));
        const t0 = performance.now();
        child.send(msg as Parameters<typeof child.send>[0]);
        await ack;
        return performance.now() - t0;
      };
      for (const [name, msg] of [
        ['child process IPC (advanced serialization), 4 frames (copied)', framesOf(plain)],
        ['child process IPC, empty message (baseline)', null],
      ] as const) {
        for (let i = 0; i < 20; i++) await sendChild(msg);
        const rtt: number[] = [];
        for (let i = 0; i < 200; i++) rtt.push(await sendChild(msg));
        rows.push(summarize(`${name}: round trip`, rtt, 'the design not taken (docs/agent.md "Threads")'));
      }
    } finally {
      child.kill();
    }
  } finally {
    await worker.terminate();
  }
  return printTable(
    'four 640x480x3 frames to a worker thread (postMessage) and to a child process (IPC), acknowledged after receipt (ms)',
    rows,
    '4 frames, ArrayBuffer (copied): round trip',
  );
}

export async function run(): Promise<string[]> {
  const deep = await deepBundle();
  const tables: string[] = [];
  tables.push(await postMessageTable());
  tables.push(
    ...(await loopTables([
      ['demo pi0', DEMO_PI0],
      ['18-layer pi0', deep],
    ])),
  );
  tables.push(await serveTable(deep));
  return tables;
}
