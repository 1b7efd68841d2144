/**
 * CLI of the ur5 example (the app's UR5e plugin on its simulated driver, policy local or remote):
 *   node --conditions=source --import tsx examples/ur5/main.ts --policy ws://localhost:8000
 *   node --conditions=source --import tsx examples/ur5/main.ts --bundle path/to/ur5-bundle
 * Exit codes: 0 done; 1 failure; 2 bad flag.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { formatStartupReport, formatSummary } from '@openpi-edge/edge-agent';
import { runUr5, type Ur5Options } from './ur5.js';

const USAGE = `usage: main.ts (--policy ws://HOST:PORT | --bundle DIR) [--hz 20] [--action-horizon 10]
               [--max-episode-steps 200] [--prompt TEXT]`;

class UsageError extends Error {}

function int(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

/** Flags -> options (UsageError naming the flag on a bad value). */
export function parseUr5Args(argv: readonly string[]): Ur5Options {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      policy: { type: 'string' },
      bundle: { type: 'string' },
      hz: { type: 'string' },
      'action-horizon': { type: 'string' },
      'max-episode-steps': { type: 'string' },
      prompt: { type: 'string' },
    },
  });
  let policy: Ur5Options['policy'];
  if ((v.policy === undefined) === (v.bundle === undefined)) {
    throw new UsageError('give exactly one of --policy ws://HOST:PORT and --bundle DIR');
  }
  if (v.bundle !== undefined) {
    policy = { kind: 'bundle', dir: v.bundle };
  } else {
    let url: URL;
    try {
      url = new URL(v.policy as string);
    } catch {
      throw new UsageError(`--policy must be a ws:// URL, got '${v.policy}'`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new UsageError(`--policy must be a ws:// URL, got '${v.policy}'`);
    }
    policy = { kind: 'remote', url: `${url.protocol}//${url.host}${url.port === '' ? ':8000' : ''}` };
  }
  const o: Ur5Options = { policy };
  const hz = int('hz', v.hz, 1);
  if (hz !== undefined) o.controlHz = hz;
  const h = int('action-horizon', v['action-horizon'], 1);
  if (h !== undefined) o.actionHorizon = h;
  const steps = int('max-episode-steps', v['max-episode-steps'], 0);
  if (steps !== undefined) o.maxEpisodeSteps = steps;
  if (v.prompt !== undefined) o.prompt = v.prompt;
  return o;
}

async function main(): Promise<number> {
  let options: Ur5Options;
  try {
    options = parseUr5Args(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const { summary, config } = await runUr5({
    ...options,
    signal: stop.signal,
    onReady: (report) => console.log(formatStartupReport(report)),
  });
  console.log(formatSummary(summary, config));
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
