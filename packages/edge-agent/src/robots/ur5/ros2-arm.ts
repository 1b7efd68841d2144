/**
 * A UR arm through Universal_Robots_ROS2_Driver (ur_robot_driver) over ROS 2, as the UR5 plugin's arm link
 * (arm-link.ts; the RTDE transport is ur/ur-arm.ts and the semantics are the same):
 * - joints from `/joint_states` (sensor_msgs/JointState), mapped by name: the order is not guaranteed, other
 *   publishers may share the topic (messages with none of the arm's joints are ignored), and a message naming only
 *   some of them is rejected naming the missing ones — never a silent zero;
 * - commands to `/scaled_joint_trajectory_controller/joint_trajectory` (one-point JointTrajectory reached over the
 *   period, interpolated by the controller) or `/forward_position_controller/commands` (Float64MultiArray, the
 *   controller jumps to each target);
 * - status from io_and_status_controller's `robot_mode`, `safety_mode`, `robot_program_running` (published on
 *   change, transient local);
 * - bring-up and recovery through the dashboard client's Trigger services and `resend_robot_program`.
 *
 * Bring-up, reported step by step: first joint state → status (robot mode, safety mode, program) → safety mode
 * NORMAL / REDUCED → power on / brake release when not RUNNING → External Control program running
 * (`resend_robot_program`, dashboard `play` when that is refused). `dryRun` reads only: it never publishes a command
 * nor calls a service. Once connected, faults (protective stop, e-stop, safeguard stop, safety fault, robot not
 * running, program stopped, joint states lost or invalid) latch: motion never resumes by itself, only `resume()`
 * (the user's explicit action) clears them, and `move` publishes nothing while any is present.
 */
import { type Clock, OpenpiEdgeError } from '@openpi-edge/client';
import { parseJointState } from '../../ros2/messages.js';
import type {
  Ros2Node,
  Ros2Publisher,
  Ros2ServiceClient,
  Ros2Subscription,
  Ros2SubscriptionOptions,
} from '../../ros2/surface.js';
import { Wakeups } from '../../ros2/wakeups.js';
import type { RobotFault } from '../interface.js';
import { enumName, ROBOT_MODE, SAFETY_MODE } from '../ur/rtde/types.js';
import type { Ur5ArmLink } from './arm-link.js';

/** ROS 2 type names of ur_robot_driver's interface (exact: the rclnodejs binding generates them). */
export const UR_ROS2_TYPES = {
  jointState: 'sensor_msgs/msg/JointState',
  jointTrajectory: 'trajectory_msgs/msg/JointTrajectory',
  float64MultiArray: 'std_msgs/msg/Float64MultiArray',
  robotMode: 'ur_dashboard_msgs/msg/RobotMode',
  safetyMode: 'ur_dashboard_msgs/msg/SafetyMode',
  bool: 'std_msgs/msg/Bool',
  trigger: 'std_srvs/srv/Trigger',
} as const;

/** ur_description's joint names in command order (each prefixed by the tf_prefix). */
export const UR_JOINT_NAMES = [
  'shoulder_pan_joint',
  'shoulder_lift_joint',
  'elbow_joint',
  'wrist_1_joint',
  'wrist_2_joint',
  'wrist_3_joint',
] as const;

export type UrRos2Controller = 'scaled_joint_trajectory_controller' | 'forward_position_controller';

/** Dashboard client services (std_srvs/Trigger) this arm calls, under `dashboardNamespace`. */
export const UR_DASHBOARD_SERVICES = [
  'power_on',
  'brake_release',
  'unlock_protective_stop',
  'close_safety_popup',
  'play',
  'stop',
] as const;
type DashboardService = (typeof UR_DASHBOARD_SERVICES)[number];

