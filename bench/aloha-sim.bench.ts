/**
 * The ALOHA agent loop on the `sim` transport (gym-aloha in MuJoCo through packages/edge-agent/sim/aloha_bridge.py)
 * at 50 Hz on the real clock, whole stack: EdgeAgent (runtime, guarded agent, async broker, images on demand, the
 * policy in a worker thread), SafetyGate, the ALOHA plugin, the bridge process and its renderer thread.
 *
 * 1. Per configuration, one episode of OPENPI_EDGE_ALOHA_SIM_BENCH_STEPS (default 500) steps: steps/s, loop period
 *    and jitter, overruns, holds and faults, camera frame rate per camera, and where the time goes: the bridge's
 *    physics + reward per STEP, STEP -> STATE round trip seen by the transport, the state pipe (bridge write -> parsed
 *    here), render time per frame, the frame pipe (bridge write -> last byte here), the loop thread's receive time per
 *    frame, policy latency. Configurations: an instant constant policy (the loop + sim's own cost) with the default
 *    render (3 cameras 640x480, shadow map 1024, no MSAA), the same with Mesa's llvmpipe on one thread, with
 *    gym-aloha's own render quality (shadow map 4096, 4x MSAA), with cam_high only, and the demo π0 bundle (CPU).
 * 2. The bridge alone, free-running (next STEP as soon as the previous reply is in): steps/s with and without cameras.
 * Needs `bash scripts/sim-env.sh`. Steps per run: OPENPI_EDGE_ALOHA_SIM_BENCH_STEPS.
 */

