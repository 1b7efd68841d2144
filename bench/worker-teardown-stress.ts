/**
 * Stress of the policy worker's teardown paths: does any of them abort the process (onnxruntime-node's
 * `terminate called after throwing an instance of 'Napi::Error'`, a V8 fatal error, a signal)?
 *
 * Every iteration runs in a child process (this script with `--child <scenario>`), so an abort shows up as the
 * child's exit signal / code and its stderr instead of killing the stress run. Scenarios (the `WorkerPolicy` /
 * `SupervisedWorker` of packages/edge-agent, CPU provider, one intra-op thread):
 *
 * - `throw`          an uncaught exception in the worker with live sessions (`testOp('__crash')`), restart, infer, close
 * - `exit`           `process.exit(70)` in the worker (`testOp('__exit')`), restart, infer, close
 * - `hang-run`       a request that outlives `hangTimeoutMs` while its graph runs (WORKER_HUNG: the supervisor
 *                    gives up on the thread in the middle of a native `session.run`), then close
 * - `close-infer`    `close()` (small `closeGraceMs`) during a running inference
 * - `close-load`     `close()` while the worker creates its sessions / warms up (SupervisedWorker directly)
 * - `close-restart`  `close()` while the worker restarted after a crash loads again (public API)
 * - `exit-running`   `process.exit(0)` on the main thread while the worker runs a graph
 * - `exit-idle`      the script ends (no close) with a loaded, idle worker
 *
 * Long requests: the 18-layer bundle cached by the model bench (`/tmp/openpi-edge-bench-cache/deep-*`, ~2 s per
 * chunk, ~11 s session creation on a 2-core machine) with `--bundle deep`, else the demo π0 bundle with
 * `numSteps: 200` (~0.6 s per chunk: 400 short graph runs). Delays are drawn per iteration from a seeded generator.
 *
 *   node --conditions=source --import tsx bench/worker-teardown-stress.ts \
 *     [--scenarios throw,exit,...] [--iterations 10] [--parallel 2] [--busy 1] [--bundle demo|deep] [--seed 1]
 *
 * `--parallel` children run at once, `--busy` extra processes spin a core each (CPU load). Prints one line per
 * iteration and a table of outcomes per scenario: ok, abort (SIGABRT, exit 134, or an abort message on stderr),
 * signal (another signal), fail (non-zero exit: the scenario's expectation broke; its message is printed), timeout.
 * Not part of `pnpm bench` (bench/run.ts only picks up *.bench.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../test/mulberry32.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const DEMO = join(root, 'packages', 'edge-agent', 'assets', 'demo-bundle-pi0');
const CACHE = '/tmp/openpi-edge-bench-cache';

const SCENARIOS = [
  'throw',
  'exit',
  'hang-run',
  'close-infer',
  'close-load',
  'close-restart',
  'exit-running',
  'exit-idle',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const ABORT_RE = /terminate called|Napi::Error|FATAL ERROR|Aborted|Segmentation fault|core dumped/;

function deepBundle(): string | undefined {
  if (!existsSync(CACHE)) return undefined;
  const d = readdirSync(CACHE).find((n) => n.startsWith('deep-'));
  return d === undefined ? undefined : join(CACHE, d);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Child: one scenario, then exit 0 (or 1 with a message when an expectation broke).

async function child(scenario: Scenario, bundleKind: string, seed: number): Promise<void> {
  const { WorkerPolicy } = await import('../packages/edge-agent/src/inference/worker-policy.js');
  const { SupervisedWorker } = await import('../packages/edge-agent/src/inference/supervised-worker.js');
  const { readGolden } = await import('../packages/edge-agent/src/model/golden.js');
  const deep = bundleKind === 'deep' ? deepBundle() : undefined;
  const dir = deep ?? DEMO;
  const long = deep === undefined ? { numSteps: 200 } : {};
  /** Roughly one long chunk here (ms), for the delays. */
  const chunkMs = deep === undefined ? 600 : 2000;
  const loadMs = deep === undefined ? 1500 : 12000;
  const rand = mulberry32(seed);
  const golden = await readGolden(join(dir, 'golden.json'));
  const obs = golden.rawObservation;
  const CPU = { executionProviders: [{ name: 'cpu' as const, threads: 1 }], seed: 1 };
  const note: Record<string, unknown> = { scenario, bundle: deep === undefined ? 'demo' : 'deep' };
  const codeOf = (e: unknown): string => (e as { code?: string }).code ?? String(e);
  const expectCode = async (p: Promise<unknown>, codes: readonly string[], what: string): Promise<string> => {
    const got = await p.then(
      () => 'resolved',
      (e: unknown) => codeOf(e),
    );
    if (!codes.includes(got)) throw new Error(`${what}: expected ${codes.join(' | ')}, got ${got}`);
    return got;
  };

  switch (scenario) {
    case 'throw':
    case 'exit': {
      const policy = await WorkerPolicy.load(dir, { ...CPU, warmup: false, testHooks: { ops: true } });
      await policy.infer(obs);
      await expectCode(
        policy.testOp(scenario === 'throw' ? '__crash' : '__exit'),
        ['WORKER_CRASHED'],
        'test op',
      );
      await policy.infer(obs); // served by the restarted worker
      await policy.close();
      break;
    }
    case 'hang-run': {
      const hangTimeoutMs = Math.round(chunkMs * (0.1 + 0.6 * rand()));
      note.hangTimeoutMs = hangTimeoutMs;
      const policy = await WorkerPolicy.load(dir, {
        ...CPU,
        ...long,
        warmup: false,
        hangTimeoutMs,
        maxRestarts: 0,
      });
      note.got = await expectCode(policy.infer(obs), ['WORKER_HUNG'], 'long infer');
      await sleep(chunkMs * 1.5); // the given-up thread's graph returns meanwhile
      await policy.close();
      break;
    }
    case 'close-infer': {
      const closeGraceMs = Math.round(chunkMs * 0.3 * rand());
      const delay = Math.round(chunkMs * 0.5 * rand());
      Object.assign(note, { closeGraceMs, delay });
      const policy = await WorkerPolicy.load(dir, { ...CPU, ...long, warmup: false, closeGraceMs });
      const inflight = expectCode(policy.infer(obs), ['resolved', 'CLOSED'], 'infer during close');
      await sleep(delay);
      await policy.close();
      note.got = await inflight;
      await sleep(chunkMs * 1.5);
      break;
    }
    case 'close-load': {
      const delay = Math.round(loadMs * rand());
      note.delay = delay;
      const w = new SupervisedWorker({
        entry: 'policy-worker-entry',
        label: 'policy worker',
        init: { dir, options: { ...CPU }, forwardTruncate: false },
      });
      const started = expectCode(w.start(), ['resolved', 'CLOSED'], 'start during close');
      await sleep(delay);
      await w.close();
      note.got = await started;
      await sleep(500);
      break;
    }
    case 'close-restart': {
      const delay = Math.round(loadMs * rand());
      note.delay = delay;
      const policy = await WorkerPolicy.load(dir, { ...CPU, testHooks: { ops: true } });
      await expectCode(policy.testOp('__crash'), ['WORKER_CRASHED'], 'crash');
      await sleep(delay); // the restarted worker loads meanwhile
      await policy.close();
      await sleep(500);
      break;
    }
    case 'exit-running': {
      const delay = Math.round(chunkMs * 0.8 * rand());
      note.delay = delay;
      const policy = await WorkerPolicy.load(dir, { ...CPU, ...long, warmup: false });
      void policy.infer(obs).catch(() => {});
      await sleep(delay);
      console.log(JSON.stringify(note));
      process.exit(0);
      break;
    }
    case 'exit-idle': {
      const policy = await WorkerPolicy.load(dir, { ...CPU, warmup: false });
      await policy.infer(obs);
      break; // no close: the idle worker is unref'd; the process ends by itself
    }
  }
  console.log(JSON.stringify(note));
}

