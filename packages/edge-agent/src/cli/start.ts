/**
 * `edge-agent start --robot <name> [options]`: runs the on-robot loop (see agent/edge-agent.ts) on a robot plugin
 * (robots/registry.ts). With no options it drives the emulated ALOHA with the demo bundle for one 500-step episode
 * (10 s at 50 Hz) and exits 0. Robot-specific flags come from the plugin (`--robot aloha --help` lists them).
 * stdout: startup report, then the summary; stderr: the live status line and warnings.
 * Ctrl-C / SIGTERM: e-stop (every tick holds), the run stops after the current step, the arms hold where they are,
 * everything closes, exit 0; a second signal exits at once with 130. Options and config file: docs/agent.md.
 */
import { parseArgs } from 'node:util';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { EdgeAgent, formatRecording, formatSummary } from '../agent/edge-agent.js';
import { formatStartupReport } from '../agent/startup-report.js';
import { StatusLine } from '../agent/status-line.js';
import { DEMO_BUNDLE_DIR, loadConfigFile, parseConfigFile, resolveConfig } from '../config/load.js';
import type { AgentConfigFile } from '../config/schema.js';
import type { AnyRobotPlugin } from '../robots/interface.js';
import { BUILTIN_ROBOTS, findRobot } from '../robots/registry.js';
import { hasFlag, rosParamsToArgs } from '../ros2/agent-parameters.js';
import { DEFAULT_ESTOP_TOPIC } from '../ros2/agent-topics.js';
import { splitRosArgs } from '../ros2/ros-args.js';
import { attachKeyboard, attachSignals } from '../safety/estop-inputs.js';
import { numberFlag } from './flags.js';
import type { CliCommand } from './main.js';

type AnyPlugin = AnyRobotPlugin;

function robotHelp(plugin: AnyPlugin): string {
  return plugin.flags
    .map((f) => `  --${f.name}${f.type === 'string' ? ' <v>' : ''}`.padEnd(28) + f.help)
    .join('\n');
}

