/**
 * ALOHA arms through Interbotix xs_sdk nodes over ROS 2: joint states from
 * `/<ns>/joint_states`, arm goals as `JointGroupCommand{name:'arm'}` on `/<ns>/commands/joint_group`, gripper goals as
 * `JointSingleCommand{name:'gripper'}` on `/<ns>/commands/joint_single`, setup through the `reboot_motors`,
 * `set_operating_modes` and `torque_enable` services.
 */
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { parseJointState, ROS2_TYPES } from '../../ros2/messages.js';
import type { Ros2Node, Ros2Publisher, Ros2ServiceClient } from '../../ros2/surface.js';
import { Wakeups } from '../../ros2/wakeups.js';
import { ALOHA_NAMESPACES, ALOHA_SIDES, type AlohaSide } from './constants.js';
import type { AlohaArmState, AlohaArmsState, AlohaArmsTransport } from './transport.js';

export interface Ros2ArmsOptions {
  /** Node to use (created by the caller from a Ros2Context; not destroyed by `close`). */
  node: Ros2Node;
  /** Follower namespaces (no leading slash needed). Default `follower_left` / `follower_right` (Trossen ROS 2). */
  namespaces?: { left: string; right: string };
  /** Clock (ms) for arrival stamps and timeouts. Default the real clock. */
  clock?: Clock;
  /** How long `start` waits for each service and for the first joint state (ms). Default 5000. */
  timeoutMs?: number;
  /** Run the follower setup service calls in `start` (reboot gripper, modes, torque). Default true. */
  setup?: boolean;
}

interface Side {
  side: AlohaSide;
  ns: string;
  stateTopic: string;
  group: Ros2Publisher;
  single: Ros2Publisher;
  torque: Ros2ServiceClient;
  reboot: Ros2ServiceClient;
  modes: Ros2ServiceClient;
  latest: AlohaArmState | undefined;
  error: Error | undefined;
  rejected: number;
}

/**
 * Tries per service call and each one's share of `timeoutMs` (together the whole of it): a lost reply costs 30 %
 * of the budget, not all of it, and the last try still has 40 % for a slow servo reboot.
 */
const ATTEMPT_SHARE = [0.3, 0.3, 0.4] as const;
const SERVICE_ATTEMPTS = ATTEMPT_SHARE.length;

function abs(ns: string): string {
  return `/${ns.replace(/^\/+|\/+$/g, '')}`;
}

export class Ros2AlohaArms implements AlohaArmsTransport {
  readonly kind = 'ros2' as const;
  readonly description: string;
  readonly capabilities = { reboot: true } as const;
  readonly #node: Ros2Node;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #setup: boolean;
  readonly #sides: Record<AlohaSide, Side>;
  readonly #subs: ReturnType<Ros2Node['createSubscription']>[] = [];
  readonly #wakeups = new Wakeups();
  #closed = false;
  #serviceRetries = 0;

