/**
 * `edge-agent replay <recording> --policy <bundle dir | ws://host:port>`: offline evaluation, the recorded
 * observations through a policy, its chunks compared with the recorded ones (replay/replay-policy.ts).
 * `edge-agent replay <recording> --dry-run [--robot <name>]`: the recorded commands through the SafetyGate into the
 * robot's emulator at the recorded rate, with the tracking error (replay/dry-run.ts).
 * stdout: the summary; `--json <file>` also writes it as JSON (NaN as null). Exit 0 done, 1 runtime failure,
 * 2 usage error or bad recording (BAD_ARGUMENT naming it). Dry run: SIGINT / SIGTERM latch the e-stop, the next
 * tick holds and the replay stops there (exit 0 with the summary).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type ClosablePolicy, OpenpiEdgeError, WebsocketClientPolicy } from '@openpi-edge/client';
import { cpuThreads } from '../agent/edge-agent.js';
import { DEMO_BUNDLE_DIR } from '../config/load.js';
import { WorkerPolicy } from '../inference/worker-policy.js';
import { parseProviderList } from '../model/execution-providers.js';
import { type DifferenceSummary, fmt, formatJointTable } from '../replay/compare.js';
import { type DryRunSummary, dryRun } from '../replay/dry-run.js';
import { McapRecording } from '../replay/mcap-recording.js';
import { openRecording } from '../replay/open-recording.js';
import type { RecordingSource } from '../replay/recorded-episode.js';
import { type PolicyReplaySummary, replayPolicy } from '../replay/replay-policy.js';
import { findRobot } from '../robots/registry.js';
import { attachSignals } from '../safety/estop-inputs.js';
import { numberFlag } from './flags.js';
import type { CliCommand } from './main.js';

const HELP = `usage: edge-agent replay <recording> --policy <bundle dir | ws://host:port> [options]
       edge-agent replay <recording> --dry-run [--robot <name>] [options]

<recording>: an MCAP log of \`edge-agent start --record-mcap\` (a file ending .mcap).

offline evaluation (--policy): every recorded inference's observation (its camera frames, the joint state of that
moment, the recorded prompt) goes through the policy; its chunk is compared with the recorded one (per-joint mean /
max |difference|, RMS, first action). π0 samples from noise: differences are expected unless the same noise is used.
  --policy <dir | ws://h:p>  a local model bundle (e.g. ${DEMO_BUNDLE_DIR}) or a remote openpi server
  --api-key <key>           remote: Api-Key header
  --request-timeout-ms <n>  remote: reply deadline per chunk (default 30000)
  --providers <list>        local: execution providers in priority order (default tensorrt,cuda,cpu)
  --threads <n>             local: CPU intra-op threads (default cores - 1)
  --num-steps <n>           local: Euler steps per chunk (default: the manifest's)
  --seed <n>                local: noise seed (default random)
  --ort-path <path>         local: onnxruntime Node build with GPU providers
  --prompt <text>           prompt to send (default: the recorded one, else the model's / server's default)
  --rows <n>                compare at most this many rows of each chunk (default all)
  --stride <n>              datasets: ask the policy every n steps (default: its chunk length)

dry run (--dry-run): the recorded commands, at the recorded control rate, through the safety gate into the robot's
emulator; reports holds by fault code, clamps, and the tracking error of the emulator against the recorded joints.
  --robot <name>            robot plugin (default: the recording's robot)
  --hz <n>                  control rate (default: the recording's)
  --no-reset                do not reset and move to the recording's first pose before each episode
  Ctrl-C / SIGTERM          e-stop: the next tick holds, the replay stops

  --json <file>             also write the summary as JSON
  -h, --help`;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        policy: { type: 'string' },
        'api-key': { type: 'string' },
        'request-timeout-ms': { type: 'string' },
        providers: { type: 'string' },
        threads: { type: 'string' },
        'num-steps': { type: 'string' },
        seed: { type: 'string' },
        'ort-path': { type: 'string' },
        prompt: { type: 'string' },
        rows: { type: 'string' },
        stride: { type: 'string' },
        'dry-run': { type: 'boolean' },
        robot: { type: 'string' },
        hz: { type: 'string' },
        'no-reset': { type: 'boolean' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${HELP}`, {});
  }
}

type Values = ReturnType<typeof parse>['values'];

async function loadPolicy(
  target: string,
  v: Values,
): Promise<{ policy: ClosablePolicy; description: string }> {
  if (/^wss?:\/\//.test(target)) {
    const timeout = numberFlag('request-timeout-ms', v['request-timeout-ms'], { min: 1, integer: true });
    const client = new WebsocketClientPolicy({
      host: target,
      ...(v['api-key'] === undefined ? {} : { apiKey: v['api-key'] }),
      connectTimeoutMs: 10_000,
      requestTimeoutMs: timeout ?? 30_000,
      // Offline: fail after a few attempts instead of waiting for the server forever.
      reconnect: { maxAttempts: 3, initialDelayMs: 200, maxDelayMs: 1000 },
    });
    try {
      await client.connect();
    } catch (e) {
      await client.close();
      throw e;
    }
    return { policy: client, description: `remote ${client.uri}` };
  }
  const threads = numberFlag('threads', v.threads, { min: 0, integer: true });
  const numSteps = numberFlag('num-steps', v['num-steps'], { min: 1, integer: true });
  const seed = numberFlag('seed', v.seed, { min: 0, integer: true });
  const policy = await WorkerPolicy.load(target, {
    executionProviders: parseProviderList(v.providers ?? 'tensorrt,cuda,cpu').map((p) =>
      p.name === 'cpu' ? { ...p, threads: cpuThreads(threads) } : p,
    ),
    ...(v['ort-path'] === undefined ? {} : { ortModulePath: v['ort-path'] }),
    ...(numSteps === undefined ? {} : { numSteps }),
    ...(seed === undefined ? {} : { seed }),
    onProviderWarning: (m) => console.warn(`warning: ${m}`),
  });
  const m = policy.manifest;
  return {
    policy,
    description:
      `${m.model_type} bundle ${target} (robot ${m.robot.kind}, H=${m.action_horizon}, ${numSteps ?? m.num_steps} ` +
      `Euler steps${seed === undefined ? ', random noise' : `, seed ${seed}`}; ${policy.report.provider.name})`,
  };
}

function diffLine(label: string, d: DifferenceSummary): string {
  return `  ${label.padEnd(9)} RMS ${fmt(d.rms)}, mean |d| ${fmt(d.meanAbs)}, max |d| ${fmt(d.maxAbs)} over ${d.values} values (${d.rows} rows${d.skipped > 0 ? `, ${d.skipped} non-finite skipped` : ''})`;
}

export function formatPolicyReplay(s: PolicyReplaySummary, policy: string): string {
  return [
    `replay: ${s.recording}`,
    `  policy    ${policy}`,
    `  prompt    ${s.prompt === null ? "the model's / server's default" : JSON.stringify(s.prompt)}`,
    `  compared  ${s.chunksCompared} chunks of ${s.inferences} ${s.stride === null ? 'recorded inferences' : `queries (every ${s.stride} steps)`}` +
      ` (skipped: ${s.skippedFailed} failed, ${s.skippedNoFrames} without frames); recorded ${s.recordedShape === null ? '-' : `[${s.recordedShape.join(', ')}]`}, ` +
      `policy [${s.policyShape?.join(', ') ?? '-'}]${s.stride === null ? `; state from joint states up to ${s.maxStateGapMs.toFixed(0)} ms away` : ''}`,
    diffLine('actions', s.actions),
    diffLine('first', s.firstAction),
    '  per joint (all rows):',
    ...formatJointTable(s.actions),
    '  per joint (first action):',
    ...formatJointTable(s.firstAction),
    "  note: π0 / π0.5 sample from noise; differences are expected unless the recorded run's noise is used",
  ].join('\n');
}

export function formatDryRun(s: DryRunSummary): string {
  const holds = Object.entries(s.holdsByFault)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  const joints = Object.entries(s.clamps.byJoint)
    .sort((a, b) => b[1] - a[1])
    .map(([j, n]) => `${j} ${n}`)
    .join(', ');
  return [
    `replay (dry run): ${s.recording}`,
    `  robot     ${s.robot}: ${s.robotDescription}, ${s.hz} Hz`,
    `  steps     ${s.steps} through the gate (${s.recordedHolds} without a recorded command), ${s.moves} moves, ${s.holds} holds; ` +
      `${s.positioningMoves} positioning moves before the episodes; late ticks ${s.meanLateMs.toFixed(2)} ms mean`,
    `  holds     ${holds || 'none'}`,
    `  clamps    position ${s.clamps.position}, rate ${s.clamps.rate}${joints === '' ? '' : ` (${joints})`}`,
    `  tracking  emulator vs recorded joints: mean |d| ${fmt(s.tracking.meanAbs)}, max |d| ${fmt(s.tracking.maxAbs)}, RMS ${fmt(s.tracking.rms)} over ${s.tracking.rows} steps`,
    ...formatJointTable(s.tracking),
    ...(s.estop === null
      ? []
      : [`  e-stop    by ${s.estop.source} (${s.estop.reason})${s.stoppedEarly ? ': stopped early' : ''}`]),
  ].join('\n');
}

async function writeJson(file: string, value: unknown): Promise<void> {
  try {
    await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
  } catch (e) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `--json ${file}: cannot write (${(e as Error).message})`, {
      option: 'json',
      file,
    });
  }
}

export const replayCommand: CliCommand = {
  summary:
    'replay a recording: through a policy (compare chunks) or, --dry-run, through the gate into an emulator',
  async run(argv) {
    const { values: v, positionals } = parse(argv);
    if (v.help === true) {
      console.log(HELP);
      return 0;
    }
    const [path, ...extra] = positionals;
    if (path === undefined || extra.length > 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `${path === undefined ? 'give one recording' : `one recording only, got ${positionals.length}`}\n\n${HELP}`,
        { option: 'recording' },
      );
    }
    const dry = v['dry-run'] === true;
    if (dry === (v.policy !== undefined)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `give either --policy <bundle dir | ws://host:port> or --dry-run\n\n${HELP}`,
        {
          option: 'policy',
        },
      );
    }
    const rows = numberFlag('rows', v.rows, { min: 1, integer: true });
    const stride = numberFlag('stride', v.stride, { min: 1, integer: true });
    const hz = numberFlag('hz', v.hz, { min: 0, exclusive: true });
    const source: RecordingSource = await openRecording(path);
    try {
      if (dry) {
        const plugin = findRobot(v.robot ?? source.robot ?? 'aloha');
        let detach: (() => void) | null = null;
        let summary: DryRunSummary;
        try {
          summary = await dryRun(source, {
            plugin,
            moveToStart: v['no-reset'] !== true,
            ...(hz === undefined ? {} : { hz }),
            onReady: ({ gate }) => {
              detach = attachSignals(gate.estop, process, {
                onSignal: (s) => console.error(`${s}: e-stop latched, holding and stopping`),
              });
            },
          });
        } finally {
          (detach as (() => void) | null)?.();
        }
        console.log(formatDryRun(summary));
        if (v.json !== undefined) await writeJson(v.json, { mode: 'dry-run', ...summary });
        return 0;
      }
      if (source instanceof McapRecording && source.inferenceCount === 0) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `${source.description}: no recorded inferences (/policy/chunk): nothing to compare a policy with`,
          { file: path, reason: 'no inferences' },
        );
      }
      const { policy, description } = await loadPolicy(v.policy as string, v);
      let summary: PolicyReplaySummary;
      try {
        summary = await replayPolicy(source, policy, {
          ...(v.prompt === undefined ? {} : { prompt: v.prompt }),
          ...(rows === undefined ? {} : { rows }),
          ...(stride === undefined ? {} : { stride }),
        });
      } finally {
        await policy.close();
      }
      console.log(formatPolicyReplay(summary, description));
      if (v.json !== undefined) await writeJson(v.json, { mode: 'policy', policy: description, ...summary });
      return 0;
    } finally {
      await source.close();
    }
  },
};
