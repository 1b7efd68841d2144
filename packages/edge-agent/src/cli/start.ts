/**
 * `edge-agent start --robot aloha [options]`: runs the on-robot loop (see agent/aloha-agent.ts). With no options it
 * drives the emulated ALOHA with the demo bundle for one 500-step episode (10 s at 50 Hz) and exits 0.
 * stdout: startup report, then the summary; stderr: the live status line and warnings.
 * Ctrl-C / SIGTERM: e-stop (every tick holds), the run stops after the current step, the arms hold where they are,
 * everything closes, exit 0; a second signal exits at once with 130. Options and config file: docs/agent.md.
 */
import { parseArgs } from 'node:util';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { AlohaAgent, formatSummary } from '../agent/aloha-agent.js';
import { formatStartupReport } from '../agent/startup-report.js';
import { StatusLine } from '../agent/status-line.js';
import { DEMO_BUNDLE_DIR, loadConfigFile, parseConfigFile, resolveConfig } from '../config/load.js';
import type { AgentConfigFile } from '../config/schema.js';
import { attachKeyboard, attachSignals } from '../safety/estop-inputs.js';
import { numberFlag } from './flags.js';
import type { CliCommand } from './main.js';

const HELP = `usage: edge-agent start --robot aloha [options]

Drives an ALOHA (two ViperX 300 follower arms, four cameras) with a local bundle or a remote openpi server.
With no options: the emulated ALOHA and the demo π0 bundle, 1 episode of 500 steps at 50 Hz.

robot
  --robot <name>            robot (default aloha; the only one so far)
  --transport <t>           emulator | serial | ros2 (default emulator)
  --port-left <dev>         serial: left follower port (default /dev/ttyDXL_puppet_left)
  --port-right <dev>        serial: right follower port (default /dev/ttyDXL_puppet_right)
  --baud <n>                serial: bit/s (default 1000000)
  --cameras <src>           generated | ros2 (default generated; ros2 for --transport ros2)
  --ros-node-name <name>    ROS 2 node name of the agent (default openpi_edge_agent)
  --estop-topic <topic>     std_msgs/Bool e-stop topic, true = e-stop (default /openpi_edge/estop with
                            --transport ros2; given, it is subscribed with any transport when ROS 2 is sourced)
  --status-topic <topic>    std_msgs/String agent state as JSON at 2 Hz (default /openpi_edge/status)
model (one of)
  --bundle <dir>            local model bundle (default: demo π0, ${DEMO_BUNDLE_DIR})
  --policy <ws://host:port> remote openpi policy server
  --api-key <key>           remote: Api-Key header (default none)
  --providers <list>        local: execution providers in priority order (default tensorrt,cuda,cpu)
  --ort-path <path>         local: onnxruntime Node build with GPU providers (default $OPENPI_EDGE_ORT_PATH)
  --num-steps <n>           local: Euler steps per chunk (default: the manifest's)
  --seed <n>                local: noise seed (default random)
  --threads <n>             local: CPU intra-op threads, 0 = onnxruntime's choice (default: cores - 1)
loop
  --prompt <text>           task prompt (default: the model's / server's default)
  --hz <n>                  control rate in Hz (default 50)
  --horizon <n>             execution horizon: chunk rows executed per inference (default 25)
  --broker <b>              async | sync (default async: infers in the background, never blocks the loop)
  --episodes <n>            episodes (default 1)
  --max-steps <n>           steps per episode, 0 = until Ctrl-C (default 500 = 10 s at 50 Hz)
  --policy-timeout <ms>     longest a tick waits for the policy before holding (default 1000)
  --no-reset                do not move home before/after episodes (hold where the arms are)
  --status-interval <ms>    live status period, 0 = off (default 250; every 2 s when stderr is not a TTY)
  --config <file.json>      config file (flags override it); see docs/agent.md
  --print-config            print the resolved config as JSON and exit
  -h, --help`;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      robot: { type: 'string' },
      transport: { type: 'string' },
      'port-left': { type: 'string' },
      'port-right': { type: 'string' },
      baud: { type: 'string' },
      cameras: { type: 'string' },
      'ros-node-name': { type: 'string' },
      'estop-topic': { type: 'string' },
      'status-topic': { type: 'string' },
      bundle: { type: 'string' },
      policy: { type: 'string' },
      'api-key': { type: 'string' },
      providers: { type: 'string' },
      'ort-path': { type: 'string' },
      'num-steps': { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      prompt: { type: 'string' },
      hz: { type: 'string' },
      horizon: { type: 'string' },
      broker: { type: 'string' },
      episodes: { type: 'string' },
      'max-steps': { type: 'string' },
      'policy-timeout': { type: 'string' },
      'no-reset': { type: 'boolean' },
      'status-interval': { type: 'string' },
      config: { type: 'string' },
      'print-config': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

type Flags = ReturnType<typeof parse>;

/** The flags as a config object (validated by the same schema as the file). */
export function flagsToConfig(v: Flags): AgentConfigFile {
  if (v.bundle !== undefined && v.policy !== undefined) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', 'give either --bundle or --policy, not both', {
      option: 'policy',
    });
  }
  const drop = <T extends object>(o: T): T | undefined => {
    const e = Object.entries(o).filter(([, x]) => x !== undefined);
    return e.length === 0 ? undefined : (Object.fromEntries(e) as T);
  };
  const raw = {
    robot: v.robot,
    transport: v.transport,
    serial: drop({
      portLeft: v['port-left'],
      portRight: v['port-right'],
      baudRate: numberFlag('baud', v.baud, { min: 1, integer: true }),
    }),
    cameras: drop({ source: v.cameras }),
    ros2: drop({
      nodeName: v['ros-node-name'],
      estopTopic: v['estop-topic'],
      statusTopic: v['status-topic'],
    }),
    bundle: drop({
      dir: v.bundle,
      providers: v.providers?.split(',').map((s) => s.trim()),
      ortPath: v['ort-path'],
      numSteps: numberFlag('num-steps', v['num-steps'], { min: 1, integer: true }),
      seed: numberFlag('seed', v.seed, { min: 0, integer: true }),
      threads: numberFlag('threads', v.threads, { min: 0, integer: true }),
    }),
    remote: v.policy === undefined ? undefined : { url: v.policy, ...drop({ apiKey: v['api-key'] }) },
    prompt: v.prompt,
    controlHz: numberFlag('hz', v.hz, { min: 0, exclusive: true }),
    actionHorizon: numberFlag('horizon', v.horizon, { min: 1, integer: true }),
    broker: v.broker,
    episodes: numberFlag('episodes', v.episodes, { min: 1, integer: true }),
    maxSteps: numberFlag('max-steps', v['max-steps'], { min: 0, integer: true }),
    policyTimeoutMs: numberFlag('policy-timeout', v['policy-timeout'], { min: 1, integer: true }),
    reset: v['no-reset'] === true ? false : undefined,
    statusIntervalMs: numberFlag('status-interval', v['status-interval'], { min: 0, integer: true }),
  };
  if (v.policy !== undefined && raw.bundle !== undefined && raw.bundle.dir === undefined) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      '--providers/--ort-path/--num-steps/--seed/--threads apply to a local bundle, not to --policy',
      { option: 'policy' },
    );
  }
  return parseConfigFile(drop(raw) ?? {}, 'command-line flags');
}

