/**
 * A test peer standing in for Universal_Robots_ROS2_Driver (ur_robot_driver with its dashboard client), built only
 * on the Ros2Node surface: `/joint_states` on a timer with the joint names in a fresh shuffled order each message,
 * a scaled joint trajectory controller (one-point goals interpolated over `time_from_start`) and a forward position
 * controller (jumps to each target) that move only while the arm runs, io_and_status_controller's status topics
 * (published on change, latched through `latch`), the dashboard's Trigger services changing its modes, and
 * protective-stop injection. The contract it mirrors: src/robots/ur5/ros2-arm.ts's module comment.
 */
import type { Clock } from '@openpi-edge/client';
import { ROBOT_MODE, SAFETY_MODE } from '../../src/robots/ur/rtde/types.js';
import { UR_JOINT_NAMES, UR_ROS2_TYPES } from '../../src/robots/ur5/ros2-arm.js';
import type { Ros2Node } from '../../src/ros2/surface.js';

export interface UrDriverPeerOptions {
  /** Drives the joint_states timer, the controller's interpolation and the mode transitions. */
  clock: Clock;
  /** tf_prefix. Default ''. */
  prefix?: string;
  /** Start pose, command order. Default zeros. */
  q?: readonly number[];
  /** Default RUNNING. */
  robotMode?: number;
  /** Default NORMAL. */
  safetyMode?: number;
  /** Default true. */
  programRunning?: boolean;
  /** joint_states period (ms). Default 2 (500 Hz). */
  periodMs?: number;
  /** Headless mode: `resend_robot_program` starts the program; otherwise it fails and `play` does. Default true. */
  headless?: boolean;
  /** How long power on (→ IDLE) and brake release (→ RUNNING) take (ms). Default 20. */
  transitionMs?: number;
  /** Marks a status topic latched (transient local) on the graph, e.g. `(t) => graph.transientLocal(t)`. */
  latch?: (topic: string) => void;
}

export interface UrDriverPeer {
  /** Joint positions by (prefixed) name. */
  readonly positions: Map<string, number>;
  /** Service requests by short name (`power_on`, `resend_robot_program`…), in order. */
  readonly requests: string[];
  /** Commands received: applied, and ignored because the arm could not move. */
  readonly commands: { trajectory: number; forward: number; ignored: number };
  /** The name orders joint_states went out in (one entry per distinct order). */
  readonly orders: Set<string>;
  /** While true no joint_states go out. */
  jointStatesPaused: boolean;
  /** A (base) joint name left out of joint_states, e.g. `elbow_joint`. */
  omitJoint: string | undefined;
  readonly robotMode: number;
  readonly safetyMode: number;
  readonly programRunning: boolean;
  /** Joints in command order. */
  q(): number[];
  setRobotMode(mode: number): void;
  setSafetyMode(mode: number): void;
  setProgramRunning(running: boolean): void;
  /** A protective stop: safety mode PROTECTIVE_STOP, the program stops, the goal is dropped. */
  protectiveStop(): void;
  publishJointState(): void;
  destroy(): void;
}

export const UR_IO_NS = '/io_and_status_controller';
export const UR_DASHBOARD_NS = '/dashboard_client';

