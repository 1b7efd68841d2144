/**
 * CLI of the libero example (openpi's `examples/libero/main.py` flags, kebab-case):
 *   node --conditions=source --import tsx examples/libero/main.ts --host localhost --port 8000
 * Exit codes: 0 done; 1 failure; 2 bad flag.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LIBERO_MAX_STEPS, type LiberoOptions, type LiberoTaskSuite, runLibero } from './libero.js';

const USAGE = `usage: main.ts [--host 0.0.0.0] [--port 8000] [--resize-size 224] [--replan-steps 5]
               [--task-suite-name libero_spatial] [--num-steps-wait 10] [--num-trials 1] [--seed 7]
               [--max-steps N] [--prompt TEXT]`;

class UsageError extends Error {}

function int(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

/** Flags -> options (UsageError naming the flag on a bad value). */
export function parseLiberoArgs(argv: readonly string[]): LiberoOptions {
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
  return o;
}

async function main(): Promise<number> {
  let options: LiberoOptions;
  try {
    options = parseLiberoArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const r = await runLibero(options);
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
