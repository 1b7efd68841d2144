/**
 * The agent as a ROS 2 node on the fake graph: with the ros2 transport (an xs_sdk peer per arm) the node carries
 * the configured name, the std_msgs/Bool e-stop topic latches the agent's e-stop and the status topic publishes
 * JSON; with the emulator transport the topics come up only when `ros2.estopTopic` is set, and an e-stop topic
 * that cannot be opened (ROS 2 not available) fails start-up. The demo bundle is the policy (loaded, never asked:
 * the start-up inference is off and nothing here runs a step).
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EdgeAgent } from '../../src/agent/edge-agent.js';
import { DEMO_BUNDLE_DIR, resolveConfig } from '../../src/config/load.js';
import { OnnxPolicy } from '../../src/policy/onnx-policy.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import { AGENT_ROS2_TYPES } from '../../src/ros2/agent-topics.js';
import type { Ros2Parameter } from '../../src/ros2/surface.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';
import { startXsSdkPeer } from '../ros2/xs-sdk-peer.js';
import { waitUntil } from './helpers.js';

const HOME = [0, -0.96, 1.16, 0, -0.3, 0];
/** EdgeAgent.create starts an image worker thread: real time with no timer due on the manual clock. */
const WORKER_IDLE = { minIdleMs: 30_000 };
let agent: EdgeAgent | undefined;

/** A fresh demo-bundle policy (the agent closes the policy it is given). */
const demoPolicy = () => OnnxPolicy.load(DEMO_BUNDLE_DIR, { executionProviders: ['cpu'] });

afterEach(async () => {
  vi.unstubAllEnvs();
  await agent?.close();
  agent = undefined;
});

describe('EdgeAgent (ALOHA) on ROS 2 (fake graph)', () => {
  it('ros2 transport: node named by ros2.nodeName, e-stop topic latches the e-stop, status JSON at 2 Hz', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const sdk = graph.createNode('xs_sdk');
    const peers = [startXsSdkPeer(sdk, '/follower_left', HOME), startXsSdkPeer(sdk, '/follower_right', HOME)];
    const config = resolveConfig(
      {},
      { aloha: { transport: 'ros2' }, ros2: { nodeName: 'cell_agent' }, statusIntervalMs: 0 },
    );
    expect(config.ros2).toEqual({ nodeName: 'cell_agent', statusTopic: '/openpi_edge/status', statusHz: 2 });
    expect(config.robotConfig).toMatchObject({ transport: 'ros2' });
    const pending = EdgeAgent.create(config, {
      clock,
      policy: await demoPolicy(),
      warn: () => {},
      ros2: graph,
      plugins: [alohaPlugin.with({ timeoutMs: 1000 })],
      startupCheck: false,
    });
    // The policy's image worker starts first; publish once the arms' transport listens.
    await waitUntil(
      () => ['left', 'right'].every((s) => graph.subscribers(`/follower_${s}/joint_states`).length > 0),
      'the joint_states subscriptions',
    );
    for (const p of peers) p.publish();
    agent = await clock.runUntil(pending, WORKER_IDLE);
    // The robot's transport and the agent topics share the one node; it carries the agent's parameters.
    expect(agent.robot.ros2Node?.name).toBe('cell_agent');
    const params = (agent.robot.ros2Node as unknown as { parameters: Map<string, Ros2Parameter> }).parameters;
    expect(params.get('transport')).toMatchObject({ type: 'string', value: 'ros2', readOnly: true });
    expect(params.get('hz')).toMatchObject({ type: 'double', value: 50 });
    expect(params.get('ros_node_name')).toMatchObject({ value: 'cell_agent' });
    expect(params.get('estop_topic')).toMatchObject({ value: '/openpi_edge/estop' });
    expect(params.get('cameras')).toMatchObject({ value: 'ros2' });
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
      EdgeAgent.create(plain, { clock, policy: await demoPolicy(), ros2: graph, startupCheck: false }),
      WORKER_IDLE,
    );
    expect(graph.subscribers('/openpi_edge/estop')).toEqual([]);
    await agent.close();
    const config = resolveConfig({ ros2: { estopTopic: '/cell/estop' } }, { statusIntervalMs: 0 });
    agent = await clock.runUntil(
      EdgeAgent.create(config, { clock, policy: await demoPolicy(), ros2: graph, startupCheck: false }),
      WORKER_IDLE,
    );
    graph.deliver('/cell/estop', AGENT_ROS2_TYPES.bool, { data: true });
    await clock.flush();
    expect(agent.gate.estop.cause?.source).toBe('ros2');
    await clock.advance(500);
    expect(graph.published('/openpi_edge/status').map((p) => p.node)).toEqual(['openpi_edge_agent']);
  }, 60_000);

  it('an e-stop topic that cannot be opened (ROS 2 not available) is a start-up error; the policy is closed again', async () => {
    vi.stubEnv('ROS_DISTRO', '');
    vi.stubEnv('AMENT_PREFIX_PATH', '');
    const clock = new ManualClock(0);
    const policy = await demoPolicy();
    let closed = 0;
    const close = policy.close.bind(policy);
    policy.close = async () => {
      closed += 1;
      await close();
    };
    const config = resolveConfig({ ros2: { estopTopic: '/cell/estop' } }, { statusIntervalMs: 0 });
    const err = await clock
      .runUntil(EdgeAgent.create(config, { clock, policy, startupCheck: false }), WORKER_IDLE)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ROS2_UNAVAILABLE',
      context: { topic: '/cell/estop', missing: ['ROS_DISTRO', 'AMENT_PREFIX_PATH'] },
    });
    expect((err as Error).message).toMatch(/e-stop topic \/cell\/estop cannot be subscribed/);
    expect(closed).toBe(1);
  }, 60_000);
});
