/**
 * The UR5 plugin's ros2 transport against the shared robot contract, on the fake ROS 2 graph: a ur_robot_driver
 * peer (joint_states at 500 Hz in shuffled order, the scaled JTC, io_and_status modes, dashboard services; it
 * starts powered off, so bring-up powers it on) and both cameras as sensor_msgs/Image topics. The injected fault
 * is the peer's protective stop. Real clock; real ROS 2 over DDS is the ROS 2 issue's.
 */
import { realClock } from '@openpi-edge/client';
import { afterEach } from 'vitest';
import { UR5_CAMERAS } from '../../src/robots/ur5/config.js';
import { ur5ImageTopic, ur5Plugin } from '../../src/robots/ur5/plugin.js';
import { ROS2_TYPES } from '../../src/ros2/messages.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';
import { startUrDriverPeer } from '../ros2/ur-driver-peer.js';
import { describeRobotContract } from './contract.js';

const HOME = [0, -1.57, 1.57, -1.57, -1.57, 0];
const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

describeRobotContract('ur5 (ros2, fake graph)', async () => {
  const graph = new FakeRos2Graph();
  const peer = startUrDriverPeer(graph.createNode('ur_ros2_driver'), {
    clock: realClock,
    q: HOME,
    robotMode: 3, // POWER_OFF
    programRunning: false,
    latch: (t) => graph.transientLocal(t),
  });
  const feed = setInterval(() => {
    for (const name of UR5_CAMERAS) {
      graph.deliver(ur5ImageTopic(name), ROS2_TYPES.image, {
        header: { stamp: { sec: 0, nanosec: 0 }, frame_id: name },
        height: 48,
        width: 64,
        encoding: 'rgb8',
        is_bigendian: 0,
        step: 192,
        data: new Uint8Array(48 * 192).fill(90),
      });
    }
  }, 33);
  stops.push(() => {
    clearInterval(feed);
    peer.destroy();
  });
  const robot = await ur5Plugin.connect({
    config: { transport: 'ros2', gripper: 'none', homeMs: 300 },
    clock: realClock,
    controlHz: 50,
    safetyOverrides: {},
    ros2: graph,
    warn: () => {},
  });
  return { robot, injectFault: () => peer.protectiveStop() };
});
