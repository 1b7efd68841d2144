/**
 * The agent as a ROS 2 node, over real DDS: `edge-agent start ... --ros-args -p name:=value -r __node:=name` (what
 * ros2/launch/edge_agent.launch.py passes) on the emulated ALOHA, observed from rclpy
 * (test/python/ros2_agent_observer.py): its parameters with the launch file's names, types and read-only
 * descriptors, its node and topics in the graph, its status topic, and its e-stop topic latching the agent's e-stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_ROS2_PARAMETERS } from '../../src/ros2/agent-parameters.js';
import { type CliProcess, CPU_QUIET_FLAGS, runCli } from '../agent/helpers.js';
import { type RclpyPeer, requireRealRos2, startRclpyPeer } from './harness.js';

requireRealRos2();

interface Observed {
  parameters: Record<string, { type: string; value: unknown; read_only: boolean; description: string }>;
  set_hz: { successful: boolean; reason: string };
  nodes: string[];
  topic_types: Record<string, string[]>;
  agent_subscribes_estop: boolean;
  agent_publishes_status: boolean;
  first_status: { estop: unknown; state: unknown };
  estop_status: { estop: { source: string; reason: string } };
  error?: string;
}

describe('edge-agent as a ROS 2 node (real DDS, rclpy observer)', () => {
  let agent: CliProcess | undefined;
  let observer: RclpyPeer | undefined;
  afterEach(async () => {
    await observer?.stop();
    if (agent !== undefined && agent.child.exitCode === null) agent.child.kill('SIGKILL');
    agent = observer = undefined;
  });

  it('declares the launch file parameters with their types and effective values; its e-stop topic holds it', async () => {
    agent = runCli([
      'start',
      '--robot',
      'aloha',
      ...CPU_QUIET_FLAGS,
      '--ros-args',
      '-p',
      'hz:=25',
      '-p',
      'episodes:=1',
      '-p',
      'max_steps:=0',
      '-p',
      "prompt:='stack the cups'",
      '-p',
      'status_topic:=/cell/status',
      '-r',
      '__node:=cell_agent',
    ]);
    await agent.waitForLine(/^openpi-edge agent: aloha/);
    observer = await startRclpyPeer('ros2_agent_observer.py', [
      '--node',
      '/cell_agent',
      '--status-topic',
      '/cell/status',
      '--timeout',
      '90',
    ]);
    const { code, json } = await observer.finished();
    const seen = json as Observed | null;
    expect(seen?.error, observer.stderr()).toBeUndefined();
    expect(code).toBe(0);
    const o = seen as Observed;

    // Every launch-file parameter, typed as declared, read-only, with the value the agent runs with.
    expect(Object.keys(o.parameters)).toEqual(
      expect.arrayContaining(AGENT_ROS2_PARAMETERS.map((p) => p.name)),
    );
    for (const spec of AGENT_ROS2_PARAMETERS) {
      expect(o.parameters[spec.name]?.type, spec.name).toBe(spec.type);
      expect(o.parameters[spec.name]?.read_only, spec.name).toBe(true);
      expect(o.parameters[spec.name]?.description, spec.name).toContain(spec.flag);
    }
    const v = (name: string): unknown => o.parameters[name]?.value;
    expect(v('hz')).toBe(25);
    expect(v('episodes')).toBe(1);
    expect(v('max_steps')).toBe(0);
    expect(v('prompt')).toBe('stack the cups');
    expect(v('ros_node_name')).toBe('cell_agent');
    expect(v('status_topic')).toBe('/cell/status');
    expect(v('estop_topic')).toBe('/openpi_edge/estop');
    expect(v('robot')).toBe('aloha');
    expect(v('transport')).toBe('emulator');
    expect(v('policy')).toBe('');
    expect(String(v('bundle'))).toMatch(/demo-bundle-pi0$/);
    expect(o.set_hz.successful).toBe(false);

    // The node and its topics in the graph, with their types.
    expect(o.nodes).toContain('/cell_agent');
    expect(o.topic_types['/openpi_edge/estop']).toEqual(['std_msgs/msg/Bool']);
    expect(o.topic_types['/cell/status']).toEqual(['std_msgs/msg/String']);
    expect(o.agent_subscribes_estop).toBe(true);
    expect(o.agent_publishes_status).toBe(true);
    expect(o.first_status.estop).toBeNull();
    expect(o.estop_status.estop.source).toBe('ros2');

    // Latched: the loop holds; Ctrl-C ends the run with the e-stop in the summary and exit 0.
    agent.child.kill('SIGINT');
    const exit = await agent.exited;
    const out = agent.stdout.join('\n');
    expect(exit.code, `${out}\n${agent.stderr.join('\n')}`).toBe(0);
    expect(out).toMatch(/summary:/);
    expect(agent.stderr.join('\n') + out).toMatch(/ros2/);
  }, 180_000);

  it('refuses a parameter of the wrong type, naming it, before touching the robot', async () => {
    agent = runCli(['start', '--robot', 'aloha', '--ros-args', '-p', 'episodes:=two']);
    const exit = await agent.exited;
    expect(exit.code).not.toBe(0);
    expect(agent.stderr.join('\n')).toMatch(/parameter 'episodes' must be an integer, got string 'two'/);
  });
});
