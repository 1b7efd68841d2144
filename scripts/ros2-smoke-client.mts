// The real-DDS smoke check's Node side (scripts/ros2-smoke.sh), over the repo's createRclnodejsContext: subscribes /smoke/joint_states (from the rclpy peer), checks
// the JointState contents, then sends N JointStates on /smoke/echo_in (frame_id = seq) and times each one coming
// back on /smoke/echo_out (the peer echoes). Prints one JSON line.
import { createRclnodejsContext } from '../packages/edge-agent/src/ros2/rclnodejs-adapter.js';

const N = Number(process.env.SMOKE_N ?? 500);
const t0 = performance.now();
const ctx = await createRclnodejsContext();
const tInit = performance.now() - t0;
const node = ctx.createNode('openpi_smoke_client', '/');

let received = 0;
let firstJs: Record<string, unknown> | undefined;
const gotFirst = new Promise<void>((resolve) => {
  node.createSubscription('sensor_msgs/msg/JointState', '/smoke/joint_states', {}, (m) => {
    received++;
    firstJs ??= m as Record<string, unknown>;
    resolve();
  });
});

const sent = new Map<number, number>();
let onEcho: () => void = () => {};
const rtts: number[] = [];
let done: () => void = () => {};
const allBack = new Promise<void>((r) => {
  done = r;
});
node.createSubscription('sensor_msgs/msg/JointState', '/smoke/echo_out', {}, (m) => {
  const seq = Number((m as { header: { frame_id: string } }).header.frame_id);
  const ts = sent.get(seq);
  if (ts === undefined) return;
  sent.delete(seq);
  rtts.push(performance.now() - ts);
  onEcho();
  if (rtts.length === N) done();
});
const pub = node.createPublisher('sensor_msgs/msg/JointState', '/smoke/echo_in');

const timeout = (ms: number, what: string) =>
  new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms).unref());
const tDisc0 = performance.now();
await Promise.race([gotFirst, timeout(20000, 'first /smoke/joint_states')]);
const tDiscovery = performance.now() - tDisc0;

// Wait until the echo path is matched: ping until the first one comes back.
const warm = performance.now();
let warmSeq = -1;
while (rtts.length === 0 && performance.now() - warm < 20000) {
  sent.set(warmSeq, performance.now());
  pub.publish({
    header: { stamp: { sec: 0, nanosec: 0 }, frame_id: String(warmSeq) },
    name: ['w'],
    position: [0],
    velocity: [],
    effort: [],
  });
  warmSeq--;
  await new Promise((r) => setTimeout(r, 50));
}
if (rtts.length === 0) throw new Error('echo path never matched');
rtts.length = 0;
sent.clear();

// 500 round trips, one at a time at 200 Hz max (so queues never build: this is latency, not throughput).
for (let i = 0; i < N; i++) {
  sent.set(i, performance.now());
  pub.publish({
    header: { stamp: { sec: 0, nanosec: i }, frame_id: String(i) },
    name: Array.from({ length: 7 }, (_, j) => `joint_${j}`),
    position: Array.from({ length: 7 }, (_, j) => i * 0.001 + j),
    velocity: new Array(7).fill(0),
    effort: new Array(7).fill(0),
  });
  // Wait (no busy loop) for this echo or 1 s, then pace at <= 200 Hz so queues never build.
  if (rtts.length < i + 1) {
    await new Promise<void>((r) => {
      const t = setTimeout(r, 1000);
      onEcho = () => {
        clearTimeout(t);
        r();
      };
    });
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.race([allBack, timeout(5000, 'all echoes')]).catch(() => {});
const s = [...rtts].sort((a, b) => a - b);
const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
const js = firstJs as { name: string[]; position: ArrayLike<number>; header: { frame_id: string } };
console.log(
  JSON.stringify({
    ok: s.length === N && js.name.length === 7,
    initMs: +tInit.toFixed(1),
    discoveryMs: +tDiscovery.toFixed(1),
    jointStatesReceived: received,
    firstJointState: {
      frame_id: js.header.frame_id,
      name0: js.name[0],
      positionLen: js.position.length,
      positionType: js.position.constructor.name,
    },
    rtt: {
      n: s.length,
      lost: N - s.length,
      p50: +q(0.5).toFixed(3),
      p99: +q(0.99).toFixed(3),
      max: +(s.at(-1) ?? NaN).toFixed(3),
      min: +(s[0] ?? NaN).toFixed(3),
    },
    description: ctx.description,
  }),
);
await ctx.shutdown();
process.exit(0);
