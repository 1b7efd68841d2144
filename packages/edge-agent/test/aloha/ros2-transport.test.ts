/** ALOHA over ROS 2 against the fake graph with an xs_sdk peer per arm: topics, message fields, setup services. */
import { ManualClock, type NDArray, OpenpiEdgeError } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { ALOHA_CAMERA_NAMES, alohaImageTopic } from '../../src/robots/aloha/constants.js';
import { createAlohaEnvironment } from '../../src/robots/aloha/create.js';
import { Ros2AlohaArms } from '../../src/robots/aloha/ros2-transport.js';
import { ROS2_TYPES } from '../../src/ros2/messages.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';
import { startXsSdkPeer } from '../ros2/xs-sdk-peer.js';
import { gateCommand } from './helpers.js';

const HOME = [0, -0.96, 1.16, 0, -0.3, 0];

function feedCameras(graph: FakeRos2Graph): void {
  for (const name of ALOHA_CAMERA_NAMES) {
    graph.deliver(alohaImageTopic(name), ROS2_TYPES.image, {
      header: { stamp: { sec: 0, nanosec: 0 }, frame_id: name },
      height: 48,
      width: 64,
      encoding: 'rgb8',
      is_bigendian: 0,
      step: 192,
      data: new Uint8Array(48 * 192).fill(77),
    });
  }
}

