/**
 * The ALOHA agent loop on the emulated robot at 50 Hz (real clock), whole stack: EdgeAgent (Runtime, guarded agent,
 * broker, images on demand, the policy in a worker thread), SafetyGate, the ALOHA plugin's robot over the Dynamixel
 * driver and the bus emulator, generated 640x480 cameras.
 *
 * 1. Loop period and wake-up jitter (ms, p50/p99) per configuration: an instant constant policy (the loop's own
 *    cost), the demo π0 bundle with the async and the sync broker, the async broker with images built every tick
 *    (what "images on demand" avoids), and the real serial path (socat ptys; the serial transport takes no
 *    generated cameras, so its three required cameras are ffmpeg's 640x480 test source through the MJPEG pipe).
 * 2. Control-loop stall per chunk against a policy of ~100 ms latency (setTimeout, off the loop's thread): sync
 *    broker = how long the inferring tick blocks; async broker = how long the last action was held per chunk.
 * 3. Observation cost per call: state only (what each tick reads) vs the four camera images (on demand: once per
 *    chunk; the agent picks the frames on the loop and converts them in a worker, the conversion is timed here on
 *    the main thread) vs AlohaEnvironment.getObservation (state + images, i.e. every tick if images were eager).
 * 4. `--record-mcap`: the rows "recording MCAP" run the instant and the demo configuration with the recorder on
 *    (rows next to their baselines); the recorder's loop-thread calls are timed in place (tick per step, frames and
 *    chunk per inference), and its calls are timed alone against a recorder with 14 joints and 4 cameras (generated
 *    frames: a 12-byte recipe each; rgb8 640x480 frames, copied by postMessage, or shared).
 * Steps per run: OPENPI_EDGE_ALOHA_BENCH_STEPS (default 500 = 10 s).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ndarray } from '../packages/client/src/ndarray.js';
import type { ClosablePolicy, Obs } from '../packages/client/src/policy.js';
import { type AgentRunSummary, EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { pickFrames } from '../packages/edge-agent/src/agent/images-on-demand.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import type { AgentConfigFile } from '../packages/edge-agent/src/config/schema.js';
import { framesToImages, toSharedBytes } from '../packages/edge-agent/src/inference/raw-frames.js';
import type { CameraFrame } from '../packages/edge-agent/src/io/cameras/camera-source.js';
import { patternRecipe } from '../packages/edge-agent/src/io/cameras/generated-camera.js';
import type { RecorderResult } from '../packages/edge-agent/src/record/mcap-protocol.js';
import { McapRecorder } from '../packages/edge-agent/src/record/mcap-recorder.js';
import type { AlohaCameraConfig } from '../packages/edge-agent/src/robots/aloha/config.js';
import { ALOHA_DEFAULT_RESET_POSE } from '../packages/edge-agent/src/robots/aloha/constants.js';
import { emulateAloha } from '../packages/edge-agent/src/robots/aloha/emulate.js';
import type { AlohaEnvironment } from '../packages/edge-agent/src/robots/aloha/environment.js';
import type { Robot } from '../packages/edge-agent/src/robots/interface.js';
import type { GateDecision } from '../packages/edge-agent/src/safety/gate.js';
import type { StepTelemetry } from '../packages/runtime/src/telemetry.js';
import { measure, printTable, type Stats, summarize } from './lib.js';

/** The ALOHA plugin's robot carries its AlohaEnvironment (not part of the Robot contract). */
const alohaOf = (robot: Robot): AlohaEnvironment =>
  (robot as Robot & { environment: AlohaEnvironment }).environment;

/** Flags as the config file takes them (the robot's keys under `aloha`). */
type Flags = Partial<AgentConfigFile>;

const STEPS = Number(process.env.OPENPI_EDGE_ALOHA_BENCH_STEPS ?? 500);
const HZ = 50;

