/**
 * The Ros2Context contract, run against the in-process fake always (`pnpm test:ts`) and against real rclnodejs over
 * DDS in scripts/test-ros2.sh (OPENPI_EDGE_ROS2_REAL=1: there rclnodejs is required, in a private network namespace),
 * or wherever a sourced ROS 2 (ROS_DISTRO) has rclnodejs installed. Uses only standard message types so any ROS 2
 * install works.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRclnodejsContext } from '../../src/ros2/rclnodejs-adapter.js';
import { type Ros2Context, resolveRosName } from '../../src/ros2/surface.js';
import { requireRealRos2 } from '../ros2-real/harness.js';
import { FakeRos2Graph } from './fake-ros2.js';

const backends: Array<{ name: string; make: () => Promise<Ros2Context> }> = [
  { name: 'fake', make: async () => new FakeRos2Graph() },
];
if (process.env.OPENPI_EDGE_ROS2_REAL === '1') requireRealRos2();
if (process.env.ROS_DISTRO || process.env.OPENPI_EDGE_ROS2_REAL === '1') {
  backends.push({ name: 'rclnodejs', make: () => createRclnodejsContext() });
}

function waitFor<T>(get: () => T | undefined, what: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = (): void => {
      const v = get();
      if (v !== undefined) resolve(v);
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

describe('resolveRosName', () => {
  it('keeps absolute names and joins relative ones to the namespace', () => {
    expect(resolveRosName('/follower_left', 'joint_states')).toBe('/follower_left/joint_states');
    expect(resolveRosName('follower_left/', 'commands/joint_group')).toBe(
      '/follower_left/commands/joint_group',
    );
    expect(resolveRosName('/', 'cam_high')).toBe('/cam_high');
    expect(resolveRosName('/x', '/abs/topic')).toBe('/abs/topic');
  });
});

for (const backend of backends) {
  describe(`Ros2Context contract (${backend.name})`, () => {
    let ctx: Ros2Context | undefined;
    afterEach(async () => {
      await ctx?.shutdown();
      ctx = undefined;
    });

    it('delivers a JointState published under a namespace to an absolute subscription, numeric arrays intact', async () => {
      ctx = await backend.make();
      const pubNode = ctx.createNode('contract_pub', '/contract_ns');
      const subNode = ctx.createNode('contract_sub');
      const got: unknown[] = [];
      const sub = subNode.createSubscription(
        'sensor_msgs/msg/JointState',
        '/contract_ns/joint_states',
        {},
        (m) => got.push(m),
      );
      expect(sub.topic).toBe('/contract_ns/joint_states');
      const pub = pubNode.createPublisher('sensor_msgs/msg/JointState', 'joint_states');
      expect(pub.topic).toBe('/contract_ns/joint_states');
      const msg = await waitFor(() => {
        pub.publish({
          header: { stamp: { sec: 12, nanosec: 500_000_000 }, frame_id: '' },
          name: ['waist', 'gripper'],
          position: [0.25, -0.5],
          velocity: [],
          effort: [],
        });
        return got[0];
      }, 'a JointState');
      const m = msg as { name: string[]; position: ArrayLike<number>; header: { stamp: { sec: number } } };
      expect(m.name).toEqual(['waist', 'gripper']);
      expect(Array.from(m.position)).toEqual([0.25, -0.5]);
      expect(m.header.stamp.sec).toBe(12);
    });

    it('stops delivering after destroySubscription', async () => {
      ctx = await backend.make();
      const node = ctx.createNode('contract_unsub');
      let count = 0;
      const sub = node.createSubscription('std_msgs/msg/String', '/contract_unsub', {}, () => count++);
      const pub = node.createPublisher('std_msgs/msg/String', '/contract_unsub');
      await waitFor(() => {
        pub.publish({ data: 'a' });
        return count > 0 ? true : undefined;
      }, 'first message');
      node.destroySubscription(sub);
      const before = count;
      pub.publish({ data: 'b' });
      await new Promise((r) => setTimeout(r, 50));
      expect(count).toBe(before);
    });

    it('declares typed parameters once; a second declaration of a name is BAD_ARGUMENT naming the node', async () => {
      ctx = await backend.make();
      const node = ctx.createNode('contract_params');
      node.declareParameters([
        { name: 'hz', type: 'double', value: 50, description: 'rate', readOnly: true },
        { name: 'episodes', type: 'integer', value: 2, description: 'n', readOnly: true },
        { name: 'prompt', type: 'string', value: 'x', description: 'p', readOnly: true },
        { name: 'dry_run', type: 'bool', value: false, description: 'd', readOnly: false },
      ]);
      expect(() =>
        node.declareParameters([
          { name: 'hz', type: 'double', value: 1, description: 'again', readOnly: true },
        ]),
      ).toThrow(
        expect.objectContaining({
          code: 'BAD_ARGUMENT',
          context: expect.objectContaining({ node: 'contract_params' }),
        }),
      );
    });

    it('a sensor-QoS (best effort) subscription receives from a default (reliable) publisher', async () => {
      ctx = await backend.make();
      const node = ctx.createNode('contract_qos');
      const got: unknown[] = [];
      node.createSubscription('std_msgs/msg/String', '/contract_qos', { qos: 'sensor' }, (m) => got.push(m));
      const pub = node.createPublisher('std_msgs/msg/String', '/contract_qos');
      const m = await waitFor(() => {
        pub.publish({ data: 'frame' });
        return got[0];
      }, 'a String');
      expect(m).toMatchObject({ data: 'frame' });
    });

    it('service clients find a server, send a request and get its response; absent services report false', async () => {
      ctx = await backend.make();
      const server = ctx.createNode('contract_server', '/contract_srv');
      const client = ctx.createNode('contract_client');
      const seen: unknown[] = [];
      server.createService('std_srvs/srv/SetBool', 'enable', (req) => {
        seen.push(req.data);
        return { success: req.data === true, message: 'ok' };
      });
      const c = client.createClient('std_srvs/srv/SetBool', '/contract_srv/enable');
      expect(c.service).toBe('/contract_srv/enable');
      expect(await c.waitForService(5000)).toBe(true);
      const res = (await c.call({ data: true }, 5000)) as { success: boolean; message: string };
      expect(res).toMatchObject({ success: true, message: 'ok' });
      expect(seen).toEqual([true]);
      const absent = client.createClient('std_srvs/srv/SetBool', '/contract_srv/nobody_here');
      expect(await absent.waitForService(100)).toBe(false);
    });
  });
}