describe('ALOHA ROS 2 transport (fake rclnodejs surface)', () => {
  it('runs the follower setup, reads joint_states, publishes a gated command as JointGroupCommand / JointSingleCommand', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const sdk = graph.createNode('xs_sdk');
    const left = startXsSdkPeer(sdk, '/follower_left', HOME, 1.0);
    const right = startXsSdkPeer(sdk, '/follower_right', HOME, 0.7);
    const pending = createAlohaEnvironment({ transport: 'ros2', ros2: graph, clock, timeoutMs: 1000 });
    await clock.flush();
    left.publish();
    right.publish();
    const { environment: env, close, node } = await clock.runUntil(pending);
    feedCameras(graph); // camera subscriptions exist once the environment started
    await clock.flush();
    try {
      expect(env.gripper.name).toBe('trossen');
      expect(node?.name).toBe('openpi_edge_aloha');
      const setup = left.requests;
      expect(setup).toEqual([
        {
          service: 'reboot_motors',
          request: { cmd_type: 'single', name: 'gripper', enable: true, smart_reboot: false },
        },
        {
          service: 'set_operating_modes',
          request: {
            cmd_type: 'group',
            name: 'arm',
            mode: 'position',
            profile_type: 'velocity',
            profile_velocity: 0,
            profile_acceleration: 0,
          },
        },
        {
          service: 'set_operating_modes',
          request: {
            cmd_type: 'single',
            name: 'gripper',
            mode: 'current_based_position',
            profile_type: 'velocity',
            profile_velocity: 0,
            profile_acceleration: 0,
          },
        },
        { service: 'torque_enable', request: { cmd_type: 'group', name: 'arm', enable: true } },
        { service: 'torque_enable', request: { cmd_type: 'single', name: 'gripper', enable: true } },
      ]);
      expect(right.requests).toEqual(setup);
      expect(graph.calls.map((c) => c.type)).toContain('interbotix_xs_msgs/srv/OperatingModes');
      expect(graph.subscribers('/follower_left/joint_states')).toEqual([
        { type: 'sensor_msgs/msg/JointState', qos: 'default' },
      ]);
      expect(graph.subscribers('/cam_high/camera/color/image_rect_raw')).toEqual([
        { type: 'sensor_msgs/msg/Image', qos: 'sensor' },
      ]);

      const obs = await env.getObservation();
      const state = (obs.state as NDArray<'float32'>).data;
      expect(Array.from(state.subarray(0, 6))).toEqual(HOME.map(Math.fround));
      // Trossen FOLLOWER position constants on index 7 of joint_states (the peer's finger value).
      const finger = 0.022 * Math.sin(0.7) + Math.sqrt(0.036 ** 2 - (0.022 * Math.cos(0.7)) ** 2);
      expect(state[13]).toBeCloseTo((finger - 0.044) / (0.0579 - 0.044), 5);
      expect((obs.images as Record<string, NDArray>).cam_low?.shape).toEqual([3, 224, 224]);

      const action = [0.1, -0.9, 1.1, 0, -0.2, 0.05, 0.5, -0.1, -0.9, 1.1, 0, -0.2, -0.05, 0];
      await env.send(gateCommand(action, await env.measure(), clock));
      const group = graph.published('/follower_left/commands/joint_group');
      expect(group.at(-1)).toMatchObject({
        type: 'interbotix_xs_msgs/msg/JointGroupCommand',
        message: { name: 'arm', cmd: action.slice(0, 6) },
      });
      const single = graph.published('/follower_right/commands/joint_single');
      expect(single.at(-1)?.type).toBe('interbotix_xs_msgs/msg/JointSingleCommand');
      expect(single.at(-1)?.message.name).toBe('gripper');
      expect(single.at(-1)?.message.cmd).toBeCloseTo(0.6197, 9); // trossen FOLLOWER_GRIPPER_JOINT_CLOSE
      expect(graph.published('/follower_left/commands/joint_single').at(-1)?.message.cmd).toBeCloseTo(
        0.5 * (1.6214 - 0.6197) + 0.6197,
        9,
      );
      await clock.flush();
      expect(left.arm).toEqual(action.slice(0, 6));
      const measured = await env.measure();
      expect(measured.positions[0]).toBeCloseTo(0.1, 9);
    } finally {
      await close();
    }
    expect(graph.subscribers('/follower_left/joint_states')).toEqual([]);
  });

  it('puppet namespaces pick the openpi gripper constants', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const sdk = graph.createNode('xs_sdk');
    const peers = [startXsSdkPeer(sdk, '/puppet_left', HOME), startXsSdkPeer(sdk, '/puppet_right', HOME)];
    const pending = createAlohaEnvironment({
      transport: 'ros2',
      ros2: graph,
      clock,
      namespaces: { left: 'puppet_left', right: 'puppet_right' },
    });
    await clock.flush();
    for (const p of peers) p.publish();
    const { environment: env, close } = await clock.runUntil(pending);
    try {
      expect(env.gripper.name).toBe('openpi');
      await env.send(gateCommand([...HOME, 1, ...HOME, 0], await env.measure(), clock));
      expect(graph.published('/puppet_left/commands/joint_single').at(-1)?.message.cmd).toBeCloseTo(1.491, 9);
      expect(graph.published('/puppet_right/commands/joint_single').at(-1)?.message.cmd).toBeCloseTo(
        -0.6213,
        9,
      );
    } finally {
      await close();
    }
  });

  it('a service reply lost on the way (REQUEST_TIMEOUT) is asked again; one that never comes fails naming the attempts', async () => {
    const graph = new FakeRos2Graph();
    const node = graph.createNode('agent');
    const sdk = graph.createNode('xs_sdk');
    const peers = [startXsSdkPeer(sdk, '/follower_left', HOME), startXsSdkPeer(sdk, '/follower_right', HOME)];
    // The first reboot reply of the left arm is lost: the client side times out, as rclnodejs reports it.
    const real = graph.services.get('/follower_left/reboot_motors');
    let lost = 1;
    graph.services.set('/follower_left/reboot_motors', {
      type: real!.type,
      handler: (req) => {
        if (lost-- > 0) {
          throw new OpenpiEdgeError(
            'REQUEST_TIMEOUT',
            'service /follower_left/reboot_motors did not answer',
            {},
          );
        }
        return real!.handler(req);
      },
    });
    const arms = new Ros2AlohaArms({ node, timeoutMs: 1000 });
    for (const p of peers) p.publish();
    await arms.start();
    expect(arms.serviceRetries).toBe(1);
    expect(graph.calls.filter((c) => c.service === '/follower_left/reboot_motors')).toHaveLength(2);

    lost = Number.POSITIVE_INFINITY;
    await expect(arms.rebootGrippers()).rejects.toMatchObject({
      code: 'REQUEST_TIMEOUT',
      context: { service: '/follower_left/reboot_motors', attempts: 3 },
    });
    await arms.close();
  });

  it('without joint states start fails naming the topics; short messages are rejected and counted', async () => {
    const clock = new ManualClock(0);
    const graph = new FakeRos2Graph();
    const node = graph.createNode('agent');
    const arms = new Ros2AlohaArms({ node, clock, setup: false, timeoutMs: 300 });
    graph.deliver('/follower_left/joint_states', ROS2_TYPES.jointState, { name: ['waist'], position: [0.1] });
    const err = await clock.runUntil(arms.start().catch((e: unknown) => e));
    expect(err).toMatchObject({
      code: 'NOT_CONNECTED',
      context: { topics: ['/follower_left/joint_states', '/follower_right/joint_states'], timeoutMs: 300 },
    });
    expect((err as Error).message).toContain('need >= 8');
    expect(arms.rejected).toEqual({ left: 1, right: 0 });
    await expect(arms.read()).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
      context: { topic: '/follower_left/joint_states' },
    });
    await expect(arms.writeArm('left', [1, 2])).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { side: 'left' },
    });
    const missingService = new Ros2AlohaArms({ node, clock, timeoutMs: 20 });
    await expect(missingService.start()).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
      context: { service: '/follower_left/reboot_motors' },
    });
    await arms.close();
    await missingService.close();
  });
});