function help(plugin: AnyPlugin): string {
  return `usage: edge-agent start --robot <name> [options]

Drives a robot with a local bundle or a remote openpi server. With no options: the emulated ALOHA and the demo
π0 bundle, 1 episode of 500 steps at 50 Hz. Robots: ${BUILTIN_ROBOTS.map((p) => p.name).join(', ')}.

robot
  --robot <name>            robot plugin (default aloha)
${plugin.name} (${plugin.summary})
${robotHelp(plugin)}
ros 2
  --ros-node-name <name>    ROS 2 node name of the agent (default openpi_edge_agent)
  --estop-topic <topic>     std_msgs/Bool e-stop topic, true = e-stop (default /openpi_edge/estop when the robot
                            runs on ROS 2; given, it is subscribed with any transport, and fails start-up if
                            ROS 2 is not available)
  --status-topic <topic>    std_msgs/String agent state as JSON at 2 Hz (default /openpi_edge/status)
  --ros-args -p name:=value [-r __node:=name] [--]
                            launched as a ROS 2 node: parameters with the launch file's names (robot, transport,
                            ros_node_name, policy, bundle, prompt, cameras, estop_topic, status_topic, hz, episodes,
                            max_steps, config), each the flag of that name; the agent declares them read-only on
                            its node with the values it runs with, and subscribes its e-stop topic
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
  --rtc <mode>              real-time chunking: off (default) | guidance (the bundle's VJP graph) | inpaint
                            (no VJP, any bundle); each chunk continues the executing one (docs/rtc.md)
  --rtc-schedule <s>        soft mask over the overlap: exp (default) | linear | ones | zeros
  --rtc-max-guidance <b>    cap on the guidance weight (default 5)
  --episodes <n>            episodes (default 1)
  --max-steps <n>           steps per episode, 0 = until Ctrl-C (default 500 = 10 s at 50 Hz)
  --policy-timeout <ms>     longest a tick waits for the policy before holding (default 1000)
  --first-chunk-timeout <ms> longest the first chunk of an episode may take, fetched before the episode clock
                            starts (default 60000)
  --no-reset                do not move home before/after episodes (hold where the robot is)
  --reset-speed <f>         fraction of each joint's maximum velocity a reset uses, 0 < f <= 1 (default 0.5)
  --status-interval <ms>    live status period, 0 = off (default 250; every 2 s when stderr is not a TTY)
record
  --record <dir>            append each episode to the LeRobot v2.1 dataset in <dir> (created if absent): joint
                            states, the gate's commands, one mp4 per camera; openpi/lerobot train on it
  --record-mcap <file>      write an MCAP log of the run: camera frames the policy got (JPEG), joint states,
                            policy chunks, the gate's decisions and faults, loop timings (docs/agent.md)
  --foxglove-port <n>       serve the same topics live to Foxglove (Foxglove WebSocket protocol; 0 = any port)
  --foxglove-host <addr>    interface for the live view (default 127.0.0.1)
  --status-port <n>         serve the status page (cameras, plots, latency, faults, e-stop button) on http; 0 = any
  --status-host <addr>      interface for the status page (default 127.0.0.1: loopback only)
  --config <file.json>      config file (flags override it); see docs/agent.md
  --print-config            print the resolved config as JSON and exit
  -h, --help`;
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

function parse(argv: string[], plugin: AnyPlugin) {
  const robotOptions: Record<string, OptionSpec> = Object.fromEntries(
    plugin.flags.map((f) => [f.name, { type: f.type, ...(f.multiple === true ? { multiple: true } : {}) }]),
  );
  return parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      ...robotOptions,
      robot: { type: 'string' },
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
      rtc: { type: 'string' },
      'rtc-schedule': { type: 'string' },
      'rtc-max-guidance': { type: 'string' },
      episodes: { type: 'string' },
      'max-steps': { type: 'string' },
      'policy-timeout': { type: 'string' },
      'first-chunk-timeout': { type: 'string' },
      'no-reset': { type: 'boolean' },
      'reset-speed': { type: 'string' },
      'status-interval': { type: 'string' },
      'record-mcap': { type: 'string' },
      record: { type: 'string' },
      'foxglove-port': { type: 'string' },
      'foxglove-host': { type: 'string' },
      'status-port': { type: 'string' },
      'status-host': { type: 'string' },
      config: { type: 'string' },
      'print-config': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

type Flags = ReturnType<typeof parse>;

/** The plugin `--robot` names in `argv` (default aloha), looked up before the rest is parsed. */
export function robotOfArgs(
  argv: readonly string[],
  plugins: readonly AnyPlugin[] = BUILTIN_ROBOTS,
): AnyPlugin {
  let name = 'aloha';
  argv.forEach((a, i) => {
    if (a === '--robot' && argv[i + 1] !== undefined) name = argv[i + 1] as string;
    else if (a.startsWith('--robot=')) name = a.slice('--robot='.length);
  });
  return findRobot(name, plugins);
}

/** The flags as a config object (validated by the same schema as the file). */
export function flagsToConfig(v: Flags, plugin: AnyPlugin = findRobot(v.robot ?? 'aloha')): AgentConfigFile {
  if (v.bundle !== undefined && v.policy !== undefined) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', 'give either --bundle or --policy, not both', {
      option: 'policy',
    });
  }
  const drop = <T extends object>(o: T): T | undefined => {
    const e = Object.entries(o).filter(([, x]) => x !== undefined);
    return e.length === 0 ? undefined : (Object.fromEntries(e) as T);
  };
  const section = plugin.flagsToConfig(v as Record<string, string | boolean | string[] | undefined>);
  const raw = {
    robot: plugin.name,
    [plugin.name]: Object.keys(section).length === 0 ? undefined : section,
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
    rtc: drop({
      mode: v.rtc,
      schedule: v['rtc-schedule'],
      maxGuidance: numberFlag('rtc-max-guidance', v['rtc-max-guidance'], { min: 0 }),
    }),
    episodes: numberFlag('episodes', v.episodes, { min: 1, integer: true }),
    maxSteps: numberFlag('max-steps', v['max-steps'], { min: 0, integer: true }),
    policyTimeoutMs: numberFlag('policy-timeout', v['policy-timeout'], { min: 1, integer: true }),
    firstChunkTimeoutMs: numberFlag('first-chunk-timeout', v['first-chunk-timeout'], {
      min: 1,
      integer: true,
    }),
    reset: v['no-reset'] === true ? false : undefined,
    resetSpeed: numberFlag('reset-speed', v['reset-speed'], { min: 0, exclusive: true }),
    statusIntervalMs: numberFlag('status-interval', v['status-interval'], { min: 0, integer: true }),
    recordMcap: v['record-mcap'],
    record: v.record,
    foxglove:
      v['foxglove-port'] === undefined
        ? undefined
        : {
            port: numberFlag('foxglove-port', v['foxglove-port'], { min: 0, integer: true }),
            host: v['foxglove-host'],
          },
    statusPage:
      v['status-port'] === undefined
        ? undefined
        : {
            port: numberFlag('status-port', v['status-port'], { min: 0, integer: true }),
            host: v['status-host'],
          },
  };
  if (v['status-host'] !== undefined && v['status-port'] === undefined) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      '--status-host needs --status-port (the status page is off without it)',
      { option: 'status-host' },
    );
  }
  if (v['foxglove-host'] !== undefined && v['foxglove-port'] === undefined) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      '--foxglove-host needs --foxglove-port (the live view is off without it)',
      {
        option: 'foxglove-host',
      },
    );
  }
  if (v.policy !== undefined && raw.bundle !== undefined && raw.bundle.dir === undefined) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      '--providers/--ort-path/--num-steps/--seed/--threads apply to a local bundle, not to --policy',
      { option: 'policy' },
    );
  }
  return parseConfigFile(drop(raw) ?? {}, 'command-line flags');
}

