/**
 * The UR5 servo stream on the emulated UR5e (real clock, real sockets): the agent's policy loop at 50 Hz with the
 * demo UR5 bundle (CPU, async broker), the servo worker streaming RTDE targets at 500 Hz to the UR controller
 * emulator (its own thread), the Robotiq emulator on a socat pty.
 *
 * 1. Servo stream period jitter, |period − 2 ms| (p50/p90/p99) and missed cycles, side by side in one run:
 *    - the servo worker's PreciseTicker while the agent runs (the product);
 *    - the same worker with the arm holding and no agent (the floor on this machine);
 *    - a 2 ms setTimeout loop on the control loop's thread while the agent runs (what streaming from the loop
 *      thread would give: timers wake to the millisecond and wait behind the loop's own work);
 *    - the machine's floor: a Python clock_nanosleep loop to 2 ms deadlines (no JavaScript at all), time-sharing
 *      and under SCHED_FIFO (the servo thread runs SCHED_FIFO 80 where permitted, nice −10 otherwise).
 *    On a shared 2-core VM the floor itself is far from a real-time kernel's; the UR emulator's own 500 Hz thread
 *    competes for the same cores (a real controller does not).
 *    The 50 Hz policy loop's own jitter is in the note of the first row.
 * 2. RTDE command → emulator motion latency: a gated step target written to the arm (control loop thread) until the
 *    emulator applies it (its onTarget, same clock): one servo cycle to pick it up, RTDE on loopback, one controller
 *    cycle to apply it.
 * Steps of the agent run: OPENPI_EDGE_UR5_BENCH_STEPS (default 500 = 10 s).
 */
