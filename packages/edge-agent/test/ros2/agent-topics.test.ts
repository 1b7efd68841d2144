/**
 * The agent's ROS 2 topics on the in-process fake graph: std_msgs/Bool e-stop (true -> latch, source ros2) and the
 * std_msgs/String JSON status at statusHz on a manual clock; an e-stop topic that was asked for and cannot be opened
 * is an error, not a warning.
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AGENT_ROS2_TYPES, AgentRos2Topics, openAgentRos2Topics } from '../../src/ros2/agent-topics.js';
import { EStop } from '../../src/safety/estop.js';
import { FakeRos2Graph } from './fake-ros2.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('AgentRos2Topics', () => {
  it('true on the e-stop topic latches the e-stop with source ros2; false and malformed messages do not', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const node = graph.createNode('openpi_edge_agent');
    const estop = new EStop({ clock });
    const topics = new AgentRos2Topics(node, { estop, status: () => ({ step: 1 }), clock });
    expect(graph.subscribers('/openpi_edge/estop')).toEqual([
      { type: AGENT_ROS2_TYPES.bool, qos: 'default' },
    ]);
    graph.deliver('/openpi_edge/estop', AGENT_ROS2_TYPES.bool, { data: false });
    graph.deliver('/openpi_edge/estop', AGENT_ROS2_TYPES.bool, { data: 'yes' });
    await clock.flush();
    expect(estop.latched).toBe(false);
    graph.deliver('/openpi_edge/estop', AGENT_ROS2_TYPES.bool, { data: true });
    await clock.flush();
    expect(estop.latched).toBe(true);
    expect(estop.cause).toMatchObject({ source: 'ros2', reason: 'std_msgs/Bool true on /openpi_edge/estop' });
    expect(topics.received).toEqual({ true: 1, false: 1, malformed: 1 });
    await topics.close();
    expect(graph.subscribers('/openpi_edge/estop')).toEqual([]);
  });

  it('publishes the state as JSON on the status topic at statusHz, with the e-stop cause; stops on close', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const node = graph.createNode('agent');
    const estop = new EStop({ clock });
    let step = 0;
    const topics = new AgentRos2Topics(node, {
      estop,
      status: () => {
        step += 1;
        return { step };
      },
      statusTopic: '/robot/agent_status',
      statusHz: 2,
      clock,
    });
    await clock.advance(1000);
    const pubs = graph.published('/robot/agent_status');
    expect(pubs).toHaveLength(2);
    expect(pubs[0]!.type).toBe(AGENT_ROS2_TYPES.string);
    expect(JSON.parse(pubs[0]!.message.data as string)).toEqual({ estop: null, state: { step: 1 } });
    estop.trigger('api', 'test');
    await clock.advance(500);
    expect(JSON.parse(graph.published('/robot/agent_status')[2]!.message.data as string)).toEqual({
      estop: { source: 'api', reason: 'test' },
      state: { step: 3 },
    });
    await topics.close();
    await clock.advance(2000);
    expect(graph.published('/robot/agent_status')).toHaveLength(3);
  });

  it('openAgentRos2Topics: nothing without a node or an estopTopic; its own node when estopTopic is set', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const estop = new EStop({ clock });
    expect(await openAgentRos2Topics({ estop, status: () => null, context: graph, clock })).toBeNull();
    const opened = await openAgentRos2Topics({
      estop,
      status: () => null,
      context: graph,
      estopTopic: '/cell/estop',
      nodeName: 'my_agent',
      clock,
    });
    expect(opened?.topics.estopTopic).toBe('/cell/estop');
    graph.deliver('/cell/estop', AGENT_ROS2_TYPES.bool, { data: true });
    await clock.flush();
    expect(estop.cause?.source).toBe('ros2');
    await clock.advance(500);
    expect(graph.published('/openpi_edge/status').map((p) => p.node)).toEqual(['my_agent']);
    await opened?.close();
  });

  it('openAgentRos2Topics: an estopTopic without ROS 2 is ROS2_UNAVAILABLE naming the topic (no warning, no null)', async () => {
    vi.stubEnv('ROS_DISTRO', '');
    vi.stubEnv('AMENT_PREFIX_PATH', '');
    const clock = new ManualClock(0);
    const estop = new EStop({ clock });
    // Nothing asked for: still nothing, ROS 2 or not.
    expect(await openAgentRos2Topics({ estop, status: () => null, clock })).toBeNull();
    const err = await openAgentRos2Topics({
      estop,
      status: () => null,
      estopTopic: '/cell/estop',
      clock,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ROS2_UNAVAILABLE',
      context: { topic: '/cell/estop', missing: ['ROS_DISTRO', 'AMENT_PREFIX_PATH'] },
    });
    expect((err as Error).message).toMatch(/^e-stop topic \/cell\/estop cannot be subscribed: /);
    expect((err as Error).cause).toMatchObject({ code: 'ROS2_UNAVAILABLE' });
  });
});
