/**
 * The rclnodejs side of `pnpm bench ros2` (bench/ros2.bench.ts), one process per measurement because rclnodejs
 * initialises once per process and Fast DDS reads FASTDDS_BUILTIN_TRANSPORTS when the participant is created. Runs
 * only inside scripts/ros2-netns.sh with ROS 2 sourced (bench/ros2-inner.ts starts it). Everything goes through the
 * repo's adapter (packages/edge-agent/src/ros2/rclnodejs-adapter.ts), as the agent uses it.
 *
 *   node --conditions=source --import tsx bench/ros2-probe.ts rtt <n> <hz>
 *     JointState round trips against test/python/ros2_bench_peer.py --mode echo: publishes on /bench/rtt_in
 *     (header.frame_id = sequence number), times until the echo arrives on /bench/rtt_out. hz 0 = back to back
 *     (the next one is published from the echo's callback). An echo later than 1 s counts as lost.
 *   node ... bench/ros2-probe.ts images <cameras> <frames> <hz>
 *     Subscribes /bench/cam<k>/image (sensor_msgs/Image, `sensor` QoS) from ros2_bench_peer.py --mode images and
 *     records, per frame, latency = receive time − header.stamp (both the system clock, ms). Also the event-loop
 *     delay (perf_hooks.monitorEventLoopDelay) and the lateness of a 50 Hz setTimeout ticker on this thread, once
 *     while idle (1 s subscribed, before it prints `READY`) and once while frames stream (frames / hz s from the
 *     first one), and this process's CPU time. Counts frames until `stop` arrives on stdin.
 *
 * Prints one JSON line on stdout (samples in ms) and exits.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createRclnodejsContext } from '../packages/edge-agent/src/ros2/rclnodejs-adapter.js';
import type { Ros2Node } from '../packages/edge-agent/src/ros2/surface.js';
import type { LoopWindow } from './ros2-results.js';

interface Header {
  stamp: { sec: number; nanosec: number };
  frame_id: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall-clock time in ms with sub-ms resolution (Date.now() is whole ms); the same clock as the peer's ROS time. */
const wallMs = (): number => performance.timeOrigin + performance.now();

function jointState(seq: number): Record<string, unknown> {
  const names = Array.from({ length: 14 }, (_, j) => `joint_${j}`);
  return {
    header: { stamp: { sec: 0, nanosec: 0 }, frame_id: String(seq) },
    name: names,
    position: names.map((_, j) => seq * 0.001 + j),
    velocity: new Array(14).fill(0),
    effort: new Array(14).fill(0),
  };
}

async function rtt(node: Ros2Node, n: number, hz: number): Promise<Record<string, unknown>> {
  const pub = node.createPublisher('sensor_msgs/msg/JointState', '/bench/rtt_in');
  const sent = new Map<number, number>();
  const rtts: number[] = [];
  let onEcho: (seq: number) => void = () => {};
  node.createSubscription('sensor_msgs/msg/JointState', '/bench/rtt_out', {}, (m) => {
    const t = performance.now();
    const seq = Number((m as { header: Header }).header.frame_id);
    const ts = sent.get(seq);
    if (ts === undefined) return;
    sent.delete(seq);
    if (seq >= 0) rtts.push(t - ts);
    onEcho(seq);
  });
  // Warm-up: ping (negative sequence numbers) until an echo comes back, i.e. the path is matched both ways.
  let warmed = false;
  onEcho = () => {
    warmed = true;
  };
  for (let seq = -1; !warmed && seq > -400; seq--) {
    sent.set(seq, performance.now());
    pub.publish(jointState(seq));
    await sleep(50);
  }
  if (!warmed) return { error: 'echo path never matched' };
  sent.clear();
  let lost = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (hz > 0) {
      // Absolute schedule: the i-th round trip starts at t0 + i * period (setTimeout wakes late by up to ~1 ms).
      const wait = t0 + (i * 1000) / hz - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const back = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      onEcho = (seq) => {
        if (seq !== i) return;
        clearTimeout(timer);
        resolve(true);
      };
    });
    sent.set(i, performance.now());
    pub.publish(jointState(i));
    if (!(await back)) {
      lost++;
      sent.delete(i);
    }
  }
  return { n, hz, lost, rtt_ms: rtts.map((v) => +v.toFixed(4)) };
}

