/**
 * Real-time chunking: how smooth the commanded trajectory is at chunk boundaries, and what RTC costs per chunk.
 * Side by side in one run, on the demo π0 ALOHA bundle and the 18-layer π0 (bench/deep-bundle.ts), each through
 * a WorkerPolicy (CPU, 1 intra-op thread) fed one fixed observation:
 *
 * 1. Latency per chunk: plain, RTC `guidance` (the VJP graph on every step) and RTC `inpaint`, direct
 *    `infer` calls (after warm-up), p50/p90 and the ratio to plain.
 * 2. A real-time loop per broker at the same control rate: openpi's sync broker (the robot waits for every chunk),
 *    the async broker without RTC, with RTC guidance, with RTC inpaint. From the served actions a_t (14 joints):
 *    - jump: max over joints of |a_b - a_{b-1}| at the steps b where a new chunk came into use (mean, p90, max),
 *      next to the median of the same quantity inside chunks (the trajectory's own step size) and their ratio
 *      (1x: a boundary is no rougher than any other step);
 *    - plan change: at each switch, the mean over the rows both chunks cover from then on of max over joints
 *      |new chunk - executing chunk| (what RTC minimizes: how much the plan changes when the chunk does);
 *    - jerk: |a_{t+1} - 3 a_t + 3 a_{t-1} - a_{t-2}| / dt^3 (max over joints, rad/s^3): RMS over all steps and
 *      mean over the windows that contain a boundary.
 *    The control period is chosen per bundle so that the guided chunk's latency (p90 of part 1, x1.3) is about 10
 *    rows of the 25-row execution horizon (50 Hz for the demo bundle; the 18-layer model needs far slower control
 *    on this CPU), the same for all four brokers.
 * The demo models have random weights: their chunks disagree with each other far more than a trained model's
 * would, which is the case RTC is for; the jumps of a trained policy are smaller for every broker.
 * 3. The loop thread's share: building a background request with and without the rtc entry (worst case p99).
 * Boundaries per loop run: OPENPI_EDGE_RTC_BENCH_BOUNDARIES (default 8).
 */
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ActionChunkBroker } from '../packages/client/src/action-chunk-broker.js';
import { AsyncActionChunkBroker } from '../packages/client/src/async-action-chunk-broker.js';
import type { NDArray } from '../packages/client/src/ndarray.js';
import type { BasePolicy, Obs } from '../packages/client/src/policy.js';
import { rtcEntry } from '../packages/client/src/rtc-request.js';
import { WorkerPolicy } from '../packages/edge-agent/src/inference/worker-policy.js';
import { deepBundle } from './deep-bundle.js';
import { alohaObservation, measure, printMarkdownTable, printTable, type Stats, summarize } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEMO = join(root, 'packages', 'edge-agent', 'assets', 'demo-bundle-pi0');
const HORIZON = 25;
const BOUNDARIES = Number(process.env.OPENPI_EDGE_RTC_BENCH_BOUNDARIES ?? 8);
const LATENCY_CALLS = 12;

