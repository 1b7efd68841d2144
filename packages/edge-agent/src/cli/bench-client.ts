/**
 * `edge-agent bench-client ws://host:port [options]`: openpi's `simple_client` for any openpi policy server (ours or
 * openpi's): random observations of a chosen layout, warm-up requests, then timed ones; prints, per measured key,
 * mean / std / p25 / p50 / p75 / p90 / p95 / p99 in ms — the client's round trip (`client_infer_ms`), each
 * `server_timing` entry (`server_infer_ms`, `server_prev_total_ms`) and each `policy_timing` entry — and the
 * request rate. `--json` prints one JSON object instead. Exit 0; 1 when a request fails (the server's error named).
 */
import { parseArgs } from 'node:util';
import { type NDArray, type Obs, OpenpiEdgeError, WebsocketClientPolicy } from '@openpi-edge/client';
import { numberFlag } from './flags.js';
import type { CliCommand } from './main.js';

/** The observation layouts of openpi's simple_client (and its aloha_sim example: the top camera only). */
export const BENCH_LAYOUTS = ['aloha', 'aloha_sim', 'droid', 'libero'] as const;
export type BenchLayout = (typeof BENCH_LAYOUTS)[number];

const HELP = `usage: edge-agent bench-client <ws://host:port> [options]

Times an openpi policy server the way openpi's simple_client does: random observations, warm-up, timed requests.

  --layout <l>        ${BENCH_LAYOUTS.join(' | ')} (default aloha): aloha = state 14 + four CHW uint8 224 cameras;
                      aloha_sim = state 14 + cam_high; droid / libero = openpi's HWC uint8 224 request keys
  --steps <n>         timed requests (default 20, simple_client's num_steps)
  --warmup <n>        untimed requests first (default 2)
  --prompt <text>     prompt (default "do something")
  --api-key <key>     Authorization: Api-Key <key>
  --seed <n>          seed of the random images and states (default 0)
  --json              one JSON object on stdout instead of the table
  -h, --help`;

/** A small deterministic generator (xorshift32) for the random images: same seed, same bytes. */
function randomBytes(n: number, state: { s: number }): Uint8Array {
  const out = new Uint8Array(n);
  let s = state.s;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  state.s = s;
  return out;
}

function image(shape: [number, number, number], rng: { s: number }): NDArray<'uint8'> {
  return { dtype: 'uint8', shape, data: randomBytes(shape[0] * shape[1] * shape[2], rng) };
}

function floats(n: number, rng: { s: number }, fill?: number): NDArray<'float64'> {
  const bytes = randomBytes(n, rng);
  return { dtype: 'float64', shape: [n], data: Float64Array.from(bytes, (b) => fill ?? b / 255) };
}

/** One random observation of `layout`, shaped as openpi's make_*_example / simple_client send it. */
export function benchObservation(layout: BenchLayout, prompt: string, rng: { s: number }): Obs {
  const chw: [number, number, number] = [3, 224, 224];
  const hwc: [number, number, number] = [224, 224, 3];
  switch (layout) {
    case 'aloha':
      return {
        state: floats(14, rng, 1),
        images: {
          cam_high: image(chw, rng),
          cam_low: image(chw, rng),
          cam_left_wrist: image(chw, rng),
          cam_right_wrist: image(chw, rng),
        },
        prompt,
      };
    case 'aloha_sim':
      return { state: floats(14, rng, 1), images: { cam_high: image(chw, rng) }, prompt };
    case 'droid':
      return {
        'observation/exterior_image_1_left': image(hwc, rng),
        'observation/wrist_image_left': image(hwc, rng),
        'observation/joint_position': floats(7, rng),
        'observation/gripper_position': floats(1, rng),
        prompt,
      };
    case 'libero':
      return {
        'observation/image': image(hwc, rng),
        'observation/wrist_image': image(hwc, rng),
        'observation/state': floats(8, rng),
        prompt,
      };
  }
}

export interface TimingStats {
  n: number;
  mean: number;
  std: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
  p95: number;
  p99: number;
}

/** numpy-style percentiles (linear interpolation) and the population std, as simple_client prints them. */
export function timingStats(values: readonly number[]): TimingStats {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  const q = (p: number): number => {
    if (n === 0) return Number.NaN;
    const x = (p / 100) * (n - 1);
    const lo = Math.floor(x);
    const hi = Math.min(n - 1, lo + 1);
    return (v[lo] as number) + ((v[hi] as number) - (v[lo] as number)) * (x - lo);
  };
  const mean = n === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / n;
  const std = n === 0 ? Number.NaN : Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return { n, mean, std, p25: q(25), p50: q(50), p75: q(75), p90: q(90), p95: q(95), p99: q(99) };
}

/** Numbers of a `server_timing` / `policy_timing` dict (Python floats arrive as numbers). */
function timingEntries(v: unknown): Array<[string, number]> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
  return Object.entries(v as Record<string, unknown>).filter(
    (e): e is [string, number] => typeof e[1] === 'number',
  );
}