/** A constant chunk at the home pose (grippers half open), after `latencyMs` (0 = at once). */
function constantPolicy(latencyMs: number): ClosablePolicy {
  const row = [...ALOHA_DEFAULT_RESET_POSE, 0.5, ...ALOHA_DEFAULT_RESET_POSE, 0.5];
  const data = new Float64Array(50 * 14);
  for (let r = 0; r < 50; r++) data.set(row, r * 14);
  return {
    infer: async (): Promise<Obs> => {
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
      return { actions: ndarray('float64', [50, 14], data) };
    },
    reset: () => {},
    close: async () => {},
  };
}

interface Run {
  summary: AgentRunSummary;
  /** What the MCAP recorder wrote (rows with `recordMcap`). */
  recording: RecorderResult | null;
  /** Per chunk: sync = getAction time of the inferring tick; async = held time (0 when in time). */
  stallPerChunk: number[];
}

async function runAgent(
  flags: Flags,
  extra: { policy?: ClosablePolicy; eagerImages?: boolean } = {},
): Promise<Run> {
  const config = resolveConfig({}, { maxSteps: STEPS, reset: false, statusIntervalMs: 0, ...flags });
  const agent = await EdgeAgent.create(config, {
    ...(extra.policy === undefined ? {} : { policy: extra.policy }),
    warn: () => {},
  });
  try {
    if (extra.eagerImages === true) {
      const env = agent.environment;
      const stateOnly = env.getObservation.bind(env);
      env.getObservation = async () => ({
        ...(await stateOnly()),
        images: await alohaOf(agent.robot).captureImages(),
      });
    }
    const stalls: number[] = [];
    if (config.broker === 'sync') {
      // The tick on which the inner policy was asked blocks for the whole inference; the first chunk of the
      // episode blocks with either broker and is left out.
      let seen = 0;
      agent.runtime.telemetry.steps$.subscribe((s) => {
        const asked = agent.policy.inferences;
        if (asked > seen && seen > 0) stalls.push(s.actMs);
        seen = asked;
      });
    } else {
      agent.runtime.telemetry.policy$.subscribe((e) => {
        if (e.type === 'chunk' && !e.blocking) stalls.push(0);
        if (e.type === 'stall-end') stalls[stalls.length - 1] = e.durationMs;
      });
    }
    const summary = await agent.run();
    await agent.close();
    return { summary, stallPerChunk: stalls, recording: agent.recording };
  } finally {
    await agent.close();
  }
}

/** Loop-thread time of the recorder's calls during a run (ms per call), by method. */
const recorderCalls: Record<'tick' | 'frames' | 'chunk', number[]> = { tick: [], frames: [], chunk: [] };
for (const name of ['tick', 'frames', 'chunk'] as const) {
  const proto = McapRecorder.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = proto[name] as (...a: unknown[]) => unknown;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      recorderCalls[name].push(performance.now() - t0);
    }
  };
}

const us = (xs: number[], q: number): string => {
  const s = [...xs].sort((a, b) => a - b);
  return ((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN) * 1000).toFixed(1);
};

