/**
 * The examples, each for a short bounded run over real components:
 * - aloha_real: `runAlohaReal` against an in-process WebsocketPolicyServer serving the demo π0 OnnxPolicy
 *   (real websocket, real ONNX model, the ALOHA plugin's emulated arms behind a SafetyGate);
 * - libero: `runLibero` over a real websocket against a deterministic policy that checks the LIBERO request layout;
 * - ur5: the app's own UR5e plugin (examples/ur5/ur5-plugin.ts) run by EdgeAgent on its simulated driver: `runUr5`
 *   with a deterministic local policy that pushes past the UR5 limits, a scripted policy with a protective stop
 *   mid-run, and the demo (ALOHA) bundle refused at start-up.
 */
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
  EdgeAgent,
  type GateDecision,
  OnnxPolicy,
  perTickLimits,
  resolveConfig,
  safetyConfigFor,
} from '@openpi-edge/edge-agent';
import { afterEach, describe, expect, it } from 'vitest';
import { runAlohaReal } from '../examples/aloha_real/aloha-real.js';
import { parseAlohaRealArgs } from '../examples/aloha_real/main.js';
import { LIBERO_DUMMY_ACTION, quat2axisangle, runLibero } from '../examples/libero/libero.js';
import { parseLiberoArgs } from '../examples/libero/main.js';
import { parseUr5Args } from '../examples/ur5/main.js';
import { runUr5 } from '../examples/ur5/ur5.js';
import { type SimulatedUr5Driver, UR5_HOME_POSE } from '../examples/ur5/ur5-driver.js';
import { type Ur5Robot, ur5Plugin } from '../examples/ur5/ur5-plugin.js';

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

