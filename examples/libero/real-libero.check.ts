/**
 * Opt-in check of the real-LIBERO path (`pnpm libero:real-check`; not part of CI or the vitest suite: it needs
 * .venv-libero from `bash scripts/libero-env.sh`, ~2.1 GB, and takes ~2 min on 2 CPU cores).
 *
 * 1. A missing interpreter fails with BAD_ARGUMENT naming the setup command (no venv needed for this one).
 * 2. The bridge alone (LiberoBridge): hello versions; reset of libero_spatial task 0 / init state 0 gives the
 *    task's instruction, 10 tasks, 50 init states, two non-blank 256×256×3 frames; real physics: dummy steps keep
 *    the end effector still (< 1 cm) and open the gripper, +z actions raise it (> 1 cm over 5 steps), closing the
 *    gripper moves the fingers in; bad task / init-state ids come back as BAD_ARGUMENT with the ranges and the
 *    bridge keeps serving.
 * 3. The client loop (runRealLibero) against an in-process WebsocketPolicyServer whose policy checks every
 *    request (exact keys, uint8 [224, 224, 3] images, float64 [8] state, the task's instruction as prompt) and
 *    answers chunks that move up: 10 wait steps + 10 steps, 2 requests, and the state of request 2 is higher (z)
 *    than that of request 1.
 * Prints the measured figures; exit 0 when every check passed, 1 otherwise.
 */
import { strict as assert } from 'node:assert';
import {
  type BasePolicy,
  isNDArray,
  isOpenpiEdgeError,
  type NDArray,
  ndarray,
  type Obs,
} from '@openpi-edge/client';
import { WebsocketPolicyServer } from '@openpi-edge/client/node';
import { LIBERO_SETUP_COMMAND, LiberoBridge, type LiberoRawObs, runRealLibero } from './real-libero.js';

const LOG = (s: string) => console.log(s);

