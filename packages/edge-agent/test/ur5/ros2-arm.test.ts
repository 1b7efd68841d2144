/**
 * The UR5's ROS 2 arm link (src/robots/ur5/ros2-arm.ts) against the fake ROS 2 graph with a ur_robot_driver peer
 * (test/ros2/ur-driver-peer.ts): bring-up, dry run, joint mapping by name, latched faults and resume. Time is a
 * ManualClock: every assertion is on counts and states.
 */
import { ManualClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { ROBOT_MODE, SAFETY_MODE } from '../../src/robots/ur/rtde/types.js';
import {
  UR_JOINT_NAMES,
  UR_ROS2_TYPES,
  Ur5Ros2Arm,
  type Ur5Ros2ArmOptions,
} from '../../src/robots/ur5/ros2-arm.js';
import { FakeRos2Graph } from '../ros2/fake-ros2.js';
import { startUrDriverPeer, type UrDriverPeer, type UrDriverPeerOptions } from '../ros2/ur-driver-peer.js';

const JTC = '/scaled_joint_trajectory_controller/joint_trajectory';
const FORWARD = '/forward_position_controller/commands';
const START = [0.1, -1.5, 1.4, -1.2, -1.57, 0.3];
const MOTION_SERVICES = [
  '/dashboard_client/power_on',
  '/dashboard_client/brake_release',
  '/dashboard_client/unlock_protective_stop',
  '/dashboard_client/play',
  '/dashboard_client/stop',
  '/io_and_status_controller/resend_robot_program',
];

interface Rig {
  clock: ManualClock;
  graph: FakeRos2Graph;
  peer: UrDriverPeer;
  steps: Array<{ step: string; detail: string }>;
  warnings: string[];
  connect(o?: Partial<Ur5Ros2ArmOptions>): Promise<Ur5Ros2Arm>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function rig(peerOptions: Partial<UrDriverPeerOptions> = {}): Rig {
  const clock = new ManualClock(0);
  const graph = new FakeRos2Graph();
  const peer = startUrDriverPeer(graph.createNode('ur_ros2_driver'), {
    clock,
    q: START,
    latch: (t) => graph.transientLocal(t),
    ...peerOptions,
  });
  const node = graph.createNode('openpi_edge_ur5');
  const steps: Rig['steps'] = [];
  const warnings: string[] = [];
  cleanups.push(() => peer.destroy());
  return {
    clock,
    graph,
    peer,
    steps,
    warnings,
    async connect(o = {}) {
      const arm = await clock.runUntil(
        Ur5Ros2Arm.connect({
          node,
          clock,
          timeoutMs: 500,
          onStep: (s) => steps.push(s),
          warn: (m) => warnings.push(m),
          ...o,
        }),
      );
      cleanups.push(() => arm.close());
      return arm;
    },
  };
}

function codes(arm: Ur5Ros2Arm, r: Rig): string[] {
  return arm.faults(r.clock.now()).map((f) => f.code);
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i] as number, 9);
}

