/**
 * The examples, each for a short bounded run over real components:
 * - aloha_real: `runAlohaReal` against an in-process WebsocketPolicyServer serving the demo π0 OnnxPolicy
 *   (real websocket, real ONNX model, the ALOHA plugin's emulated arms behind a SafetyGate);
 * - libero: `runLibero` over a real websocket against a deterministic policy that checks the LIBERO request layout;
 * - ur5: `runUr5` over the package's UR5 driver on the UR controller emulator (its own thread, reached through the
 *   dashboard, the script port and RTDE like a real arm; a Robotiq emulator on a pty): a policy that pushes past the
 *   UR5 limits, a protective stop mid-run resumed through the app's `onRobotFault` path, a dry run, the demo ALOHA
 *   bundle refused at start-up. Real clock; counts and states only, no timing.
 */
import { PassThrough } from 'node:stream';
import {
  type BasePolicy,
  isNDArray,
  type NDArray,
  ndarray,
  type Obs,
  OpenpiEdgeError,
  type Value,
} from '@openpi-edge/client';
import { WebsocketPolicyServer } from '@openpi-edge/client/node';
import {
  DEMO_BUNDLE_DIR,
  type GateDecision,
  OnnxPolicy,
  perTickLimits,
  type RobotFault,
  safetyConfigFor,
  UR5_SAFETY_DEFAULTS,
} from '@openpi-edge/edge-agent';
import { afterEach, describe, expect, it } from 'vitest';
import { runAlohaReal } from '../examples/aloha_real/aloha-real.js';
import { parseAlohaRealArgs } from '../examples/aloha_real/main.js';
import { LIBERO_DUMMY_ACTION, quat2axisangle, runLibero } from '../examples/libero/libero.js';
import { parseLiberoArgs } from '../examples/libero/main.js';
import { parseUr5Args, TerminalOperator } from '../examples/ur5/main.js';
import { runUr5, type Ur5FaultEvent, type Ur5Options } from '../examples/ur5/ur5.js';
// Not exported by the package's index (yet): the plugin's robot type, for its emulator handle.
import type { Ur5Robot } from '../packages/edge-agent/src/robots/ur5/plugin.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(policy: BasePolicy, metadata: Obs = {}): Promise<number> {
  const server = new WebsocketPolicyServer(policy, { host: '127.0.0.1', port: 0, metadata });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return port;
}

function arr(obs: Obs, key: string): NDArray {
  const v: Value | undefined = obs[key];
  if (!isNDArray(v)) throw new Error(`request key ${key} is not an array`);
  return v;
}