async function rejectsWith(
  p: Promise<unknown>,
  code: string,
  context: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    assert.ok(isOpenpiEdgeError(e), `expected an OpenpiEdgeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const [k, v] of Object.entries(context)) assert.deepEqual(e.context[k], v, `context.${k}`);
    return { ...e.context };
  }
  throw new assert.AssertionError({ message: `expected a ${code} rejection` });
}

function frameStd(f: Uint8Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of f) {
    s += v;
    s2 += v * v;
  }
  const m = s / f.length;
  return Math.sqrt(s2 / f.length - m * m);
}

async function checkMissingPython(): Promise<void> {
  const ctx = await rejectsWith(
    LiberoBridge.start({ python: '/nonexistent/.venv-libero/bin/python' }),
    'BAD_ARGUMENT',
    {
      setup: LIBERO_SETUP_COMMAND,
    },
  );
  LOG(
    `ok 1 missing interpreter -> BAD_ARGUMENT (python ${String(ctx.python)}, setup "${LIBERO_SETUP_COMMAND}")`,
  );
}

async function checkBridge(): Promise<void> {
  const t0 = performance.now();
  const bridge = await LiberoBridge.start();
  try {
    LOG(
      `   bridge up in ${(performance.now() - t0).toFixed(0)} ms: ${JSON.stringify(bridge.hello.versions)}, MUJOCO_GL=${bridge.hello.mujocoGl}`,
    );
    assert.equal(bridge.hello.versions.robosuite, '1.4.0');
    const r = await bridge.reset({ suite: 'libero_spatial', taskId: 0, initState: 0, seed: 7 });
    LOG(
      `   reset: env build ${r.envBuildMs.toFixed(0)} ms, reset ${r.resetMs.toFixed(0)} ms; task "${r.task.language}"`,
    );
    assert.equal(r.task.nTasks, 10);
    assert.equal(r.task.nInitStates, 50);
    assert.match(r.task.language, /black bowl/);
    for (const f of [r.obs.agentview_image, r.obs.robot0_eye_in_hand_image]) {
      assert.equal(f.length, 256 * 256 * 3);
      assert.ok(frameStd(f) > 10, `a rendered frame should not be blank (std ${frameStd(f).toFixed(1)})`);
    }
    const q = r.obs.robot0_eef_quat;
    assert.ok(Math.abs(Math.hypot(...q) - 1) < 1e-6, 'eef quaternion is unit');

    const steps = async (action: number[], n: number): Promise<{ obs: LiberoRawObs; ms: number[] }> => {
      let obs = r.obs;
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const s = await bridge.step(action);
        ms.push(s.stepMs);
        assert.equal(s.done, false);
        obs = s.obs;
      }
      return { obs, ms };
    };
    const z = (o: LiberoRawObs) => o.robot0_eef_pos[2] ?? Number.NaN;
    const still = await steps([0, 0, 0, 0, 0, 0, -1], 10);
    const drift = Math.hypot(
      ...Array.from(still.obs.robot0_eef_pos, (p, i) => p - (r.obs.robot0_eef_pos[i] ?? 0)),
    );
    assert.ok(drift < 0.01, `dummy steps keep the end effector still, drifted ${drift} m`);
    // The stored init states hold the fingers half open (~0.021 m); the dummy action (-1) opens them (~0.039 m).
    const [g0 = 0, g1 = 0] = still.obs.robot0_gripper_qpos;
    assert.ok(g0 > 0.035 && g1 < -0.035, `the dummy steps open the gripper, got [${g0}, ${g1}]`);
    const up = await steps([0, 0, 1, 0, 0, 0, -1], 5);
    const rise = z(up.obs) - z(still.obs);
    assert.ok(rise > 0.01, `+z actions raise the end effector, rose ${rise} m`);
    const close = await steps([0, 0, 0, 0, 0, 0, 1], 5);
    const [c0 = 0] = close.obs.robot0_gripper_qpos;
    assert.ok(c0 < g0 - 0.005, `closing moves the fingers in: ${g0} -> ${c0}`);
    const all = [...still.ms, ...up.ms, ...close.ms];
    LOG(
      `   20 steps: env.step ${(all.reduce((a, b) => a + b, 0) / all.length).toFixed(0)} ms mean (min ${Math.min(...all).toFixed(0)}, max ${Math.max(...all).toFixed(0)}); +z rise ${(rise * 100).toFixed(1)} cm; finger ${g0.toFixed(4)} -> ${c0.toFixed(4)} m`,
    );

    const bad = await rejectsWith(
      bridge.reset({ suite: 'libero_spatial', taskId: 99, initState: 0, seed: 7 }),
      'BAD_ARGUMENT',
      { key: 'task_id', nTasks: 10 },
    );
    await rejectsWith(
      bridge.reset({ suite: 'libero_spatial', taskId: 0, initState: 50, seed: 7 }),
      'BAD_ARGUMENT',
      {
        key: 'init_state',
        nInitStates: 50,
      },
    );
    await rejectsWith(
      bridge.reset({ suite: 'libero_nope', taskId: 0, initState: 0, seed: 7 }),
      'BAD_ARGUMENT',
      {
        key: 'suite',
      },
    );
    // The bridge kept its env: stepping still works after the refused resets.
    const after = await bridge.step([0, 0, 0, 0, 0, 0, -1]);
    assert.equal(after.obs.agentview_image.length, 256 * 256 * 3);
    LOG(
      `ok 2 bridge: reset, physics, frames, refused ids (${String(bad.op)} task 99 -> nTasks ${String(bad.nTasks)})`,
    );
  } finally {
    const code = await bridge.close();
    assert.equal(code, 0, `bridge exit code; stderr tail:\n${bridge.stderrTail}`);
  }
}

function upChunk(): NDArray<'float32'> {
  const data = new Float32Array(10 * 7);
  for (let r = 0; r < 10; r++) data.set([0, 0, 1, 0, 0, 0, -1], r * 7);
  return ndarray('float32', [10, 7], data);
}

async function checkLoop(): Promise<void> {
  const requests: Obs[] = [];
  const problems: string[] = [];
  const checker: BasePolicy = {
    infer: async (obs) => {
      const keys = Object.keys(obs).sort().join();
      if (keys !== 'observation/image,observation/state,observation/wrist_image,prompt') problems.push(keys);
      for (const k of ['observation/image', 'observation/wrist_image']) {
        const img = obs[k];
        if (!isNDArray(img) || img.dtype !== 'uint8' || img.shape.join() !== '224,224,3') problems.push(k);
      }
      const st = obs['observation/state'];
      if (!isNDArray(st) || st.dtype !== 'float64' || st.shape.join() !== '8') problems.push('state');
      requests.push(obs);
      return { actions: upChunk() };
    },
    reset: () => {},
  };
  const server = new WebsocketPolicyServer(checker, { host: '127.0.0.1', port: 0 });
  const { port } = await server.listen();
  try {
    const t0 = performance.now();
    const r = await runRealLibero({ host: '127.0.0.1', port, maxSteps: 10 });
    const wall = performance.now() - t0;
    assert.deepEqual(problems, [], 'request layout');
    assert.equal(r.summary.totalSteps, 20);
    assert.equal(r.requests, 2);
    assert.equal(requests.length, 2);
    const e = r.episodes[0];
    assert.ok(e !== undefined);
    assert.equal(requests[0]?.prompt, e.task.language);
    const zOf = (o: Obs | undefined) => {
      const st = o?.['observation/state'];
      return isNDArray(st) ? Number((st.data as Float64Array)[2]) : Number.NaN;
    };
    const rise = zOf(requests[1]) - zOf(requests[0]);
    assert.ok(rise > 0.01, `chunk 0 (+z) raised the state between the requests, rose ${rise} m`);
    assert.equal(e.success, false);
    LOG(
      `ok 3 loop: 20 steps, 2 requests, z +${(rise * 100).toFixed(1)} cm; env step ${(e.envStepMs / e.steps).toFixed(0)} ms mean (sim ${(e.simStepMs / e.steps).toFixed(0)} ms), reset ${(e.resetMs / 1000).toFixed(1)} s, run ${(wall / 1000).toFixed(1)} s`,
    );
  } finally {
    await server.close();
  }
}

async function main(): Promise<number> {
  const t0 = performance.now();
  await checkMissingPython();
  await checkBridge();
  await checkLoop();
  LOG(`all real-LIBERO checks passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(
      isOpenpiEdgeError(e)
        ? `${e.code}: ${e.message} ${JSON.stringify(e.context)}`
        : e instanceof Error
          ? e.stack
          : e,
    );
    process.exit(1);
  },
);