import { execFileSync } from 'node:child_process';
import { EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import type { ServoStats } from '../packages/edge-agent/src/robots/ur/servo-messages.js';
import type { UrArm } from '../packages/edge-agent/src/robots/ur/ur-arm.js';
import { type Ur5Robot, ur5Plugin } from '../packages/edge-agent/src/robots/ur5/plugin.js';
import { armSafety } from '../packages/edge-agent/src/robots/ur5/safety-defaults.js';
import { SafetyGate } from '../packages/edge-agent/src/safety/gate.js';
import { printTable, type Stats, summarize } from './lib.js';

const STEPS = Number(process.env.OPENPI_EDGE_UR5_BENCH_STEPS ?? 500);
const PERIOD_MS = 2;

function servoRow(name: string, s: ServoStats, note: string): Stats {
  return {
    name,
    p50: s.jitterP50Ms,
    p90: s.jitterP90Ms,
    p99: s.jitterP99Ms,
    mean: Number.NaN,
    iterations: s.cycles,
    note: `missed cycles ${s.missed}, max ${s.jitterMaxMs.toFixed(2)} ms, longest cycle work ${s.maxWorkMs.toFixed(3)} ms; ${note}`,
  };
}

/** A 2 ms setTimeout loop on this thread, recording |period − 2 ms| until `stop()`. */
function loopThreadTicker(): { stop: () => { devs: number[]; missed: number } } {
  const devs: number[] = [];
  let missed = 0;
  let last = performance.now();
  let next = last + PERIOD_MS;
  let timer: NodeJS.Timeout;
  const tick = (): void => {
    const t = performance.now();
    const dt = t - last;
    devs.push(Math.abs(dt - PERIOD_MS));
    if (dt > 1.5 * PERIOD_MS) missed += Math.round(dt / PERIOD_MS) - 1;
    last = t;
    next += PERIOD_MS;
    if (next < t) next = t + PERIOD_MS;
    timer = setTimeout(tick, Math.max(0, next - performance.now()));
  };
  timer = setTimeout(tick, PERIOD_MS);
  return {
    stop: () => {
      clearTimeout(timer);
      return { devs, missed };
    },
  };
}

/**
 * The machine's own floor: a Python loop sleeping to 2 ms deadlines with clock_nanosleep (no JavaScript, no
 * event loop), |period − 2 ms| over `seconds`.
 */
function osFloor(seconds: number, realtime: boolean): Stats {
  const script = `
import json, time
P = 0.002
devs = []; missed = 0
last = time.perf_counter(); nxt = last + P; end = last + ${seconds}
while True:
    r = nxt - time.perf_counter()
    if r > 0: time.sleep(r)
    t = time.perf_counter()
    if t > end: break
    dt = t - last; devs.append(abs(dt - P) * 1000)
    if dt > 1.5 * P: missed += round(dt / P) - 1
    last = t; nxt += P
    if nxt < t: nxt = t + P
print(json.dumps({"devs": devs, "missed": missed}))
`;
  const [cmd, args] = realtime
    ? ['chrt', ['-f', '80', 'python3', '-c', script]]
    : ['python3', ['-c', script]];
  const name = `OS floor: Python clock_nanosleep loop, idle, ${realtime ? 'SCHED_FIFO 80 (chrt)' : 'time-sharing'}`;
  let text: string;
  try {
    text = execFileSync(cmd as string, args as string[], { encoding: 'utf8' });
  } catch (e) {
    return { ...summarize(name, []), note: `not measured: ${(e as Error).message.split('\n')[0]}` };
  }
  const out = JSON.parse(text) as { devs: number[]; missed: number };
  return { ...summarize(name, out.devs), note: `missed cycles ${out.missed}` };
}

export async function run(): Promise<string[]> {
  const tables: string[] = [];
  const plugin = ur5Plugin.with({ gripperActivationMs: 50 });
  const config = resolveConfig(
    {},
    {
      robot: 'ur5',
      maxSteps: STEPS,
      controlHz: 50,
      broker: 'async',
      reset: false,
      statusIntervalMs: 0,
      bundle: { providers: ['cpu'], seed: 0 },
    },
    [plugin],
  );
  const agent = await EdgeAgent.create(config, { plugins: [plugin], warn: () => {} });
  const robot = agent.robot as Ur5Robot;
  const arm = robot.arm as UrArm;
  const rows: Stats[] = [];
  try {
    // Floor: the worker holding, nothing else running.
    await arm.stats(true);
    await new Promise((r) => setTimeout(r, 5000));
    const idle = await arm.stats(true);
    // The product: the agent at 50 Hz, the worker streaming; and a loop-thread ticker alongside.
    const naive = loopThreadTicker();
    const summary = await agent.run();
    const busy = await arm.stats(true);
    const n = naive.stop();
    rows.push(
      servoRow(
        'servo worker (PreciseTicker), agent at 50 Hz',
        busy,
        `policy loop jitter p50 ${summary.jitter.p50.toFixed(2)} / p99 ${summary.jitter.p99.toFixed(2)} ms, overruns ${summary.run.overruns}, ${summary.gate.moves} moves, ${summary.inferences} inferences`,
      ),
    );
    rows.push(servoRow('servo worker (PreciseTicker), arm holding, no agent', idle, 'floor of the worker'));
    rows.push(osFloor(5, false));
    rows.push(osFloor(5, true));
    const naiveStats = summarize('2 ms setTimeout on the loop thread, agent at 50 Hz', n.devs);
    rows.push({ ...naiveStats, note: `missed cycles ${n.missed}` });
    tables.push(
      printTable(
        `UR5 servo stream at 500 Hz: |period - 2 ms| (ms), ${STEPS} agent steps`,
        rows,
        'servo worker (PreciseTicker), agent at 50 Hz',
      ),
    );

    // 2. Command → emulator motion latency (gated targets, alternating ±0.002 rad on wrist_3).
    const controller = robot.emulated?.controller;
    if (controller === undefined) throw new Error('ur5-servo bench needs the emulator transport');
    const gate = new SafetyGate(
      { ...armSafety(robot.safety), controlRateHz: 1000 / 50 },
      { clock: { now: () => performance.now() } },
    );
    let waiting: { t0: number; want: number; resolve: (ms: number) => void } | null = null;
    const off = controller.onTarget((q, atMs) => {
      if (waiting !== null && Math.abs((q[5] as number) - waiting.want) < 1e-9) {
        const w = waiting;
        waiting = null;
        w.resolve(atMs - w.t0);
      }
    });
    const lat: number[] = [];
    const base = Float64Array.from(arm.read().q);
    for (let i = 0; i < 220; i++) {
      const target = base.slice();
      target[5] = (base[5] as number) + (i % 2 === 0 ? 0.002 : -0.002);
      const r = arm.read();
      const d = gate.motionStep({
        target,
        joints: { positions: Float64Array.from(r.q), stampMs: performance.now() },
      });
      if (d.kind !== 'move') throw new Error('gate held the bench step');
      const want = d.command[5] as number;
      const ms = await new Promise<number>((resolve) => {
        waiting = { t0: performance.now(), want, resolve };
        // A segment shorter than one servo cycle: the cycle that picks it up sends the target itself.
        arm.move(d.command, 1);
      });
      if (i >= 20) lat.push(ms);
      await new Promise((r) => setTimeout(r, 10));
    }
    off();
    gate.close();
    tables.push(
      printTable(
        'UR5: gated command on the loop thread -> target applied by the emulated controller (ms)',
        [
          summarize(
            'servo worker + RTDE (loopback) + emulator cycle',
            lat,
            'servo 500 Hz, controller 500 Hz',
          ),
        ],
        'servo worker + RTDE (loopback) + emulator cycle',
      ),
    );
  } finally {
    await agent.close();
  }
  return tables;
}