export interface Ur5Ros2ArmOptions {
  /** Node to use (the caller's; `close` leaves it alive). */
  readonly node: Ros2Node;
  /** The plugin's clock: arrival stamps, link-loss ages, bring-up timeouts. */
  readonly clock: Clock;
  /** ur_robot_driver's `tf_prefix` (joint names are `<prefix>shoulder_pan_joint`…). Default ''. */
  readonly prefix?: string;
  /** Which command controller is active. Default the scaled joint trajectory controller. */
  readonly controller?: UrRos2Controller;
  /** Default `/dashboard_client`. */
  readonly dashboardNamespace?: string;
  /** Default `/io_and_status_controller`. */
  readonly ioStatusNamespace?: string;
  /** Longest wait for the first joint state and status, for a service to appear or answer, for the program (ms).
   *  Default 5000. */
  readonly timeoutMs?: number;
  /** Longest wait for power on / brake release to take effect (ms). Default 30000. */
  readonly bringUpTimeoutMs?: number;
  /** Joint states older than this are a lost link (ms). Default 100. */
  readonly linkTimeoutMs?: number;
  /** Read only: no command published, no service called. */
  readonly dryRun?: boolean;
  /** Power on and release the brakes when the arm is not running. Default true. */
  readonly powerOn?: boolean;
  /** Each bring-up step as it completes. */
  readonly onStep?: (s: { step: string; detail: string }) => void;
  readonly warn?: (message: string) => void;
}

export type Ur5Ros2FaultCode =
  | 'PROTECTIVE_STOP'
  | 'EMERGENCY_STOP'
  | 'SAFEGUARD_STOP'
  | 'SAFETY_FAULT'
  | 'ROBOT_NOT_RUNNING'
  | 'PROGRAM_STOPPED'
  | 'LINK_LOST'
  | 'BAD_JOINT_STATE';

/** Report order. */
const FAULT_CODES: readonly Ur5Ros2FaultCode[] = [
  'EMERGENCY_STOP',
  'PROTECTIVE_STOP',
  'SAFEGUARD_STOP',
  'SAFETY_FAULT',
  'ROBOT_NOT_RUNNING',
  'PROGRAM_STOPPED',
  'LINK_LOST',
  'BAD_JOINT_STATE',
];

const FAULT_TEXT: Record<Ur5Ros2FaultCode, string> = {
  PROTECTIVE_STOP:
    'protective stop: clear it on the pendant (or resume with unlockProtectiveStop, the dashboard `unlock_protective_stop`), then resume',
  EMERGENCY_STOP: 'emergency stop pressed: release it, power on, then resume',
  SAFEGUARD_STOP: 'safeguard stop (safety input open): close the safeguard, then resume',
  SAFETY_FAULT:
    'safety system not in normal mode (fault, violation or recovery): clear it on the pendant, then resume',
  ROBOT_NOT_RUNNING:
    'the arm is not running (power off or brakes engaged): resume powers it on and releases the brakes',
  PROGRAM_STOPPED:
    'the External Control program is not running (stopped on the pendant or by the controller): resume restarts it',
  LINK_LOST:
    'no joint states from ur_robot_driver: check that the driver is running and reachable, then resume',
  BAD_JOINT_STATE: 'joint states lack some of the arm joints: check tf_prefix and the driver, then resume',
};

/** `time_from_start` of a hold (ms): the controller decelerates onto the measured pose. */
const HOLD_MS = 100;
/** Longest wait for the dashboard stop in `hold` (ms): a hold must not stall the control loop for long. */
const STOP_TIMEOUT_MS = 500;

const STATUS_HINT = 'is ur_robot_driver running with io_and_status_controller active?';

/**
 * QoS of the status topics: io_and_status_controller publishes them only on change with transient-local
 * durability, so a late subscriber needs the `latched` preset (ros2/surface.ts) to get the current values.
 */
const STATUS_QOS: Ros2SubscriptionOptions = { qos: 'latched' };

function absNs(ns: string): string {
  const s = ns.replace(/^\/+|\/+$/g, '');
  return s === '' ? '' : `/${s}`;
}

function duration(ms: number): { sec: number; nanosec: number } {
  const ns = Math.round(ms * 1e6);
  return { sec: Math.floor(ns / 1e9), nanosec: ns % 1e9 };
}

function safetyOk(mode: number | undefined): boolean {
  return mode === SAFETY_MODE.NORMAL || mode === SAFETY_MODE.REDUCED;
}

function fmtQ(q: ArrayLike<number>): string {
  return `[${Array.from(q, (v) => v.toFixed(3)).join(', ')}]`;
}

