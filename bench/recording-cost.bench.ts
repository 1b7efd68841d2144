/**
 * What recording costs the control loop: the agent on the emulated ALOHA (4 generated 640x480 cameras at 30 fps,
 * 50 Hz, async broker, demo π0 on the CPU in its worker), side by side in one run: no recording, `--record-mcap`,
 * `--record` (LeRobot dataset: 4 H.264 videos encoded by ffmpeg at 50 fps), both. Per row: loop period and jitter,
 * overruns, the loop-thread cost of the recorder's per-step call, the disk rate of each output, and CPU: this
 * process (all its threads) and the ffmpeg children (/proc/self/stat cutime + cstime: children waited for, i.e.
 * the encoders of the finished episodes), as % of one core over the run's wall time.
 * Steps per run: OPENPI_EDGE_RECORDING_BENCH_STEPS (default 1000 = 20 s).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import type { AgentConfigFile } from '../packages/edge-agent/src/config/schema.js';
import { McapRecorder } from '../packages/edge-agent/src/record/mcap-recorder.js';
import { printMarkdownTable } from './lib.js';

const STEPS = Number(process.env.OPENPI_EDGE_RECORDING_BENCH_STEPS ?? 1000);
const CLOCK_TICKS = 100; // Linux USER_HZ: /proc/<pid>/stat times are in 1/100 s

/** CPU seconds of this process (utime + stime) and of its waited-for children (cutime + cstime). */
function cpuSeconds(): { self: number; children: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // fields after the ")" that ends the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = (i: number): number => Number(f[i - 3]);
  return { self: (n(14) + n(15)) / CLOCK_TICKS, children: (n(16) + n(17)) / CLOCK_TICKS };
}

function bytesUnder(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((a, e) => a + bytesUnder(join(path, e)), 0);
}

/** The recorder's per-step call on the loop thread, timed in place (ms). */
const tickCalls: number[] = [];
{
  const proto = McapRecorder.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = proto.tick as (...a: unknown[]) => unknown;
  proto.tick = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      tickCalls.push(performance.now() - t0);
    }
  };
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

export async function run(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-bench-recording-'));
  const body: string[][] = [];
  const local = { bundle: { providers: ['cpu' as const], seed: 0 } };
  try {
    const row = async (name: string, flags: Partial<AgentConfigFile>): Promise<void> => {
      tickCalls.length = 0;
      const config = resolveConfig(
        {},
        { ...local, broker: 'async', maxSteps: STEPS, reset: false, statusIntervalMs: 0, ...flags },
      );
      const agent = await EdgeAgent.create(config, { warn: () => {} });
      const cpu0 = cpuSeconds();
      const t0 = performance.now();
      let summary: Awaited<ReturnType<EdgeAgent['run']>>;
      try {
        summary = await agent.run();
      } finally {
        await agent.close();
      }
      const wall = (performance.now() - t0) / 1000;
      const cpu1 = cpuSeconds();
      const episodeS = STEPS / 50;
      const rate = (path: string | undefined): string =>
        path === undefined ? '-' : `${(bytesUnder(path) / 1024 / 1024 / episodeS).toFixed(2)}`;
      const s = summary;
      const ds = agent.recording?.dataset ?? null;
      body.push([
        name,
        s.period.p99.toFixed(2),
        s.jitter.p99.toFixed(2),
        String(s.run.overruns),
        String(s.gate.holds),
        tickCalls.length === 0
          ? '-'
          : `${(q(tickCalls, 0.5) * 1000).toFixed(0)} / ${(q(tickCalls, 0.99) * 1000).toFixed(0)}`,
        rate(flags.recordMcap),
        rate(flags.record),
        ds === null ? '-' : `${ds.totalFrames} (${ds.rowsSkipped} skipped)`,
        `${(((cpu1.self - cpu0.self) / wall) * 100).toFixed(0)}`,
        `${(((cpu1.children - cpu0.children) / wall) * 100).toFixed(0)}`,
        `${agent.recording?.framesDropped ?? '-'} / ${agent.recording?.ticksDropped ?? '-'}`,
      ]);
    };
    await row('no recording', {});
    await row('--record-mcap', { recordMcap: join(dir, 'run.mcap') });
    await row('--record (LeRobot dataset)', { record: join(dir, 'dataset') });
    await row('--record-mcap + --record', { recordMcap: join(dir, 'both.mcap'), record: join(dir, 'both') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    printMarkdownTable(
      `Recording cost: emulated ALOHA, 4 x 640x480 cameras at 30 fps, 50 Hz, demo pi0 async, ${STEPS} steps per row`,
      [
        'row',
        'period p99 (ms)',
        'jitter p99 (ms)',
        'overruns',
        'holds',
        'recorder per step on the loop p50 / p99 (us)',
        'MCAP (MiB/s)',
        'dataset (MiB/s)',
        'dataset rows',
        'agent CPU (% of a core)',
        'ffmpeg CPU (% of a core)',
        'MCAP frames / ticks dropped',
      ],
      body,
    ),
  ];
}
