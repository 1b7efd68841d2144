/**
 * Model-layer latency on onnxruntime-node (CPU EP here), per stage, for:
 * - the committed demo bundles (tiny π0 / π0.5) and a depth-realistic π0 bundle (18 Gemma layers, reduced widths;
 *   exported at bench time by test/python/edge_model_tools.py in the trainer env into a temp dir, not committed);
 * - the same bundle in PyTorch eager (trainer/.venv, torch.set_num_threads = ORT intra-op threads), side by side;
 * - the KV-cached loop vs recomputing the prefix before every denoise step.
 * Stages: input transforms (ALOHA golden observation -> model inputs), prefix graph, one denoise step, total chunk.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readGolden } from '../packages/edge-agent/src/model/golden.js';
import { batchInputs, OnnxPolicy } from '../packages/edge-agent/src/policy/onnx-policy.js';
import { printTable, type Stats, summarize } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run$ = promisify(execFile);
const THREADS = 2;
const trainerPython = join(root, 'trainer', '.venv', 'bin', 'python');
const tools = join(root, 'test', 'python', 'edge_model_tools.py');

interface TorchSamples {
  torch_version: string;
  threads: number;
  prefix_ms: number[];
  step_ms: number[];
  total_ms: number[];
  max_abs_diff_vs_golden: number;
}

async function torchSamples(bundle: string, n: number): Promise<TorchSamples> {
  const { stdout } = await run$(
    trainerPython,
    [
      tools,
      'torch-bench',
      '--bundle',
      bundle,
      '--threads',
      String(THREADS),
      '--n',
      String(n),
      '--warmup',
      '1',
    ],
    { cwd: root, timeout: 1_200_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as TorchSamples;
}

async function benchBundle(label: string, dir: string, n: number): Promise<string[]> {
  const policy = await OnnxPolicy.load(dir, {
    executionProviders: [{ name: 'cpu', threads: THREADS }],
    seed: 0,
  });
  const golden = await readGolden(join(dir, 'golden.json'));
  const tables: string[] = [];
  try {
    const transforms: number[] = [];
    const prefix: number[] = [];
    const step: number[] = [];
    const total: number[] = [];
    const recomputed: number[] = [];
    const endToEnd: number[] = [];
    const model = policy.model;
    for (let i = 0; i < n + 1; i++) {
      const t0 = performance.now();
      const inp = policy.pipeline.inputTransforms(golden.rawObservation);
      const t1 = performance.now();
      const batch = batchInputs(model, [inp]);
      const res = await model.sample(batch, { noise: golden.noise.data });
      const rec = await model.sample(batch, { noise: golden.noise.data, recomputePrefix: true });
      const e0 = performance.now();
      await policy.infer(golden.rawObservation);
      const e1 = performance.now();
      if (i === 0) continue; // warm-up round
      transforms.push(t1 - t0);
      prefix.push(res.timing.prefixMs);
      step.push(...res.timing.stepMs);
      total.push(res.timing.totalMs);
      recomputed.push(rec.timing.totalMs);
      endToEnd.push(e1 - e0);
    }
    const steps = model.manifest.num_steps;
    const ep = `${model.report.provider.name}, ${THREADS} threads`;
    tables.push(
      printTable(
        `${label}: per-stage latency, onnxruntime-node ${model.report.ort.version} (${ep}), ${steps} steps`,
        [
          summarize('chunk total (prefix + loop)', total),
          summarize('input transforms (ALOHA obs -> model inputs)', transforms),
          summarize('prefix graph', prefix),
          summarize('one denoise step (graph + Euler update)', step),
          summarize('OnnxPolicy.infer end to end', endToEnd),
        ],
        'chunk total (prefix + loop)',
      ),
    );
    tables.push(
      printTable(
        `${label}: KV-cached loop vs prefix recomputed every step`,
        [summarize('KV cache (prefix once)', total), summarize('prefix recomputed each step', recomputed)],
        'KV cache (prefix once)',
      ),
    );
    const py = await torchSamples(dir, Math.max(3, Math.floor(n / 2)));
    const per = (s: number[], note: string): Stats => summarize(note, s);
    const rows = [
      per(total, 'onnxruntime-node: chunk'),
      {
        ...per(py.total_ms, 'PyTorch eager: chunk'),
        note: `torch ${py.torch_version}, ${py.threads} threads`,
      },
      per(prefix, 'onnxruntime-node: prefix'),
      per(py.prefix_ms, 'PyTorch eager: prefix'),
      per(step, 'onnxruntime-node: denoise step'),
      per(py.step_ms, 'PyTorch eager: denoise step'),
    ];
    tables.push(
      printTable(
        `${label}: onnxruntime-node vs PyTorch eager (same bundle weights, same threads)`,
        rows,
        'onnxruntime-node: chunk',
      ),
    );
  } finally {
    await policy.close();
  }
  return tables;
}

export async function run(): Promise<string[]> {
  await run$('bash', [join(root, 'scripts', 'trainer-env.sh')], { cwd: root, timeout: 600_000 });
  const tables: string[] = [];
  for (const model of ['pi0', 'pi05'] as const) {
    tables.push(
      ...(await benchBundle(
        `demo ${model} (tiny)`,
        join(root, 'packages', 'edge-agent', 'assets', `demo-bundle-${model}`),
        20,
      )),
    );
  }
  const tmp = await mkdtemp(join(tmpdir(), 'openpi-edge-deep-'));
  try {
    const { stdout } = await run$(
      trainerPython,
      [tools, 'export', '--robot', 'aloha', '--model-type', 'pi0', '--size', 'deep', '--out', tmp],
      { cwd: root, timeout: 1_200_000 },
    );
    const info = JSON.parse(stdout) as { params: number; export_s: number };
    tables.push(
      ...(await benchBundle(
        `depth-realistic pi0 (18 layers; llm 256 / expert 128 / vision 128x12; ${(info.params / 1e6).toFixed(1)}M params)`,
        tmp,
        6,
      )),
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return tables;
}
