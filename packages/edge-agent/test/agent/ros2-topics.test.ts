/**
 * The agent as a ROS 2 node on the fake graph: with the ros2 transport (an xs_sdk peer per arm) the node carries
 * the configured name, the std_msgs/Bool e-stop topic latches the agent's e-stop and the status topic publishes
 * JSON; with the emulator transport the topics come up only when `ros2.estopTopic` is set. The demo bundle is the
 * policy (loaded once, never asked: nothing here runs a step).
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { AlohaAgent } from '../../src/agent/aloha-agent.js';
import { DEMO_BUNDLE_DIR, resolveConfig } from '../../src/config/load.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { AGENT_ROS2_TYPES } from '../../src/ros2/agent-topics.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';
import { startXsSdkPeer } from '../ros2/xs-sdk-peer.js';

const HOME = [0, -0.96, 1.16, 0, -0.3, 0];
let agent: AlohaAgent | undefined;

/** A fresh demo-bundle policy (the agent closes the policy it is given). */
const demoPolicy = () => OnnxPolicy.load(DEMO_BUNDLE_DIR, { executionProviders: ['cpu'] });

afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

describe('AlohaAgent on ROS 2 (fake graph)', () => {
  it('ros2 transport: node named by ros2.nodeName, e-stop topic latches the e-stop, status JSON at 2 Hz', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const sdk = graph.createNode('xs_sdk');
    const peers = [startXsSdkPeer(sdk, '/follower_left', HOME), startXsSdkPeer(sdk, '/follower_right', HOME)];
    const config = resolveConfig(
      {},
      { transport: 'ros2', ros2: { nodeName: 'cell_agent' }, statusIntervalMs: 0 },
    );
    expect(config.ros2).toEqual({ nodeName: 'cell_agent', statusTopic: '/openpi_edge/status', statusHz: 2 });
    const pending = AlohaAgent.create(config, {
      clock,
      policy: await demoPolicy(),
      warn: () => {},
      environment: { ros2: graph, timeoutMs: 1000 },
    });
    await clock.flush();
    for (const p of peers) p.publish();
    agent = await clock.runUntil(pending);
    expect(graph.subscribers('/openpi_edge/estop')).toEqual([
      { type: AGENT_ROS2_TYPES.bool, qos: 'default' },
    ]);
    await clock.advance(1000);
    const status = graph.published('/openpi_edge/status');
    expect(status).toHaveLength(2);
    expect(status.every((p) => p.node === 'cell_agent' && p.type === AGENT_ROS2_TYPES.string)).toBe(true);
    expect(JSON.parse(status[0]!.message.data as string)).toEqual({ estop: null, state: null });
    expect(agent.gate.estop.latched).toBe(false);
    graph.deliver('/openpi_edge/estop', AGENT_ROS2_TYPES.bool, { data: true });
    await clock.flush();
    expect(agent.gate.estop.cause).toMatchObject({ source: 'ros2' });
    await clock.advance(500);
    expect(JSON.parse(graph.published('/openpi_edge/status')[2]!.message.data as string).estop).toEqual({
      source: 'ros2',
      reason: 'std_msgs/Bool true on /openpi_edge/estop',
    });
    await agent.close();
    agent = undefined;
    expect(graph.subscribers('/openpi_edge/estop')).toEqual([]);
  }, 60_000);

  it('emulator transport: no topics by default; ros2.estopTopic set -> its own node subscribes it', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const plain = resolveConfig({}, { statusIntervalMs: 0 });
    agent = await clock.runUntil(
      AlohaAgent.create(plain, { clock, policy: await demoPolicy(), environment: { ros2: graph } }),
    );
    expect(graph.subscribers('/openpi_edge/estop')).toEqual([]);
    await agent.close();
    const config = resolveConfig({ ros2: { estopTopic: '/cell/estop' } }, { statusIntervalMs: 0 });
    agent = await clock.runUntil(
      AlohaAgent.create(config, { clock, policy: await demoPolicy(), environment: { ros2: graph } }),
    );
    graph.deliver('/cell/estop', AGENT_ROS2_TYPES.bool, { data: true });
    await clock.flush();
    expect(agent.gate.estop.cause?.source).toBe('ros2');
    await clock.advance(500);
    expect(graph.published('/openpi_edge/status').map((p) => p.node)).toEqual(['openpi_edge_agent']);
  }, 60_000);
});
