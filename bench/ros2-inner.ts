/**
 * The DDS part of `pnpm bench ros2`, run by bench/ros2.bench.ts inside one private network namespace
 * (scripts/ros2-netns.sh) with .venv-ros2/ros2-env.sh and .venv-ros2/opt/openpi_msgs/env.sh sourced. Runs the
 * measurements one after another (never two at once, so they do not share the two cores), each side in its own
 * process, and prints one line `OPENPI_BENCH_ROS2 <json>` on stdout with the raw results; progress goes to stderr.
 *
 * 1. JointState round trips against the rclpy echo (test/python/ros2_bench_peer.py --mode echo): the rclnodejs client
 *    (bench/ros2-probe.ts rtt) and the rclpy client (ros2_bench_peer.py --mode rtt), at 50 Hz and back to back.
 * 2. sensor_msgs/Image from rclpy (ros2_bench_peer.py --mode images) to rclnodejs (bench/ros2-probe.ts images) and to
 *    rclpy (ros2_bench_peer.py --mode image-sub), per Fast DDS transport setting, the same on both sides:
 *    `default` = FASTDDS_BUILTIN_TRANSPORTS and FASTRTPS_DEFAULT_PROFILES_FILE unset (UDPv4 + shared memory with
 *    its 512 KiB segment), `LARGE_DATA` = FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA, `SHM_16MB` = an XML profile
 *    (FASTRTPS_DEFAULT_PROFILES_FILE, written here, see SHM_16MB_PROFILE) with a 16 MiB shared-memory segment + UDPv4.
 * 3. 50 Hz ALOHA episodes through the CLI (bench/ros2-episode.ts = `edge-agent start`): the emulated transport, and
 *    the ros2 transport against test/python/xs_sdk_peer.py.
 * Env: OPENPI_EDGE_ROS2_BENCH_N (round trips per row, default 1000), OPENPI_EDGE_ROS2_BENCH_IMAGE_S (seconds of
 * images per row, default 5), OPENPI_EDGE_ROS2_BENCH_STEPS (steps per episode, default 300).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ROS2_PYTHON,
  requireRealRos2,
  startRclpyPeer,
} from '../packages/edge-agent/test/ros2-real/harness.js';
import type {
  EpisodeResult,
  ImageProbeReport,
  ImagePublisherReport,
  ImageRun,
  ImageScenario,
  InnerResults,
  RttRun,
  Transport,
} from './ros2-results.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.OPENPI_EDGE_ROS2_BENCH_N ?? 1000);
const IMAGE_S = Number(process.env.OPENPI_EDGE_ROS2_BENCH_IMAGE_S ?? 5);
const STEPS = Number(process.env.OPENPI_EDGE_ROS2_BENCH_STEPS ?? 300);
const TSX = ['--conditions=source', '--import', 'tsx'];
const workDir = mkdtempSync(join(tmpdir(), 'openpi-ros2-bench-'));
/** The shipped Fast DDS profile for full-size frames (a 16 MiB shared-memory segment; see the file). */
const profileFile = join(ROOT, 'packages', 'edge-agent', 'ros2', 'fastdds-large-frames.xml');

const started = performance.now();
/** Progress on stderr, with the seconds since this process started. */
const log = (msg: string): void => {
  process.stderr.write(`ros2-bench [${((performance.now() - started) / 1000).toFixed(1)} s]: ${msg}\n`);
};

/** The Fast DDS variables for `transport` (both keys always present: undefined = unset in the child). */
function transportEnv(transport: Transport): Record<string, string | undefined> {
  return {
    FASTDDS_BUILTIN_TRANSPORTS: transport === 'LARGE_DATA' ? 'LARGE_DATA' : undefined,
    FASTRTPS_DEFAULT_PROFILES_FILE: transport === 'SHM_16MB' ? profileFile : undefined,
  };
}

/** The environment of a child using `transport`. */
function envFor(transport: Transport): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
  for (const [k, v] of Object.entries(transportEnv(transport))) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** For startRclpyPeer, which adds its `env` to process.env (where neither variable is set, see below). */
function peerEnv(transport: Transport): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(transportEnv(transport))) if (v !== undefined) out[k] = v;
  return out;
}