// ---------------------------------------------------------------------------------------------------------------
// Parent.

type Outcome = 'ok' | 'abort' | 'signal' | 'fail' | 'timeout';

interface Result {
  scenario: Scenario;
  iteration: number;
  outcome: Outcome;
  detail: string;
  ms: number;
}

function runChild(scenario: Scenario, iteration: number, seed: number, bundle: string): Promise<Result> {
  const t0 = performance.now();
  const timeoutMs = bundle === 'deep' ? 120_000 : 60_000;
  return new Promise((resolve) => {
    const c: ChildProcess = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        '--child',
        scenario,
        '--bundle',
        bundle,
        '--seed',
        String(seed),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    c.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      c.kill('SIGKILL');
    }, timeoutMs);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      const last = out.trim().split('\n').at(-1) ?? '';
      const errTail = err.trim().split('\n').slice(-4).join(' | ');
      let outcome: Outcome;
      if (timedOut) outcome = 'timeout';
      else if (signal === 'SIGABRT' || code === 134 || ABORT_RE.test(err)) outcome = 'abort';
      else if (signal !== null) outcome = 'signal';
      else if (code !== 0) outcome = 'fail';
      else outcome = 'ok';
      const detail =
        outcome === 'ok'
          ? last
          : `code ${code} signal ${signal} ${last} stderr: ${errTail.slice(0, 400)}`.trim();
      resolve({ scenario, iteration, outcome, detail, ms });
    });
  });
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: SCENARIOS.join(',') },
      iterations: { type: 'string', default: '10' },
      parallel: { type: 'string', default: '2' },
      busy: { type: 'string', default: '0' },
      bundle: { type: 'string', default: 'demo' },
      seed: { type: 'string', default: '1' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const scenarios = (values.scenarios as string).split(',').filter((s) => s !== '') as Scenario[];
  for (const s of scenarios) {
    if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (known: ${SCENARIOS.join(', ')})`);
  }
  const iterations = Number(values.iterations);
  const parallel = Math.max(1, Number(values.parallel));
  const seed0 = Number(values.seed);
  const bundle = values.bundle as string;
  if (bundle === 'deep' && deepBundle() === undefined) throw new Error(`no deep bundle under ${CACHE}`);
  const busy: ChildProcess[] = [];
  for (let i = 0; i < Number(values.busy); i++) {
    busy.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  }
  const jobs: { scenario: Scenario; iteration: number }[] = [];
  for (let i = 0; i < iterations; i++)
    for (const scenario of scenarios) jobs.push({ scenario, iteration: i });
  const results: Result[] = [];
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const job = jobs[next++];
      if (job === undefined) return;
      const r = await runChild(job.scenario, job.iteration, seed0 * 100_003 + job.iteration, bundle);
      results.push(r);
      if (!values.quiet || r.outcome !== 'ok') {
        console.log(
          `${r.scenario.padEnd(14)} #${String(r.iteration).padEnd(3)} ${r.outcome.padEnd(7)} ${(r.ms / 1000).toFixed(1)}s ${r.detail}`,
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, lane));
  } finally {
    for (const b of busy) b.kill('SIGKILL');
  }
  const outcomes: Outcome[] = ['ok', 'abort', 'signal', 'fail', 'timeout'];
  console.log(
    `\n${iterations} iteration(s) x ${scenarios.length} scenario(s), parallel ${parallel}, busy ${values.busy}, bundle ${bundle}, ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  console.log(`${'scenario'.padEnd(14)} ${outcomes.map((o) => o.padStart(7)).join(' ')}`);
  for (const s of scenarios) {
    const mine = results.filter((r) => r.scenario === s);
    console.log(
      `${s.padEnd(14)} ${outcomes.map((o) => String(mine.filter((r) => r.outcome === o).length).padStart(7)).join(' ')}`,
    );
  }
  if (results.some((r) => r.outcome !== 'ok')) process.exitCode = 1;
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
  };
  child(process.argv[childAt + 1] as Scenario, arg('--bundle', 'demo'), Number(arg('--seed', '1'))).catch(
    (e: unknown) => {
      console.error(`scenario failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
} else {
  await parent();
}
