/**
 * ROS 2 over real DDS (PyPI Jazzy wheels, Fast DDS, rclnodejs through the repo's adapter), side by side in one run:
 *
 * 1. sensor_msgs/JointState round trips (14 joints), rclnodejs → rclpy echo → rclnodejs, at 50 Hz and back to back,
 *    against the same round trip from an rclpy client (what our rclnodejs side costs vs. Python ROS 2).
 * 2. sensor_msgs/Image rgb8 from an rclpy publisher (sensor-data QoS) to an rclnodejs subscriber through the adapter:
 *    ALOHA's 4 x 640x480 at 30 Hz and one 224x224 at 30 Hz, with Fast DDS's default builtin transports (UDPv4 +
 *    shared memory), with FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA, and with an XML profile whose shared-memory
 *    segment (16 MiB) holds 640x480 frames (the builtin one has 512 KiB); frames received vs sent, MB/s, latency
 *    (header.stamp vs receive time, both the system clock), and the event-loop cost in the rclnodejs process (the
 *    agent's control loop shares that thread). An rclpy subscriber on the same streams for comparison.
 * 3. 50 Hz ALOHA episodes through `edge-agent start` (demo bundle, CPU): the emulated transport vs the ros2 transport
 *    against test/python/xs_sdk_peer.py (the rclpy xs_sdk stand-in): period, wake-up jitter, overruns, faults.
 *
 * Every DDS process runs inside one private network namespace (scripts/ros2-netns.sh, only loopback): from a normal
 * shell this module makes the ROS 2 environment (scripts/ros2-env.sh, scripts/ros2-msgs.sh), then runs
 * bench/ros2-inner.ts inside the namespace and formats what it prints. ROS_DOMAIN_ID comes from ROS2_TEST_DOMAIN_ID
 * (ros2-netns.sh's default 77). Sizes: OPENPI_EDGE_ROS2_BENCH_N (round trips per row, 1000),
 * OPENPI_EDGE_ROS2_BENCH_IMAGE_S (seconds per image row, 5), OPENPI_EDGE_ROS2_BENCH_STEPS (steps per episode, 300).
 * Where no namespace can be made (not root, no unprivileged user namespaces) or ROS 2 cannot be built, the module
 * reports why and measures nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EpisodeResult, ImageRun, InnerResults, RttRun, Transport } from './ros2-results.js';

const TRANSPORT_LABEL: Record<Transport, string> = {
  default: 'default (UDPv4 + SHM 512 KiB)',
  LARGE_DATA: 'LARGE_DATA',
  SHM_16MB: 'XML profile: SHM 16 MiB + UDPv4',
};
const TRANSPORT_ENV: Record<Transport, string> = {
  default: '',
  LARGE_DATA: ' (both with FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA)',
  SHM_16MB: ' (both with FASTRTPS_DEFAULT_PROFILES_FILE=packages/edge-agent/ros2/fastdds-large-frames.xml)',
};

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MARKER = 'OPENPI_BENCH_ROS2 ';

const fmt = (ms: number | null | undefined): string =>
  ms === null || ms === undefined || !Number.isFinite(ms)
    ? '—'
    : ms >= 100
      ? ms.toFixed(1)
      : ms >= 1
        ? ms.toFixed(2)
        : ms.toFixed(3);

/** The sample at rank min(n − 1, floor(q · n)) of the sorted samples (as bench/lib.ts summarize()). */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const sortedOf = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

function table(title: string, header: string[], rows: string[][], notes: string[] = []): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const text = [
    `\n### ${title}\n`,
    line(header),
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map(line),
    ...(notes.length > 0 ? ['', ...notes] : []),
  ].join('\n');
  console.log(text);
  return text;
}

function rttTable(runs: RttRun[], n: number): string {
  const base = runs.find((r) => r.client === 'rclpy' && r.hz === 50);
  const baseP50 = base === undefined ? Number.NaN : quantile(sortedOf(base.rtt_ms), 0.5);
  const rows = runs.map((r) => {
    const s = sortedOf(r.rtt_ms);
    const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
    const p50 = quantile(s, 0.5);
    return [
      r.client === 'rclnodejs'
        ? 'rclnodejs (adapter) → rclpy echo → rclnodejs'
        : 'rclpy → rclpy echo → rclpy',
      r.hz === 0 ? 'back to back' : `${r.hz} Hz`,
      String(s.length),
      String(r.lost),
      fmt(p50),
      fmt(quantile(s, 0.9)),
      fmt(quantile(s, 0.99)),
      fmt(s.at(-1)),
      fmt(mean),
      `${(p50 / baseP50).toFixed(2)}x`,
    ];
  });
  return table(
    `JointState round trip over DDS (14 joints, reliable, depth 10), ${n} per row (ms)`,
    ['client ↔ echo', 'pacing', 'n', 'lost', 'p50', 'p90', 'p99', 'max', 'mean', 'p50 vs rclpy 50 Hz'],
    rows,
    [
      'Timed in the client from publish() to the echo callback (performance.now / time.perf_counter); the echo is',
      'one rclpy process (test/python/ros2_bench_peer.py --mode echo) for both clients. Lost = no echo within 1 s.',
    ],
  );
}