export async function run(): Promise<string[]> {
  const tables: string[] = [];
  const local = { bundle: { providers: ['cpu' as const], seed: 0 } };

  // 1. Loop period and jitter.
  const rows: Stats[] = [];
  const recordDir = mkdtempSync(join(tmpdir(), 'openpi-edge-bench-mcap-'));
  const add = async (name: string, flags: Flags, extra: Parameters<typeof runAgent>[1] = {}) => {
    for (const k of ['tick', 'frames', 'chunk'] as const) recorderCalls[k] = [];
    const r = await runAgent(flags, extra);
    const s = r.summary;
    const rec = r.recording;
    const recNote =
      rec === null
        ? ''
        : `; recorder on the loop: tick p50 ${us(recorderCalls.tick, 0.5)} / p99 ${us(recorderCalls.tick, 0.99)} us, ` +
          `frames p50 ${us(recorderCalls.frames, 0.5)} us, chunk p50 ${us(recorderCalls.chunk, 0.5)} us; ` +
          `file ${(rec.bytes / 1024 / 1024).toFixed(2)} MiB (${(rec.bytes / 1024 / Math.max(rec.durationS, 1e-9)).toFixed(0)} KiB/s), ` +
          `${rec.framesWritten} frames, dropped ${rec.framesDropped} frames / ${rec.ticksDropped} ticks`;
    rows.push({
      name,
      p50: s.period.p50,
      p90: s.period.p90,
      p99: s.period.p99,
      mean: s.period.mean,
      iterations: s.period.n,
      note:
        `jitter p50 ${s.jitter.p50.toFixed(2)} / p99 ${s.jitter.p99.toFixed(2)} ms, max period ${s.period.max.toFixed(1)} ms, ` +
        `overruns ${s.run.overruns}, ${s.inferences} inferences (p50 ${s.inferenceLatency.p50.toFixed(0)} ms), ` +
        `holds ${s.gate.holds}${recNote}`,
    });
  };
  const mcap = (name: string): string => join(recordDir, `${name}.mcap`);
  await add('instant policy, async, emulator', { broker: 'async' }, { policy: constantPolicy(0) });
  await add(
    'instant policy, async, emulator, recording MCAP',
    { broker: 'async', recordMcap: mcap('instant') },
    { policy: constantPolicy(0) },
  );
  await add('demo pi0 (CPU), async, emulator', { ...local, broker: 'async' });
  await add('demo pi0 (CPU), async, emulator, recording MCAP', {
    ...local,
    broker: 'async',
    recordMcap: mcap('demo'),
  });
  await add('demo pi0 (CPU), sync, emulator', { ...local, broker: 'sync' });
  await add('demo pi0 (CPU), async, eager images', { ...local, broker: 'async' }, { eagerImages: true });
  const aloha = await emulateAloha({ arm: { initialArm: ALOHA_DEFAULT_RESET_POSE } });
  try {
    const testsrc: AlohaCameraConfig = { kind: 'testsrc', width: 640, height: 480, fps: 30 };
    await add('demo pi0 (CPU), async, serial ptys', {
      ...local,
      broker: 'async',
      aloha: {
        transport: 'serial',
        serial: { portLeft: aloha.left.devicePath, portRight: aloha.right.devicePath },
        cameras: { cam_high: testsrc, cam_left_wrist: testsrc, cam_right_wrist: testsrc },
      },
    });
  } finally {
    await aloha.close();
  }
  tables.push(
    printTable(
      `ALOHA agent loop at ${HZ} Hz, ${STEPS} steps each: period (ms)`,
      rows,
      'instant policy, async, emulator',
    ),
  );

  // 2. Stall per chunk, ~100 ms policy.
  const stallRows: Stats[] = [];
  for (const broker of ['sync', 'async'] as const) {
    const r = await runAgent({ broker }, { policy: constantPolicy(100) });
    const s = r.summary;
    stallRows.push(
      summarize(
        `${broker} broker: stall per chunk`,
        r.stallPerChunk,
        `${r.stallPerChunk.length} chunks; loop period p50 ${s.period.p50.toFixed(2)} / p99 ${s.period.p99.toFixed(2)} ms, ` +
          `overruns ${s.run.overruns}; policy latency p50 ${s.inferenceLatency.p50.toFixed(0)} ms`,
      ),
    );
  }
  tables.push(
    printTable(
      `Control-loop stall per chunk, ~100 ms policy, ${HZ} Hz, horizon 25 (ms)`,
      stallRows,
      'sync broker: stall per chunk',
    ),
  );

  // 3. Observation cost.
  const agent = await EdgeAgent.create(resolveConfig({}, { reset: false, statusIntervalMs: 0 }), {
    policy: constantPolicy(0),
    warn: () => {},
  });
  try {
    const env = alohaOf(agent.robot);
    await new Promise((r) => setTimeout(r, 100));
    const obsRows = [
      await measure('state only (RobotEnvironment, every tick)', () => agent.environment.getObservation(), {
        warmup: 10,
        iterations: 100,
      }),
      await measure(
        '4 camera images on demand (once per chunk)',
        () => framesToImages(pickFrames(agent.robot)),
        {
          warmup: 5,
          iterations: 40,
        },
      ),
      await measure(
        'frame pick on the loop thread (pickFrames, per chunk)',
        async () => pickFrames(agent.robot),
        {
          warmup: 10,
          iterations: 100,
        },
      ),
      await measure('AlohaEnvironment.getObservation (state + 4 images)', () => env.getObservation(), {
        warmup: 5,
        iterations: 40,
      }),
    ];
    tables.push(
      printTable(
        'Observation cost per call, 4 x 640x480 generated cameras -> 224x224 (ms)',
        obsRows,
        'state only (RobotEnvironment, every tick)',
      ),
    );
  } finally {
    await agent.close();
  }

  // 4. The recorder's loop-thread calls on their own.
  try {
    tables.push(await recorderCost(join(recordDir, 'calls.mcap')));
  } finally {
    rmSync(recordDir, { recursive: true, force: true });
  }
  return tables;
}