export function startUrDriverPeer(node: Ros2Node, options: UrDriverPeerOptions): UrDriverPeer {
  const { clock } = options;
  const prefix = options.prefix ?? '';
  const names = UR_JOINT_NAMES.map((n) => `${prefix}${n}`);
  const periodMs = options.periodMs ?? 2;
  const transitionMs = options.transitionMs ?? 20;
  const headless = options.headless ?? true;
  const ctl = new AbortController();
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let segment: { from: number[]; to: number[]; names: string[]; start: number; ms: number } | null = null;

  const topics = {
    robotMode: `${UR_IO_NS}/robot_mode`,
    safetyMode: `${UR_IO_NS}/safety_mode`,
    program: `${UR_IO_NS}/robot_program_running`,
  };
  for (const t of Object.values(topics)) options.latch?.(t);
  const pubs = {
    joints: node.createPublisher(UR_ROS2_TYPES.jointState, '/joint_states'),
    robotMode: node.createPublisher(UR_ROS2_TYPES.robotMode, topics.robotMode),
    safetyMode: node.createPublisher(UR_ROS2_TYPES.safetyMode, topics.safetyMode),
    program: node.createPublisher(UR_ROS2_TYPES.bool, topics.program),
  };

  let robotMode = options.robotMode ?? ROBOT_MODE.RUNNING;
  let safetyMode = options.safetyMode ?? SAFETY_MODE.NORMAL;
  let programRunning = options.programRunning ?? true;
  const safetyOk = (): boolean => safetyMode === SAFETY_MODE.NORMAL || safetyMode === SAFETY_MODE.REDUCED;
  const canRun = (): boolean => robotMode === ROBOT_MODE.RUNNING && safetyOk();
  const canMove = (): boolean => canRun() && programRunning;

  const peer: UrDriverPeer = {
    positions: new Map(names.map((n, i) => [n, options.q?.[i] ?? 0])),
    requests: [],
    commands: { trajectory: 0, forward: 0, ignored: 0 },
    orders: new Set(),
    jointStatesPaused: false,
    omitJoint: undefined,
    get robotMode() {
      return robotMode;
    },
    get safetyMode() {
      return safetyMode;
    },
    get programRunning() {
      return programRunning;
    },
    q: () => names.map((n) => peer.positions.get(n) as number),
    // io_and_status_controller publishes these only on change (see the module comment).
    setRobotMode: (mode) => {
      if (mode === robotMode) return;
      robotMode = mode;
      pubs.robotMode.publish({ mode });
      if (!canRun()) peer.setProgramRunning(false);
    },
    setSafetyMode: (mode) => {
      if (mode === safetyMode) return;
      safetyMode = mode;
      pubs.safetyMode.publish({ mode });
      if (!canRun()) peer.setProgramRunning(false);
    },
    setProgramRunning: (running) => {
      if (running === programRunning) return;
      programRunning = running;
      if (!running) segment = null;
      pubs.program.publish({ data: running });
    },
    protectiveStop: () => {
      segment = null;
      peer.setSafetyMode(SAFETY_MODE.PROTECTIVE_STOP);
    },
    publishJointState: () => {
      const order = names.filter((n) => n !== `${prefix}${peer.omitJoint}`);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j] as string, order[i] as string];
      }
      peer.orders.add(order.join(','));
      const t = clock.now();
      pubs.joints.publish({
        header: { stamp: { sec: Math.floor(t / 1000), nanosec: Math.round((t % 1000) * 1e6) }, frame_id: '' },
        name: order,
        position: Float64Array.from(order, (n) => peer.positions.get(n) as number),
        velocity: new Float64Array(order.length),
        effort: new Float64Array(order.length),
      });
    },
    destroy: () => {
      ctl.abort();
      for (const s of subs) node.destroySubscription(s);
    },
  };

  pubs.robotMode.publish({ mode: robotMode });
  pubs.safetyMode.publish({ mode: safetyMode });
  pubs.program.publish({ data: programRunning });

  const step = (): void => {
    const s = segment;
    if (s === null) return;
    const f = s.ms <= 0 ? 1 : Math.min(1, (clock.now() - s.start) / s.ms);
    s.names.forEach((n, i) => {
      const a = s.from[i] as number;
      const b = s.to[i] as number;
      peer.positions.set(n, a + (b - a) * f);
    });
    if (f >= 1) segment = null;
  };

  const subs = [
    node.createSubscription(
      UR_ROS2_TYPES.jointTrajectory,
      '/scaled_joint_trajectory_controller/joint_trajectory',
      {},
      (m) => {
        const msg = m as {
          joint_names: string[];
          points: Array<{ positions: ArrayLike<number>; time_from_start: { sec: number; nanosec: number } }>;
        };
        const point = msg.points[0];
        if (!canMove() || point === undefined || !msg.joint_names.every((n) => peer.positions.has(n))) {
          peer.commands.ignored += 1;
          return;
        }
        step();
        peer.commands.trajectory += 1;
        segment = {
          names: [...msg.joint_names],
          from: msg.joint_names.map((n) => peer.positions.get(n) as number),
          to: Array.from(point.positions),
          start: clock.now(),
          ms: point.time_from_start.sec * 1000 + point.time_from_start.nanosec / 1e6,
        };
      },
    ),
    node.createSubscription(
      UR_ROS2_TYPES.float64MultiArray,
      '/forward_position_controller/commands',
      {},
      (m) => {
        const data = Array.from((m as { data: ArrayLike<number> }).data);
        if (!canMove() || data.length !== names.length) {
          peer.commands.ignored += 1;
          return;
        }
        peer.commands.forward += 1;
        segment = null;
        // The controller's `joints` parameter lists them in command order.
        names.forEach((n, i) => {
          peer.positions.set(n, data[i] as number);
        });
      },
    ),
  ];

  const later = (ms: number, f: () => void): void => {
    clock.sleep(ms, ctl.signal).then(f, () => {});
  };
  const services: Record<string, () => { success: boolean; message: string }> = {
    [`${UR_DASHBOARD_NS}/power_on`]: () => {
      if (robotMode === ROBOT_MODE.POWER_OFF && safetyOk()) {
        peer.setRobotMode(ROBOT_MODE.BOOTING);
        later(transitionMs, () => peer.setRobotMode(ROBOT_MODE.IDLE));
      }
      return { success: true, message: 'Powering on' };
    },
    [`${UR_DASHBOARD_NS}/brake_release`]: () => {
      if (robotMode === ROBOT_MODE.IDLE) later(transitionMs, () => peer.setRobotMode(ROBOT_MODE.RUNNING));
      return { success: true, message: 'Brake releasing' };
    },
    [`${UR_DASHBOARD_NS}/unlock_protective_stop`]: () => {
      if (safetyMode !== SAFETY_MODE.PROTECTIVE_STOP) {
        return { success: false, message: 'Cannot unlock protective stop: not in protective stop' };
      }
      peer.setSafetyMode(SAFETY_MODE.NORMAL);
      return { success: true, message: 'Protective stop releasing' };
    },
    [`${UR_DASHBOARD_NS}/close_safety_popup`]: () => ({ success: true, message: 'closing safety popup' }),
    [`${UR_DASHBOARD_NS}/play`]: () => {
      if (!canRun()) return { success: false, message: 'Failed to execute: Play' };
      peer.setProgramRunning(true);
      return { success: true, message: 'Starting program' };
    },
    [`${UR_DASHBOARD_NS}/stop`]: () => {
      peer.setProgramRunning(false);
      return { success: true, message: 'Stopped' };
    },
    [`${UR_IO_NS}/resend_robot_program`]: () => {
      if (!headless || !canRun()) return { success: false, message: '' };
      peer.setProgramRunning(true);
      return { success: true, message: '' };
    },
  };
  for (const [service, handler] of Object.entries(services)) {
    node.createService(UR_ROS2_TYPES.trigger, service, () => {
      peer.requests.push(service.slice(service.lastIndexOf('/') + 1));
      return handler();
    });
  }

  void (async () => {
    for (;;) {
      try {
        await clock.sleep(periodMs, ctl.signal);
      } catch {
        return;
      }
      step();
      if (!peer.jointStatesPaused) peer.publishJointState();
    }
  })();
  return peer;
}