/** Robot modes power on / brake release cannot fix, with what the user has to do. */
const MODE_HINT: Partial<Record<number, string>> = {
  [ROBOT_MODE.NO_CONTROLLER]: 'the driver has no controller connection (robot_ip, controller switched on?)',
  [ROBOT_MODE.DISCONNECTED]: 'the driver has no controller connection (robot_ip, controller switched on?)',
  [ROBOT_MODE.CONFIRM_SAFETY]: 'confirm the safety configuration on the teach pendant',
  [ROBOT_MODE.BACKDRIVE]: 'leave backdrive mode on the teach pendant',
  [ROBOT_MODE.UPDATING_FIRMWARE]: 'wait for the firmware update to finish',
};

export class Ur5Ros2Arm implements Ur5ArmLink {
  readonly description: string;
  readonly dryRun: boolean;
  readonly controller: UrRos2Controller;
  /** Joint names in command order, prefixed. */
  readonly jointNames: readonly string[];
  readonly jointStatesTopic = '/joint_states';
  readonly commandTopic: string;
  readonly #o: Ur5Ros2ArmOptions;
  readonly #node: Ros2Node;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #linkTimeoutMs: number;
  readonly #ioNs: string;
  readonly #subs: Ros2Subscription[] = [];
  readonly #command: Ros2Publisher | null;
  readonly #dashboard: Record<DashboardService, Ros2ServiceClient>;
  readonly #resend: Ros2ServiceClient;
  readonly #wakeups = new Wakeups();
  readonly #latched = new Set<Ur5Ros2FaultCode>();
  #q = new Float64Array(6).fill(Number.NaN);
  #stampMs = Number.NEGATIVE_INFINITY;
  /** Why the newest joint-state message of the arm was rejected (cleared by the next good one). */
  #stateError: Error | undefined;
  /** The newest message without any of the arm's joints (bring-up diagnostics). */
  #foreign: string | undefined;
  #robotMode: number | undefined;
  #safetyMode: number | undefined;
  #programRunning: boolean | undefined;
  #armed = false;
  #closed = false;
  #stopSent = false;
  #badStatusWarned = false;
  /** Counters (state-based checks, reports). */
  readonly stats = {
    /** Commands published (moves and holds). */
    published: 0,
    /** Moves not published because a fault was present. */
    dropped: 0,
    /** Joint-state messages rejected (missing arm joints, malformed). */
    rejected: 0,
    /** Joint-state messages without any of the arm's joints (other publishers on the topic). */
    ignored: 0,
  };

