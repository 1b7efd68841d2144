/**
 * The raw results bench/ros2-inner.ts prints (one `OPENPI_BENCH_ROS2 <json>` line) and bench/ros2.bench.ts turns
 * into tables. Times in ms unless a name says otherwise.
 */
import type { AgentRunSummary } from '../packages/edge-agent/src/agent/edge-agent.js';

/**
 * Fast DDS transports of both sides (bench/ros2-inner.ts): `default` = the builtin ones (UDPv4 + shared memory,
 * 512 KiB segment), `LARGE_DATA` = FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA, `SHM_16MB` = an XML profile with a 16 MiB
 * shared-memory segment + UDPv4.
 */
export type Transport = 'default' | 'LARGE_DATA' | 'SHM_16MB';

export interface RttRun {
  client: 'rclnodejs' | 'rclpy';
  /** 0 = back to back. */
  hz: number;
  n: number;
  /** Round trips without an echo within 1 s. */
  lost: number;
  rtt_ms: number[];
}

export interface ImageScenario {
  name: string;
  cameras: number;
  width: number;
  height: number;
  /** Frames per second per camera. */
  hz: number;
}

/** ros2_bench_peer.py --mode images' JSON line (test/python/ros2_bench_peer.py). */
export interface ImagePublisherReport {
  matched?: boolean;
  sent_per_camera?: number;
  /** First tick's start to the last tick's start (s). */
  span_s?: number;
  late_ticks?: number;
  publish_ms_p50?: number | null;
  publish_ms_p99?: number | null;
  error?: string;
}

/** One event-loop window of bench/ros2-probe.ts images. */
export interface LoopWindow {
  /** Event-loop delay (ms) of monitorEventLoopDelay at 1 ms resolution. */
  elP50: number;
  elP99: number;
  elMax: number;
  /** 50 Hz ticker lateness samples (ms). */
  tickLate: number[];
  /** CPU time per wall time, % of one core. */
  cpuPct: number;
  seconds: number;
}

/** bench/ros2-probe.ts images' JSON line (rclnodejs), or ros2_bench_peer.py --mode image-sub's (rclpy: no loop
 *  windows, cpuPct over the streaming window instead). */
export interface ImageProbeReport {
  cpuPct?: number | null;
  idle?: LoopWindow;
  streaming?: LoopWindow | null;
  receiveSpanS?: number;
  perCamera?: {
    received: number;
    bytes: number;
    badSize: number;
    lastSeq: number;
    outOfOrder: number;
    latency: number[];
  }[];
  error?: string;
}

export interface ImageRun {
  transport: Transport;
  scenario: ImageScenario;
  subscriber: 'rclnodejs' | 'rclpy';
  publisher: ImagePublisherReport;
  probe: ImageProbeReport;
}

export interface EpisodeResult {
  name: string;
  /** The CLI command line (what `pnpm --filter edge-agent start` takes). */
  command: string;
  /** The xs_sdk stand-in's command line; null for the emulated transport. */
  peer: string | null;
  transport: Transport;
  exitCode: number | null;
  /** Process start to exit (s): start-up, resets and the episode. */
  wallS: number;
  summary: AgentRunSummary | null;
  /** The CLI's own summary lines. */
  summaryText: string[];
  stderrTail: string[];
  /** xs_sdk_peer.py's JSON line (commands, state gaps). */
  peerReport: Record<string, unknown> | null;
}

export interface InnerResults {
  config: { n: number; imageSeconds: number; steps: number; domainId: string; rmw: string };
  rtt: RttRun[];
  images: ImageRun[];
  episodes: EpisodeResult[];
  /** Wall time of the whole inner run (s). */
  seconds: number;
}
