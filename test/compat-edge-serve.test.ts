/**
 * `edge-agent serve` (the real CLI, spawned through packages/edge-agent/bin) against openpi's own Python client
 * (openpi_client.WebsocketClientPolicy from .venv, driven by test/python/openpi_edge_serve_driver.py):
 * metadata frame, golden observation numerics (equal to the in-process OnnxPolicy with the same seed), openpi's
 * example observation layouts (ALOHA, ALOHA sim; LIBERO and DROID against bundles exported by trainer/ with those
 * adapters), and malformed observations (error text to the client, server keeps serving).
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NDArray } from '../packages/client/src/ndarray.js';
import { readGolden } from '../packages/edge-agent/src/model/golden.js';
import { OnnxPolicy } from '../packages/edge-agent/src/policy/onnx-policy.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const trainerPython = join(root, 'trainer', '.venv', 'bin', 'python');
const driver = join(root, 'test', 'python', 'openpi_edge_serve_driver.py');
const tools = join(root, 'test', 'python', 'edge_model_tools.py');
const bin = join(root, 'packages', 'edge-agent', 'bin', 'edge-agent.js');
const demoPi0 = join(root, 'packages', 'edge-agent', 'assets', 'demo-bundle-pi0');
const run = promisify(execFile);

interface Served {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  stdout: string[];
  stderr: string[];
  stop(): Promise<number | null>;
}

/** Spawns `edge-agent serve` and resolves once it printed its `listening on ... port=N` line. */
function serve(args: string[]): Promise<Served> {
  const proc = spawn(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: root,
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        stdout.push(line);
        const m = /^listening on ws:\/\/\S+ port=(\d+)$/.exec(line);
        if (m !== null) {
          resolve({
            proc,
            port: Number(m[1]),
            stdout,
            stderr,
            stop: () => {
              proc.kill('SIGTERM');
              return exited;
            },
          });
        }
      }
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    void exited.then((code) =>
      reject(new Error(`serve exited (${code}) before listening: ${stderr.join('')}`)),
    );
  });
}