type Broker = 'sync' | 'async' | 'async + RTC guidance' | 'async + RTC inpaint';
const BROKERS: readonly Broker[] = ['sync', 'async', 'async + RTC guidance', 'async + RTC inpaint'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const maxAbs = (a: Float64Array, b: Float64Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

/** Direct infer latencies (ms) of plain, guided and inpainted chunks. */
async function latencies(
  policy: BasePolicy,
  obs: Obs,
): Promise<Record<'plain' | 'guidance' | 'inpaint', number[]>> {
  const first = await policy.infer(obs);
  const tie = (mode: 'guidance' | 'inpaint') => ({ ...obs, rtc: rtcEntry(first, 10, 6, mode) });
  const out = { plain: [] as number[], guidance: [] as number[], inpaint: [] as number[] };
  for (const [k, o] of [
    ['plain', obs],
    ['guidance', tie('guidance')],
    ['inpaint', tie('inpaint')],
  ] as const) {
    await policy.infer(o); // warm-up of this path
    for (let i = 0; i < LATENCY_CALLS; i++) {
      const t0 = performance.now();
      await policy.infer(o);
      out[k].push(performance.now() - t0);
    }
  }
  return out;
}

interface LoopResult {
  actions: Float64Array[];
  boundaries: number[];
  periodMs: number;
  stalls: number;
  /** Per switch: how far the new chunk's plan is from the executing one's over the rows both cover (rad). */
  planChanges: number[];
}

/** A control loop at `periodMs` on absolute deadlines; records each served row and where chunks switched. */
interface Chunk {
  rows: number;
  dims: number;
  data: Float64Array;
}

async function loop(policy: BasePolicy, broker: Broker, periodMs: number, obs: Obs): Promise<LoopResult> {
  const boundaries: number[] = [];
  const planChanges: number[] = [];
  let step = 0;
  let stalls = 0;
  // The chunks the policy returned, newest last: one request is in flight at a time, so the chunk that comes into
  // use is the newest one returned.
  let newest = null as Chunk | null;
  let current = null as { chunk: Chunk; startRow: number; atStep: number } | null;
  const tapped: BasePolicy = {
    infer: async (o) => {
      const r = await policy.infer(o);
      const a = r.actions as NDArray;
      newest = {
        rows: a.shape[0] as number,
        dims: a.shape[1] as number,
        data: Float64Array.from(a.data as Float64Array),
      };
      return r;
    },
    reset: () => policy.reset(),
  };
  /** Mean over the rows both chunks cover from `step` on of max-over-joints |new - executing|. */
  const adopt = (startRow: number) => {
    const next = newest;
    if (next === null) return;
    if (current !== null) {
      const oldRow = current.startRow + (step - current.atStep);
      let sum = 0;
      let n = 0;
      for (let k = 0; oldRow + k < current.chunk.rows && startRow + k < next.rows; k++) {
        let m = 0;
        for (let j = 0; j < next.dims; j++) {
          const a = next.data[(startRow + k) * next.dims + j] as number;
          const b = current.chunk.data[(oldRow + k) * next.dims + j] as number;
          m = Math.max(m, Math.abs(a - b));
        }
        sum += m;
        n++;
      }
      if (n > 0) planChanges.push(sum / n);
    }
    current = { chunk: next, startRow, atStep: step };
  };
  const b: BasePolicy =
    broker === 'sync'
      ? new ActionChunkBroker(tapped, HORIZON)
      : new AsyncActionChunkBroker(tapped, {
          actionHorizon: HORIZON,
          stepPeriodMs: periodMs,
          ...(broker === 'async'
            ? {}
            : { rtc: { mode: broker.endsWith('guidance') ? 'guidance' : 'inpaint' } }),
          onEvent: (e) => {
            if (e.type === 'chunk') {
              if (!e.blocking) boundaries.push(step);
              adopt(e.startRow);
            }
            if (e.type === 'stall-start') stalls += 1;
          },
        });
  const actions: Float64Array[] = [];
  const steps = HORIZON * (BOUNDARIES + 1) + 1;
  const t0 = performance.now();
  for (step = 0; step < steps; step++) {
    const switching = broker === 'sync' && step % HORIZON === 0;
    if (switching && step > 0) boundaries.push(step);
    const out = await b.infer(obs);
    if (switching) adopt(0);
    actions.push(Float64Array.from((out.actions as NDArray).data as Float64Array));
    if (broker !== 'sync' && boundaries.length >= BOUNDARIES) break;
    await sleep(t0 + (step + 1) * periodMs - performance.now());
  }
  await b.reset();
  return { actions, boundaries, periodMs, stalls, planChanges };
}

interface Smoothness {
  jumpMean: number;
  jumpP90: number;
  jumpMax: number;
  inChunkMedian: number;
  jerkRms: number;
  jerkBoundary: number;
}

function smoothness(r: LoopResult): Smoothness {
  const a = r.actions;
  const dt = r.periodMs / 1000;
  const isBoundary = new Set(r.boundaries);
  const jumps = r.boundaries
    .filter((b) => b > 0 && b < a.length)
    .map((b) => maxAbs(a[b] as Float64Array, a[b - 1] as Float64Array));
  const inside: number[] = [];
  for (let t = 1; t < a.length; t++)
    if (!isBoundary.has(t)) inside.push(maxAbs(a[t] as Float64Array, a[t - 1] as Float64Array));
  const jerk: number[] = [];
  const nearBoundary: number[] = [];
  for (let t = 2; t + 1 < a.length; t++) {
    const p = a[t + 1] as Float64Array;
    const c = a[t] as Float64Array;
    const m1 = a[t - 1] as Float64Array;
    const m2 = a[t - 2] as Float64Array;
    let j = 0;
    for (let i = 0; i < c.length; i++) {
      j = Math.max(
        j,
        Math.abs((p[i] as number) - 3 * (c[i] as number) + 3 * (m1[i] as number) - (m2[i] as number)),
      );
    }
    j /= dt ** 3;
    jerk.push(j);
    if ([t - 1, t, t + 1].some((s) => isBoundary.has(s))) nearBoundary.push(j);
  }
  const sorted = [...jumps].sort((x, y) => x - y);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const insideSorted = [...inside].sort((x, y) => x - y);
  return {
    jumpMean: mean(jumps),
    jumpP90: sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))] ?? Number.NaN,
    jumpMax: sorted[sorted.length - 1] ?? Number.NaN,
    inChunkMedian: insideSorted[Math.floor(insideSorted.length / 2)] ?? Number.NaN,
    jerkRms: Math.sqrt(mean(jerk.map((j) => j * j))),
    jerkBoundary: mean(nearBoundary),
  };
}

