/**
 * "Launch the agent as a ROS 2 node" without ROS 2's `launch` (not installable here): the launch file compiles, its
 * parameter list is exactly the agent's (src/ros2/agent-parameters.ts), and the command it builds — produced by
 * running its own `_agent` function with stand-ins for the three `launch` classes it uses — is accepted by the real
 * CLI and reaches the resolved config with the values given as launch arguments.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_ROS2_PARAMETERS } from '../../src/ros2/agent-parameters.js';
import { REPO_ROOT, runCli } from './helpers.js';

const LAUNCH = join(REPO_ROOT, 'packages', 'edge-agent', 'ros2', 'launch', 'edge_agent.launch.py');

/**
 * The command the launch file runs for `launchArgs` (launch argument -> value; the rest keep their defaults):
 * its `_agent(context)` with `LaunchConfiguration(name).perform(context)` reading the values and `ExecuteProcess`
 * recording its `cmd`.
 */
function launchCommand(launchArgs: Record<string, string>): { cmd: string[]; params: string[] } {
  const py = `
import json, sys, types
launch = types.ModuleType('launch'); actions = types.ModuleType('launch.actions'); subs = types.ModuleType('launch.substitutions')
class LaunchDescription(list): pass
class DeclareLaunchArgument:
    def __init__(self, name, default_value='', description=''): self.name, self.default = name, default_value
class ExecuteProcess:
    def __init__(self, cmd, **kw): self.cmd, self.kw = cmd, kw
class OpaqueFunction:
    def __init__(self, function): self.function = function
class LaunchConfiguration:
    def __init__(self, name): self.name = name
    def perform(self, context): return context[self.name]
launch.LaunchDescription = LaunchDescription
actions.DeclareLaunchArgument, actions.ExecuteProcess, actions.OpaqueFunction = DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
subs.LaunchConfiguration = LaunchConfiguration
sys.modules.update({'launch': launch, 'launch.actions': actions, 'launch.substitutions': subs})
ns = {'__file__': sys.argv[1], '__name__': 'edge_agent_launch'}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], 'exec'), ns)
desc = ns['generate_launch_description']()
context = {a.name: a.default for a in desc if isinstance(a, DeclareLaunchArgument)}
context.update(json.loads(sys.argv[2]))
proc = ns['_agent'](context)[0]
print(json.dumps({'cmd': proc.cmd, 'params': ns['_PARAMS']}))
`;
  return JSON.parse(
    execFileSync('python3', ['-c', py, LAUNCH, JSON.stringify(launchArgs)], { encoding: 'utf8' }),
  );
}

async function printConfig(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const cli = runCli(['start', ...args, '--print-config']);
  const { code } = await cli.exited;
  return { code, out: cli.stdout.join('\n'), err: cli.stderr.join('\n') };
}

describe('edge-agent as a ROS 2 node: the launch file', () => {
  it("is valid Python and passes exactly the agent's parameters", () => {
    expect(() => execFileSync('python3', ['-m', 'py_compile', LAUNCH], { stdio: 'pipe' })).not.toThrow();
    expect(launchCommand({}).params).toEqual(AGENT_ROS2_PARAMETERS.map((p) => p.name));
  });

  it('its command runs the CLI with --ros-args parameters that reach the resolved config', async () => {
    const { cmd } = launchCommand({
      ros_node_name: 'cell_agent',
      policy: 'ws://gpu-box:8000',
      prompt: "fold the towel, don't rush",
      cameras: 'ros2',
      estop_topic: '/cell/estop',
      status_topic: '/cell/status',
      hz: '25',
      episodes: '2',
      max_steps: '0',
      extra_args: '--no-reset',
    });
    expect(cmd.slice(0, 3)).toEqual(['node', expect.stringMatching(/bin\/edge-agent\.js$/), 'start']);
    expect(cmd).toContain('--ros-args');
    expect(cmd).toContain('-p');
    const r = await printConfig(cmd.slice(3));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const config = JSON.parse(r.out) as {
      ros2: unknown;
      robot: string;
      robotConfig: { transport: string; cameras: Record<string, unknown> };
      model: { kind: string; url?: string };
      prompt: string;
      controlHz: number;
      episodes: number;
      maxSteps: number;
      reset: boolean;
    };
    expect(config.robot).toBe('aloha');
    expect(config.robotConfig.transport).toBe('ros2');
    expect(Object.values(config.robotConfig.cameras)).toEqual(Array(4).fill({ kind: 'ros2' }));
    expect(config.model).toMatchObject({ kind: 'remote', url: 'ws://gpu-box:8000' });
    expect(config.prompt).toBe("fold the towel, don't rush");
    expect([config.controlHz, config.episodes, config.maxSteps, config.reset]).toEqual([25, 2, 0, false]);
    expect(config.ros2).toEqual({
      nodeName: 'cell_agent',
      estopTopic: '/cell/estop',
      statusTopic: '/cell/status',
      statusHz: 2,
    });
  }, 60_000);

  it('with its defaults and robot:=ur5 the command is accepted too (the UR5 demo bundle)', async () => {
    for (const robot of ['aloha', 'ur5']) {
      const r = await printConfig(launchCommand(robot === 'aloha' ? {} : { robot }).cmd.slice(3));
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ robot, maxSteps: 0 });
    }
  }, 60_000);

  it('a bad node name is a usage error naming the key', async () => {
    const r = await printConfig(['--ros-node-name', 'bad-name']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('ros2.nodeName');
  }, 60_000);
});
