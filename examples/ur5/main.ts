/**
 * CLI of the ur5 example (the package's UR5 driver: the UR controller emulator by default, a real arm with
 * --ur-host; policy: the demo UR5 bundle by default, a local bundle or a remote openpi server):
 *   node --conditions=source --import tsx examples/ur5/main.ts                       # emulator, demo bundle
 *   node --conditions=source --import tsx examples/ur5/main.ts --policy ws://gpu-box:8000 \
 *     --ur-host 192.168.1.10 --gripper-port /dev/ttyUSB0 \
 *     --camera base_rgb=/dev/video0 --camera wrist_rgb=/dev/video2 --dry-run
 * On a robot fault (a protective stop) it asks on the terminal whether to resume; only an explicit `y` does.
 * Exit codes: 0 done; 1 failure; 2 bad flag.
 */
import { createInterface, type Interface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type EdgeAgent,
  formatStartupReport,
  formatSummary,
  parseNamedCameraFlag,
  UR5_CAMERAS,
} from '@openpi-edge/edge-agent';
import {
  runUr5,
  type Ur5CameraName,
  type Ur5CameraSpec,
  type Ur5FaultAnswer,
  type Ur5FaultEvent,
  type Ur5Options,
} from './ur5.js';

const USAGE = `usage: main.ts [--policy ws://HOST:PORT | --bundle DIR] [--ur-host ADDRESS] [--dry-run]
               [--gripper robotiq|none] [--gripper-port DEV]
               [--camera base_rgb|wrist_rgb=/dev/videoN|testsrc|generated ...]
               [--hz 20] [--action-horizon 10] [--max-episode-steps 200] [--prompt TEXT]
  no --ur-host: the UR controller emulator (and a Robotiq emulator); no --policy/--bundle: the demo UR5 bundle`;

class UsageError extends Error {}