function imageTable(runs: ImageRun[], seconds: number): string {
  const rows = runs.map((r) => {
    const s = r.scenario;
    const cams = r.probe.perCamera ?? [];
    const sent = r.publisher.sent_per_camera ?? 0;
    // The publishing schedule's length: `sent` periods (first tick's start to the last tick's start, + 1 period).
    const span = (r.publisher.span_s ?? Number.NaN) + 1 / s.hz;
    const received = cams.reduce((a, c) => a + c.received, 0);
    const bytes = cams.reduce((a, c) => a + c.bytes, 0);
    const badSize = cams.reduce((a, c) => a + c.badSize + c.outOfOrder, 0);
    const lat = sortedOf(cams.flatMap((c) => c.latency));
    const dropped = sent * s.cameras - received;
    const idle = r.probe.idle;
    const stream = r.probe.streaming;
    const tickP99 = (xs: number[] | undefined): number =>
      xs === undefined ? Number.NaN : quantile(sortedOf(xs), 0.99);
    const cpu = stream?.cpuPct ?? r.probe.cpuPct;
    return [
      TRANSPORT_LABEL[r.transport],
      `${s.cameras} x ${s.width}x${s.height} @ ${s.hz} Hz`,
      r.subscriber,
      (sent / span).toFixed(1),
      cams.length === 0 ? '—' : (received / cams.length / span).toFixed(1),
      `${dropped} / ${sent * s.cameras} (${((100 * dropped) / Math.max(1, sent * s.cameras)).toFixed(1)} %)${badSize > 0 ? `, ${badSize} bad` : ''}`,
      (bytes / span / 1e6).toFixed(1),
      `${fmt(quantile(lat, 0.5))} / ${fmt(quantile(lat, 0.99))} / ${fmt(lat.at(-1))}`,
      idle === undefined ? '—' : `${fmt(idle.elP99)} → ${fmt(stream?.elP99)} (max ${fmt(stream?.elMax)})`,
      idle === undefined ? '—' : `${fmt(tickP99(idle.tickLate))} → ${fmt(tickP99(stream?.tickLate))}`,
      cpu === null || cpu === undefined ? '—' : cpu.toFixed(0),
      `${fmt(r.publisher.publish_ms_p50)} / ${fmt(r.publisher.publish_ms_p99)}`,
    ];
  });
  return table(
    `sensor_msgs/Image rgb8, rclpy publisher → subscriber, sensor-data QoS (best effort, depth 5), ${seconds} s per row`,
    [
      'Fast DDS transports',
      'stream',
      'subscriber',
      'sent fps / camera',
      'received fps / camera',
      'dropped / sent',
      'MB/s received',
      'latency p50 / p99 / max (ms)',
      'event-loop delay p99 idle → streaming (ms)',
      '50 Hz timer lateness p99 idle → streaming (ms)',
      'subscriber CPU (% of a core)',
      'publish() p50 / p99 (ms)',
    ],
    rows,
    [
      'rclnodejs = bench/ros2-probe.ts through packages/edge-agent/src/ros2/rclnodejs-adapter.ts (what the agent uses,',
      '`sensor` QoS as src/io/cameras/ros-image-camera.ts); rclpy = ros2_bench_peer.py --mode image-sub. Latency =',
      'receive time − header.stamp taken just before publish(), both the system clock. Event-loop delay =',
      'perf_hooks.monitorEventLoopDelay (1 ms resolution, so ~1.1 ms is its floor); timer lateness = a 50 Hz',
      'setTimeout ticker on absolute deadlines in the same process. Idle = 1 s subscribed, before the publisher starts;',
      'streaming = the publishing schedule from the first frame. Publisher and subscriber get the same transport',
      'setting. Dropped = sent − received (best effort: a frame the transport cannot deliver is gone).',
    ],
  );
}