  constructor(options: Ros2ArmsOptions) {
    this.#node = options.node;
    this.#clock = options.clock ?? realClock;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#setup = options.setup ?? true;
    const namespaces = options.namespaces ?? ALOHA_NAMESPACES.trossen;
    this.description = `ros2 ${abs(namespaces.left)}, ${abs(namespaces.right)}`;
    const mk = (side: AlohaSide): Side => {
      const ns = abs(namespaces[side]);
      const n = this.#node;
      return {
        side,
        ns,
        stateTopic: `${ns}/joint_states`,
        group: n.createPublisher(ROS2_TYPES.jointGroupCommand, `${ns}/commands/joint_group`),
        single: n.createPublisher(ROS2_TYPES.jointSingleCommand, `${ns}/commands/joint_single`),
        torque: n.createClient(ROS2_TYPES.torqueEnable, `${ns}/torque_enable`),
        reboot: n.createClient(ROS2_TYPES.reboot, `${ns}/reboot_motors`),
        modes: n.createClient(ROS2_TYPES.operatingModes, `${ns}/set_operating_modes`),
        latest: undefined,
        error: undefined,
        rejected: 0,
      };
    };
    this.#sides = { left: mk('left'), right: mk('right') };
    for (const s of Object.values(this.#sides)) {
      this.#subs.push(
        this.#node.createSubscription(ROS2_TYPES.jointState, s.stateTopic, { qos: 'default' }, (msg) =>
          this.#onState(s, msg),
        ),
      );
    }
  }

  /** Joint-state messages rejected per side (too short, non-numeric). */
  get rejected(): Record<AlohaSide, number> {
    return { left: this.#sides.left.rejected, right: this.#sides.right.rejected };
  }

  #onState(s: Side, msg: unknown): void {
    try {
      const m = parseJointState(msg, s.stateTopic);
      // Index by position, not name: some driver versions publish more positions than names.
      if (m.position.length < 8) {
        throw new OpenpiEdgeError(
          'BAD_MESSAGE',
          `${s.stateTopic}: ${m.position.length} positions, need >= 8 (6 arm joints, gripper, left_finger)`,
          { topic: s.stateTopic, field: 'position', shape: [m.position.length] },
        );
      }
      s.latest = {
        arm: m.position.slice(0, 6),
        gripperAngle: m.position[6] as number,
        fingerPosition: m.position[7] as number,
        velocity: m.velocity.slice(0, 7),
        effort: m.effort.slice(0, 7),
        stampMs: this.#clock.now(),
      };
      s.error = undefined;
      this.#wakeups.wake();
    } catch (e) {
      s.rejected += 1;
      s.error = e instanceof Error ? e : new Error(String(e));
    }
  }

  async #call(client: Ros2ServiceClient, request: Record<string, unknown>): Promise<void> {
    if (!(await client.waitForService(this.#timeoutMs))) {
      throw new OpenpiEdgeError(
        'NOT_CONNECTED',
        `service ${client.service} not available after ${this.#timeoutMs} ms (is xs_sdk running?)`,
        { service: client.service, timeoutMs: this.#timeoutMs },
      );
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await client.call(request, ATTEMPT_SHARE[attempt - 1]! * this.#timeoutMs);
        return;
      } catch (e) {
        // Seen over real DDS (about 1 run in 17): `waitForService` is true once the server's request reader is
        // matched, but a reply sent before the client's reply reader is matched is lost. Every call made here is
        // idempotent (reboot, modes, torque), so a timed-out one is sent again.
        const timedOut = e instanceof OpenpiEdgeError && e.code === 'REQUEST_TIMEOUT';
        if (!timedOut || attempt >= SERVICE_ATTEMPTS) {
          if (!timedOut) throw e;
          throw new OpenpiEdgeError(
            'REQUEST_TIMEOUT',
            `service ${client.service}: no reply to ${attempt} attempts within ${this.#timeoutMs} ms (is xs_sdk running?)`,
            { service: client.service, attempts: attempt, timeoutMs: this.#timeoutMs },
            { cause: e },
          );
        }
        this.#serviceRetries += 1;
      }
    }
  }

  /** Service calls sent again after a lost reply. */
  get serviceRetries(): number {
    return this.#serviceRetries;
  }

  /** The follower setup of Interbotix ALOHA, both arms; then waits for both joint states. */
  async start(): Promise<void> {
    if (this.#setup) {
      for (const s of Object.values(this.#sides)) {
        await this.#call(s.reboot, {
          cmd_type: 'single',
          name: 'gripper',
          enable: true,
          smart_reboot: false,
        });
        for (const [cmd_type, name, mode] of [
          ['group', 'arm', 'position'],
          ['single', 'gripper', 'current_based_position'],
        ] as const) {
          await this.#call(s.modes, {
            cmd_type,
            name,
            mode,
            profile_type: 'velocity',
            profile_velocity: 0,
            profile_acceleration: 0,
          });
        }
        await this.#call(s.torque, { cmd_type: 'group', name: 'arm', enable: true });
        await this.#call(s.torque, { cmd_type: 'single', name: 'gripper', enable: true });
      }
    }
    await this.#waitForStates();
  }

  async #waitForStates(): Promise<void> {
    const deadline = this.#clock.now() + this.#timeoutMs;
    for (;;) {
      const missing = ALOHA_SIDES.filter((side) => this.#sides[side].latest === undefined);
      if (missing.length === 0) return;
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) {
        const s = this.#sides[missing[0] as AlohaSide];
        throw new OpenpiEdgeError(
          'NOT_CONNECTED',
          `no joint state on ${missing.map((m) => this.#sides[m].stateTopic).join(', ')} within ${this.#timeoutMs} ms` +
            (s.error ? `; last message rejected: ${s.error.message}` : ''),
          { topics: missing.map((m) => this.#sides[m].stateTopic), timeoutMs: this.#timeoutMs },
        );
      }
      await this.#wakeups.sleep(this.#clock, remaining);
    }
  }

  read(): Promise<AlohaArmsState> {
    const { left, right } = this.#sides;
    if (left.latest === undefined || right.latest === undefined) {
      const s = left.latest === undefined ? left : right;
      return Promise.reject(
        new OpenpiEdgeError('NOT_CONNECTED', `no joint state received yet on ${s.stateTopic}`, {
          topic: s.stateTopic,
        }),
      );
    }
    return Promise.resolve({ left: left.latest, right: right.latest });
  }

  writeArm(side: AlohaSide, positions: ArrayLike<number>): Promise<void> {
    if (positions.length !== 6 || !Array.from(positions).every(Number.isFinite)) {
      return Promise.reject(
        new OpenpiEdgeError('BAD_ARGUMENT', `${side} arm command needs 6 finite joint positions (rad)`, {
          side,
          shape: [positions.length],
        }),
      );
    }
    this.#sides[side].group.publish({ name: 'arm', cmd: Array.from(positions) });
    return Promise.resolve();
  }

  writeGripper(side: AlohaSide, angle: number): Promise<void> {
    if (!Number.isFinite(angle)) {
      return Promise.reject(
        new OpenpiEdgeError('BAD_ARGUMENT', `${side} gripper command must be finite, got ${angle}`, {
          side,
          value: angle,
        }),
      );
    }
    this.#sides[side].single.publish({ name: 'gripper', cmd: angle });
    return Promise.resolve();
  }

  async rebootGrippers(): Promise<void> {
    for (const s of Object.values(this.#sides)) {
      await this.#call(s.reboot, { cmd_type: 'single', name: 'gripper', enable: true, smart_reboot: false });
    }
  }

  async setTorque(enabled: boolean): Promise<void> {
    for (const s of Object.values(this.#sides)) {
      await this.#call(s.torque, { cmd_type: 'group', name: 'all', enable: enabled });
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const sub of this.#subs.splice(0)) this.#node.destroySubscription(sub);
    return Promise.resolve();
  }
}
