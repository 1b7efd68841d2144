/**
 * openpi's aloha_sim loop on gym-aloha (MuJoCo, rendered headless with EGL) against the real `edge-agent serve`
 * CLI: examples/aloha_sim/main.py from .venv-sim (openpi_client's Runtime + ActionChunkBroker +
 * WebsocketClientPolicy) runs one full 300-step TransferCube episode as fast as it can (`--max-hz 0`) against the
 * demo π0 ALOHA bundle served on loopback with `--record`.
 *
 * Checked: the loop (300 steps, one request per 10 steps), the chunks (finite [50, 14]), that MuJoCo received
 * every action as its actuator command and the arms moved, and, from the server's own recording, that every request
 * had openpi's aloha_sim layout (state float64 [14] + cam_high uint8 [3, 224, 224], nothing else) and was the
 * observation the driver sent, answered with the chunk the driver executed. The demo model's weights are random, so
 * nothing is asserted about success or where the arms go. 30-90 s here (2 cores, llvmpipe, depending on load).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startServeProcess } from './serve-process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const simPython = join(root, '.venv-sim', 'bin', 'python');
const driver = join(root, 'examples', 'aloha_sim', 'main.py');
const bin = join(root, 'packages', 'edge-agent', 'bin', 'edge-agent.js');
const demoPi0 = join(root, 'packages', 'edge-agent', 'assets', 'demo-bundle-pi0');
const run = promisify(execFile);

const STEPS = 300;
const HORIZON = 10;

interface Episode {
  steps: number;
  success: boolean;
  wall_s: number;
  steps_per_s: number;
  env_step_ms_per_step: number;
  policy_wait_ms_per_request: number;
  requests: number;
  good_chunks: number;
  finite_action_rows: number;
  action_values: number;
  in_ctrlrange_values: number;
  ctrl_matched_steps: number;
  state_start: number[];
  state_end: number[];
  state_finite: boolean;
}

interface RequestLog {
  state: number[];
  state_dtype: string;
  cameras: string[];
  cam_high: { dtype: string; shape: number[] };
  first_action: number[];
}

interface Summary {
  metadata: Record<string, unknown>;
  action_horizon: number;
  requests: number;
  steps: number;
  chunk_shapes: number[][];
  episodes: Episode[];
  request_log: RequestLog[];
}

interface Recorded {
  file: string;
  keys: string[];
  state: { dtype: string; shape: number[]; values: number[] };
  cam_high: { dtype: string; shape: number[] };
  actions: { dtype: string; shape: number[]; first: number[] };
}

/** Loads every `step_<n>.npy` in a directory the way openpi users do and describes it as JSON. */
const READ_RECORDING = `
import json, pathlib, sys
import numpy as np
out = []
files = sorted(pathlib.Path(sys.argv[1]).glob("step_*.npy"), key=lambda p: int(p.stem.split("_")[1]))
for f in files:
    d = np.load(f, allow_pickle=True).item()
    s, c, a = d["inputs/state"], d["inputs/images/cam_high"], d["outputs/actions"]
    out.append({
        "file": f.name,
        "keys": sorted(d),
        "state": {"dtype": s.dtype.str, "shape": list(s.shape), "values": [float(x) for x in s]},
        "cam_high": {"dtype": c.dtype.str, "shape": list(c.shape)},
        "actions": {"dtype": a.dtype.str, "shape": list(a.shape), "first": [float(x) for x in a[0]]},
    })
print(json.dumps(out))
`;