const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function benchBundle(label: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  const policy = await WorkerPolicy.load(dir, {
    executionProviders: [{ name: 'cpu', threads: 1 }],
    seed: 0,
  });
  try {
    const obs = alohaObservation(7);
    const lat = await latencies(policy, obs);
    const rows: Stats[] = [
      summarize('plain chunk', lat.plain),
      summarize('RTC guidance (VJP graph every step)', lat.guidance),
      summarize('RTC inpaint (no VJP)', lat.inpaint),
    ];
    out.push(printTable(`${label}: latency per chunk (direct infer, CPU 1 thread)`, rows, 'plain chunk'));
    const guidedP90 = rows[1]?.p90 ?? 0;
    const periodMs = Math.max(20, Math.ceil((1.3 * guidedP90) / 10));
    const results: [Broker, LoopResult, Smoothness][] = [];
    for (const broker of BROKERS) {
      const r = await loop(policy, broker, periodMs, obs);
      results.push([broker, r, smoothness(r)]);
    }
    const baseJump = results.find(([b]) => b === 'async')?.[2].jumpMean ?? Number.NaN;
    const body = results.map(([broker, r, s]) => [
      broker,
      String(r.boundaries.length),
      f(s.jumpMean),
      f(s.jumpP90),
      f(s.jumpMax),
      f(s.inChunkMedian),
      `${(s.jumpMean / s.inChunkMedian).toFixed(2)}x`,
      `${(s.jumpMean / baseJump).toFixed(2)}x`,
      f(r.planChanges.reduce((x, y) => x + y, 0) / Math.max(1, r.planChanges.length)),
      f(s.jerkRms, 0),
      f(s.jerkBoundary, 0),
      String(r.stalls),
    ]);
    out.push(
      printMarkdownTable(
        `${label}: chunk boundaries at ${(1000 / periodMs).toFixed(1)} Hz (period ${periodMs} ms), execution horizon ${HORIZON}`,
        [
          'broker',
          'boundaries',
          'jump mean rad',
          'jump p90',
          'jump max',
          'in-chunk step median',
          'jump / in-chunk step',
          'jump vs async',
          'plan change rad',
          'jerk RMS rad/s³',
          'jerk at boundaries',
          'stalls',
        ],
        body,
      ),
    );
  } finally {
    await policy.close();
  }
  return out;
}

/** The loop thread's share of RTC: building a request's entry (a copy of the executing rows) per request. */
async function entryCost(): Promise<string> {
  const chunk = {
    actions: { dtype: 'float64' as const, shape: [50, 14], data: new Float64Array(50 * 14).fill(0.5) },
  };
  const obs = alohaObservation(1);
  const plain = await measure('request without RTC (observation as is)', () => ({ ...obs }), {
    iterations: 2000,
  });
  const tied = await measure(
    'request with the rtc entry (rtcEntry: 46 rows x 14 copied)',
    () => ({ ...obs, rtc: rtcEntry(chunk, 4, 3.2) }),
    { iterations: 2000 },
  );
  return printTable('loop thread: building one background request', [plain, tied], plain.name);
}

export async function run(): Promise<string[]> {
  const out = [await entryCost()];
  out.push(...(await benchBundle('demo π0 (ALOHA)', DEMO)));
  const deep = await deepBundle();
  out.push(...(await benchBundle('18-layer π0 (ALOHA)', deep)));
  return out;
}