describe('examples/aloha_real', () => {
  it('runs 60 steps against a served demo π0 policy: one request per 25 steps, openpi ALOHA layout, reset pose from metadata', async () => {
    const onnx = await OnnxPolicy.load(DEMO_BUNDLE_DIR, {
      executionProviders: [{ name: 'cpu', threads: 1 }],
      seed: 0,
      onProviderWarning: () => {},
    });
    cleanups.push(() => onnx.close());
    const seen: Obs[] = [];
    const recording: BasePolicy = {
      infer: (obs) => {
        seen.push(obs);
        return onnx.infer(obs);
      },
      reset: () => {},
    };
    const resetPose = [0.1, -0.9, 1.1, 0, -0.3, 0.05];
    const port = await serve(recording, { ...onnx.metadata, reset_pose: [...resetPose, ...resetPose] });
    const options = parseAlohaRealArgs([
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--max-episode-steps',
      '60',
    ]);
    const decisions: { d: GateDecision; phase: 'step' | 'reset' }[] = [];
    const r = await runAlohaReal({
      ...options,
      resetTiming: { armMs: 100, gripperCloseMs: 60, gripperOpenMs: 60 },
      onDecision: (d, phase) => decisions.push({ d, phase }),
    });
    expect(r.summary.totalSteps).toBe(60);
    expect(r.summary.episodes).toHaveLength(1);
    expect([...r.resetPose]).toEqual(resetPose);
    // Every motion passed the gate: the two resets (before and after the episode) and one decision per step.
    const steps = decisions.filter((x) => x.phase === 'step');
    expect(steps).toHaveLength(60);
    expect(steps.filter((x) => x.d.kind === 'move').length).toBeGreaterThan(0);
    const resets = decisions.filter((x) => x.phase === 'reset');
    expect(resets.length).toBeGreaterThan(0);
    expect(resets.every((x) => x.d.kind === 'move')).toBe(true);
    expect(r.gate.moves + r.gate.holds).toBe(decisions.length);
    // The first reset ended at the server's reset pose (both arms).
    const lastReset = decisions.findIndex((x) => x.phase === 'step') - 1;
    const home = decisions[lastReset]?.d.command;
    for (const k of [0, 7]) {
      resetPose.forEach((q, j) => {
        expect(home?.[k + j]).toBeCloseTo(q, 9);
      });
    }
    // Sync broker, horizon 25: requests at steps 0, 25, 50.
    expect(seen).toHaveLength(3);
    for (const obs of seen) {
      const state = arr(obs, 'state');
      expect([state.dtype, state.shape]).toEqual(['float32', [14]]);
      const images = obs.images as Record<string, Value>;
      expect(Object.keys(images).sort()).toEqual([
        'cam_high',
        'cam_left_wrist',
        'cam_low',
        'cam_right_wrist',
      ]);
      for (const img of Object.values(images)) {
        expect(isNDArray(img) && [img.dtype, img.shape]).toEqual(['uint8', [3, 224, 224]]);
      }
    }
  }, 60_000);

  it('rejects bad flags by name', () => {
    expect(() => parseAlohaRealArgs(['--action-horizon', '0'])).toThrow(/--action-horizon/);
    expect(() => parseAlohaRealArgs(['--transport', 'can'])).toThrow(/--transport/);
    expect(() => parseAlohaRealArgs(['--port-left', '/dev/a'])).toThrow(/--port-right/);
    expect(() => parseAlohaRealArgs(['--camera', 'cam_top=/dev/video0'])).toThrow(/--camera/);
    expect(parseAlohaRealArgs(['--camera', 'cam_high=/dev/video0', '--camera', 'cam_low=none'])).toEqual({
      cameras: { cam_high: { kind: 'v4l2', device: '/dev/video0' }, cam_low: { kind: 'none' } },
    });
    expect(parseAlohaRealArgs([])).toEqual({});
  });
});

/** Chunk k (0-based request index) row r: [k, r, 0.01·k, 0, 0, 0, +1]. */
function liberoChunk(k: number, rows: number): NDArray<'float32'> {
  const data = new Float32Array(rows * 7);
  for (let r = 0; r < rows; r++) data.set([k, r, 0.01 * k, 0, 0, 0, 1], r * 7);
  return ndarray('float32', [rows, 7], data);
}