async function drive(port: number, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(python, [driver, ...args, '--port', String(port)], {
    cwd: root,
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

interface Reply {
  keys: string[];
  dtype: string | null;
  shape: number[] | null;
  finite: boolean;
  policy_timing: Record<string, string>;
  server_timing: Record<string, string>;
  values?: number[];
  raised?: boolean;
  message?: string;
}

describe('edge-agent serve (demo π0 bundle) with openpi-client', () => {
  let served: Served;

  beforeAll(async () => {
    served = await serve(['--bundle', demoPi0, '--providers', 'tensorrt,cuda,cpu', '--seed', '5']);
  }, 120_000);
  afterAll(async () => {
    expect(await served.stop()).toBe(0);
    expect(served.stdout.join('\n')).toContain('SIGTERM: shutting down');
  });

  it('reports the chosen provider after falling back, and warns about each failed one', () => {
    const out = served.stdout.join('\n');
    expect(out).toMatch(
      /execution provider cpu \(fell back from tensorrt: .*Failed to load shared library.*; cuda: /,
    );
    expect(out).toMatch(/warm-up \d+\.\d ms/);
    const err = served.stderr.join('');
    expect(err).toContain("execution provider 'tensorrt' unavailable");
    expect(err).toContain("execution provider 'cuda' unavailable");
  });

  it('sends the manifest metadata first and the seeded model actions for the golden observation', async () => {
    const out = await drive(served.port, 'golden', '--bundle', demoPi0, '--n', '2');
    expect(out.metadata).toEqual({ reset_pose: [0, -0.96, 1.16, 0, -0.3, 0] });
    const replies = out.replies as Reply[];
    expect(replies).toHaveLength(2);
    // The same code in-process, same seed: the server's first two chunks use the first two noise draws.
    const local = await OnnxPolicy.load(demoPi0, { executionProviders: ['cpu'], seed: 5, warmup: false });
    const golden = await readGolden(join(demoPi0, 'golden.json'));
    try {
      for (const reply of replies) {
        expect(reply.keys).toEqual(['actions', 'policy_timing', 'server_timing']);
        expect(reply.dtype).toBe('<f8');
        expect(reply.shape).toEqual([50, 14]);
        expect(reply.policy_timing.infer_ms).toBe('float');
        expect(reply.server_timing.infer_ms).toBe('float');
        const mine = (await local.infer(golden.rawObservation)).actions as NDArray<'float64'>;
        const values = reply.values ?? [];
        const diff = Math.max(...values.map((v, i) => Math.abs(v - (mine.data[i] as number))));
        expect(diff).toBeLessThanOrEqual(1e-6);
      }
      expect(replies[0]?.values).not.toEqual(replies[1]?.values); // fresh noise per chunk
    } finally {
      await local.close();
    }
  }, 120_000);

  it.each(['aloha', 'aloha_sim'])(
    "serves openpi's %s example observations",
    async (layout) => {
      const out = await drive(served.port, 'layout', '--layout', layout, '--n', '3');
      const replies = out.replies as Reply[];
      expect(replies).toHaveLength(3);
      for (const r of replies) {
        expect(r).toMatchObject({ dtype: '<f8', shape: [50, 14], finite: true });
        expect(r.server_timing).toMatchObject({ infer_ms: 'float' });
      }
    },
    120_000,
  );

  it.each([
    ['missing-camera', /BAD_OBSERVATION[\s\S]*cam_high/],
    ['wrong-dtype', /BAD_OBSERVATION[\s\S]*state/],
    ['wrong-shape', /BAD_OBSERVATION[\s\S]*cam_high/],
    ['no-state', /BAD_OBSERVATION[\s\S]*state/],
  ])(
    'answers a %s observation with the error text and keeps serving',
    async (kind, pattern) => {
      const out = await drive(served.port, 'bad', '--case', kind);
      expect(out).toMatchObject({ raised: true, type: 'RuntimeError' });
      expect(String(out.message)).toContain('Error in inference server');
      expect(String(out.message)).toMatch(pattern);
      const next = await drive(served.port, 'layout', '--layout', 'aloha', '--n', '1');
      expect((next.replies as Reply[])[0]).toMatchObject({ shape: [50, 14], finite: true });
    },
    120_000,
  );
});

describe.each([
  ['libero', [50, 7]],
  ['droid', [50, 8]],
] as const)('edge-agent serve (%s bundle exported by trainer/) with openpi-client', (robot, shape) => {
  let served: Served;
  let tmp: string;

  beforeAll(async () => {
    await run('bash', [join(root, 'scripts', 'trainer-env.sh')], { cwd: root, timeout: 600_000 });
    tmp = await mkdtemp(join(tmpdir(), `openpi-edge-${robot}-`));
    await run(trainerPython, [tools, 'export', '--robot', robot, '--model-type', 'pi05', '--out', tmp], {
      cwd: root,
      timeout: 300_000,
    });
    served = await serve(['--bundle', tmp, '--providers', 'cpu']);
  }, 900_000);
  afterAll(async () => {
    expect(await served.stop()).toBe(0);
    await rm(tmp, { recursive: true, force: true });
  });

  it(`serves openpi's ${robot} example observations`, async () => {
    const out = await drive(served.port, 'layout', '--layout', robot, '--n', '2');
    expect(out.metadata).toEqual({});
    for (const r of out.replies as Reply[]) expect(r).toMatchObject({ dtype: '<f8', shape, finite: true });
  }, 120_000);

  it('rejects an ALOHA-layout observation naming the missing key', async () => {
    const out = await drive(served.port, 'layout', '--layout', 'aloha', '--n', '1');
    const [r] = out.replies as Reply[];
    expect(r?.raised).toBe(true);
    expect(r?.message).toMatch(/BAD_OBSERVATION[\s\S]*observation\//);
  }, 120_000);
});
