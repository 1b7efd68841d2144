/**
 * A test peer standing in for one Interbotix xs_sdk node, built only on the Ros2Node surface (so it runs on the fake
 * and on real rclnodejs alike), mirroring xs_sdk_sim's contract: publishes a 9-entry JointState,
 * applies JointGroup/JointSingle commands at once, answers the three setup services and records their requests.
 */

import { VX300S_GRIPPER } from '../../src/robots/aloha/constants.js';
import { gripperAngleToFinger } from '../../src/robots/dynamixel/viperx.js';
import { ROS2_TYPES } from '../../src/ros2/messages.js';
import type { Ros2Node } from '../../src/ros2/surface.js';

export interface XsSdkPeer {
  arm: number[];
  gripper: number;
  requests: Array<{ service: string; request: Record<string, unknown> }>;
  /** Publishes one joint state now. */
  publish(): void;
  destroy(): void;
}

export function startXsSdkPeer(
  node: Ros2Node,
  ns: string,
  initialArm: number[],
  initialGripper = 0,
): XsSdkPeer {
  const peer: XsSdkPeer = {
    arm: [...initialArm],
    gripper: initialGripper,
    requests: [],
    publish: () => {
      const finger = gripperAngleToFinger(peer.gripper, VX300S_GRIPPER);
      state.publish({
        header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
        name: [
          'waist',
          'shoulder',
          'elbow',
          'forearm_roll',
          'wrist_angle',
          'wrist_rotate',
          'gripper',
          'left_finger',
          'right_finger',
        ],
        position: Float64Array.from([...peer.arm, peer.gripper, finger, -finger]),
        velocity: new Float64Array(9),
        effort: new Float64Array(9),
      });
    },
    destroy: () => {
      for (const s of subs) node.destroySubscription(s);
    },
  };
  const state = node.createPublisher(ROS2_TYPES.jointState, `${ns}/joint_states`);
  const subs = [
    node.createSubscription(ROS2_TYPES.jointGroupCommand, `${ns}/commands/joint_group`, {}, (m) => {
      const msg = m as { name: string; cmd: ArrayLike<number> };
      if (msg.name === 'arm') peer.arm = Array.from(msg.cmd);
      peer.publish();
    }),
    node.createSubscription(ROS2_TYPES.jointSingleCommand, `${ns}/commands/joint_single`, {}, (m) => {
      const msg = m as { name: string; cmd: number };
      if (msg.name === 'gripper') peer.gripper = msg.cmd;
      peer.publish();
    }),
  ];
  for (const [type, service] of [
    [ROS2_TYPES.torqueEnable, 'torque_enable'],
    [ROS2_TYPES.reboot, 'reboot_motors'],
    [ROS2_TYPES.operatingModes, 'set_operating_modes'],
  ] as const) {
    node.createService(type, `${ns}/${service}`, (request) => {
      peer.requests.push({ service, request });
      return {};
    });
  }
  return peer;
}