/** A 50 Hz setTimeout ticker on absolute deadlines; lateness (ms) of each wake-up after its deadline. */
function ticker50(): { take: () => number[] } {
  let late: number[] = [];
  let next = performance.now() + 20;
  const tick = (): void => {
    const t = performance.now();
    late.push(t - next);
    next += 20;
    if (next < t) next = t + 20;
    setTimeout(tick, Math.max(0, next - performance.now()));
  };
  setTimeout(tick, 20);
  return {
    take: () => {
      const out = late;
      late = [];
      return out;
    },
  };
}

/** Resolves on a line `stop` on stdin (bench/ros2-inner.ts writes it once the publisher exited) or after `ms`. */
function stopSignal(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    process.stdin.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('stop')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function images(
  node: Ros2Node,
  cameras: number,
  frames: number,
  hz: number,
): Promise<Record<string, unknown>> {
  const stopped = stopSignal(90_000);
  const el = monitorEventLoopDelay({ resolution: 1 });
  const tick = ticker50();
  let cpu0 = process.cpuUsage();
  let w0 = performance.now();
  el.enable();
  const window = (): LoopWindow => {
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - w0) / 1000;
    const out = {
      elP50: el.percentile(50) / 1e6,
      elP99: el.percentile(99) / 1e6,
      elMax: el.max / 1e6,
      tickLate: tick.take().map((v) => +v.toFixed(3)),
      cpuPct: (cpu.user + cpu.system) / 1e4 / seconds,
      seconds,
    };
    el.reset();
    cpu0 = process.cpuUsage();
    w0 = performance.now();
    return out;
  };
  const perCam = Array.from({ length: cameras }, () => ({
    received: 0,
    bytes: 0,
    badSize: 0,
    lastSeq: -1,
    outOfOrder: 0,
    latency: [] as number[],
  }));
  // Idle: 1 s with the subscriptions in place, after 0.5 s of settling and before `READY` is printed (the publisher
  // is started only then). Streaming: from the first frame for the publisher's schedule, frames / hz s, whatever
  // arrives (so drops neither stretch nor shorten the window).
  let streamStarted = false;
  let streaming: LoopWindow | undefined;
  let firstAt = 0;
  let lastAt = 0;
  for (let k = 0; k < cameras; k++) {
    const cam = perCam[k];
    if (cam === undefined) continue;
    node.createSubscription('sensor_msgs/msg/Image', `/bench/cam${k}/image`, { qos: 'sensor' }, (m) => {
      const now = wallMs();
      const img = m as { header: Header; width: number; height: number; data: ArrayLike<number> };
      if (!streamStarted) {
        streamStarted = true;
        window(); // READY until the first frame: the publisher's start-up and matching, not measured
        firstAt = performance.now();
        setTimeout(
          () => {
            streaming = window();
          },
          (frames / hz) * 1000,
        );
      }
      lastAt = performance.now();
      cam.received++;
      cam.bytes += img.data.length;
      if (img.data.length !== img.width * img.height * 3) cam.badSize++;
      const seq = Number(img.header.frame_id);
      if (seq <= cam.lastSeq) cam.outOfOrder++;
      cam.lastSeq = seq;
      cam.latency.push(+(now - (img.header.stamp.sec * 1000 + img.header.stamp.nanosec / 1e6)).toFixed(3));
    });
  }
  await sleep(500);
  window();
  await sleep(1000);
  const idle = window();
  console.log('READY');
  await stopped;
  el.disable();
  return {
    cameras,
    frames,
    hz,
    idle,
    streaming: streaming ?? null,
    receiveSpanS: (lastAt - firstAt) / 1000,
    perCamera: perCam,
  };
}

const [mode, a1, a2, a3] = process.argv.slice(2);
const ctx = await createRclnodejsContext();
const node = ctx.createNode(`openpi_bench_probe_${process.pid}`, '/');
let result: Record<string, unknown>;
if (mode === 'rtt') result = await rtt(node, Number(a1 ?? 1000), Number(a2 ?? 50));
else if (mode === 'images') result = await images(node, Number(a1 ?? 4), Number(a2 ?? 150), Number(a3 ?? 30));
else result = { error: `unknown mode ${mode}` };
console.log(JSON.stringify({ mode, ...result }));
await ctx.shutdown();
process.exit(0);