import { performance } from 'node:perf_hooks';
import { ndarray } from '../packages/client/src/ndarray.js';
import type { ClosablePolicy, Obs } from '../packages/client/src/policy.js';
import { type AgentRunSummary, EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import type { AgentConfigFile } from '../packages/edge-agent/src/config/schema.js';
import { ALOHA_DEFAULT_RESET_POSE } from '../packages/edge-agent/src/robots/aloha/constants.js';
import { alohaPlugin } from '../packages/edge-agent/src/robots/aloha/plugin.js';
import { SimAlohaArms, type SimAlohaOptions } from '../packages/edge-agent/src/robots/aloha/sim-transport.js';
import { printMarkdownTable } from './lib.js';

const STEPS = Number(process.env.OPENPI_EDGE_ALOHA_SIM_BENCH_STEPS ?? 500);
const FREE_STEPS = 1000;

type Flags = Partial<AgentConfigFile>;

/** A slow sinusoid around the home pose (the arms keep moving, so every rendered frame differs), at once. */
function swayPolicy(): ClosablePolicy {
  let k = 0;
  return {
    infer: async (): Promise<Obs> => {
      const data = new Float64Array(50 * 14);
      for (let r = 0; r < 50; r++) {
        const s = 0.3 * Math.sin((k + r) / 40);
        const row = [...ALOHA_DEFAULT_RESET_POSE, 0.5, ...ALOHA_DEFAULT_RESET_POSE, 0.5];
        row[0] = s;
        row[7] = -s;
        row[6] = 0.5 + 0.4 * Math.sin((k + r) / 25);
        data.set(row, r * 14);
      }
      k += 25;
      return { actions: ndarray('float64', [50, 14], data) };
    },
    reset: () => {},
    close: async () => {},
  };
}

const q = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
const pp = (xs: readonly number[]): string => `${f2(q(xs, 0.5))} / ${f2(q(xs, 0.99))}`;

interface Row {
  name: string;
  summary: AgentRunSummary;
  sim: SimAlohaArms;
  wallS: number;
}

async function runAgent(
  name: string,
  flags: Flags,
  sim: Omit<SimAlohaOptions, 'cameras' | 'clock' | 'gripper'>,
  policy?: ClosablePolicy,
): Promise<Row> {
  const config = resolveConfig(
    {},
    {
      maxSteps: STEPS,
      statusIntervalMs: 0,
      ...flags,
      aloha: { transport: 'sim', ...(flags.aloha as object | undefined) },
    },
  );
  const agent = await EdgeAgent.create(config, {
    plugins: [alohaPlugin.with({ sim })],
    ...(policy === undefined ? {} : { policy }),
    warn: () => {},
  });
  try {
    const transport = (agent.robot as unknown as { environment: { transport: SimAlohaArms } }).environment
      .transport;
    const t0 = performance.now();
    const summary = await agent.run();
    const wallS = (performance.now() - t0) / 1000;
    return { name, summary, sim: transport, wallS };
  } finally {
    await agent.close();
  }
}

function agentRows(rows: Row[]): string[] {
  const loop = rows.map(({ name, summary: s, sim }) => {
    const epMs = s.run.episodes.reduce((a, e) => a + e.durationMs, 0);
    const faults = Object.entries(s.gate.faults)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    const st = sim.stats();
    return [
      name,
      f1((s.run.totalSteps / epMs) * 1000),
      `${f2(s.period.p50)} / ${f2(s.period.p99)}`,
      `${f2(s.jitter.p99)}`,
      String(s.run.overruns),
      `${s.gate.moves} / ${s.gate.holds}`,
      faults || 'none',
      `${st.stepsSent} (${st.idleSteps} idle, ${st.coalesced} merged)`,
      s.inferences > 0 ? `${f1(s.inferenceLatency.p50)}` : '-',
    ];
  });
  const time = rows.map(({ name, sim }) => {
    const st = sim.stats();
    const spanS = st.frameSpanMs / 1000;
    const fps = Object.entries(st.frames)
      .map(([c, n]) => `${c.replace('cam_', '')} ${f1(spanS > 0 ? (n - 1) / spanS : 0)}`)
      .join(', ');
    return [
      name,
      fps || 'none',
      pp(st.physicsMs),
      pp(st.roundTripMs),
      pp(st.statePipeMs),
      pp(st.renderMs),
      pp(st.framePipeMs),
      pp(st.frameReceiveMs),
    ];
  });
  return [
    printMarkdownTable(
      `ALOHA on the sim transport, 50 Hz, ${STEPS} steps each: loop`,
      [
        'configuration',
        'steps/s',
        'period p50 / p99 ms',
        'jitter p99 ms',
        'overruns',
        'moves / holds',
        'gate faults',
        'STEPs sent',
        'policy p50 ms',
      ],
      loop,
    ),
    printMarkdownTable(
      'Where the time goes (ms, p50 / p99; fps per camera over the run)',
      [
        'configuration',
        'camera fps',
        'bridge physics / STEP',
        'STEP round trip',
        'state pipe',
        'render / frame',
        'frame pipe',
        'frame receive on loop',
      ],
      time,
    ),
  ];
}

/** The bridge alone: next STEP when the previous reply is in (STEP + a STATE request per step). */
async function freeRun(name: string, options: SimAlohaOptions): Promise<string[]> {
  const sim = new SimAlohaArms({ ...options, idleStepping: false });
  await sim.start();
  try {
    const pose = ALOHA_DEFAULT_RESET_POSE;
    const t0 = performance.now();
    for (let i = 0; i < FREE_STEPS; i++) {
      const s = 0.3 * Math.sin(i / 40);
      await sim.writeJoints('left', [s, ...pose.slice(1)], 0.4);
      await sim.writeJoints('right', [-s, ...pose.slice(1)], 0.4);
      await sim.refresh();
    }
    const wall = (performance.now() - t0) / 1000;
    const st = sim.stats();
    const frames = Object.values(st.frames).reduce((a, b) => a + b, 0);
    return [
      name,
      f1(FREE_STEPS / wall),
      f1((FREE_STEPS * 0.02) / wall),
      pp(st.physicsMs),
      pp(st.roundTripMs),
      frames === 0 ? '-' : `${frames} (${f1(frames / wall)}/s)`,
    ];
  } finally {
    await sim.close();
  }
}

export async function run(): Promise<string[]> {
  const tables: string[] = [];
  const rows: Row[] = [];
  const add = async (...a: Parameters<typeof runAgent>) => {
    const r = await runAgent(...a);
    console.log(`${r.name}: ${r.summary.run.totalSteps} steps in ${r.wallS.toFixed(1)} s`);
    rows.push(r);
  };
  await add('instant policy, default render', { broker: 'async' }, {}, swayPolicy());
  await add(
    'instant policy, render thread at nice 0',
    { broker: 'async' },
    { render: { nice: 0 } },
    swayPolicy(),
  );
  await add(
    'instant policy, llvmpipe 1 thread',
    { broker: 'async' },
    { env: { LP_NUM_THREADS: '1' } },
    swayPolicy(),
  );
  await add(
    "instant policy, gym-aloha's render (shadow 4096, 4x MSAA)",
    { broker: 'async' },
    { render: { shadowSize: 4096, msaa: 4 } },
    swayPolicy(),
  );
  await add(
    'instant policy, cam_high only',
    {
      broker: 'async',
      aloha: { cameras: { cam_left_wrist: { kind: 'none' }, cam_right_wrist: { kind: 'none' } } },
      safety: { watchdog: { requiredCameras: ['cam_high'] } },
    },
    {},
    swayPolicy(),
  );
  await add('demo pi0 (CPU), async', { broker: 'async', bundle: { providers: ['cpu'], seed: 0 } }, {});
  // Real-time chunking against the physics and the rendered cameras (docs/rtc.md).
  await add(
    'demo pi0 (CPU), async + RTC guidance',
    { broker: 'async', bundle: { providers: ['cpu'], seed: 0 }, rtc: { mode: 'guidance' } },
    {},
  );
  tables.push(...agentRows(rows));

  const free = [
    await freeRun('no cameras', { cameras: [] }),
    await freeRun('cam_high 640x480 (render thread busy)', { cameras: [{ name: 'cam_high' }] }),
    await freeRun('3 cameras 640x480 (render thread busy)', {}),
  ];
  tables.push(
    printMarkdownTable(
      `The bridge alone, free-running, ${FREE_STEPS} steps (STEP + STATE request per step)`,
      [
        'bridge',
        'steps/s',
        'x real time',
        'physics / STEP ms p50 / p99',
        'STEP round trip ms p50 / p99',
        'frames',
      ],
      free,
    ),
  );
  return tables;
}