interface Child {
  /** Resolves with the exit code and the whole stdout once the process exited (killed after `limitMs`). */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  write(text: string): void;
  /** Resolves once a stdout line equals `line` (rejects if the process exits first). */
  line(line: string): Promise<void>;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, limitMs: number): Child {
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-16_384);
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    done,
    write: (text) => child.stdin.write(text),
    line: async (want) => {
      while (!stdout.split('\n').includes(want)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${args[0] ?? cmd} exited before printing ${want}; stderr:\n${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** The last stdout line that parses as a JSON object (rclnodejs / rclpy may log other lines). */
function lastJson(stdout: string, what: string, stderr: string): Record<string, unknown> {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {}
  }
  throw new Error(`${what}: no JSON result; stderr:\n${stderr}`);
}

async function rttRuns(): Promise<RttRun[]> {
  const echo = await startRclpyPeer('ros2_bench_peer.py', ['--mode', 'echo', '--duration', '600'], {
    maxLifeMs: 600_000,
  });
  const runs: RttRun[] = [];
  try {
    for (const hz of [50, 0]) {
      log(`round trips: rclnodejs client, ${N} at ${hz === 0 ? 'back to back' : `${hz} Hz`}`);
      const r = await start(
        process.execPath,
        [...TSX, 'bench/ros2-probe.ts', 'rtt', String(N), String(hz)],
        envFor('default'),
        120_000,
      ).done;
      const j = lastJson(r.stdout, 'rclnodejs rtt', r.stderr) as unknown as RttRun & { error?: string };
      if (j.error !== undefined) throw new Error(`rclnodejs rtt: ${j.error}`);
      runs.push({ client: 'rclnodejs', hz, n: N, lost: j.lost, rtt_ms: j.rtt_ms });
    }
    for (const hz of [50, 0]) {
      log(`round trips: rclpy client, ${N} at ${hz === 0 ? 'back to back' : `${hz} Hz`}`);
      const script = join(ROOT, 'test', 'python', 'ros2_bench_peer.py');
      const r = await start(
        ROS2_PYTHON,
        [script, '--mode', 'rtt', '--n', String(N), '--hz', String(hz)],
        envFor('default'),
        120_000,
      ).done;
      const j = lastJson(r.stdout, 'rclpy rtt', r.stderr) as unknown as RttRun & { error?: string };
      if (j.error !== undefined) throw new Error(`rclpy rtt: ${j.error}`);
      runs.push({ client: 'rclpy', hz, n: N, lost: j.lost, rtt_ms: j.rtt_ms });
    }
  } finally {
    await echo.stop();
  }
  return runs;
}

/** The publisher's command line for one scenario. */
function publisherArgs(s: ImageScenario, frames: number): string[] {
  return [
    join(ROOT, 'test', 'python', 'ros2_bench_peer.py'),
    '--mode',
    'images',
    '--cameras',
    String(s.cameras),
    '--width',
    String(s.width),
    '--height',
    String(s.height),
    '--hz',
    String(s.hz),
    '--frames',
    String(frames),
  ];
}

async function imageRun(
  transport: Transport,
  s: ImageScenario,
  subscriber: 'rclnodejs' | 'rclpy',
): Promise<ImageRun> {
  const frames = Math.round(IMAGE_S * s.hz);
  log(
    `images: ${s.cameras} x ${s.width}x${s.height} at ${s.hz} Hz, ${frames} frames each, ` +
      `${subscriber} subscriber, transports ${transport}`,
  );
  const env = envFor(transport);
  let report: Record<string, unknown>;
  let sent: Record<string, unknown>;
  if (subscriber === 'rclnodejs') {
    const probe = start(
      process.execPath,
      [...TSX, 'bench/ros2-probe.ts', 'images', String(s.cameras), String(frames), String(s.hz)],
      env,
      120_000,
    );
    // After its idle window; the publisher then waits for its subscriptions to match (and --settle s more).
    await probe.line('READY');
    const p = await start(ROS2_PYTHON, publisherArgs(s, frames), env, 120_000).done;
    probe.write('stop\n');
    const r = await probe.done;
    sent = lastJson(p.stdout, 'image publisher', p.stderr);
    report = lastJson(r.stdout, 'image probe', r.stderr);
  } else {
    const sub = await startRclpyPeer(
      'ros2_bench_peer.py',
      [
        '--mode',
        'image-sub',
        '--cameras',
        String(s.cameras),
        '--frames',
        String(frames),
        '--hz',
        String(s.hz),
      ],
      { env: peerEnv(transport) },
    );
    const p = await start(ROS2_PYTHON, publisherArgs(s, frames), env, 120_000).done;
    sent = lastJson(p.stdout, 'image publisher', p.stderr);
    report = (await sub.stop()) ?? { error: `no report; stderr:\n${sub.stderr()}` };
  }
  return {
    transport,
    scenario: s,
    subscriber,
    publisher: sent as ImagePublisherReport,
    probe: report as ImageProbeReport,
  };
}

const FLAGS = [
  '--robot',
  'aloha',
  '--max-steps',
  String(STEPS),
  '--providers',
  'cpu',
  '--threads',
  '1',
  '--seed',
  '0',
  '--status-interval',
  '0',
];

async function episode(
  name: string,
  extraFlags: string[],
  peerArgs: string[] | null,
  transport: Transport,
): Promise<EpisodeResult> {
  const args = [...FLAGS, ...extraFlags];
  log(`episode: ${name}: edge-agent start ${args.join(' ')}`);
  const env = envFor(transport);
  const peer =
    peerArgs === null ? null : await startRclpyPeer('xs_sdk_peer.py', peerArgs, { env: peerEnv(transport) });
  const file = join(workDir, 'summary.json');
  rmSync(file, { force: true });
  try {
    const t0 = performance.now();
    const r = await start(
      process.execPath,
      [...TSX, 'bench/ros2-episode.ts', ...args],
      { ...env, OPENPI_BENCH_SUMMARY_FILE: file },
      240_000,
    ).done;
    const wallS = (performance.now() - t0) / 1000;
    const peerReport = peer === null ? null : await peer.stop();
    let summary: unknown = null;
    try {
      summary = JSON.parse(readFileSync(file, 'utf8'));
    } catch {}
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('summary:'));
    return {
      name,
      command: `edge-agent start ${args.join(' ')}`,
      peer: peerArgs === null ? null : `test/python/xs_sdk_peer.py ${peerArgs.join(' ')}`.trim(),
      transport,
      exitCode: r.code,
      wallS,
      summary,
      summaryText: at < 0 ? [] : lines.slice(at, at + 4),
      stderrTail: r.stderr.split('\n').slice(-8),
      peerReport,
    } as EpisodeResult;
  } finally {
    if (peer !== null) await peer.stop();
  }
}

requireRealRos2();
// Every child gets its transports from envFor / peerEnv only (startRclpyPeer passes process.env on).
for (const k of Object.keys(transportEnv('default'))) {
  if (process.env[k] !== undefined) log(`${k}=${process.env[k]} ignored`);
  delete process.env[k];
}
const t0 = performance.now();
const results: InnerResults = {
  config: {
    n: N,
    imageSeconds: IMAGE_S,
    steps: STEPS,
    domainId: process.env.ROS_DOMAIN_ID ?? '',
    rmw: process.env.RMW_IMPLEMENTATION ?? '',
  },
  rtt: await rttRuns(),
  images: [],
  episodes: [],
  seconds: 0,
};
const aloha: ImageScenario = {
  name: 'ALOHA: 4 cameras 640x480 rgb8',
  cameras: 4,
  width: 640,
  height: 480,
  hz: 30,
};
const small: ImageScenario = { name: '1 camera 224x224 rgb8', cameras: 1, width: 224, height: 224, hz: 30 };
const imageRuns: [Transport, ImageScenario, 'rclnodejs' | 'rclpy'][] = [
  ['default', aloha, 'rclnodejs'],
  ['default', aloha, 'rclpy'],
  ['default', small, 'rclnodejs'],
  ['default', small, 'rclpy'],
  ['LARGE_DATA', aloha, 'rclnodejs'],
  ['LARGE_DATA', aloha, 'rclpy'],
  ['LARGE_DATA', small, 'rclnodejs'],
  ['SHM_16MB', aloha, 'rclnodejs'],
  ['SHM_16MB', aloha, 'rclpy'],
  ['SHM_16MB', small, 'rclnodejs'],
];
for (const [transport, scenario, sub] of imageRuns) {
  results.images.push(await imageRun(transport, scenario, sub));
}
const ros2 = ['--transport', 'ros2'];
results.episodes.push(await episode('emulated transport (default)', [], null, 'default'));
results.episodes.push(await episode('ros2, peer 4 x 640x480 @ 30 Hz', ros2, [], 'default'));
results.episodes.push(await episode('ros2, peer 4 x 640x480 @ 30 Hz, SHM 16 MiB', ros2, [], 'SHM_16MB'));
results.episodes.push(
  await episode(
    'ros2, peer 4 x 320x240 @ 15 Hz',
    ros2,
    ['--image-hz', '15', '--image-width', '320', '--image-height', '240'],
    'default',
  ),
);
results.seconds = (performance.now() - t0) / 1000;
log('done');
rmSync(workDir, { recursive: true, force: true });
console.log(`OPENPI_BENCH_ROS2 ${JSON.stringify(results)}`);
process.exit(0);
