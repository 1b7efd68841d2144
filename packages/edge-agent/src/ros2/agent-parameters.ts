/**
 * The agent's ROS 2 parameters: the launch file's argument names (ros2/launch/edge_agent.launch.py), each the
 * ROS 2 spelling of one `edge-agent start` flag. In: `--ros-args -p name:=value` becomes that flag (refused when the
 * flag is given too, or the value has the wrong type). Out: the agent declares every one of them, read-only, on its
 * node with the value it runs with, so `ros2 param list / get` (any parameter client) shows the effective settings.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { AgentConfig } from '../config/schema.js';
import type { Ros2ParameterType, Ros2ParameterValue, RosParamArg } from './ros-args.js';
import type { Ros2Parameter } from './surface.js';

export interface AgentParameterSpec {
  /** Parameter (= launch argument) name. */
  readonly name: string;
  /** The `start` flag it stands for. */
  readonly flag: string;
  readonly type: Ros2ParameterType;
  readonly description: string;
}

/** Every parameter, in the launch file's order. `double` ones also take an integer literal (`hz:=50`). */
export const AGENT_ROS2_PARAMETERS: readonly AgentParameterSpec[] = [
  { name: 'robot', flag: '--robot', type: 'string', description: 'robot plugin' },
  {
    name: 'transport',
    flag: '--transport',
    type: 'string',
    description: 'robot transport (ros2 on a ROS 2 cell)',
  },
  {
    name: 'ros_node_name',
    flag: '--ros-node-name',
    type: 'string',
    description: 'ROS 2 node name of the agent',
  },
  {
    name: 'policy',
    flag: '--policy',
    type: 'string',
    description: 'remote openpi policy server ws://host:port; empty = local bundle',
  },
  {
    name: 'bundle',
    flag: '--bundle',
    type: 'string',
    description: 'local model bundle directory; empty = remote policy',
  },
  {
    name: 'prompt',
    flag: '--prompt',
    type: 'string',
    description: 'task prompt; empty = the model or server default',
  },
  { name: 'cameras', flag: '--cameras', type: 'string', description: 'camera source kinds, comma separated' },
  {
    name: 'estop_topic',
    flag: '--estop-topic',
    type: 'string',
    description: 'std_msgs/Bool e-stop topic, true = e-stop',
  },
  {
    name: 'status_topic',
    flag: '--status-topic',
    type: 'string',
    description: 'std_msgs/String agent state as JSON',
  },
  { name: 'hz', flag: '--hz', type: 'double', description: 'control rate (Hz)' },
  { name: 'episodes', flag: '--episodes', type: 'integer', description: 'episodes to run' },
  {
    name: 'max_steps',
    flag: '--max-steps',
    type: 'integer',
    description: 'steps per episode, 0 = until stopped',
  },
  { name: 'config', flag: '--config', type: 'string', description: 'JSON config file; empty = none' },
];

function bad(message: string, context: Record<string, unknown>): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_ARGUMENT', message, { option: 'ros-args', ...context });
}

/** `args` contains `--flag v` or `--flag=v`. */
export function hasFlag(args: readonly string[], flag: string): boolean {
  return args.some((a) => a === flag || a.startsWith(`${flag}=`));
}

/**
 * `args` with each `-p` parameter appended as its flag. An empty string value leaves the flag out (the launch
 * file's "use the agent's default"). Unknown names, wrong types and a parameter given together with its flag are
 * BAD_ARGUMENT naming the parameter.
 */
export function rosParamsToArgs(params: readonly RosParamArg[], args: readonly string[]): string[] {
  const out = [...args];
  for (const p of params) {
    const spec = AGENT_ROS2_PARAMETERS.find((s) => s.name === p.name);
    if (spec === undefined) {
      throw bad(
        `--ros-args: unknown parameter '${p.name}' (parameters: ${AGENT_ROS2_PARAMETERS.map((s) => s.name).join(', ')})`,
        { parameter: p.name },
      );
    }
    if (hasFlag(args, spec.flag)) {
      throw bad(`parameter '${p.name}' and flag ${spec.flag} both given: use one`, { parameter: p.name });
    }
    let text: string;
    if (spec.type === 'string') {
      // A value ROS would type as a number or bool is still meant as text here (prompt:=42).
      text = typeof p.value === 'string' ? p.value : p.text;
      if (text === '') continue;
    } else if (
      (spec.type === 'integer' && p.type === 'integer') ||
      (spec.type === 'double' && (p.type === 'double' || p.type === 'integer') && Number.isFinite(p.value))
    ) {
      text = String(p.value);
    } else {
      throw bad(
        `parameter '${p.name}' must be ${spec.type === 'double' ? 'a finite number' : 'an integer'}, got ${p.type} '${p.text}'`,
        {
          parameter: p.name,
          expected: spec.type,
          got: p.type,
        },
      );
    }
    out.push(spec.flag, text);
  }
  return out;
}

/** What the agent runs with beyond its resolved config. */
export interface AgentRuntimeFacts {
  /** The e-stop topic subscribed. */
  estopTopic: string;
  /** The robot's camera sources' descriptions (`ros2:/cam_high/...`, `generated`): their kinds are `cameras`. */
  cameraSources: readonly string[];
  /** The `--config` file, if any. */
  configPath?: string;
}

/** What the parameters read back as for a resolved config. */
export function agentParameterValues(
  config: AgentConfig,
  facts: AgentRuntimeFacts,
): Record<string, Ros2ParameterValue> {
  const kinds = [...new Set(facts.cameraSources.map((d) => d.split(':')[0] ?? d))];
  const transport = (config.robotConfig as { transport?: unknown }).transport;
  return {
    robot: config.robot,
    transport: typeof transport === 'string' ? transport : '',
    ros_node_name: config.ros2.nodeName,
    policy: config.model.kind === 'remote' ? config.model.url : '',
    bundle: config.model.kind === 'remote' ? '' : config.model.dir,
    prompt: config.prompt ?? '',
    cameras: kinds.join(','),
    estop_topic: facts.estopTopic,
    status_topic: config.ros2.statusTopic,
    hz: config.controlHz,
    episodes: config.episodes,
    max_steps: config.maxSteps,
    config: facts.configPath ?? '',
  };
}

/** The parameters to declare, read-only, with `values` (from {@link agentParameterValues}). */
export function agentParameters(values: Record<string, Ros2ParameterValue>): Ros2Parameter[] {
  return AGENT_ROS2_PARAMETERS.map((s) => ({
    name: s.name,
    type: s.type,
    value: values[s.name] ?? (s.type === 'string' ? '' : 0),
    description: `${s.description} (${s.flag})`,
    readOnly: true,
  }));
}
