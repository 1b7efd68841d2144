/**
 * Control-loop timing at 50 Hz on the real clock, ~5 s per contender, trivial environment:
 * - our Runtime, hybrid sleep (setTimeout to ~2 ms before the deadline, then setImmediate spin; absolute timeline);
 * - our Runtime, plain setTimeout sleepUntil (spinMs 0; absolute timeline);
 * - a naive JS loop sleeping `period - elapsed` with setTimeout after every step (openpi's algorithm);
 * - openpi's own Python Runtime (packages/runtime/test/python/openpi_runtime.py timing), its own samples.
 * Samples are the intervals between consecutive getObservation calls (ms); jitter = mean |interval - 20 ms|,
 * drift = (last - first) - (n - 1) * 20 ms.
 *
 * Then the stall per chunk of a ~100 ms policy at 50 Hz with horizon 25 (real clock, ~5 s each): for the
 * synchronous ActionChunkBroker the time the step that infers is blocked (getAction), for the
 * AsyncActionChunkBroker the held-action time per chunk (0 when the next chunk arrived in time).
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ActionChunkBroker } from '../packages/client/src/action-chunk-broker.js';
import { AsyncActionChunkBroker } from '../packages/client/src/async-action-chunk-broker.js';
import { type Clock, createRealClock, realClock } from '../packages/client/src/clock.js';
import { ndarray } from '../packages/client/src/ndarray.js';
import type { BasePolicy, Obs } from '../packages/client/src/policy.js';
import { PolicyAgent } from '../packages/runtime/src/agent.js';
import type { Environment } from '../packages/runtime/src/environment.js';
import { Runtime } from '../packages/runtime/src/runtime.js';
import type { StepTelemetry } from '../packages/runtime/src/telemetry.js';
import { printTable, type Stats, summarize } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const HZ = 50;
const PERIOD = 1000 / HZ;
const SECONDS = Number(process.env.OPENPI_EDGE_LOOP_BENCH_SECONDS ?? 5);

function intervalStats(name: string, starts: number[]): Stats {
  const iv = starts.slice(1).map((t, i) => t - (starts[i] as number));
  const jitter = iv.reduce((a, x) => a + Math.abs(x - PERIOD), 0) / Math.max(1, iv.length);
  const drift = (starts.at(-1) ?? 0) - (starts[0] ?? 0) - iv.length * PERIOD;
  return summarize(name, iv, `jitter ${jitter.toFixed(3)} ms, drift ${drift.toFixed(1)} ms`);
}

const echo = { getAction: (o: Obs) => o, reset: () => {} };

async function runtimeLoop(clock: Clock): Promise<number[]> {
  const starts: number[] = [];
  const env: Environment = {
    reset: () => {},
    isEpisodeComplete: () => (starts.at(-1)! - starts[0]!) / 1000 >= SECONDS,
    getObservation: () => {
      starts.push(performance.now());
      return {};
    },
    applyAction: () => {},
  };
  await new Runtime({ environment: env, agent: echo, maxHz: HZ, clock }).run();
  return starts;
}

async function naiveLoop(): Promise<number[]> {
  const starts: number[] = [];
  let last = performance.now();
  for (;;) {
    starts.push(performance.now());
    if ((starts.at(-1)! - starts[0]!) / 1000 >= SECONDS) return starts;
    const dt = performance.now() - last;
    if (dt < PERIOD) {
      await new Promise((r) => setTimeout(r, PERIOD - dt));
      last = performance.now();
    } else {
      last = performance.now();
    }
  }
}

function openpiLoop(): number[] {
  const out = execFileSync(
    join(root, '.venv', 'bin', 'python'),
    [
      join(root, 'packages', 'runtime', 'test', 'python', 'openpi_runtime.py'),
      'timing',
      String(HZ),
      String(SECONDS),
    ],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as { starts_ms: number[] }).starts_ms;
}

/** ~100 ms policy: a [50, 14] float32 chunk after a real 100 ms timer. */
const slowPolicy: BasePolicy = {
  async infer() {
    await realClock.sleep(100);
    return { actions: ndarray('float32', [50, 14], new Float32Array(50 * 14)) };
  },
  reset: () => {},
};

async function brokerLoop(broker: BasePolicy): Promise<StepTelemetry[]> {
  const steps: StepTelemetry[] = [];
  const t0 = performance.now();
  const rt = new Runtime({
    environment: {
      reset: () => {},
      isEpisodeComplete: () => (performance.now() - t0) / 1000 >= SECONDS,
      getObservation: () => ({}),
      applyAction: () => {},
    },
    agent: new PolicyAgent(broker),
    maxHz: HZ,
  });
  rt.telemetry.steps$.subscribe((s) => steps.push(s));
  await rt.run();
  return steps;
}

export async function run(): Promise<string[]> {
  const hybrid = await runtimeLoop(realClock);
  const plain = await runtimeLoop(createRealClock({ spinMs: 0 }));
  const naive = await naiveLoop();
  const openpi = openpiLoop();
  const loopRows = [
    intervalStats('openpi Runtime (Python, time.sleep)', openpi),
    intervalStats('naive JS loop (setTimeout period - elapsed)', naive),
    intervalStats('Runtime, setTimeout sleepUntil (spinMs 0)', plain),
    intervalStats('Runtime, hybrid sleep (spinMs 2)', hybrid),
  ];
  const t1 = printTable(
    `50 Hz loop period, ${SECONDS} s each (ms between steps; target 20)`,
    loopRows,
    'openpi Runtime (Python, time.sleep)',
  );

  const syncSteps = await brokerLoop(new ActionChunkBroker(slowPolicy, 25));
  const stalls: number[] = [];
  const asyncBroker = new AsyncActionChunkBroker(slowPolicy, {
    actionHorizon: 25,
    controlHz: HZ,
    onEvent: (e) => {
      if (e.type === 'chunk' && !e.blocking) stalls.push(0);
      if (e.type === 'stall-end') stalls[stalls.length - 1] = e.durationMs;
    },
  });
  const asyncSteps = await brokerLoop(asyncBroker);
  const st = asyncBroker.stats();
  const syncInfer = syncSteps.filter((s) => s.step % 25 === 0).map((s) => s.actMs);
  const asyncAct = asyncSteps.slice(1).map((s) => s.actMs);
  const brokerRows = [
    summarize('sync ActionChunkBroker: blocked per chunk', syncInfer, `${syncSteps.length} steps`),
    summarize(
      'AsyncActionChunkBroker: stall per chunk',
      stalls,
      `${asyncSteps.length} steps, stalls ${st.stalls}, skipped rows ${st.skippedRows}, latency p50 ${st.latencyP50Ms.toFixed(1)} ms`,
    ),
    summarize('AsyncActionChunkBroker: getAction per step', asyncAct, 'after the first chunk'),
  ];
  const t2 = printTable(
    `Stall per chunk, ~100 ms policy, 50 Hz, horizon 25, ${SECONDS} s each (ms)`,
    brokerRows,
    'sync ActionChunkBroker: blocked per chunk',
  );
  return [t1, t2];
}
