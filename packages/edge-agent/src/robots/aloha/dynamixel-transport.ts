/**
 * ALOHA arms over direct Dynamixel buses, one per arm, through the ViperX driver: `serial` opens the two U2D2
 * ports; `emulator` runs two bus emulators in memory behind the same driver, so both take the code path a real
 * robot takes (packets, CRC, sync read/write).
 */
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { DynamixelBus, type DynamixelBusOptions } from '../dynamixel/bus.js';
import type { DynamixelBusEmulator } from '../dynamixel/emulator/bus-emulator.js';
import { createViperXBusEmulator, type ViperXBusOptions } from '../dynamixel/emulator/viperx-bus.js';
import { openSerialTransport } from '../dynamixel/serial-transport.js';
import { type ByteTransport, createMemoryLink } from '../dynamixel/transport.js';
import { gripperAngleToFinger, ViperXArm } from '../dynamixel/viperx.js';
import { ALOHA_GRIPPER_PROFILES, type AlohaGripperProfile, type AlohaSide } from './constants.js';
import type { AlohaArmState, AlohaArmsState, AlohaArmsTransport } from './transport.js';

interface Arm {
  side: AlohaSide;
  arm: ViperXArm;
  bus: DynamixelBus;
}

/** Shared by `serial` and `emulator`: two ViperX arms on two buses. */
class DynamixelArmsTransport implements AlohaArmsTransport {
  readonly capabilities = { reboot: true } as const;
  #closed = false;

  constructor(
    readonly kind: 'emulator' | 'serial',
    readonly description: string,
    private readonly arms: Record<AlohaSide, Arm>,
    private readonly gripper: AlohaGripperProfile,
    private readonly clock: Clock,
    private readonly onClose: () => Promise<void>,
  ) {}

  async start(): Promise<void> {
    for (const a of Object.values(this.arms)) {
      try {
        await a.arm.setupFollower();
      } catch (e) {
        throw new OpenpiEdgeError(
          (e as OpenpiEdgeError).code ?? 'NOT_CONNECTED',
          `ALOHA ${a.side} arm setup failed (${this.description}): ${e instanceof Error ? e.message : String(e)}`,
          { side: a.side, transport: this.kind },
          { cause: e },
        );
      }
    }
    await this.read();
  }

  async #readArm(a: Arm): Promise<AlohaArmState> {
    const s = await a.arm.readState();
    const angle = s.position[6] as number;
    return {
      arm: s.position.slice(0, 6),
      gripperAngle: angle,
      fingerPosition: gripperAngleToFinger(angle, this.gripper.geometry),
      velocity: s.velocity,
      effort: s.effort,
      stampMs: this.clock.now(),
    };
  }

  async read(): Promise<AlohaArmsState> {
    return { left: await this.#readArm(this.arms.left), right: await this.#readArm(this.arms.right) };
  }

  writeArm(side: AlohaSide, positions: ArrayLike<number>): Promise<void> {
    return this.arms[side].arm.writeArmPositions(positions);
  }

  writeGripper(side: AlohaSide, angle: number): Promise<void> {
    return this.arms[side].arm.writeGripper(angle);
  }

  /** One Sync Write per arm (6 joints + gripper): see ViperXArm.writePositions. */
  writeJoints(side: AlohaSide, positions: ArrayLike<number>, gripperAngle: number): Promise<void> {
    return this.arms[side].arm.writePositions(positions, gripperAngle);
  }

  async rebootGrippers(): Promise<void> {
    for (const a of Object.values(this.arms)) {
      await a.bus.reboot(9);
      await a.arm.setTorque('gripper', true);
    }
  }

  async setTorque(enabled: boolean): Promise<void> {
    for (const a of Object.values(this.arms)) await a.arm.setTorque('all', enabled);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const a of Object.values(this.arms)) await a.bus.close();
    await this.onClose();
  }
}

export interface DynamixelArmsOptions {
  /** Gripper generation. Default {@link ALOHA_GRIPPER_PROFILES}.openpi. */
  gripper?: AlohaGripperProfile;
  /** Clock for state stamps (ms). Default the real clock. */
  clock?: Clock;
  /** Driver options (timeouts, retries) for both buses. */
  bus?: DynamixelBusOptions;
}

export interface SerialArmsOptions extends DynamixelArmsOptions {
  /** Follower ports. Default `/dev/ttyDXL_puppet_left` / `_right` (openpi udev names). */
  ports?: { left: string; right: string };
  /** Line rate (bit/s). Default 1_000_000. */
  baudRate?: number;
}

/** Opens both follower ports (NOT_CONNECTED naming the port when one cannot be opened). Call `start()` next. */
export async function openSerialAlohaArms(options: SerialArmsOptions = {}): Promise<AlohaArmsTransport> {
  const ports = options.ports ?? { left: '/dev/ttyDXL_puppet_left', right: '/dev/ttyDXL_puppet_right' };
  const opened: ByteTransport[] = [];
  try {
    for (const side of ['left', 'right'] as const) {
      opened.push(
        await openSerialTransport({
          path: ports[side],
          ...(options.baudRate === undefined ? {} : { baudRate: options.baudRate }),
        }),
      );
    }
  } catch (e) {
    for (const t of opened) await t.close();
    throw e;
  }
  const arms = makeArms(opened as [ByteTransport, ByteTransport], options);
  return new DynamixelArmsTransport(
    'serial',
    `serial ${ports.left}, ${ports.right}`,
    arms,
    options.gripper ?? ALOHA_GRIPPER_PROFILES.openpi,
    options.clock ?? realClock,
    async () => {},
  );
}

function makeArms([left, right]: [ByteTransport, ByteTransport], options: DynamixelArmsOptions) {
  const mk = (side: AlohaSide, t: ByteTransport): Arm => {
    const bus = new DynamixelBus(t, options.bus);
    const gripper = options.gripper ?? ALOHA_GRIPPER_PROFILES.openpi;
    return { side, bus, arm: new ViperXArm(bus, { gripper: gripper.geometry }) };
  };
  return { left: mk('left', left), right: mk('right', right) };
}

export interface EmulatedArmsOptions extends DynamixelArmsOptions {
  /** Emulator options for both arms (initial pose; its clock defaults to `clock`). */
  emulator?: ViperXBusOptions;
}

export interface EmulatedAlohaArms extends AlohaArmsTransport {
  /** The two bus emulators, for inspection and fault injection in tests. */
  readonly emulators: Readonly<Record<AlohaSide, DynamixelBusEmulator>>;
}

/** Two in-memory ViperX bus emulators behind the real driver. The emulators' motion runs on `clock`. */
export function createEmulatedAlohaArms(options: EmulatedArmsOptions = {}): EmulatedAlohaArms {
  const clock = options.clock ?? realClock;
  const emulators = {
    left: createViperXBusEmulator({ clock, ...options.emulator }),
    right: createViperXBusEmulator({ clock, ...options.emulator }),
  };
  const [lDriver, lBus] = createMemoryLink();
  const [rDriver, rBus] = createMemoryLink();
  const detach = [emulators.left.attach(lBus), emulators.right.attach(rBus)];
  const transport = new DynamixelArmsTransport(
    'emulator',
    'emulator (in memory)',
    makeArms([lDriver, rDriver], options),
    options.gripper ?? ALOHA_GRIPPER_PROFILES.openpi,
    clock,
    async () => {
      for (const d of detach) d();
      await lBus.close();
      await rBus.close();
    },
  );
  return Object.assign(transport, { emulators });
}