  private constructor(o: Ur5Ros2ArmOptions) {
    this.#o = o;
    this.#node = o.node;
    this.#clock = o.clock;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#linkTimeoutMs = o.linkTimeoutMs ?? 100;
    this.dryRun = o.dryRun ?? false;
    this.controller = o.controller ?? 'scaled_joint_trajectory_controller';
    const prefix = o.prefix ?? '';
    this.jointNames = UR_JOINT_NAMES.map((n) => `${prefix}${n}`);
    this.commandTopic =
      this.controller === 'scaled_joint_trajectory_controller'
        ? '/scaled_joint_trajectory_controller/joint_trajectory'
        : '/forward_position_controller/commands';
    const dashNs = absNs(o.dashboardNamespace ?? '/dashboard_client');
    this.#ioNs = absNs(o.ioStatusNamespace ?? '/io_and_status_controller');
    this.description =
      `ros2 ur_robot_driver: ${this.jointStatesTopic} → ${this.commandTopic}` +
      `${prefix === '' ? '' : ` (tf_prefix ${prefix})`}${this.dryRun ? ', dry run' : ''}`;
    const n = this.#node;
    this.#command = this.dryRun
      ? null
      : this.controller === 'scaled_joint_trajectory_controller'
        ? n.createPublisher(UR_ROS2_TYPES.jointTrajectory, this.commandTopic)
        : n.createPublisher(UR_ROS2_TYPES.float64MultiArray, this.commandTopic);
    this.#dashboard = Object.fromEntries(
      UR_DASHBOARD_SERVICES.map((s) => [s, n.createClient(UR_ROS2_TYPES.trigger, `${dashNs}/${s}`)]),
    ) as Record<DashboardService, Ros2ServiceClient>;
    this.#resend = n.createClient(UR_ROS2_TYPES.trigger, `${this.#ioNs}/resend_robot_program`);
    this.#subs.push(
      n.createSubscription(UR_ROS2_TYPES.jointState, this.jointStatesTopic, { qos: 'sensor' }, (m) =>
        this.#onJointState(m),
      ),
      n.createSubscription(UR_ROS2_TYPES.robotMode, `${this.#ioNs}/robot_mode`, STATUS_QOS, (m) =>
        this.#onStatus('robot_mode', m),
      ),
      n.createSubscription(UR_ROS2_TYPES.safetyMode, `${this.#ioNs}/safety_mode`, STATUS_QOS, (m) =>
        this.#onStatus('safety_mode', m),
      ),
      n.createSubscription(UR_ROS2_TYPES.bool, `${this.#ioNs}/robot_program_running`, STATUS_QOS, (m) =>
        this.#onStatus('robot_program_running', m),
      ),
    );
  }

  /** Brings the arm up (see the module comment). Errors name the step that failed; nothing is left subscribed. */
  static async connect(options: Ur5Ros2ArmOptions): Promise<Ur5Ros2Arm> {
    const arm = new Ur5Ros2Arm(options);
    try {
      await arm.#bringUp();
    } catch (e) {
      await arm.close();
      throw e;
    }
    return arm;
  }

  #step(step: string, detail: string): void {
    this.#o.onStep?.({ step, detail });
  }

  // ---- incoming ---------------------------------------------------------------------------------------------

  #notify(): void {
    this.#wakeups.wake();
  }

  #onJointState(msg: unknown): void {
    try {
      const m = parseJointState(msg, this.jointStatesTopic);
      const idx = this.jointNames.map((n) => m.name.indexOf(n));
      if (idx.every((i) => i < 0)) {
        this.stats.ignored += 1;
        this.#foreign = JSON.stringify(m.name);
        return;
      }
      const missing = this.jointNames.filter((_, j) => (idx[j] as number) < 0);
      if (missing.length > 0) {
        throw new OpenpiEdgeError(
          'BAD_MESSAGE',
          `${this.jointStatesTopic}: joint ${missing.join(', ')} missing (names ${JSON.stringify(m.name)})`,
          { topic: this.jointStatesTopic, field: 'name', joint: missing.join(',') },
        );
      }
      const q = new Float64Array(6);
      for (let j = 0; j < 6; j++) {
        const i = idx[j] as number;
        const v = m.position[i];
        if (v === undefined || !Number.isFinite(v)) {
          throw new OpenpiEdgeError(
            'BAD_MESSAGE',
            `${this.jointStatesTopic}: ${this.jointNames[j]} has no finite position (index ${i} of ${m.position.length})`,
            { topic: this.jointStatesTopic, field: `position[${i}]`, joint: this.jointNames[j] },
          );
        }
        q[j] = v;
      }
      this.#q = q;
      this.#stampMs = this.#clock.now();
      this.#stateError = undefined;
    } catch (e) {
      this.stats.rejected += 1;
      this.#stateError = e instanceof Error ? e : new Error(String(e));
      if (this.#armed) this.#latched.add('BAD_JOINT_STATE');
    }
    this.#notify();
  }

  #onStatus(topic: 'robot_mode' | 'safety_mode' | 'robot_program_running', msg: unknown): void {
    const m = (typeof msg === 'object' && msg !== null ? msg : {}) as Record<string, unknown>;
    const v = topic === 'robot_program_running' ? m.data : m.mode;
    const ok = topic === 'robot_program_running' ? typeof v === 'boolean' : Number.isInteger(v);
    if (!ok) {
      if (!this.#badStatusWarned) {
        this.#badStatusWarned = true;
        this.#o.warn?.(
          `UR ros2: ${this.#ioNs}/${topic}: ignored a malformed message (${topic === 'robot_program_running' ? 'data' : 'mode'} = ${String(v)})`,
        );
      }
      return;
    }
    if (topic === 'robot_mode') this.#robotMode = v as number;
    else if (topic === 'safety_mode') this.#safetyMode = v as number;
    else this.#programRunning = v as boolean;
    if (this.#armed) for (const c of this.#statusFaults()) this.#latched.add(c);
    this.#notify();
  }

  // ---- faults -----------------------------------------------------------------------------------------------

  #statusFaults(): Ur5Ros2FaultCode[] {
    const out: Ur5Ros2FaultCode[] = [];
    const s = this.#safetyMode;
    if (s !== undefined && !safetyOk(s)) {
      if (s === SAFETY_MODE.PROTECTIVE_STOP) out.push('PROTECTIVE_STOP');
      else if (s === SAFETY_MODE.SYSTEM_EMERGENCY_STOP || s === SAFETY_MODE.ROBOT_EMERGENCY_STOP)
        out.push('EMERGENCY_STOP');
      else if (
        s === SAFETY_MODE.SAFEGUARD_STOP ||
        s === SAFETY_MODE.AUTOMATIC_MODE_SAFEGUARD_STOP ||
        s === SAFETY_MODE.SYSTEM_THREE_POSITION_ENABLING_STOP
      )
        out.push('SAFEGUARD_STOP');
      else out.push('SAFETY_FAULT');
    }
    if (this.#robotMode !== undefined && this.#robotMode !== ROBOT_MODE.RUNNING)
      out.push('ROBOT_NOT_RUNNING');
    if (this.#programRunning === false) out.push('PROGRAM_STOPPED');
    return out;
  }

  #linkLost(atMs: number): boolean {
    return atMs - this.#stampMs > this.#linkTimeoutMs;
  }

  /** Present faults; once armed they are added to the latched set. */
  #present(atMs: number): Set<Ur5Ros2FaultCode> {
    const now = new Set(this.#statusFaults());
    if (this.#linkLost(atMs)) now.add('LINK_LOST');
    if (this.#stateError !== undefined) now.add('BAD_JOINT_STATE');
    if (this.#armed) for (const c of now) this.#latched.add(c);
    return now;
  }

  #modes(): string {
    const rm = this.#robotMode === undefined ? 'unknown' : enumName(ROBOT_MODE, this.#robotMode);
    const sm = this.#safetyMode === undefined ? 'unknown' : enumName(SAFETY_MODE, this.#safetyMode);
    const pr = this.#programRunning === undefined ? 'unknown' : this.#programRunning ? 'running' : 'stopped';
    return `safety mode ${sm}, robot mode ${rm}, program ${pr}`;
  }

  faults(atMs: number): RobotFault[] {
    const now = this.#present(atMs);
    const all = new Set([...now, ...this.#latched]);
    return FAULT_CODES.filter((c) => all.has(c)).map((code) => {
      let detail = this.#modes();
      if (code === 'LINK_LOST') {
        const age = atMs - this.#stampMs;
        detail = `${this.jointStatesTopic} ${Number.isFinite(age) ? `${Math.round(age)} ms old` : 'never received'}, limit ${this.#linkTimeoutMs} ms`;
      } else if (code === 'BAD_JOINT_STATE') {
        detail = this.#stateError?.message ?? 'the last rejected message';
      }
      const cleared = now.has(code) ? '' : '; cleared now, latched until resume';
      return { code, message: `UR ros2: ${FAULT_TEXT[code]} (${detail}${cleared})`, atMs };
    });
  }

  // ---- motion -----------------------------------------------------------------------------------------------

  read(): { q: Float64Array; stampMs: number } {
    return { q: this.#q.slice(), stampMs: this.#stampMs };
  }

  #publish(q: ArrayLike<number>, periodMs: number): void {
    const pub = this.#command;
    if (pub === null) return;
    const positions = Array.from(q);
    if (this.controller === 'scaled_joint_trajectory_controller') {
      pub.publish({
        header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
        joint_names: [...this.jointNames],
        points: [
          {
            positions,
            velocities: [],
            accelerations: [],
            effort: [],
            time_from_start: duration(periodMs),
          },
        ],
      });
    } else {
      pub.publish({ layout: { dim: [], data_offset: 0 }, data: positions });
    }
    this.stats.published += 1;
  }

  move(q: ArrayLike<number>, periodMs: number): void {
    if (this.#closed) throw new OpenpiEdgeError('CLOSED', 'UR ros2 arm closed', { robot: 'ur5' });
    if (this.dryRun) {
      throw new OpenpiEdgeError('UNSAFE_TARGET', 'UR ros2: dry run, motion refused', { robot: 'ur5' });
    }
    if (q.length !== 6 || !Array.from(q).every(Number.isFinite)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'UR ros2: a move needs 6 finite joint positions (rad)', {
        shape: [q.length],
      });
    }
    if (!(Number.isFinite(periodMs) && periodMs > 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `UR ros2: move period must be > 0 ms, got ${periodMs}`, {
        value: periodMs,
      });
    }
    if (this.#present(this.#clock.now()).size > 0 || this.#latched.size > 0) {
      this.stats.dropped += 1;
      return;
    }
    this.#publish(q, periodMs);
  }

  /**
   * Publishes the measured pose once as the goal (nothing in dry run or before a joint state). With the joint states
   * lost the measured pose is old (the arm went on toward its last goal), so instead of sending it back there the
   * program is stopped over the dashboard, once per loss, as the RTDE arm does.
   */
  async hold(): Promise<void> {
    if (this.#closed || this.dryRun || this.#stampMs === Number.NEGATIVE_INFINITY) return;
    if (!this.#linkLost(this.#clock.now())) {
      this.#publish(this.#q, HOLD_MS);
      return;
    }
    if (this.#armed && !this.#stopSent) {
      this.#stopSent = true;
      await this.#trigger(this.#dashboard.stop, Math.min(this.#timeoutMs, STOP_TIMEOUT_MS)).catch(
        (e: unknown) =>
          this.#o.warn?.(`UR ros2: joint states lost and the dashboard stop failed: ${(e as Error).message}`),
      );
    }
  }

  // ---- services and waits -----------------------------------------------------------------------------------

  /** Calls a Trigger service; rejects NOT_CONNECTED when it is absent, DASHBOARD_ERROR when it answers failure. */
  async #trigger(client: Ros2ServiceClient, timeoutMs = this.#timeoutMs): Promise<string> {
    if (!(await client.waitForService(timeoutMs))) {
      throw new OpenpiEdgeError(
        'NOT_CONNECTED',
        `UR ros2: service ${client.service} not available after ${timeoutMs} ms (is ur_robot_driver running, with its dashboard client?)`,
        { service: client.service, timeoutMs },
      );
    }
    const r = (await client.call({}, timeoutMs)) as { success?: unknown; message?: unknown } | null;
    const message = typeof r?.message === 'string' ? r.message : '';
    if (r?.success !== true) {
      throw new OpenpiEdgeError(
        'DASHBOARD_ERROR',
        `UR ros2: ${client.service} failed: ${message || '(no message)'}`,
        {
          command: client.service,
          reply: message,
        },
      );
    }
    return message;
  }

  /** Resolves when `ready()` is true (checked on every message), rejects with `timeout()` past `ms`. `ready` may
   *  throw to fail at once. */
  async #waitFor(ready: () => boolean, ms: number, timeout: () => Error): Promise<void> {
    const deadline = this.#clock.now() + ms;
    for (;;) {
      if (this.#closed) throw new OpenpiEdgeError('CLOSED', 'UR ros2 arm closed', { robot: 'ur5' });
      if (ready()) return;
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) throw timeout();
      await this.#wakeups.sleep(this.#clock, remaining);
    }
  }

  #statusMissing(): string[] {
    const out: string[] = [];
    if (this.#robotMode === undefined) out.push(`${this.#ioNs}/robot_mode`);
    if (this.#safetyMode === undefined) out.push(`${this.#ioNs}/safety_mode`);
    if (this.#programRunning === undefined) out.push(`${this.#ioNs}/robot_program_running`);
    return out;
  }

  async #waitRobotMode(want: readonly number[], what: string): Promise<void> {
    const ms = this.#o.bringUpTimeoutMs ?? 30_000;
    await this.#waitFor(
      () => want.includes(this.#robotMode as number),
      ms,
      () =>
        new OpenpiEdgeError(
          'DASHBOARD_ERROR',
          `UR ros2: ${what}: robot mode still ${enumName(ROBOT_MODE, this.#robotMode as number)} after ${ms} ms (${this.#modes()})`,
          { command: what, reply: enumName(ROBOT_MODE, this.#robotMode as number) },
        ),
    );
  }

  /** Powers on and releases the brakes until RUNNING (refused with the hint for modes that need the user). */
  async #powerUp(): Promise<void> {
    const mode = this.#robotMode as number;
    const hint = MODE_HINT[mode];
    if (hint !== undefined) {
      throw new OpenpiEdgeError(
        'DASHBOARD_ERROR',
        `UR ros2: robot mode ${enumName(ROBOT_MODE, mode)}: ${hint}`,
        {
          command: 'robot_mode',
          reply: enumName(ROBOT_MODE, mode),
        },
      );
    }
    if (this.#o.powerOn === false) {
      throw new OpenpiEdgeError(
        'DASHBOARD_ERROR',
        `UR ros2: robot mode ${enumName(ROBOT_MODE, mode)}, and powering on is disabled; power on and release the brakes first`,
        { command: 'robot_mode', reply: enumName(ROBOT_MODE, mode) },
      );
    }
    if (this.#robotMode !== ROBOT_MODE.IDLE && this.#robotMode !== ROBOT_MODE.RUNNING) {
      const reply = await this.#trigger(this.#dashboard.power_on);
      await this.#waitRobotMode([ROBOT_MODE.IDLE, ROBOT_MODE.RUNNING], 'power on');
      this.#step(
        'power on',
        `${reply || 'ok'}; robot mode ${enumName(ROBOT_MODE, this.#robotMode as number)}`,
      );
    }
    if (this.#robotMode !== ROBOT_MODE.RUNNING) {
      const reply = await this.#trigger(this.#dashboard.brake_release);
      await this.#waitRobotMode([ROBOT_MODE.RUNNING], 'brake release');
      this.#step('brake release', `${reply || 'ok'}; robot mode RUNNING`);
    }
  }

  /** Starts the External Control program: `resend_robot_program` (headless), else the dashboard's `play`. */
  async #startProgram(): Promise<void> {
    let how = 'resend_robot_program';
    try {
      await this.#trigger(this.#resend);
    } catch (resendError) {
      how = 'dashboard play';
      try {
        await this.#trigger(this.#dashboard.play);
      } catch (playError) {
        throw new OpenpiEdgeError(
          'DASHBOARD_ERROR',
          `UR ros2: cannot start the External Control program: ${(resendError as Error).message}; ${(playError as Error).message}`,
          { command: 'resend_robot_program', reply: (playError as Error).message },
        );
      }
    }
    await this.#waitFor(
      () => this.#programRunning === true,
      this.#timeoutMs,
      () =>
        new OpenpiEdgeError(
          'DASHBOARD_ERROR',
          `UR ros2: the External Control program did not start within ${this.#timeoutMs} ms after ${how} (${this.#modes()})`,
          { command: how, reply: 'not running' },
        ),
    );
    this.#step('program', `External Control running (${how})`);
  }

  async #bringUp(): Promise<void> {
    await this.#waitFor(
      () => {
        if (this.#stampMs !== Number.NEGATIVE_INFINITY) return true;
        if (this.#stateError !== undefined) throw this.#stateError;
        return false;
      },
      this.#timeoutMs,
      () =>
        new OpenpiEdgeError(
          'NOT_CONNECTED',
          `UR ros2: no joint state with ${this.jointNames.join(', ')} on ${this.jointStatesTopic} within ${this.#timeoutMs} ms` +
            (this.#foreign === undefined
              ? ' (is ur_robot_driver running?)'
              : `; messages there name only ${this.#foreign} (tf_prefix?)`),
          { topic: this.jointStatesTopic, timeoutMs: this.#timeoutMs },
        ),
    );
    this.#step('joint states', `${this.jointStatesTopic}: q ${fmtQ(this.#q)} rad`);
    await this.#waitFor(
      () => this.#statusMissing().length === 0,
      this.#timeoutMs,
      () =>
        new OpenpiEdgeError(
          'NOT_CONNECTED',
          `UR ros2: no status on ${this.#statusMissing().join(', ')} within ${this.#timeoutMs} ms (${STATUS_HINT})`,
          { topics: this.#statusMissing(), timeoutMs: this.#timeoutMs },
        ),
    );
    this.#step('robot mode', enumName(ROBOT_MODE, this.#robotMode as number));
    this.#step('safety mode', enumName(SAFETY_MODE, this.#safetyMode as number));
    if (!this.dryRun && !safetyOk(this.#safetyMode)) {
      const sm = enumName(SAFETY_MODE, this.#safetyMode as number);
      throw new OpenpiEdgeError(
        'DASHBOARD_ERROR',
        `UR ros2: safety mode ${sm}; clear it (pendant, or the dashboard's unlock_protective_stop) before starting`,
        { command: 'safety_mode', reply: sm },
      );
    }
    if (!this.dryRun && this.#robotMode !== ROBOT_MODE.RUNNING) await this.#powerUp();
    if (this.dryRun) {
      this.#step(
        'program',
        `External Control ${this.#programRunning ? 'running' : 'not running'} (dry run: read only)`,
      );
    } else if (this.#programRunning !== true) {
      await this.#startProgram();
    } else {
      this.#step('program', 'External Control running');
    }
    this.#armed = true;
  }

  /**
   * The user's explicit resume: `unlockProtectiveStop` unlocks a protective stop over the dashboard; safety mode must
   * be NORMAL / REDUCED; the arm is powered and released if needed; the controller is given the measured pose (so
   * no old trajectory continues) and the program restarted; then the latched faults clear. Rejects naming what is
   * still wrong (nothing moves then). In dry run no service is called: latched faults whose cause is gone clear.
   */
  async resume(options: { unlockProtectiveStop?: boolean } = {}): Promise<void> {
    if (this.#closed) throw new OpenpiEdgeError('CLOSED', 'UR ros2 arm closed', { robot: 'ur5' });
    if (!this.dryRun) {
      if (this.#safetyMode === SAFETY_MODE.PROTECTIVE_STOP && options.unlockProtectiveStop === true) {
        await this.#trigger(this.#dashboard.unlock_protective_stop);
        await this.#waitFor(
          () => this.#safetyMode !== SAFETY_MODE.PROTECTIVE_STOP,
          this.#timeoutMs,
          () =>
            new OpenpiEdgeError(
              'DASHBOARD_ERROR',
              `UR ros2: still in protective stop ${this.#timeoutMs} ms after unlock_protective_stop`,
              { command: 'unlock_protective_stop', reply: 'PROTECTIVE_STOP' },
            ),
        );
      }
      if (!safetyOk(this.#safetyMode)) {
        const sm = this.#safetyMode === undefined ? 'unknown' : enumName(SAFETY_MODE, this.#safetyMode);
        const how =
          this.#safetyMode === SAFETY_MODE.PROTECTIVE_STOP
            ? 'clear it on the pendant or resume with unlockProtectiveStop'
            : 'clear it on the pendant';
        throw new OpenpiEdgeError('DASHBOARD_ERROR', `UR ros2: cannot resume, safety mode ${sm}: ${how}`, {
          command: 'safety_mode',
          reply: sm,
        });
      }
      if (this.#linkLost(this.#clock.now())) {
        throw new OpenpiEdgeError(
          'ROBOT_FAULT',
          `UR ros2: cannot resume, no fresh joint states on ${this.jointStatesTopic} (is ur_robot_driver running?)`,
          { robot: 'ur5', fault: 'LINK_LOST' },
        );
      }
      await this.#trigger(this.#dashboard.close_safety_popup).catch(() => undefined);
      if (this.#robotMode !== ROBOT_MODE.RUNNING) await this.#powerUp();
      if (this.#programRunning !== true) {
        this.#publish(this.#q, HOLD_MS);
        await this.#startProgram();
      }
    }
    const present = this.#present(this.#clock.now());
    const still = FAULT_CODES.filter((c) => present.has(c));
    if (still.length > 0) {
      throw new OpenpiEdgeError(
        'ROBOT_FAULT',
        `UR ros2: still faulted after resume: ${still.join(', ')} (${this.#modes()})`,
        {
          robot: 'ur5',
          fault: still.join(','),
        },
      );
    }
    this.#latched.clear();
    this.#stopSent = false;
    if (!this.dryRun) this.#publish(this.#q, HOLD_MS);
  }

  /** Holds at the measured pose (unless dry run), unsubscribes; the node stays the caller's. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (
      this.#armed &&
      !this.dryRun &&
      this.#stampMs !== Number.NEGATIVE_INFINITY &&
      !this.#linkLost(this.#clock.now())
    ) {
      this.#publish(this.#q, HOLD_MS);
    }
    this.#closed = true;
    for (const s of this.#subs.splice(0)) this.#node.destroySubscription(s);
    this.#notify();
    return Promise.resolve();
  }
}