describe('examples/ur5', () => {
  it('runUr5: every motion of an over-eager policy (and both home moves) passes the gate; the driver gets exactly the gate commands', async () => {
    const seen: Obs[] = [];
    // Each row asks for 0.3 rad more per joint than the last (2× the 20 Hz per-tick limit), gripper past 1;
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
    const { policy: _p, ...flags } = parseUr5Args([
      '--policy',
      'ws://localhost:8000',
      '--max-episode-steps',
      '40',
    ]);
    const r = await runUr5({
      ...flags,
      policy: { kind: 'policy', policy: eager },
      homeMs: 300,
      onDecision: (d, phase) => decisions.push({ d, phase }),
    });
    expect(r.config.robot).toBe('ur5');
    expect([r.config.controlHz, r.config.actionHorizon, r.config.maxSteps]).toEqual([20, 10, 40]);
    expect(r.summary.run.totalSteps).toBe(40);
    // The start-up check's inference, then one request per 10 steps (sync broker, horizon 10).
    expect(seen).toHaveLength(5);
    for (const obs of seen) {
      expect(Object.keys(obs).sort()).toEqual(['base_rgb', 'gripper', 'joints', 'prompt', 'wrist_rgb']);
      expect([arr(obs, 'joints').dtype, arr(obs, 'joints').shape]).toEqual(['float32', [6]]);
      expect([arr(obs, 'gripper').dtype, arr(obs, 'gripper').shape]).toEqual(['float32', [1]]);
      for (const cam of ['base_rgb', 'wrist_rgb']) {
        expect([arr(obs, cam).dtype, arr(obs, cam).shape]).toEqual(['uint8', [224, 224, 3]]);
      }
      expect(obs.prompt).toBe('pick up the cube');
    }
    const config = safetyConfigFor('ur5', { controlRateHz: 20 });
    const step = perTickLimits(config);
    const steps = decisions.filter((x) => x.phase === 'step');
    expect(steps).toHaveLength(40);
    const c = r.summary.gate;
    expect(c.moves).toBeGreaterThan(0);
    expect(c.rateLimited).toBeGreaterThan(0);
    expect(c.holds).toBeGreaterThan(0);
    // The home moves (before and after the episode) went through the gate too, and arrived.
    const resets = decisions.filter((x) => x.phase === 'reset');
    expect(resets.length).toBeGreaterThan(0);
    expect(resets.every((x) => x.d.kind === 'move')).toBe(true);
    const home = decisions[decisions.findIndex((x) => x.phase === 'step') - 1]?.d.command;
    expect(Array.from(home ?? [])).toEqual([...UR5_HOME_POSE, 0]);
    expect(Array.from(decisions.at(-1)?.d.command ?? [])).toEqual([...UR5_HOME_POSE, 0]);
    // Nothing reached the driver but the gate's commands, in order (moves and the holds' re-sends).
    const sent = decisions
      .filter((x) => x.d.command !== null)
      .map((x) => Array.from(x.d.command as Float64Array));
    const driver = r.robot.driver as SimulatedUr5Driver;
    expect(driver.commands).toEqual(sent.map((x) => x.slice(0, 6)));
    expect(driver.gripperCommands).toEqual(sent.map((x) => x[6]));
    let prev: number[] | undefined;
    for (const x of steps) {
      if (x.d.command === null) continue;
      const cmd = Array.from(x.d.command);
      config.joints.forEach((j, i) => {
        expect(cmd[i]).toBeGreaterThanOrEqual(j.min);
        expect(cmd[i]).toBeLessThanOrEqual(j.max);
        if (prev !== undefined) {
          expect(Math.abs((cmd[i] as number) - (prev[i] as number))).toBeLessThanOrEqual(
            (step[i] as number) + 1e-9,
          );
        }
      });
      prev = cmd;
    }
  }, 60_000);

  it('EdgeAgent + the UR5 plugin + a scripted policy: moves within the limits; a protective stop mid-run holds (ROBOT_FAULT) and nothing new reaches the driver', async () => {
    let infers = 0;
    // 50-row chunks near the measured pose: shoulder_pan +0.005 rad per row, the rest where they are, gripper 0.3.
    const scripted: BasePolicy = {
      infer: async (obs) => {
        infers += 1;
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
    const config = resolveConfig(
      {},
      { robot: 'ur5', controlHz: 20, maxSteps: 40, prompt: 'pick up the cube', ur5: { homeMs: 300 } },
      [ur5Plugin],
    );
    const agent = await EdgeAgent.create(config, {
      plugins: [ur5Plugin],
      policy: { ...scripted, close: async () => {} },
      warn: () => {},
    });
    cleanups.push(() => agent.close());
    expect(agent.report.robot).toBe('ur5');
    const robot = agent.robot as Ur5Robot;
    const driver = robot.driver as SimulatedUr5Driver;
    const steps: GateDecision[] = [];
    type StopMark = { step: number; commands: number; gripper: number; pose: readonly number[] };
    let stop = null as StopMark | null;
    let armed = false;
    agent.environment.onDecision = (d, phase) => {
      if (phase !== 'step') return;
      steps.push(d);
      if (steps.length === 20) armed = true;
    };
    // The controller goes into a protective stop at the first joint read after step 20 (the next tick's
    // observation), so that read already reports it.
    const readJoints = driver.readJoints.bind(driver);
    driver.readJoints = async () => {
      if (!armed || stop !== null) return readJoints();
      driver.protectiveStop();
      const j = await readJoints();
      stop = {
        step: steps.length,
        commands: driver.commands.length,
        gripper: driver.gripperCommands.length,
        pose: j.positions,
      };
      return j;
    };
    const summary = await agent.run();
    expect(summary.run.totalSteps).toBe(40);
    expect(infers).toBeGreaterThan(1);
    expect(stop).not.toBeNull();
    const at = stop as unknown as StopMark;
    // Before the stop the arm followed the policy, every command inside the limits.
    const before = steps.slice(0, at.step);
    expect(before.filter((d) => d.kind === 'move').length).toBeGreaterThan(0);
    expect((at.pose[0] as number) - (UR5_HOME_POSE[0] as number)).toBeGreaterThan(0.01);
    const limits = robot.safety.joints;
    for (const cmd of [...driver.commands.map((q, i) => [...q, driver.gripperCommands[i] as number])]) {
      limits.forEach((j, i) => {
        expect(cmd[i]).toBeGreaterThanOrEqual(j.min);
        expect(cmd[i]).toBeLessThanOrEqual(j.max);
      });
    }
    // From the first tick after the stop: every decision a hold naming the robot fault.
    const after = steps.slice(at.step);
    expect(after.length).toBeGreaterThan(0);
    for (const d of after) {
      expect(d.kind).toBe('hold');
      if (d.kind === 'hold') expect(d.faults.map((f) => f.code)).toContain('ROBOT_FAULT');
    }
    expect(summary.gate.faults.ROBOT_FAULT).toBeGreaterThanOrEqual(after.length);
    // Nothing new reached the driver: the holds' re-sends were not forwarded, the final home move did not start.
    expect(driver.commands).toHaveLength(at.commands);
    expect(driver.gripperCommands).toHaveLength(at.gripper);
    expect(driver.ignoredCommands).toBe(0);
    expect(robot.writesDuringStop).toBeGreaterThan(0);
    expect(agent.environment.lastResetOutcome?.kind).toBe('aborted');
    expect((await driver.readJoints()).positions).toEqual(at.pose);
  }, 60_000);

  it('the demo (ALOHA) bundle does not fit the UR5: start-up fails with CONFIG_MISMATCH naming the robot adapter', async () => {
    const options = parseUr5Args(['--bundle', DEMO_BUNDLE_DIR, '--max-episode-steps', '5']);
    await expect(runUr5({ ...options, warn: () => {} })).rejects.toMatchObject({
      code: 'CONFIG_MISMATCH',
      message: expect.stringMatching(/robot adapter is 'aloha'.*ur5/),
      context: { what: 'robot adapter', expected: ['ur5'], got: 'aloha' },
    });
  }, 60_000);

  it('parses its flags (defaults, ws URL, bundle) and rejects bad ones by name', () => {
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
      ]),
    ).toEqual({
      policy: { kind: 'bundle', dir: 'b' },
      controlHz: 10,
      actionHorizon: 5,
      maxEpisodeSteps: 0,
      prompt: 'stack',
    });
    expect(() => parseUr5Args([])).toThrow(/exactly one/);
    expect(() => parseUr5Args(['--policy', 'ws://a:1', '--bundle', 'b'])).toThrow(/exactly one/);
    expect(() => parseUr5Args(['--policy', 'http://a:1'])).toThrow(/--policy/);
    expect(() => parseUr5Args(['--bundle', 'b', '--hz', '0'])).toThrow(/--hz/);
    expect(() => parseUr5Args(['--bundle', 'b', '--action-horizon', 'x'])).toThrow(/--action-horizon/);
  });

  it('the plugin section is strict: unknown keys, drivers and poses are refused by name', () => {
    const resolve = (ur5: unknown) => resolveConfig({}, { robot: 'ur5', ur5 } as never, [ur5Plugin]);
    expect(resolve({}).robotConfig).toMatchObject({ driver: 'simulated', homeMs: 2000 });
    expect(() => resolve({ driver: 'rtde' })).toThrow(/driver/);
    expect(() => resolve({ port: 30004 })).toThrow(/ur5/);
    expect(() => resolve({ homePose: [0, 0, 0] })).toThrow(/homePose/);
  });
});