describe('UR5 ROS 2 arm (ur_robot_driver on the fake ROS 2 surface)', () => {
  it('brings the arm up from POWER_OFF through the dashboard services, step by step', async () => {
    const r = rig({ robotMode: ROBOT_MODE.POWER_OFF, programRunning: false });
    const arm = await r.connect();
    expect(r.steps.map((s) => s.step)).toEqual([
      'joint states',
      'robot mode',
      'safety mode',
      'power on',
      'brake release',
      'program',
    ]);
    expect(r.steps[1]?.detail).toBe('POWER_OFF');
    expect(r.steps[2]?.detail).toBe('NORMAL');
    expect(r.steps[5]?.detail).toContain('resend_robot_program');
    expect(r.peer.requests).toEqual(['power_on', 'brake_release', 'resend_robot_program']);
    expect(new Set(r.graph.calls.map((c) => c.type))).toEqual(new Set(['std_srvs/srv/Trigger']));
    expect(r.peer.robotMode).toBe(ROBOT_MODE.RUNNING);
    expect(r.peer.programRunning).toBe(true);
    expect(arm.faults(r.clock.now())).toEqual([]);
    expect(r.graph.subscribers('/io_and_status_controller/robot_mode')).toEqual([
      { type: 'ur_dashboard_msgs/msg/RobotMode', qos: 'latched' },
    ]);
    expect(r.graph.subscribers('/io_and_status_controller/safety_mode')).toEqual([
      { type: 'ur_dashboard_msgs/msg/SafetyMode', qos: 'latched' },
    ]);
    expect(r.graph.subscribers('/io_and_status_controller/robot_program_running')).toEqual([
      { type: 'std_msgs/msg/Bool', qos: 'latched' },
    ]);
    expect(r.graph.subscribers('/joint_states')).toEqual([
      { type: 'sensor_msgs/msg/JointState', qos: 'sensor' },
    ]);
    expect(arm.description).toContain(JTC);
    await arm.close();
    expect(r.graph.subscribers('/joint_states')).toEqual([]);
  });

  it('starts the program with the dashboard play when resend_robot_program is refused (not headless)', async () => {
    const r = rig({ programRunning: false, headless: false });
    await r.connect();
    expect(r.peer.requests).toEqual(['resend_robot_program', 'play']);
    expect(r.steps.at(-1)).toEqual({ step: 'program', detail: 'External Control running (dashboard play)' });
  });

  it('with powering on disabled, or a safety stop, bring-up fails naming the mode and calls nothing', async () => {
    const off = rig({ robotMode: ROBOT_MODE.POWER_OFF });
    const e1 = await off.connect({ powerOn: false }).catch((e: unknown) => e);
    expect(e1).toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'robot_mode', reply: 'POWER_OFF' },
    });
    expect((e1 as Error).message).toContain('powering on is disabled');
    expect(off.graph.calls).toEqual([]);
    expect(off.graph.subscribers('/joint_states')).toEqual([]);

    const stopped = rig({ safetyMode: SAFETY_MODE.PROTECTIVE_STOP });
    const e2 = await stopped.connect().catch((e: unknown) => e);
    expect(e2).toMatchObject({ code: 'DASHBOARD_ERROR', context: { reply: 'PROTECTIVE_STOP' } });
    expect(stopped.graph.calls).toEqual([]);
  });

  it('dry run reads and reports, and never publishes a command or calls a service', async () => {
    const r = rig({ robotMode: ROBOT_MODE.POWER_OFF, programRunning: false });
    const arm = await r.connect({ dryRun: true });
    expect(r.steps.map((s) => s.step)).toEqual(['joint states', 'robot mode', 'safety mode', 'program']);
    expect(r.steps.at(-1)?.detail).toContain('not running');
    expectClose(arm.read().q, START);
    expect(codes(arm, r)).toEqual(['ROBOT_NOT_RUNNING', 'PROGRAM_STOPPED']);
    expect(() => arm.move(START, 20)).toThrow(expect.objectContaining({ code: 'UNSAFE_TARGET' }));
    await arm.hold();
    await expect(arm.resume({ unlockProtectiveStop: true })).rejects.toMatchObject({ code: 'ROBOT_FAULT' });
    r.peer.protectiveStop();
    await r.clock.advance(10);
    await arm.hold();
    await arm.close();
    expect(r.graph.published(JTC)).toEqual([]);
    expect(r.graph.published(FORWARD)).toEqual([]);
    expect(r.graph.calls).toEqual([]);
    expect(r.peer.requests).toEqual([]);
    expect(r.graph.calls.filter((c) => MOTION_SERVICES.includes(c.service))).toEqual([]);
  });

  it('maps shuffled joint_states by name and sends moves in command order (scaled JTC, tf_prefix)', async () => {
    const prefix = 'ur5_';
    const r = rig({ prefix });
    const arm = await r.connect({ prefix });
    await r.clock.advance(20);
    expect(r.peer.orders.size).toBeGreaterThan(1);
    expectClose(arm.read().q, START);
    expectClose(arm.read().q, r.peer.q());

    const target = [0.2, -1.4, 1.3, -1.1, -1.5, 0.4];
    arm.move(target, 20);
    const sent = r.graph.published(JTC);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      type: 'trajectory_msgs/msg/JointTrajectory',
      message: {
        joint_names: UR_JOINT_NAMES.map((n) => `${prefix}${n}`),
        points: [{ positions: target, time_from_start: { sec: 0, nanosec: 20_000_000 } }],
      },
    });
    await r.clock.advance(30);
    expect(r.peer.commands.trajectory).toBe(1);
    expectClose(r.peer.q(), target);
    UR_JOINT_NAMES.forEach((n, i) => {
      expect(r.peer.positions.get(`${prefix}${n}`)).toBeCloseTo(target[i] as number, 9);
    });
    expectClose(arm.read().q, target);
    expect(arm.read().stampMs).toBeGreaterThan(Number.NEGATIVE_INFINITY);

    // hold: one one-point trajectory at the measured pose
    await arm.hold();
    expect(r.graph.published(JTC)).toHaveLength(2);
    expect(r.graph.published(JTC)[1]?.message.points).toMatchObject([
      { positions: Array.from(arm.read().q) },
    ]);
    expect(arm.stats.dropped).toBe(0);
  });

  it('forward_position_controller: data is the 6 targets in command order, layout empty', async () => {
    const r = rig();
    const arm = await r.connect({ controller: 'forward_position_controller' });
    const target = [0.3, -1.2, 1.1, -1.0, -1.4, 0.5];
    arm.move(target, 20);
    expect(r.graph.published(JTC)).toEqual([]);
    expect(r.graph.published(FORWARD)).toEqual([
      {
        topic: FORWARD,
        type: 'std_msgs/msg/Float64MultiArray',
        node: 'openpi_edge_ur5',
        message: { layout: { dim: [], data_offset: 0 }, data: target },
      },
    ]);
    await r.clock.advance(10);
    expect(r.peer.commands.forward).toBe(1);
    expectClose(arm.read().q, target);
    await arm.hold();
    expect(r.graph.published(FORWARD).at(-1)?.message.data).toEqual(Array.from(arm.read().q));
  });

  it('a joint missing from joint_states fails bring-up naming it; later, it latches BAD_JOINT_STATE', async () => {
    const bad = rig();
    bad.peer.omitJoint = 'elbow_joint';
    const err = await bad.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'BAD_MESSAGE',
      context: { topic: '/joint_states', joint: 'elbow_joint' },
    });
    expect((err as Error).message).toContain('elbow_joint missing');
    expect(bad.graph.subscribers('/joint_states')).toEqual([]);

    const r = rig();
    const arm = await r.connect();
    // Another publisher on /joint_states (a gripper's) is ignored, not an error.
    r.graph.deliver('/joint_states', UR_ROS2_TYPES.jointState, { name: ['finger_joint'], position: [0.4] });
    await r.clock.advance(4);
    expect(arm.stats.ignored).toBe(1);
    expect(codes(arm, r)).toEqual([]);

    r.peer.omitJoint = 'wrist_2_joint';
    await r.clock.advance(6);
    const faults = arm.faults(r.clock.now());
    expect(faults.map((f) => f.code)).toEqual(['BAD_JOINT_STATE']);
    expect(faults[0]?.message).toContain('wrist_2_joint missing');
    expect(arm.stats.rejected).toBeGreaterThan(0);
    expectClose(arm.read().q, START); // the last good reading, never a zero
    const before = r.graph.published(JTC).length;
    arm.move(START, 20);
    expect(r.graph.published(JTC)).toHaveLength(before);
    await expect(arm.resume()).rejects.toMatchObject({
      code: 'ROBOT_FAULT',
      context: { fault: 'BAD_JOINT_STATE' },
    });

    r.peer.omitJoint = undefined;
    await r.clock.advance(6);
    expect(codes(arm, r)).toEqual(['BAD_JOINT_STATE']); // latched
    expect(arm.faults(r.clock.now())[0]?.message).toContain('latched until resume');
    await arm.resume();
    expect(codes(arm, r)).toEqual([]);
  });

  it('with the wrong tf_prefix bring-up times out naming the names it saw', async () => {
    const r = rig();
    const err = await r.connect({ prefix: 'left_', timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_CONNECTED', context: { topic: '/joint_states', timeoutMs: 50 } });
    expect((err as Error).message).toContain('left_shoulder_pan_joint');
    expect((err as Error).message).toContain('tf_prefix');
  });

  it('a protective stop latches: moves publish nothing, still latched after the peer clears it, until resume()', async () => {
    const r = rig();
    const arm = await r.connect();
    arm.move(START, 20);
    expect(r.graph.published(JTC)).toHaveLength(1);

    r.peer.protectiveStop();
    await r.clock.advance(4);
    expect(codes(arm, r)).toEqual(['PROTECTIVE_STOP', 'PROGRAM_STOPPED']);
    expect(arm.faults(r.clock.now())[0]?.message).toContain('protective stop');
    arm.move([0.2, -1.5, 1.4, -1.2, -1.57, 0.3], 20);
    expect(r.graph.published(JTC)).toHaveLength(1);
    expect(arm.stats.dropped).toBe(1);
    await arm.hold();
    expect(r.graph.published(JTC)).toHaveLength(2);
    expect(r.graph.published(JTC)[1]?.message.points).toMatchObject([
      { positions: Array.from(arm.read().q) },
    ]);

    // Without unlockProtectiveStop resume refuses and calls nothing that moves.
    await expect(arm.resume()).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { reply: 'PROTECTIVE_STOP' },
    });
    expect(r.peer.requests).toEqual([]);

    // Cleared at the pendant and the program restarted there: still latched.
    r.peer.setSafetyMode(SAFETY_MODE.NORMAL);
    r.peer.setProgramRunning(true);
    await r.clock.advance(4);
    expect(codes(arm, r)).toEqual(['PROTECTIVE_STOP', 'PROGRAM_STOPPED']);
    expect(arm.faults(r.clock.now())[0]?.message).toContain('latched until resume');
    arm.move(START, 20);
    expect(r.graph.published(JTC)).toHaveLength(2);

    await arm.resume();
    expect(codes(arm, r)).toEqual([]);
    expect(r.peer.requests).toEqual(['close_safety_popup']); // program already running: nothing re-sent
    const n = r.graph.published(JTC).length;
    arm.move(START, 20);
    expect(r.graph.published(JTC)).toHaveLength(n + 1);
  });

  it('a stop that comes and goes between two fault polls still latches', async () => {
    const r = rig();
    const arm = await r.connect();
    r.peer.protectiveStop();
    r.peer.setSafetyMode(SAFETY_MODE.NORMAL);
    r.peer.setProgramRunning(true);
    await r.clock.advance(4);
    expect(r.peer.safetyMode).toBe(SAFETY_MODE.NORMAL);
    expect(codes(arm, r)).toEqual(['PROTECTIVE_STOP', 'PROGRAM_STOPPED']);
    await arm.resume();
    expect(codes(arm, r)).toEqual([]);
  });

  it('resume unlocks the protective stop when asked and re-sends the program', async () => {
    const r = rig();
    const arm = await r.connect();
    r.peer.protectiveStop();
    await r.clock.advance(4);
    expect(codes(arm, r)).toContain('PROTECTIVE_STOP');
    await r.clock.runUntil(arm.resume({ unlockProtectiveStop: true }));
    expect(r.peer.requests).toEqual(['unlock_protective_stop', 'close_safety_popup', 'resend_robot_program']);
    expect(r.peer.safetyMode).toBe(SAFETY_MODE.NORMAL);
    expect(r.peer.programRunning).toBe(true);
    expect(codes(arm, r)).toEqual([]);
    const target = [0.15, -1.45, 1.35, -1.15, -1.52, 0.35];
    arm.move(target, 20);
    await r.clock.advance(30);
    expectClose(r.peer.q(), target);
  });

  it('an emergency stop needs the arm powered again: resume powers on, releases the brakes, restarts the program', async () => {
    const r = rig();
    const arm = await r.connect();
    r.peer.setSafetyMode(SAFETY_MODE.ROBOT_EMERGENCY_STOP);
    r.peer.setRobotMode(ROBOT_MODE.POWER_OFF);
    await r.clock.advance(4);
    expect(codes(arm, r)).toEqual(['EMERGENCY_STOP', 'ROBOT_NOT_RUNNING', 'PROGRAM_STOPPED']);
    await expect(arm.resume()).rejects.toMatchObject({ context: { reply: 'ROBOT_EMERGENCY_STOP' } });
    r.peer.setSafetyMode(SAFETY_MODE.NORMAL); // released
    await r.clock.advance(4);
    expect(codes(arm, r)).toEqual(['EMERGENCY_STOP', 'ROBOT_NOT_RUNNING', 'PROGRAM_STOPPED']);
    await r.clock.runUntil(arm.resume());
    expect(r.peer.requests).toEqual([
      'close_safety_popup',
      'power_on',
      'brake_release',
      'resend_robot_program',
    ]);
    expect(codes(arm, r)).toEqual([]);
  });

  it('joint_states stopping is LINK_LOST: latched, hold stops the program once, resume once they are back', async () => {
    const r = rig();
    const arm = await r.connect();
    expect(codes(arm, r)).toEqual([]);
    r.peer.jointStatesPaused = true;
    await r.clock.advance(200);
    expect(codes(arm, r)).toEqual(['LINK_LOST']);
    expect(arm.faults(r.clock.now())[0]?.message).toContain('/joint_states');
    const before = r.graph.published(JTC).length;
    arm.move(START, 20);
    expect(r.graph.published(JTC)).toHaveLength(before);
    await arm.hold();
    await arm.hold();
    expect(r.graph.published(JTC)).toHaveLength(before); // the old measured pose is not sent back
    expect(r.peer.requests).toEqual(['stop']);
    await r.clock.advance(4);
    expect(codes(arm, r)).toEqual(['PROGRAM_STOPPED', 'LINK_LOST']);
    await expect(arm.resume()).rejects.toMatchObject({
      code: 'ROBOT_FAULT',
      context: { fault: 'LINK_LOST' },
    });

    r.peer.jointStatesPaused = false;
    await r.clock.advance(10);
    expect(codes(arm, r)).toEqual(['PROGRAM_STOPPED', 'LINK_LOST']); // latched, the program still stopped
    await r.clock.runUntil(arm.resume());
    expect(r.peer.requests).toEqual(['stop', 'close_safety_popup', 'resend_robot_program']);
    expect(codes(arm, r)).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('rejects malformed moves', async () => {
    const r = rig();
    const arm = await r.connect();
    expect(() => arm.move([1, 2, 3], 20)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => arm.move([0, 0, 0, 0, 0, Number.NaN], 20)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => arm.move(START, 0)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(r.graph.published(JTC)).toEqual([]);
    await arm.close();
    expect(() => arm.move(START, 20)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });
});