async function recorderCost(file: string): Promise<string> {
  const joints = Array.from({ length: 14 }, (_, i) => `j${i}`);
  const cameras = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'];
  const rec = await McapRecorder.open({ file, joints, cameras, maxPendingFrameSets: 1_000_000 });
  try {
    const positions = Float64Array.from(joints, (_, i) => i * 0.1);
    const decision: GateDecision = {
      kind: 'move',
      command: positions.slice(),
      safe: null as never,
      limited: [{ kind: 'rate', index: 3, name: 'j3', requested: 1, applied: 0.5, limit: 0.06 }],
    };
    let i = 0;
    const step = (): StepTelemetry => {
      i += 1;
      const t = performance.now();
      return {
        episode: 0,
        step: i,
        tick: i,
        scheduledAt: t,
        startedAt: t,
        observeMs: 0.2,
        actMs: 0.1,
        applyMs: 0.2,
        stepMs: 0.6,
        periodMs: 20,
        jitterMs: 0.01,
      };
    };
    const frame = (k: number, data: Uint8Array, encoding: CameraFrame['encoding']): CameraFrame => ({
      stampMs: performance.now(),
      seq: k,
      encoding,
      width: 640,
      height: 480,
      step: encoding === 'pattern' ? 0 : 640 * 3,
      data,
    });
    const rgb = new Uint8Array(640 * 480 * 3).fill(90);
    const shared = toSharedBytes(rgb);
    const set = (make: (k: number) => CameraFrame) => ({
      frames: Object.fromEntries(cameras.map((c, k) => [c, make(k)])),
      height: 224,
      width: 224,
    });
    const actions = { shape: [50, 14], data: new Float32Array(50 * 14).fill(0.25) };
    const rows = [
      await measure(
        'tick (per step: timing, decision, 14 joints)',
        () => rec.tick(step(), decision, { positions, stampMs: performance.now() }),
        {
          warmup: 50,
          iterations: 2000,
        },
      ),
      await measure(
        'frames, 4 generated (12-byte recipes)',
        () =>
          rec.frames(
            1,
            performance.now(),
            set((k) => frame(k, patternRecipe(k, 1), 'pattern')),
          ),
        {
          warmup: 5,
          iterations: 50,
        },
      ),
      await measure(
        'frames, 4 rgb8 640x480 (copied)',
        () =>
          rec.frames(
            1,
            performance.now(),
            set((k) => frame(k, rgb, 'rgb8')),
          ),
        {
          warmup: 5,
          iterations: 50,
        },
      ),
      await measure(
        'frames, 4 rgb8 640x480 (SharedArrayBuffer)',
        () =>
          rec.frames(
            1,
            performance.now(),
            set((k) => frame(k, shared, 'rgb8')),
          ),
        {
          warmup: 5,
          iterations: 50,
        },
      ),
      await measure(
        'chunk (50 x 14 float32)',
        () => rec.chunk(1, performance.now(), performance.now(), 1, actions, null),
        {
          warmup: 5,
          iterations: 200,
        },
      ),
    ];
    return printTable(
      'MCAP recorder: loop-thread cost per call (ms)',
      rows,
      'tick (per step: timing, decision, 14 joints)',
    );
  } finally {
    await rec.close();
  }
}