describe('examples/aloha_sim on gym-aloha against edge-agent serve (demo π0 ALOHA bundle)', () => {
  let served: ServeProcess;
  let recordDir: string;

  beforeAll(async () => {
    // Instant when .venv-sim matches scripts/requirements-sim.txt (scripts/test-all.sh builds it first).
    await run('bash', [join(root, 'scripts', 'sim-env.sh')], { cwd: root, timeout: 600_000 });
    recordDir = await mkdtemp(join(tmpdir(), 'openpi-edge-aloha-sim-'));
    served = await startServeProcess(
      process.execPath,
      [
        bin,
        'serve',
        '--bundle',
        demoPi0,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--providers',
        'cpu',
        '--seed',
        '3',
        '--record',
        recordDir,
      ],
      { cwd: root },
    );
  }, 660_000);

  afterAll(async () => {
    if (served !== undefined) expect(await served.stop()).toBe(0);
    if (recordDir !== undefined) await rm(recordDir, { recursive: true, force: true });
  });

  it('runs one 300-step episode: 30 requests of the aloha_sim layout, every action into the physics', async () => {
    const { stdout } = await run(
      simPython,
      [driver, '--port', String(served.port), '--max-hz', '0', '--steps', String(STEPS), '--log-requests'],
      {
        cwd: root,
        env: { ...process.env, MUJOCO_GL: 'egl' },
        timeout: 480_000,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1) ?? '') as Summary;
    // The human-readable episode line: steps/s, env.step vs policy wait, for the log.
    console.info(lines.filter((l) => l.startsWith('episode ')).join('\n'));

    const manifest = JSON.parse(await readFile(join(demoPi0, 'manifest.json'), 'utf8')) as {
      metadata: Record<string, unknown>;
      action_horizon: number;
    };
    expect(summary.metadata).toEqual(manifest.metadata);
    expect(summary.action_horizon).toBe(HORIZON);
    expect(summary.steps).toBe(STEPS);
    expect(summary.requests).toBe(STEPS / HORIZON);
    expect(summary.chunk_shapes).toEqual([[manifest.action_horizon, 14]]);

    expect(summary.episodes).toHaveLength(1);
    const [ep] = summary.episodes as [Episode];
    expect(ep.steps).toBe(STEPS);
    expect(ep.requests).toBe(STEPS / HORIZON);
    expect(ep.good_chunks).toBe(STEPS / HORIZON);
    expect(ep.finite_action_rows).toBe(STEPS);
    expect(ep.action_values).toBe(14 * STEPS);
    // MuJoCo's actuator commands after each step were exactly the action gym-aloha derived from ours.
    expect(ep.ctrl_matched_steps).toBe(STEPS);
    expect(ep.in_ctrlrange_values).toBeGreaterThan(0);
    expect(ep.state_finite).toBe(true);
    expect(ep.state_end).toHaveLength(14);
    const moved = Math.max(...ep.state_end.map((v, i) => Math.abs(v - (ep.state_start[i] as number))));
    expect(moved).toBeGreaterThan(1e-3);

    // What the driver sent: openpi's aloha_sim layout, and the first request is the reset observation.
    const log = summary.request_log;
    expect(log).toHaveLength(STEPS / HORIZON);
    for (const r of log) {
      expect(r.cameras).toEqual(['cam_high']);
      expect(r.cam_high).toEqual({ dtype: '|u1', shape: [3, 224, 224] });
      expect(r.state_dtype).toBe('<f8');
      expect(r.state).toHaveLength(14);
    }
    expect(log[0]?.state).toEqual(ep.state_start);

    // What the server saw (its --record files): the same requests, answered with the chunks the driver executed.
    const { stdout: recOut } = await run(simPython, ['-c', READ_RECORDING, recordDir], {
      cwd: root,
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const recorded = JSON.parse(recOut) as Recorded[];
    expect(recorded.map((r) => r.file)).toEqual(log.map((_, i) => `step_${i}.npy`));
    recorded.forEach((rec, i) => {
      const sent = log[i] as RequestLog;
      expect(rec.keys.filter((k) => k.startsWith('inputs/'))).toEqual([
        'inputs/images/cam_high',
        'inputs/state',
      ]);
      expect(rec.keys).toContain('outputs/actions');
      expect(rec.state).toEqual({ dtype: '<f8', shape: [14], values: sent.state });
      expect(rec.cam_high).toEqual({ dtype: '|u1', shape: [3, 224, 224] });
      expect(rec.actions).toMatchObject({ dtype: '<f8', shape: [manifest.action_horizon, 14] });
      expect(rec.actions.first).toEqual(sent.first_action);
    });
  }, 600_000);
});