function int(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

function camera(item: string): [Ur5CameraName, Ur5CameraSpec] {
  try {
    return parseNamedCameraFlag(item, UR5_CAMERAS);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Flags -> options (UsageError naming the flag on a bad value). */
export function parseUr5Args(argv: readonly string[]): Ur5Options {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      policy: { type: 'string' },
      bundle: { type: 'string' },
      'ur-host': { type: 'string' },
      gripper: { type: 'string' },
      'gripper-port': { type: 'string' },
      camera: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      hz: { type: 'string' },
      'action-horizon': { type: 'string' },
      'max-episode-steps': { type: 'string' },
      prompt: { type: 'string' },
    },
  });
  const o: Ur5Options = {};
  if (v.policy !== undefined && v.bundle !== undefined) {
    throw new UsageError('give at most one of --policy ws://HOST:PORT and --bundle DIR');
  }
  if (v.bundle !== undefined) {
    o.policy = { kind: 'bundle', dir: v.bundle };
  } else if (v.policy !== undefined) {
    let url: URL;
    try {
      url = new URL(v.policy);
    } catch {
      throw new UsageError(`--policy must be a ws:// URL, got '${v.policy}'`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new UsageError(`--policy must be a ws:// URL, got '${v.policy}'`);
    }
    o.policy = { kind: 'remote', url: `${url.protocol}//${url.host}${url.port === '' ? ':8000' : ''}` };
  }
  if (v['ur-host'] !== undefined) {
    if (v['ur-host'] === '') throw new UsageError('--ur-host needs the controller address');
    o.transport = 'rtde';
    o.host = v['ur-host'];
  }
  if (v.gripper !== undefined) {
    if (v.gripper !== 'robotiq' && v.gripper !== 'none') {
      throw new UsageError(`--gripper must be one of robotiq, none, got '${v.gripper}'`);
    }
    o.gripper = v.gripper;
  }
  if (v['gripper-port'] !== undefined) {
    if (o.gripper === 'none') throw new UsageError('--gripper-port goes with --gripper robotiq, not none');
    if (o.transport !== 'rtde') {
      throw new UsageError(
        '--gripper-port is for a real gripper (with --ur-host); the emulator makes its own',
      );
    }
    o.gripperPort = v['gripper-port'];
  }
  if (v.camera !== undefined) {
    const cameras: Partial<Record<Ur5CameraName, Ur5CameraSpec>> = {};
    for (const item of v.camera) {
      const [name, spec] = camera(item);
      cameras[name] = spec;
    }
    o.cameras = cameras;
  }
  if (o.transport === 'rtde') {
    const missing = UR5_CAMERAS.filter((c) => o.cameras?.[c] === undefined);
    if (missing.length > 0) {
      throw new UsageError(
        `--ur-host needs both cameras: add ${missing.map((c) => `--camera ${c}=/dev/videoN`).join(' ')} ` +
          '(or =testsrc for a bench test)',
      );
    }
  }
  if (v['dry-run'] === true) o.dryRun = true;
  const hz = int('hz', v.hz, 1);
  if (hz !== undefined) o.controlHz = hz;
  const h = int('action-horizon', v['action-horizon'], 1);
  if (h !== undefined) o.actionHorizon = h;
  const steps = int('max-episode-steps', v['max-episode-steps'], 0);
  if (steps !== undefined) o.maxEpisodeSteps = steps;
  if (v.prompt !== undefined) o.prompt = v.prompt;
  return o;
}

/**
 * The operator at the terminal, for `onRobotFault`: `y` resumes (unlocking a protective stop over the dashboard),
 * anything else ends the run with the arm where it is, and so does a closed input (no operator: never resume).
 * It reads its input for the whole run and drops every line typed while no question is open, so a `y` typed ahead
 * (before the fault) never answers the question.
 */
export class TerminalOperator {
  readonly #rl: Interface;
  readonly #output: NodeJS.WritableStream;
  #pending: ((line: string | null) => void) | null = null;
  #closed = false;

  /** `onInterrupt`: Ctrl-C on a TTY input (readline takes it from the process: it would not see a SIGINT). */
  constructor(
    input: NodeJS.ReadableStream = process.stdin,
    output: NodeJS.WritableStream = process.stderr,
    onInterrupt: () => void = () => process.kill(process.pid, 'SIGINT'),
  ) {
    this.#output = output;
    this.#rl = createInterface({ input, output });
    this.#rl.on('line', (line) => this.#answer(line));
    this.#rl.on('close', () => {
      this.#closed = true;
      this.#answer(null);
    });
    this.#rl.on('SIGINT', onInterrupt);
  }

  #answer(line: string | null): void {
    const p = this.#pending;
    this.#pending = null;
    p?.(line);
  }

  /** The `onRobotFault` hook. */
  readonly ask = (event: Ur5FaultEvent): Promise<Ur5FaultAnswer> => {
    const protective = event.faults.some((f) => f.code === 'PROTECTIVE_STOP');
    const list = event.faults.map((f) => `  ${f.code}: ${f.message}`).join('\n');
    this.#output.write(`\nrobot fault, holding:\n${list}\n`);
    if (this.#closed) {
      this.#output.write('no operator input (stdin closed): not resuming, ending the run\n');
      return Promise.resolve('stop');
    }
    return new Promise<Ur5FaultAnswer>((resolve) => {
      const cancel = (): void => {
        this.#pending = null;
        resolve('hold');
      };
      event.signal.addEventListener('abort', cancel, { once: true });
      this.#pending = (line) => {
        event.signal.removeEventListener('abort', cancel);
        const yes = line !== null && /^\s*y(es)?\s*$/i.test(line);
        if (!yes) this.#output.write('not resuming: ending the run, the arm stays where it is\n');
        resolve(yes ? (protective ? 'unlock-and-resume' : 'resume') : 'stop');
      };
      this.#rl.setPrompt(
        protective
          ? 'protective stop: unlock and resume? [y/N] '
          : 'cleared it (pendant, cable, e-stop released)? resume? [y/N] ',
      );
      this.#rl.prompt();
    });
  };

  close(): void {
    this.#rl.close();
  }
}

async function main(): Promise<number> {
  let options: Ur5Options;
  try {
    options = parseUr5Args(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  // Ctrl-C / SIGTERM: the agent's e-stop (every tick holds, the final home move holds where the arm is) and the
  // run ends; before the agent is up it cancels the start; a second one exits at once.
  const stop = new AbortController();
  let agent: EdgeAgent | undefined;
  let interrupts = 0;
  const interrupt = (what = 'Ctrl-C'): void => {
    interrupts += 1;
    if (interrupts > 1) {
      process.stderr.write(`\n${what} again: exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${what}: e-stop, holding the arm, stopping...\n`);
    if (agent === undefined) stop.abort();
    else agent.emergencyStop('signal', what);
  };
  process.on('SIGINT', () => interrupt('SIGINT'));
  process.on('SIGTERM', () => interrupt('SIGTERM'));
  const operator = new TerminalOperator(process.stdin, process.stderr, () => interrupt());
  const { summary, config, resumes } = await runUr5({
    ...options,
    signal: stop.signal,
    onReady: (report, a) => {
      agent = a;
      console.log(
        formatStartupReport({
          ...report,
          stop: 'Ctrl-C / SIGTERM: e-stop, hold, exit; a second one exits at once; a robot fault asks here whether to resume',
        }),
      );
    },
    onRobotFault: operator.ask,
    warn: (m) => console.warn(m),
  }).finally(() => operator.close());
  console.log(formatSummary(summary, config));
  if (resumes > 0) console.log(`resumed ${resumes} time${resumes === 1 ? '' : 's'} after a robot fault`);
  if (options.dryRun === true) console.log('dry run: connected and read only, nothing moved');
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
