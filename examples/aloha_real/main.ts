/**
 * CLI of the aloha_real example (openpi's `examples/aloha_real/main.py` flags, kebab-case):
 *   node --conditions=source --import tsx examples/aloha_real/main.ts --host localhost --port 8000
 * Exit codes: 0 done; 1 failure (message on stderr); 2 bad flag.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type AlohaCameraConfig, type AlohaCameraName, parseCameraFlag } from '@openpi-edge/edge-agent';
import { type AlohaRealOptions, runAlohaReal } from './aloha-real.js';

const USAGE = `usage: main.ts [--host 0.0.0.0] [--port 8000] [--action-horizon 25] [--num-episodes 1]
               [--max-episode-steps 1000] [--max-hz 50] [--broker sync|async] [--prompt TEXT]
               [--transport emulator|serial|ros2] [--port-left DEV --port-right DEV]
               [--camera NAME=/dev/videoN|ros2[:TOPIC]|testsrc|none ...]`;

class UsageError extends Error {}

function int(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

function oneOf<T extends string>(name: string, raw: string | undefined, known: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(known as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name} must be one of ${known.join(', ')}, got '${raw}'`);
  }
  return raw as T;
}

/** Flags -> options (UsageError naming the flag on a bad value). */
export function parseAlohaRealArgs(argv: readonly string[]): AlohaRealOptions {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'action-horizon': { type: 'string' },
      'num-episodes': { type: 'string' },
      'max-episode-steps': { type: 'string' },
      'max-hz': { type: 'string' },
      broker: { type: 'string' },
      prompt: { type: 'string' },
      transport: { type: 'string' },
      'port-left': { type: 'string' },
      'port-right': { type: 'string' },
      camera: { type: 'string', multiple: true },
    },
  });
  const options: AlohaRealOptions = {};
  if (v.host !== undefined) options.host = v.host;
  const set = <K extends keyof AlohaRealOptions>(key: K, value: AlohaRealOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('port', int('port', v.port, 1));
  set('actionHorizon', int('action-horizon', v['action-horizon'], 1));
  set('numEpisodes', int('num-episodes', v['num-episodes'], 1));
  set('maxEpisodeSteps', int('max-episode-steps', v['max-episode-steps'], 0));
  set('maxHz', int('max-hz', v['max-hz'], 0));
  set('broker', oneOf('broker', v.broker, ['sync', 'async'] as const));
  set('transport', oneOf('transport', v.transport, ['emulator', 'serial', 'ros2'] as const));
  set('prompt', v.prompt);
  if ((v['port-left'] === undefined) !== (v['port-right'] === undefined)) {
    throw new UsageError('--port-left and --port-right go together');
  }
  if (v['port-left'] !== undefined && v['port-right'] !== undefined) {
    options.ports = { left: v['port-left'], right: v['port-right'] };
  }
  if (v.camera !== undefined) {
    const cameras: Partial<Record<AlohaCameraName, AlohaCameraConfig>> = {};
    for (const item of v.camera) {
      try {
        const [name, spec] = parseCameraFlag(item);
        cameras[name] = spec;
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    options.cameras = cameras;
  }
  return options;
}

async function main(): Promise<number> {
  let options: AlohaRealOptions;
  try {
    options = parseAlohaRealArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const { summary, resetPose, gate } = await runAlohaReal({ ...options, signal: stop.signal });
  console.log(`reset pose [${resetPose.map((x) => x.toFixed(3)).join(', ')}]`);
  for (const e of summary.episodes) {
    console.log(
      `episode ${e.index + 1}: ${e.steps} steps in ${(e.durationMs / 1000).toFixed(1)} s (${e.endReason})`,
    );
  }
  console.log(
    `total ${summary.totalSteps} steps, overruns ${summary.overruns}${summary.stopped ? ', stopped' : ''}`,
  );
  const faults = Object.entries(gate.faults)
    .filter(([, n]) => n > 0)
    .map(([code, n]) => `${code} ${n}`);
  console.log(
    `safety gate: ${gate.moves} moves, ${gate.holds} holds (position clamps ${gate.positionLimited}, ` +
      `rate limits ${gate.rateLimited}); faults: ${faults.join(', ') || 'none'}`,
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