/**
 * `argv` with its `--ros-args` section (launched as a ROS 2 node) turned into flags: `-p name:=value` by
 * ros2/agent-parameters.ts, `-r __node:=name` as `--ros-node-name`. A node launched this way has its e-stop topic:
 * `--estop-topic` defaults to /openpi_edge/estop then, whatever the transport.
 */
export function withRosArgs(argv: readonly string[]): string[] {
  const ros = splitRosArgs(argv);
  if (!ros.present) return [...argv];
  const args = rosParamsToArgs(ros.params, ros.args);
  if (ros.nodeName !== undefined) {
    if (hasFlag(args, '--ros-node-name')) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        '-r __node:= and --ros-node-name (or -p ros_node_name) both given: use one',
        {
          option: 'ros-args',
        },
      );
    }
    args.push('--ros-node-name', ros.nodeName);
  }
  if (!hasFlag(args, '--estop-topic')) {
    args.push('--estop-topic', DEFAULT_ESTOP_TOPIC);
  }
  return args;
}

export const startCommand: CliCommand = {
  summary: 'run the robot loop (default: emulated ALOHA + demo bundle, 10 s)',
  async run(rawArgv) {
    const argv = withRosArgs(rawArgv);
    const plugin = robotOfArgs(argv);
    let values: Flags;
    try {
      values = parse(argv, plugin);
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${help(plugin)}`, {});
    }
    if (values.help === true) {
      console.log(help(plugin));
      return 0;
    }
    const flags = flagsToConfig(values, plugin);
    const file = values.config === undefined ? {} : await loadConfigFile(values.config);
    const config = resolveConfig(file, flags);
    if (values['print-config'] === true) {
      console.log(JSON.stringify(config, null, 2));
      return 0;
    }
    console.log(
      `starting: ${config.model.kind === 'remote' ? `connecting to ${config.model.url}` : `loading ${config.model.dir}`}, ` +
        `robot ${config.robot}...`,
    );
    const agent = await EdgeAgent.create(config, {
      ...(values.config === undefined ? {} : { configPath: values.config }),
    });
    console.log(formatStartupReport(agent.report));
    if (agent.liveUrl !== null) {
      // One line scripts can match (tests do), like serve's `listening on`.
      console.log(`foxglove live view on ${agent.liveUrl} (Foxglove: Open connection -> Foxglove WebSocket)`);
    }
    if (agent.statusUrl !== null) console.log(`status page on ${agent.statusUrl}`);
    const status = new StatusLine(process.stderr, () => agent.snapshot());
    let signals = 0;
    const onStop = (what: string): void => {
      signals += 1;
      if (signals > 1) {
        process.stderr.write(`\n${what} again: exiting now\n`);
        detachKeyboard(); // restores the terminal from raw mode
        process.exit(130);
      }
      process.stderr.write(`\n${what}: e-stop, holding the robot, stopping...\n`);
      agent.stop();
    };
    let detachKeyboard = (): void => {};
    const detachSignals = attachSignals(agent.gate.estop, process, { onSignal: onStop });
    detachKeyboard =
      process.stdin.isTTY === true
        ? attachKeyboard(agent.gate.estop, process.stdin, {
            onInterrupt: () => onStop('Ctrl-C'),
            onReset: (r) => {
              // `r` is also the user's resume after a robot fault (a UR protective stop cleared on the pendant).
              if (agent.robot.faults().length > 0) {
                process.stderr.write('\nresuming the robot...\n');
                agent.resume().then(
                  (again) =>
                    process.stderr.write(
                      `resumed${again === null ? '' : `; e-stop reset: ${JSON.stringify(again)}`}\n`,
                    ),
                  (e: unknown) => process.stderr.write(`resume refused: ${(e as Error).message}\n`),
                );
              } else {
                process.stderr.write(`\ne-stop reset: ${JSON.stringify(r)}\n`);
              }
            },
          })
        : () => {};
    status.start(config.statusIntervalMs);
    try {
      const summary = await agent.run();
      status.stop();
      console.log(formatSummary(summary, config));
    } finally {
      status.stop();
      detachKeyboard();
      await agent.close();
      detachSignals();
    }
    if (agent.recording !== null) console.log(formatRecording(agent.recording));
    return 0;
  },
};