export interface BenchClientResult {
  uri: string;
  layout: BenchLayout;
  steps: number;
  warmup: number;
  /** Timed requests per second of wall time. */
  requestsPerS: number;
  /** ms per key: client_infer_ms, server_<k>, policy_<k>. */
  timings: Record<string, TimingStats>;
  /** Shape of the first reply's `actions`, when it has one. */
  actionsShape: number[] | null;
}

export interface BenchClientOptions {
  uri: string;
  layout: BenchLayout;
  steps: number;
  warmup: number;
  prompt: string;
  seed: number;
  apiKey?: string;
}

/** Runs the benchmark against `uri`. Rejects with the client's typed error (a server error frame: ServerError). */
export async function runBenchClient(o: BenchClientOptions): Promise<BenchClientResult> {
  const client = new WebsocketClientPolicy({
    host: o.uri,
    reconnect: { maxAttempts: 1 },
    ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
  });
  const rng = { s: o.seed >>> 0 || 0x9e3779b9 };
  const samples: Record<string, number[]> = { client_infer_ms: [] };
  let actionsShape: number[] | null = null;
  try {
    await client.connect();
    for (let i = 0; i < o.warmup; i++) await client.infer(benchObservation(o.layout, o.prompt, rng));
    const t0 = performance.now();
    for (let i = 0; i < o.steps; i++) {
      const obs = benchObservation(o.layout, o.prompt, rng);
      const s = performance.now();
      const reply = await client.infer(obs);
      samples.client_infer_ms?.push(performance.now() - s);
      for (const [prefix, key] of [
        ['server', 'server_timing'],
        ['policy', 'policy_timing'],
      ] as const) {
        for (const [k, ms] of timingEntries(reply[key])) {
          const name = `${prefix}_${k}`;
          const list = samples[name] ?? [];
          list.push(ms);
          samples[name] = list;
        }
      }
      const actions = reply.actions as { shape?: number[] } | undefined;
      if (actionsShape === null && Array.isArray(actions?.shape)) actionsShape = [...actions.shape];
    }
    const wallS = (performance.now() - t0) / 1000;
    return {
      uri: client.uri,
      layout: o.layout,
      steps: o.steps,
      warmup: o.warmup,
      requestsPerS: o.steps / wallS,
      timings: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, timingStats(v)])),
      actionsShape,
    };
  } finally {
    await client.close();
  }
}

/** The table simple_client prints (one row per key), plus the request rate. */
export function formatBenchClient(r: BenchClientResult): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const cols = ['mean', 'std', 'p25', 'p50', 'p75', 'p90', 'p95', 'p99'] as const;
  const width = Math.max(...Object.keys(r.timings).map((k) => k.length), 8);
  const lines = [
    `${r.uri}: ${r.steps} ${r.layout} requests after ${r.warmup} warm-up; ${r.requestsPerS.toFixed(2)} requests/s` +
      (r.actionsShape === null ? '' : `; actions ${JSON.stringify(r.actionsShape)}`),
    `${'ms'.padEnd(width)}  ${cols.map((c) => c.padStart(8)).join('')}`,
  ];
  for (const [k, s] of Object.entries(r.timings)) {
    lines.push(`${k.padEnd(width)}  ${cols.map((c) => f(s[c]).padStart(8)).join('')}`);
  }
  return lines.join('\n');
}

export const benchClientCommand: CliCommand = {
  summary: "time an openpi policy server like openpi's simple_client",
  async run(argv) {
    let parsed: ReturnType<typeof parse>;
    function parse(a: string[]) {
      return parseArgs({
        args: a,
        allowPositionals: true,
        options: {
          layout: { type: 'string' },
          steps: { type: 'string' },
          warmup: { type: 'string' },
          prompt: { type: 'string' },
          'api-key': { type: 'string' },
          seed: { type: 'string' },
          json: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    }
    try {
      parsed = parse(argv);
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${HELP}`, {});
    }
    const v = parsed.values;
    if (v.help === true) {
      console.log(HELP);
      return 0;
    }
    const [uri, ...extra] = parsed.positionals;
    if (uri === undefined || extra.length > 0) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `give one server address (ws://host:port)\n\n${HELP}`, {});
    }
    const layout = (v.layout ?? 'aloha') as BenchLayout;
    if (!BENCH_LAYOUTS.includes(layout)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `--layout must be one of ${BENCH_LAYOUTS.join(', ')}, got '${layout}'`,
        {
          option: 'layout',
        },
      );
    }
    const result = await runBenchClient({
      uri,
      layout,
      steps: numberFlag('steps', v.steps, { min: 1, integer: true }) ?? 20,
      warmup: numberFlag('warmup', v.warmup, { min: 0, integer: true }) ?? 2,
      prompt: v.prompt ?? 'do something',
      seed: numberFlag('seed', v.seed, { min: 0, integer: true }) ?? 0,
      ...(v['api-key'] === undefined ? {} : { apiKey: v['api-key'] }),
    });
    console.log(v.json === true ? JSON.stringify(result) : formatBenchClient(result));
    return 0;
  },
};