function episodeTable(eps: EpisodeResult[], steps: number): string {
  const rows = eps.map((e) => {
    const s = e.summary;
    if (s === null) return [e.name, `no summary (exit ${e.exitCode})`, '', '', '', '', '', ''];
    const faults = Object.entries(s.gate.faults)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    const gap = e.peerReport?.max_state_gap_ms;
    return [
      e.name,
      `${fmt(s.period.p50)} / ${fmt(s.period.p99)} / ${fmt(s.period.max)}`,
      `${fmt(s.jitter.p50)} / ${fmt(s.jitter.p99)} / ${fmt(s.jitter.max)}`,
      String(s.run.overruns),
      `${s.inferences} (p50 ${fmt(s.inferenceLatency.p50)} ms)`,
      `${s.gate.moves} / ${s.gate.holds}`,
      faults === '' ? 'none' : faults,
      `${e.wallS.toFixed(1)} s, exit ${e.exitCode}${typeof gap === 'number' ? `; peer max joint_states gap ${gap} ms` : ''}`,
    ];
  });
  const commands = eps.map(
    (e) =>
      `- ${e.name}: \`${e.command}\`${e.peer === null ? '' : ` against \`python ${e.peer}\``}` +
      TRANSPORT_ENV[e.transport],
  );
  const text = table(
    `ALOHA episode at 50 Hz, ${steps} steps, demo π0 bundle (CPU, 1 thread), async broker, reset home before/after`,
    [
      'run',
      'period p50 / p99 / max (ms)',
      'wake-up jitter p50 / p99 / max (ms)',
      'overruns',
      'inferences',
      'moves / holds',
      'faults',
      'process',
    ],
    rows,
    [
      'Commands (run by bench/ros2-episode.ts = packages/edge-agent/src/cli/main.ts `start`, inside the namespace;',
      'xs_sdk_peer.py with no flags = 4 x 640x480 rgb8 at 30 Hz on the camera topics, joint_states at 100 Hz):',
      ...commands,
      '',
      "The CLI's own summaries:",
      '',
      '```',
      ...eps.flatMap((e) => [`# ${e.name}`, ...e.summaryText]),
      '```',
    ],
  );
  return text;
}

/** Why this machine cannot run the DDS part, or undefined when it can. */
function environmentProblem(): string | undefined {
  try {
    execFileSync('bash', ['scripts/ros2-env.sh'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
    execFileSync('bash', ['scripts/ros2-msgs.sh'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  } catch (e) {
    return `the ROS 2 environment could not be made (scripts/ros2-env.sh / ros2-msgs.sh): ${(e as Error).message}`;
  }
  if (process.env.OPENPI_EDGE_ROS2_NETNS === '1') return undefined;
  try {
    execFileSync('bash', ['scripts/ros2-netns.sh', 'true'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  } catch {
    return 'no private network namespace (scripts/ros2-netns.sh: run as root or enable unprivileged user namespaces)';
  }
  return undefined;
}

async function runInner(): Promise<InnerResults> {
  const inner =
    'set +u; source .venv-ros2/ros2-env.sh; source .venv-ros2/opt/openpi_msgs/env.sh; set -u; ' +
    'exec node --conditions=source --import tsx bench/ros2-inner.ts';
  const args =
    process.env.OPENPI_EDGE_ROS2_NETNS === '1'
      ? ['-c', inner]
      : ['scripts/ros2-netns.sh', 'bash', '-c', inner];
  const child = spawn('bash', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) {
    throw new Error(
      `bench/ros2-inner.ts exited ${code} without results; stdout tail:\n${stdout.slice(-4000)}`,
    );
  }
  return JSON.parse(line.slice(MARKER.length)) as InnerResults;
}

export async function run(): Promise<string[]> {
  const t0 = performance.now();
  const problem = environmentProblem();
  if (problem !== undefined) {
    const text = `\n### ROS 2 over real DDS\n\nnot measured: ${problem}`;
    console.log(text);
    return [text];
  }
  const load0 = loadavg()[0] ?? Number.NaN;
  const r = await runInner();
  const seconds = (performance.now() - t0) / 1000;
  const config =
    `\nConfiguration: ${availableParallelism()} cores, load average ${load0.toFixed(2)} at start / ` +
    `${(loadavg()[0] ?? Number.NaN).toFixed(2)} at end; RMW ${r.config.rmw}, ROS_DOMAIN_ID ${r.config.domainId}, ` +
    `private network namespace (loopback only); ${seconds.toFixed(0)} s for this module ` +
    `(${r.seconds.toFixed(0)} s measuring).`;
  console.log(config);
  return [
    config,
    rttTable(r.rtt, r.config.n),
    imageTable(r.images, r.config.imageSeconds),
    episodeTable(r.episodes, r.config.steps),
  ];
}
