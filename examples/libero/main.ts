/**
 * CLI of the libero example (openpi's `examples/libero/main.py` flags, kebab-case):
 *   node --conditions=source --import tsx examples/libero/main.ts --host localhost --port 8000
 *   ... --sim real [--task-id 0] [--init-state 0] [--python .venv-libero/bin/python]   (the real LIBERO simulator,
 *   opt-in: needs `bash scripts/libero-env.sh`; see real-libero.ts)
 * Exit codes: 0 done; 1 failure; 2 bad flag.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LIBERO_MAX_STEPS, type LiberoOptions, type LiberoTaskSuite, runLibero } from './libero.js';
import { type RealLiberoEpisode, type RealLiberoOptions, runRealLibero } from './real-libero.js';

const USAGE = `usage: main.ts [--host 0.0.0.0] [--port 8000] [--resize-size 224] [--replan-steps 5]
               [--task-suite-name libero_spatial] [--num-steps-wait 10] [--num-trials 1] [--seed 7]
               [--max-steps N] [--prompt TEXT]
               [--sim synthetic|real] [--task-id 0] [--init-state 0] [--python .venv-libero/bin/python]
  --sim real runs the real LIBERO simulator (set up once with: bash scripts/libero-env.sh); --task-id,
  --init-state and --python apply to it; its prompt defaults to the task's language instruction.`;

const REAL_ONLY = ['task-id', 'init-state', 'python'] as const;

class UsageError extends Error {}

function int(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

export interface LiberoCli {
  /** `synthetic` (default): the stand-in world of synthetic-libero.ts; `real`: LIBERO via real-libero.ts. */
  sim: 'synthetic' | 'real';
  /** The options (real-only keys set only with `--sim real`). */
  options: RealLiberoOptions;
}

/** Flags -> options for the synthetic loop (UsageError naming the flag on a bad value). */
export function parseLiberoArgs(argv: readonly string[]): LiberoOptions {
  const { options } = parseLiberoCli(argv);
  return options;
}

/** All flags, `--sim` included (UsageError naming the flag on a bad value or a real-only flag without --sim real). */
export function parseLiberoCli(argv: readonly string[]): LiberoCli {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: Object.fromEntries(
      [
        'host',
        'port',
        'resize-size',
        'replan-steps',
        'task-suite-name',
        'num-steps-wait',
        'num-trials',
        'seed',
        'max-steps',
        'prompt',
        'sim',
        ...REAL_ONLY,
      ].map((k) => [k, { type: 'string' as const }]),
    ),
  });
  const s = (k: string): string | undefined => {
    const x = v[k];
    return typeof x === 'string' ? x : undefined;
  };
  const o: LiberoOptions = {};
  const set = <K extends keyof LiberoOptions>(key: K, value: LiberoOptions[K] | undefined): void => {
    if (value !== undefined) o[key] = value;
  };
  set('host', s('host'));
  set('port', int('port', s('port'), 1));
  set('resizeSize', int('resize-size', s('resize-size'), 1));
  set('replanSteps', int('replan-steps', s('replan-steps'), 1));
  set('numStepsWait', int('num-steps-wait', s('num-steps-wait'), 0));
  set('numTrials', int('num-trials', s('num-trials'), 1));
  set('seed', int('seed', s('seed'), 0));
  set('maxSteps', int('max-steps', s('max-steps'), 1));
  set('prompt', s('prompt'));
  const suite = s('task-suite-name');
  if (suite !== undefined) {
    if (!(suite in LIBERO_MAX_STEPS)) {
      throw new UsageError(`--task-suite-name must be one of ${Object.keys(LIBERO_MAX_STEPS).join(', ')}`);
    }
    o.taskSuite = suite as LiberoTaskSuite;
  }
  const sim = s('sim') ?? 'synthetic';
  if (sim !== 'synthetic' && sim !== 'real')
    throw new UsageError(`--sim must be synthetic or real, got '${sim}'`);
  if (sim === 'synthetic') {
    const given = REAL_ONLY.filter((k) => s(k) !== undefined);
    if (given.length > 0) throw new UsageError(`--${given.join(', --')} apply only with --sim real`);
    return { sim, options: o };
  }
  const r: RealLiberoOptions = o;
  const taskId = int('task-id', s('task-id'), 0);
  if (taskId !== undefined) r.taskId = taskId;
  const initState = int('init-state', s('init-state'), 0);
  if (initState !== undefined) r.initState = initState;
  const python = s('python');
  if (python !== undefined) r.python = python;
  return { sim, options: r };
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const per = (ms: number, n: number): string => (n > 0 ? `${(ms / n).toFixed(0)} ms` : '-');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function episodeLine(e: RealLiberoEpisode): string {
  return [
    `trial ${e.index + 1} (${e.task.suite} task ${e.task.taskId}, init state ${e.task.initState}):`,
    `${e.steps} steps, ${e.success ? 'success' : 'no success'}, ${e.requests} requests;`,
    `env step mean ${per(e.envStepMs, e.steps)} / median ${median(e.stepRoundTripsMs).toFixed(0)} ms`,
    `(sim ${per(e.simStepMs, e.steps)}, request prep ${per(e.requestPrepMs, e.steps)}),`,
    `policy ${per(e.policyMs, e.requests)} per request;`,
    `totals: env steps ${sec(e.envStepMs)}, policy ${sec(e.policyMs)},`,
    `reset ${sec(e.resetMs)}${e.envBuildMs > 0 ? ` (of which env build ${sec(e.envBuildMs)})` : ''},`,
    `episode ${sec(e.wallMs)}`,
  ].join(' ');
}

async function mainReal(options: RealLiberoOptions): Promise<number> {
  const r = await runRealLibero({
    ...options,
    onBridge: (h, python) =>
      console.log(
        `LIBERO bridge up (${python}; ${Object.entries(h.versions)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; MUJOCO_GL=${h.mujocoGl}; imports ${sec(h.importMs)})`,
      ),
    onStep: (episode, step, reply, ms) => {
      if (step === 0) console.log(`trial ${episode + 1}: first step ${ms.toFixed(0)} ms`);
      else if ((step + 1) % 25 === 0)
        console.log(
          `trial ${episode + 1}: step ${step + 1}, last ${ms.toFixed(0)} ms (sim ${reply.stepMs.toFixed(0)} ms)`,
        );
    },
    onEpisode: (e) => console.log(episodeLine(e)),
  });
  const task = r.episodes[0]?.task;
  if (task !== undefined) console.log(`task: "${task.language}" (${task.name})`);
  console.log(
    `successes ${r.successes}/${r.summary.episodes.length} (real LIBERO), server requests ${r.requests}`,
  );
  return 0;
}

async function main(): Promise<number> {
  let cli: LiberoCli;
  try {
    cli = parseLiberoCli(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (cli.sim === 'real') return mainReal(cli.options);
  const r = await runLibero(cli.options);
  for (const e of r.summary.episodes) {
    console.log(
      `trial ${e.index + 1}: ${e.steps} steps (${e.endReason === 'complete' ? 'success' : e.endReason})`,
    );
  }
  console.log(
    `successes ${r.successes}/${r.summary.episodes.length} (synthetic stand-in task), server requests ${r.requests}`,
  );
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? `${(e as { code?: string }).code ?? 'ERROR'}: ${e.message}` : e);
      process.exit(1);
    },
  );
}