describe('examples/libero', () => {
  it('sends LIBERO-layout requests, waits 10 dummy steps, executes actions[:5] of each chunk', async () => {
    const requests: Obs[] = [];
    const checker: BasePolicy = {
      infer: async (obs) => {
        expect(Object.keys(obs).sort()).toEqual([
          'observation/image',
          'observation/state',
          'observation/wrist_image',
          'prompt',
        ]);
        for (const k of ['observation/image', 'observation/wrist_image']) {
          const img = arr(obs, k);
          if (img.dtype !== 'uint8' || img.shape.join() !== '224,224,3') {
            throw new OpenpiEdgeError('BAD_SHAPE', `${k}: ${img.dtype} [${img.shape.join(', ')}]`, {
              key: k,
            });
          }
        }
        const state = arr(obs, 'observation/state');
        expect([state.dtype, state.shape]).toEqual(['float64', [8]]);
        expect(typeof obs.prompt).toBe('string');
        requests.push(obs);
        return { actions: liberoChunk(requests.length - 1, 10) };
      },
      reset: () => {},
    };
    const port = await serve(checker);
    const options = parseLiberoArgs(['--host', '127.0.0.1', '--port', String(port), '--max-steps', '22']);
    const r = await runLibero({ ...options, prompt: 'put the bowl on the plate' });
    // 10 wait steps + 22 steps; the stand-in task is not reached by these actions.
    expect(r.summary.totalSteps).toBe(32);
    expect(r.successes).toBe(0);
    expect(r.actions).toHaveLength(32);
    for (let t = 0; t < 10; t++) expect(r.actions[t]).toEqual([...LIBERO_DUMMY_ACTION]);
    // Steps 10.. : chunk k row r at step 10 + 5k + r, only rows 0-4 used.
    for (let t = 10; t < 32; t++) {
      const k = Math.floor((t - 10) / 5);
      const row = (t - 10) % 5;
      expect(r.actions[t]?.slice(0, 2)).toEqual([k, row]);
      expect(r.actions[t]?.[2]).toBeCloseTo(0.01 * k, 6);
    }
    expect(requests).toHaveLength(5);
    expect(r.requests).toBe(5);
    expect(requests[0]?.prompt).toBe('put the bowl on the plate');
    // openpi rotates the 256×256 renders by 180°: the synthetic render's red rises with its stored row index, so
    // after the rotation the top row is redder than the bottom one.
    const img = arr(requests[0] as Obs, 'observation/image').data as Uint8Array;
    const red = (row: number) => img[(row * 224 + 10) * 3] as number;
    expect(red(0)).toBeGreaterThan(200);
    expect(red(223)).toBeLessThan(50);
    // The state reflects the executed rows of chunk 0: x action 0 (no motion); y action r, clipped to [-1, 1] and
    // scaled by 0.01 m: 0 + 1 + 1 + 1 + 1 = 0.04 m; gripper +1 = closed.
    const s0 = arr(requests[0] as Obs, 'observation/state').data as Float64Array;
    const s1 = arr(requests[1] as Obs, 'observation/state').data as Float64Array;
    expect(s1[0]).toBeCloseTo(s0[0] as number, 9);
    expect(s1[1]).toBeCloseTo((s0[1] as number) + 0.04, 9);
    expect(Array.from(s1.subarray(6))).toEqual([0, -0]);
  }, 30_000);

  it('fails with BAD_SHAPE when the server returns fewer rows than replan_steps', async () => {
    const port = await serve({ infer: async () => ({ actions: liberoChunk(0, 3) }), reset: () => {} });
    await expect(runLibero({ host: '127.0.0.1', port, maxSteps: 5, numStepsWait: 0 })).rejects.toMatchObject({
      code: 'STEP_FAILED',
      cause: { code: 'BAD_SHAPE', context: { key: 'actions', shape: [3, 7] } },
    });
  });

  it('quat2axisangle matches robosuite on known rotations', () => {
    expect(quat2axisangle([0, 0, 0, 1])).toEqual([0, 0, 0]);
    const s = Math.sin(Math.PI / 4);
    const [x, y, z] = quat2axisangle([0, 0, s, Math.cos(Math.PI / 4)]);
    expect([x, y]).toEqual([0, 0]);
    expect(z).toBeCloseTo(Math.PI / 2, 12);
  });
});