export const startCommand: CliCommand = {
  summary: 'run the robot loop (default: emulated ALOHA + demo bundle, 10 s)',
  async run(argv) {
    let values: Flags;
    try {
      values = parse(argv);
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${HELP}`, {});
    }
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    const flags = flagsToConfig(values);
    const file = values.config === undefined ? {} : await loadConfigFile(values.config);
    const config = resolveConfig(file, flags);
    if (values['print-config'] === true) {
      console.log(JSON.stringify(config, null, 2));
      return 0;
    }
    console.log(
      `starting: ${config.model.kind === 'remote' ? `connecting to ${config.model.url}` : `loading ${config.model.dir}`}, ` +
        `${config.transport} transport...`,
    );
    const agent = await AlohaAgent.create(config);
    console.log(formatStartupReport(agent.report));
    const status = new StatusLine(process.stderr, () => agent.snapshot());
    let signals = 0;
    const onStop = (what: string): void => {
      signals += 1;
      if (signals > 1) {
        process.stderr.write(`\n${what} again: exiting now\n`);
        detachKeyboard(); // restores the terminal from raw mode
        process.exit(130);
      }
      process.stderr.write(`\n${what}: e-stop, holding the arms, stopping...\n`);
      agent.stop();
    };
    let detachKeyboard = (): void => {};
    const detachSignals = attachSignals(agent.gate.estop, process, { onSignal: onStop });
    detachKeyboard =
      process.stdin.isTTY === true
        ? attachKeyboard(agent.gate.estop, process.stdin, {
            onInterrupt: () => onStop('Ctrl-C'),
            onReset: (r) => process.stderr.write(`\ne-stop reset: ${JSON.stringify(r)}\n`),
          })
        : () => {};
    status.start(config.statusIntervalMs);
    try {
      const summary = await agent.run();
      status.stop();
      console.log(formatSummary(summary, config));
      return 0;
    } finally {
      status.stop();
      detachKeyboard();
      await agent.close();
      detachSignals();
    }
  },
};