const until = async (what: string, p: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> => {
  const t0 = Date.now();
  while (!(await p())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** The robot of a running `runUr5` and its emulated controller, from `onReady`. */
function readyProbe(): {
  onReady: NonNullable<Ur5Options['onReady']>;
  ready: Promise<{ robot: Ur5Robot; controller: NonNullable<Ur5Robot['emulated']>['controller'] }>;
} {
  let resolve!: (x: { robot: Ur5Robot; controller: NonNullable<Ur5Robot['emulated']>['controller'] }) => void;
  const ready = new Promise<{
    robot: Ur5Robot;
    controller: NonNullable<Ur5Robot['emulated']>['controller'];
  }>((r) => {
    resolve = r;
  });
  return {
    ready,
    onReady: (_report, agent) => {
      const robot = agent.robot as Ur5Robot;
      const controller = robot.emulated?.controller;
      if (controller === undefined) throw new Error('no emulator');
      resolve({ robot, controller });
    },
  };
}

/** Each of the 6 arm joints inside the UR5 limits. */
function expectInsideArmLimits(q: readonly number[]): void {
  q.forEach((x, j) => {
    const lim = UR5_SAFETY_DEFAULTS.joints[j];
    if (lim === undefined) throw new Error(`no limit for joint ${j}`);
    expect(x).toBeGreaterThanOrEqual(lim.min);
    expect(x).toBeLessThanOrEqual(lim.max);
  });
}

describe('examples/ur5', () => {
  it('runUr5 on the emulator: an over-eager policy is gated; every target the controller got is inside the limits', async () => {
    const seen: Obs[] = [];
    // Each row asks for 0.3 rad more per joint than the last (2× the 20 Hz per-tick step), gripper past 1;
    // row 7 onward take the elbow past π + 0.5 (rejected).
    const eager: BasePolicy = {
      infer: async (obs) => {
        seen.push(obs);
        const q = arr(obs, 'joints').data as Float32Array;
        const data = new Float64Array(10 * 7);
        for (let r = 0; r < 10; r++) {
          for (let j = 0; j < 6; j++) data[r * 7 + j] = (q[j] as number) + 0.3 * (r + 1);
          data[r * 7 + 6] = 1.2;
        }
        return { actions: ndarray('float64', [10, 7], data) };
      },
      reset: () => {},
    };
    const decisions: { d: GateDecision; phase: 'step' | 'reset' }[] = [];
    const targets: number[][] = [];
    let off = (): void => {};
    const r = await runUr5({
      ...parseUr5Args(['--max-episode-steps', '40']),
      policy: { kind: 'policy', policy: eager },
      homeMs: 300,
      warn: () => {},
      onReady: (_report, agent) => {
        const controller = (agent.robot as Ur5Robot).emulated?.controller;
        if (controller === undefined) throw new Error('no emulator');
        off = controller.onTarget((q) => targets.push([...q]));
      },
      onDecision: (d, phase) => decisions.push({ d, phase }),
    });
    off();
    expect(r.config.robot).toBe('ur5');
    expect(r.config.robotConfig).toMatchObject({ transport: 'emulator', gripper: 'robotiq' });
    expect([r.config.controlHz, r.config.actionHorizon, r.config.maxSteps]).toEqual([20, 10, 40]);
    expect(r.report.bringUp.join('\n')).toMatch(/servo program: running/);
    expect(r.summary.run.totalSteps).toBe(40);
    expect(r.resumes).toBe(0);
    // The start-up check's inference and at least one per chunk: openpi's UR5 observation layout each time.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const obs of seen) {
      expect(Object.keys(obs).sort()).toEqual(['base_rgb', 'gripper', 'joints', 'prompt', 'wrist_rgb']);
      expect([arr(obs, 'joints').dtype, arr(obs, 'joints').shape]).toEqual(['float32', [6]]);
      expect([arr(obs, 'gripper').dtype, arr(obs, 'gripper').shape]).toEqual(['float32', [1]]);
      for (const cam of ['base_rgb', 'wrist_rgb']) {
        expect([arr(obs, cam).dtype, arr(obs, cam).shape]).toEqual(['uint8', [224, 224, 3]]);
      }
      expect(obs.prompt).toBe('pick up the cube');
    }
    // The gate clamped and rate-limited the moves and held on the rejected rows.
    const c = r.summary.gate;
    expect(c.moves).toBeGreaterThan(0);
    expect(c.rateLimited).toBeGreaterThan(0);
    expect(c.holds).toBeGreaterThan(0);
    expect(c.faults.ACTION_OUT_OF_RANGE).toBeGreaterThan(0);
    const steps = decisions.filter((x) => x.phase === 'step');
    expect(steps).toHaveLength(40);
    expect(decisions.some((x) => x.phase === 'reset')).toBe(true);
    // Every command the gate let through (policy ticks and home moves): inside the limits, gripper included; the
    // policy's ticks at most one per-tick step apart.
    const config = safetyConfigFor('ur5', { controlRateHz: 20 });
    const step = perTickLimits(config);
    let prev: number[] | undefined;
    for (const x of decisions) {
      if (x.d.kind !== 'move') continue;
      const cmd = Array.from(x.d.command);
      config.joints.forEach((j, i) => {
        expect(cmd[i]).toBeGreaterThanOrEqual(j.min);
        expect(cmd[i]).toBeLessThanOrEqual(j.max);
      });
      if (x.phase === 'step' && prev !== undefined) {
        const last = prev;
        cmd.forEach((v, i) => {
          expect(Math.abs(v - (last[i] as number))).toBeLessThanOrEqual((step[i] as number) + 1e-9);
        });
      }
      prev = cmd;
    }
    // What reached the controller (the servo stream, gated again per cycle): inside the limits, every one.
    expect(targets.length).toBeGreaterThan(0);
    for (const q of targets) expectInsideArmLimits(q);
  }, 90_000);

  it('a protective stop mid-run holds (ROBOT_FAULT PROTECTIVE_STOP), nothing reaches the controller; the app resumes on the operator’s yes', async () => {
    // 50-row chunks near the measured pose: shoulder_pan +0.005 rad per row, the rest where they are, gripper 0.3.
    const scripted: BasePolicy = {
      infer: async (obs) => {
        const q = arr(obs, 'joints').data as Float32Array;
        const data = new Float32Array(50 * 7);
        for (let r = 0; r < 50; r++) {
          for (let j = 0; j < 6; j++) data[r * 7 + j] = (q[j] as number) + (j === 0 ? 0.005 * (r + 1) : 0);
          data[r * 7 + 6] = 0.3;
        }
        return { actions: ndarray('float32', [50, 7], data) };
      },
      reset: () => {},
    };
    const steps: GateDecision[] = [];
    const asked: Ur5FaultEvent[] = [];
    let atStop: { step: number; targets: number } | undefined;
    let held: { decisions: GateDecision[]; targets: number; writesDuringFault: number } | undefined;
    let answeredAt = -1;
    const stop = new AbortController();
    const probe = readyProbe();
    const run = runUr5({
      policy: { kind: 'policy', policy: scripted },
      maxEpisodeSteps: 0,
      homeMs: 300,
      warn: () => {},
      signal: stop.signal,
      onReady: probe.onReady,
      onDecision: (d, phase) => {
        if (phase === 'step') steps.push(d);
      },
      // The operator: looks at the cell while the gate holds (20 more ticks), then answers yes.
      onRobotFault: async (event) => {
        asked.push(event);
        const { robot, controller } = await probe.ready;
        await until('the protective stop reported', () =>
          robot.faults().some((f) => f.code === 'PROTECTIVE_STOP'),
        );
        atStop = { step: steps.length, targets: (await controller.snapshot()).targets };
        await until('holds while stopped', () => steps.length >= (atStop?.step ?? 0) + 20);
        held = {
          decisions: steps.slice(atStop.step),
          targets: (await controller.snapshot()).targets,
          writesDuringFault: robot.writesDuringFault,
        };
        answeredAt = steps.length;
        return 'unlock-and-resume' as const;
      },
    });
    run.catch(() => stop.abort());
    cleanups.push(async () => {
      stop.abort();
      await run.catch(() => undefined);
    });
    const { controller } = await probe.ready;
    await until('moves before the stop', () => steps.filter((d) => d.kind === 'move').length >= 20);
    await controller.injectProtectiveStop('examples test: collision');
    await until('the answer', () => answeredAt >= 0);
    await until(
      'moves after the resume',
      () => steps.slice(answeredAt).filter((d) => d.kind === 'move').length >= 10,
    );
    await until(
      'targets after the resume',
      async () => (await controller.snapshot()).targets > (held?.targets ?? 0),
    );
    stop.abort();
    const r = await run;
    // Asked once, about the protective stop; the answer resumed (dashboard unlock, servo program re-sent).
    expect(asked).toHaveLength(1);
    expect(asked[0]?.faults.map((f) => f.code)).toContain('PROTECTIVE_STOP');
    expect(r.resumes).toBe(1);
    // While it was open: every tick a hold naming the robot's protective stop, nothing new reached the controller,
    // the gate's re-sends were not forwarded.
    if (atStop === undefined || held === undefined) throw new Error('the hook did not run to its answer');
    expect(held.decisions.length).toBeGreaterThanOrEqual(20);
    for (const d of held.decisions) {
      expect(d.kind).toBe('hold');
      if (d.kind === 'hold') {
        expect(d.faults.some((f) => f.code === 'ROBOT_FAULT' && f.name === 'PROTECTIVE_STOP')).toBe(true);
      }
    }
    expect(held.targets).toBe(atStop.targets);
    expect(held.writesDuringFault).toBeGreaterThan(0);
    expect(r.summary.gate.robotFaults.PROTECTIVE_STOP).toBeGreaterThanOrEqual(20);
    expect(r.summary.run.stopped).toBe(true);
  }, 120_000);

  it('--dry-run connects and reads, never moves: every tick holds (DRY_RUN), no target reaches the controller', async () => {
    const targets: number[][] = [];
    let off = (): void => {};
    let infers = 0;
    const r = await runUr5({
      ...parseUr5Args(['--dry-run', '--max-episode-steps', '10']),
      policy: {
        kind: 'policy',
        policy: {
          infer: async (obs) => {
            infers += 1;
            const q = arr(obs, 'joints').data as Float32Array;
            const data = new Float32Array(10 * 7);
            for (let i = 0; i < 10; i++) data.set([...Array.from(q, (x) => x + 0.01), 0.5], i * 7);
            return { actions: ndarray('float32', [10, 7], data) };
          },
          reset: () => {},
        },
      },
      homeMs: 300,
      warn: () => {},
      onReady: (_report, agent) => {
        off = (agent.robot as Ur5Robot).emulated?.controller.onTarget((q) => targets.push([...q])) ?? off;
      },
      onRobotFault: () => {
        throw new Error('a dry run asks nothing');
      },
    });
    off();
    expect(r.config.robotConfig).toMatchObject({ dryRun: true });
    expect(r.report.bringUp.join('\n')).toMatch(/read only/);
    expect(r.report.bringUp.join('\n')).not.toMatch(/servo program: running/);
    expect(r.summary.run.totalSteps).toBe(10);
    expect(infers).toBeGreaterThanOrEqual(1);
    expect(r.summary.gate.moves).toBe(0);
    expect(r.summary.gate.robotFaults.DRY_RUN).toBeGreaterThanOrEqual(10);
    expect(targets).toEqual([]);
  }, 90_000);

  it('the demo ALOHA bundle does not fit the UR5: CONFIG_MISMATCH naming the robot adapter, before anything moves', async () => {
    let ready = false;
    let decisions = 0;
    const options = parseUr5Args(['--bundle', DEMO_BUNDLE_DIR, '--max-episode-steps', '5']);
    await expect(
      runUr5({
        ...options,
        warn: () => {},
        onReady: () => {
          ready = true;
        },
        onDecision: () => {
          decisions += 1;
        },
      }),
    ).rejects.toMatchObject({
      code: 'CONFIG_MISMATCH',
      message: expect.stringMatching(/robot adapter is 'aloha'.*ur5/),
      context: { what: 'robot adapter', expected: ['ur5'], got: 'aloha' },
    });
    // No gate decision was ever made, so nothing moved (every motion is a gate decision).
    expect([ready, decisions]).toEqual([false, 0]);
  }, 60_000);

  it('the CLI operator (TerminalOperator): only a `y` typed at the question resumes; type-ahead is dropped; no / EOF end the run', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const shown: string[] = [];
    output.on('data', (b: Buffer) => shown.push(b.toString()));
    const op = new TerminalOperator(input, output, () => {});
    const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
    const fault = (code: string): RobotFault => ({ code, message: `${code} (test)`, atMs: 0 });
    const run = new AbortController();
    await tick();
    input.write('y\n'); // typed ahead, before any fault: answers nothing
    await tick();
    let settled = false;
    const first = op.ask({ faults: [fault('PROTECTIVE_STOP')], signal: run.signal }).finally(() => {
      settled = true;
    });
    await tick();
    expect(settled).toBe(false);
    expect(shown.join('')).toMatch(
      /PROTECTIVE_STOP: PROTECTIVE_STOP \(test\)[\s\S]*protective stop: unlock and resume\? \[y\/N\]/,
    );
    input.write('y\n');
    await expect(first).resolves.toBe('unlock-and-resume');
    // Not a protective stop: a plain resume (the operator cleared it); anything but y ends the run.
    const second = op.ask({ faults: [fault('LINK_LOST')], signal: run.signal });
    input.write('yes\n');
    await expect(second).resolves.toBe('resume');
    const third = op.ask({ faults: [fault('PROTECTIVE_STOP')], signal: run.signal });
    input.write('\n');
    await expect(third).resolves.toBe('stop');
    // The run ending while the question is open cancels it (the answer is ignored then).
    const fourth = op.ask({ faults: [fault('PROTECTIVE_STOP')], signal: run.signal });
    run.abort();
    await expect(fourth).resolves.toBe('hold');
    // No operator input left: never resume.
    input.end();
    await tick();
    await expect(
      op.ask({ faults: [fault('PROTECTIVE_STOP')], signal: new AbortController().signal }),
    ).resolves.toBe('stop');
    op.close();
  });

  it('parses its flags (emulator and demo bundle by default, --ur-host selects rtde) and rejects bad ones by name', () => {
    expect(parseUr5Args([])).toEqual({});
    expect(parseUr5Args(['--policy', 'ws://gpu-box'])).toEqual({
      policy: { kind: 'remote', url: 'ws://gpu-box:8000' },
    });
    expect(
      parseUr5Args([
        '--bundle',
        'b',
        '--hz',
        '10',
        '--action-horizon',
        '5',
        '--max-episode-steps',
        '0',
        '--prompt',
        'stack',
        '--gripper',
        'none',
        '--camera',
        'base_rgb=generated',
      ]),
    ).toEqual({
      policy: { kind: 'bundle', dir: 'b' },
      gripper: 'none',
      cameras: { base_rgb: { kind: 'generated' } },
      controlHz: 10,
      actionHorizon: 5,
      maxEpisodeSteps: 0,
      prompt: 'stack',
    });
    expect(
      parseUr5Args([
        '--ur-host',
        '192.168.1.10',
        '--gripper-port',
        '/dev/ttyUSB1',
        '--camera',
        'base_rgb=/dev/video0',
        '--camera',
        'wrist_rgb=testsrc',
        '--dry-run',
      ]),
    ).toEqual({
      transport: 'rtde',
      host: '192.168.1.10',
      gripperPort: '/dev/ttyUSB1',
      cameras: { base_rgb: { kind: 'v4l2', device: '/dev/video0' }, wrist_rgb: { kind: 'testsrc' } },
      dryRun: true,
    });
    expect(() => parseUr5Args(['--policy', 'ws://a:1', '--bundle', 'b'])).toThrow(/at most one/);
    expect(() => parseUr5Args(['--policy', 'http://a:1'])).toThrow(/--policy/);
    expect(() => parseUr5Args(['--hz', '0'])).toThrow(/--hz/);
    expect(() => parseUr5Args(['--action-horizon', 'x'])).toThrow(/--action-horizon/);
    expect(() => parseUr5Args(['--gripper', 'hand-e'])).toThrow(/--gripper/);
    expect(() => parseUr5Args(['--gripper-port', '/dev/ttyUSB0'])).toThrow(/--gripper-port.*--ur-host/);
    expect(() => parseUr5Args(['--camera', 'cam_high=testsrc'])).toThrow(/--camera.*base_rgb, wrist_rgb/);
    expect(() => parseUr5Args(['--camera', 'base_rgb=http://x'])).toThrow(/--camera base_rgb=http:\/\/x/);
    expect(() => parseUr5Args(['--ur-host', '10.0.0.2', '--camera', 'base_rgb=/dev/video0'])).toThrow(
      /--ur-host needs both cameras.*wrist_rgb/,
    );
    expect(() => parseUr5Args(['--servo-hz', '125'])).toThrow(/servo-hz/);
  });
});
