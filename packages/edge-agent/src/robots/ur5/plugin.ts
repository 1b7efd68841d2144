/**
 * UR5 / UR5e as a robot plugin (robots/interface.ts): 6 joints + gripper, openpi's UR5 layout (observation
 * `joints` [6], `gripper` [1], top-level `base_rgb` / `wrist_rgb` uint8 HWC; actions [7]).
 *
 * Transports:
 * - `emulator` (default): the UR controller emulator (ur/emulator) in its own worker thread on loopback ports, and
 *   a Robotiq 2F-85 emulator on a socat pty; the arm is driven through the same RTDE client, dashboard client,
 *   servo program and servo worker as a real one (ur/ur-arm.ts), the gripper through the same Modbus RTU driver.
 * - `rtde`: a real controller at `host` (remote-control mode; docs/ur5.md, examples/ur5/README.md).
 * - `ros2`: Universal_Robots_ROS2_Driver's topics and services (ros2-arm.ts).
 * Motion: `write` takes only the gate's SafeCommand; the 6 joints go to the arm link, which streams them at the
 * controller's rate (500 Hz e-Series), interpolated and gated per cycle; the gripper gets a new goal when it changes.
 * Faults (protective stop, e-stop, program stopped, link lost, gripper) hold the gate (ROBOT_FAULT) and latch:
 * only `resume()` clears them.
 */
import { ndarray, type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import { DEMO_BUNDLE_UR5 } from '../../config/demo-bundles.js';
import { buildCamera } from '../../io/cameras/build-camera.js';
import type { CameraSource } from '../../io/cameras/camera-source.js';
import type { Ros2Context, Ros2Node } from '../../ros2/surface.js';
import { applySafetyOverrides, type SafetyConfig } from '../../safety/config.js';
import { assertSafeCommand, type SafeCommand } from '../../safety/gate.js';
import { checkTarget } from '../../safety/move-plan.js';
import { type CameraConfig, cameraFlags, resolveCameras } from '../camera-config.js';
import type {
  ResetSegment,
  Robot,
  RobotConnectOptions,
  RobotFault,
  RobotJointState,
  RobotLayout,
  RobotPlugin,
} from '../interface.js';
import { defined, mergeSection } from '../merge-section.js';
import { RobotiqGripper } from '../robotiq/gripper.js';
import { emulateRobotiqOnPty } from '../robotiq/serve-pty.js';
import { startUrEmulatorThread, type UrEmulatorThread } from '../ur/emulator/emulator-thread.js';
import { type BringUpStep, UrArm } from '../ur/ur-arm.js';
import type { Ur5ArmLink } from './arm-link.js';
import {
  UR5_CAMERAS,
  UR5_CONFIG_DEFAULTS,
  UR5_HOME_POSE,
  type Ur5Camera,
  type Ur5Config,
  Ur5ConfigSchema,
} from './config.js';
import { NoGripper, RobotiqLink, type Ur5GripperLink } from './gripper-link.js';
import { Ur5Ros2Arm } from './ros2-arm.js';
import { armSafety, UR5_SAFETY_DEFAULTS } from './safety-defaults.js';

/** Joint names in action order (6 arm joints, then the gripper). */
export const UR5_JOINTS: readonly string[] = UR5_SAFETY_DEFAULTS.joints.map((j) => j.name);

/** The gripper value the reset ends at: open (openpi's UR5 convention, 0 open .. 1 closed). */
export const UR5_GRIPPER_OPEN = 0;

export const UR5_LAYOUT: RobotLayout = {
  joints: UR5_JOINTS,
  stateDim: 7,
  cameras: UR5_CAMERAS.map((name) => ({ name, required: true })),
  imagesKey: null,
  imageFormat: 'hwc',
  imageSize: { height: 224, width: 224 },
  policyRobotKinds: ['ur5'],
};

/** The default ROS 2 image topic of a camera (ros2 transport). */
export function ur5ImageTopic(camera: string): string {
  return `/${camera}/image_raw`;
}

/** Each camera's source for the transport (generated frames only with the emulator; both cameras required). */
export function resolveUr5Cameras(config: Ur5Config): Record<Ur5Camera, CameraConfig> {
  const transport = config.transport ?? UR5_CONFIG_DEFAULTS.transport;
  return resolveCameras({
    robot: 'UR5',
    names: UR5_CAMERAS,
    given: config.cameras,
    transport,
    emulated: transport === 'emulator',
    ros2: transport === 'ros2',
    required: UR5_CAMERAS,
    generated: { ...UR5_CONFIG_DEFAULTS.generatedCameras, ...defined(config.generatedCameras) },
  });
}

/** What the emulator transport started (tests reach the controller and gripper emulators through it). */
export interface Ur5EmulatedCell {
  readonly controller: UrEmulatorThread;
  readonly gripper: Awaited<ReturnType<typeof emulateRobotiqOnPty>> | null;
}

export class Ur5Robot implements Robot {
  readonly name = 'ur5';
  readonly description: string;
  readonly bringUp: readonly string[];
  readonly layout = UR5_LAYOUT;
  readonly safety: SafetyConfig;
  readonly cameras: Readonly<Record<string, CameraSource>>;
  readonly cameraDescriptions: Readonly<Record<string, string>>;
  readonly ros2Node?: Ros2Node;
  readonly arm: Ur5ArmLink;
  readonly gripper: Ur5GripperLink;
  /** The emulators (emulator transport only). */
  readonly emulated: Ur5EmulatedCell | null;
  /** Gated commands not forwarded because the robot was faulted. */
  writesDuringFault = 0;
  readonly #periodMs: number;
  readonly #home: Float64Array;
  readonly #homeMs: number;
  readonly #clock: { now(): number };
  readonly #cleanup: () => Promise<void>;
  #closed = false;

  constructor(parts: {
    arm: Ur5ArmLink;
    gripper: Ur5GripperLink;
    description: string;
    bringUp: readonly string[];
    safety: SafetyConfig;
    cameras: Record<string, CameraSource>;
    cameraDescriptions: Record<string, string>;
    controlHz: number;
    homePose: readonly number[];
    homeMs: number;
    clock: { now(): number };
    emulated: Ur5EmulatedCell | null;
    ros2Node?: Ros2Node;
    cleanup: () => Promise<void>;
  }) {
    this.arm = parts.arm;
    this.gripper = parts.gripper;
    this.description = parts.description;
    this.bringUp = parts.bringUp;
    this.safety = parts.safety;
    this.cameras = parts.cameras;
    this.cameraDescriptions = parts.cameraDescriptions;
    this.#periodMs = 1000 / parts.controlHz;
    this.#home = Float64Array.from([...parts.homePose, UR5_GRIPPER_OPEN]);
    this.#homeMs = parts.homeMs;
    this.#clock = parts.clock;
    this.emulated = parts.emulated;
    if (parts.ros2Node !== undefined) this.ros2Node = parts.ros2Node;
    this.#cleanup = parts.cleanup;
  }

  /** The newest joints (from the servo worker's shared state: no I/O) and the gripper's cached position. */
  async read(): Promise<RobotJointState> {
    const a = this.arm.read();
    const positions = new Float64Array(7);
    positions.set(a.q);
    positions[6] = this.gripper.position();
    return { positions, state: Float32Array.from(positions), stampMs: a.stampMs };
  }

  /** openpi's UR5 observation: `joints` float32 [6] (rad) and `gripper` float32 [1]. */
  observation(reading: RobotJointState): Obs {
    return {
      joints: ndarray('float32', [6], Float32Array.from(reading.positions.subarray(0, 6))),
      gripper: ndarray('float32', [1], Float32Array.of(reading.positions[6] as number)),
    };
  }

  /** One gated command: the arm streams toward the 6 joints over one control period; the gripper gets its goal. */
  async write(command: SafeCommand): Promise<void> {
    assertSafeCommand(command, { robot: 'ur5', dim: 7 });
    if (this.#closed) throw new OpenpiEdgeError('CLOSED', 'ur5: write after close', { robot: 'ur5' });
    if (this.faults().length > 0) {
      // The gate holds on the fault; what it re-sends is not forwarded: nothing moves until resume().
      this.writesDuringFault++;
      return;
    }
    const p = command.positions;
    this.arm.move(p.subarray(0, 6), this.#periodMs);
    await this.gripper.command(p[6] as number);
  }

  async hold(): Promise<void> {
    if (this.#closed) return;
    await this.arm.hold();
    await this.gripper.stop().catch(() => undefined);
  }

  faults(): readonly RobotFault[] {
    const now = this.#clock.now();
    const out = [...this.arm.faults(now), ...this.gripper.faults(now)];
    if (this.arm.dryRun) {
      out.push({ code: 'DRY_RUN', message: 'dry run: connected read-only, motion disabled', atMs: now });
    }
    return out;
  }

  /**
   * The user's explicit resume once the cause is cleared (UR: protective stop unlocked, e-stop released):
   * re-arms the arm (program re-sent, link reconnected) and the gripper. Rejects naming what is still wrong.
   */
  async resume(options: { unlockProtectiveStop?: boolean } = {}): Promise<void> {
    await this.arm.resume(options);
    await this.gripper.resume();
  }

  resetPlan(_from: RobotJointState): readonly ResetSegment[] {
    return [{ target: this.#home.slice(), label: 'arm home, gripper open', minDurationMs: this.#homeMs }];
  }

  /** Stops the cameras, ends the servo program, closes the gripper and the emulators. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      for (const c of Object.values(this.cameras)) await c.close();
    } finally {
      try {
        await this.arm.close();
      } finally {
        await this.gripper.close().catch(() => undefined);
        await this.#cleanup();
      }
    }
  }
}

type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** Extra options for library use and tests. */
export interface Ur5PluginExtras {
  /** Emulator: protective-stop unlock delay (ms). Default 0 here (the CLI emulator uses the real 5000). */
  readonly unlockDelayMs?: number;
  /** Emulator: Robotiq activation time (ms). Default 300. */
  readonly gripperActivationMs?: number;
  /** Each bring-up step (default: the connect options' `warn`-free startup report via the description). */
  readonly onStep?: (s: BringUpStep) => void;
}

export interface Ur5Plugin extends RobotPlugin<Ur5Config> {
  with(extras: Ur5PluginExtras): Ur5Plugin;
  connect(options: RobotConnectOptions<Ur5Config>): Promise<Ur5Robot>;
}

function num(v: FlagValues, k: string): number | undefined {
  const s = v[k];
  if (typeof s !== 'string') return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `--${k}: expected a number, got '${s}'`, { option: k });
  }
  return n;
}

function makeUr5Plugin(extras: Ur5PluginExtras): Ur5Plugin {
  return {
    name: 'ur5',
    summary: 'UR5 / UR5e: 6 joints + Robotiq 2F-85, base_rgb + wrist_rgb (transport: emulator | rtde | ros2)',
    configSchema: Ur5ConfigSchema,
    defaultBundle: DEMO_BUNDLE_UR5,
    flags: [
      { name: 'transport', type: 'string', help: 'emulator | rtde | ros2 (default emulator)' },
      { name: 'ur-host', type: 'string', help: 'rtde: controller address (remote-control mode)' },
      { name: 'rtde-port', type: 'string', help: 'rtde: RTDE port (default 30004)' },
      { name: 'dashboard-port', type: 'string', help: 'rtde: dashboard port (default 29999)' },
      {
        name: 'script-port',
        type: 'string',
        help: 'rtde: port the servo program is sent to (default 30002)',
      },
      {
        name: 'dry-run',
        type: 'boolean',
        help: 'connect and read only: no power, brakes, program or motion',
      },
      { name: 'gripper', type: 'string', help: 'robotiq | none (default robotiq)' },
      { name: 'gripper-port', type: 'string', help: 'Robotiq serial device (default /dev/ttyUSB0)' },
      { name: 'servo-hz', type: 'string', help: 'highest servo rate, Hz (default 500; CB3 streams 125)' },
      {
        name: 'camera',
        type: 'string',
        multiple: true,
        help: 'per camera <name>=<source>: /dev/videoN (V4L2), ros2[:topic], testsrc; repeatable',
      },
    ],
    flagsToConfig(v: FlagValues) {
      const str = (k: string): string | undefined =>
        typeof v[k] === 'string' ? (v[k] as string) : undefined;
      const cameras = cameraFlags(v.camera, UR5_CAMERAS);
      const servoHz = num(v, 'servo-hz');
      const ports = defined({
        rtde: num(v, 'rtde-port'),
        dashboard: num(v, 'dashboard-port'),
        script: num(v, 'script-port'),
      });
      const gripperPort = str('gripper-port');
      return defined({
        transport: str('transport'),
        host: str('ur-host'),
        ports: Object.keys(ports).length === 0 ? undefined : ports,
        dryRun: v['dry-run'] === true ? true : undefined,
        gripper: str('gripper'),
        robotiq: gripperPort === undefined ? undefined : { port: gripperPort },
        servo: servoHz === undefined ? undefined : { maxHz: servoHz },
        cameras: Object.keys(cameras).length === 0 ? undefined : cameras,
      });
    },
    mergeConfig: mergeSection,
    resolveConfig(section) {
      return {
        ...section,
        transport: section.transport ?? UR5_CONFIG_DEFAULTS.transport,
        gripper: section.gripper ?? UR5_CONFIG_DEFAULTS.gripper,
        homePose: [...(section.homePose ?? UR5_HOME_POSE)],
        homeMs: section.homeMs ?? UR5_CONFIG_DEFAULTS.homeMs,
        generatedCameras: { ...UR5_CONFIG_DEFAULTS.generatedCameras, ...defined(section.generatedCameras) },
      };
    },
    isEmulated(section) {
      return (section.transport ?? UR5_CONFIG_DEFAULTS.transport) === 'emulator';
    },
    async connect(options: RobotConnectOptions<Ur5Config>): Promise<Ur5Robot> {
      const config = this.resolveConfig(options.config);
      const transport = config.transport ?? 'emulator';
      const safety = applySafetyOverrides(UR5_SAFETY_DEFAULTS, {
        ...(options.safetyOverrides as object),
        controlRateHz: options.controlHz,
      });
      for (const cam of safety.watchdog.requiredCameras) {
        if (!(UR5_CAMERAS as readonly string[]).includes(cam)) {
          throw new OpenpiEdgeError(
            'CONFIG_MISMATCH',
            `ur5: safety.watchdog.requiredCameras names '${cam}', the UR5 has ${UR5_CAMERAS.join(', ')}`,
            { what: 'camera', expected: [...UR5_CAMERAS], got: cam },
          );
        }
      }
      const homePose = config.homePose ?? UR5_HOME_POSE;
      // A home pose outside the limits is refused before anything connects (UNSAFE_TARGET naming the joint).
      checkTarget(safety, Float64Array.from([...homePose, UR5_GRIPPER_OPEN]), 'ur5 homePose');
      const cams = resolveUr5Cameras(config);
      if (transport === 'rtde' && config.host === undefined) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          'ur5: the rtde transport needs the controller address (--ur-host)',
          {
            option: 'ur-host',
          },
        );
      }
      const steps: string[] = [];
      const onStep = (s: BringUpStep): void => {
        steps.push(`${s.step}: ${s.detail}`);
        extras.onStep?.(s);
      };
      // On a failed connect everything started is closed (`undo`, newest first); once connected the robot closes
      // the arm, gripper and cameras itself and then the emulators / ROS 2 node (`base`).
      const undo: (() => Promise<void>)[] = [];
      const base: (() => Promise<void>)[] = [];
      const closeAll = async (list: (() => Promise<void>)[]): Promise<void> => {
        for (const u of list.splice(0).reverse()) await u().catch(() => undefined);
      };
      let emulated: Ur5EmulatedCell | null = null;
      let ros2: { context: Ros2Context | null; node: Ros2Node } | null = null;
      try {
        // 1. Emulators (emulator transport): the controller in its own thread, the gripper on a pty.
        let host = config.host ?? '127.0.0.1';
        let ports = config.ports ?? {};
        let gripperPort = config.robotiq?.port ?? UR5_CONFIG_DEFAULTS.robotiqPort;
        if (transport === 'emulator') {
          const controller = await startUrEmulatorThread({
            host: '127.0.0.1',
            ports: { rtde: 0, dashboard: 0, primary: 0, secondary: 0, realtime: 0 },
            series: config.emulator?.series ?? 'e-series',
            initialQ: config.emulator?.initial ?? homePose,
            ...(config.emulator?.maxJointSpeed === undefined
              ? {}
              : { maxJointSpeed: config.emulator.maxJointSpeed }),
            startMode: 'power_off',
            unlockDelayMs: extras.unlockDelayMs ?? 0,
          });
          undo.push(() => controller.close());
          base.push(() => controller.close());
          // The gripper emulator stays on this thread: serialport's native addon cannot run in a worker thread
          // (its poller calls into the main isolate: a fatal V8 error); it answers a few frames per tick, in µs.
          const gripper =
            (config.gripper ?? 'robotiq') === 'robotiq'
              ? await emulateRobotiqOnPty({ activationMs: extras.gripperActivationMs ?? 300 })
              : null;
          if (gripper !== null) {
            undo.push(() => gripper.close());
            base.push(() => gripper.close());
            gripperPort = gripper.devicePath;
          }
          emulated = { controller, gripper };
          host = '127.0.0.1';
          ports = {
            rtde: controller.ports.rtde,
            dashboard: controller.ports.dashboard,
            script: controller.ports.secondary,
          };
        }
        // 2. The arm.
        let arm: Ur5ArmLink;
        if (transport === 'ros2') {
          const context =
            options.ros2 ??
            (await (await import('../../ros2/rclnodejs-adapter.js')).createRclnodejsContext());
          const node = context.createNode(options.ros2NodeName ?? 'openpi_edge_ur5');
          ros2 = { context: options.ros2 === undefined ? context : null, node };
          const closeNode = async (): Promise<void> => {
            node.destroy();
            if (options.ros2 === undefined) await context.shutdown();
          };
          undo.push(closeNode);
          base.push(closeNode);
          arm = await Ur5Ros2Arm.connect({
            node,
            clock: options.clock,
            ...(config.dryRun === undefined ? {} : { dryRun: config.dryRun }),
            ...(config.powerOn === undefined ? {} : { powerOn: config.powerOn }),
            onStep,
            warn: options.warn,
          });
        } else {
          arm = await UrArm.connect({
            host,
            ports,
            safety: armSafety(safety),
            clock: options.clock,
            servo: defined({
              lookahead: config.servo?.lookaheadS,
              gain: config.servo?.gain,
              watchdog: config.servo?.watchdogMs === undefined ? undefined : config.servo.watchdogMs / 1000,
            }),
            ...(config.servo?.maxHz === undefined ? {} : { maxServoHz: config.servo.maxHz }),
            ...(config.dryRun === undefined ? {} : { dryRun: config.dryRun }),
            ...(config.powerOn === undefined ? {} : { powerOn: config.powerOn }),
            onStep,
            warn: options.warn,
          });
        }
        undo.push(() => arm.close());
        // 3. The gripper.
        let gripper: Ur5GripperLink = new NoGripper();
        if ((config.gripper ?? 'robotiq') === 'robotiq') {
          const g = await RobotiqGripper.open({
            path: gripperPort,
            ...defined({ baudRate: config.robotiq?.baudRate, slaveId: config.robotiq?.slaveId }),
            clock: options.clock,
          });
          const link = await RobotiqLink.start(g, {
            ...defined({ speed: config.robotiq?.speed, force: config.robotiq?.force }),
            readOnly: config.dryRun === true,
            warn: options.warn,
          }).catch(async (e: unknown) => {
            await g.close();
            throw e;
          });
          gripper = link;
          undo.push(() => link.close());
          onStep({
            step: 'gripper',
            detail: `${g.description}, ${config.dryRun === true ? `read only (${link.status?.activation})` : 'activated'}`,
          });
        }
        // 4. Cameras.
        const cameras: Record<string, CameraSource> = {};
        const cameraDescriptions: Record<string, string> = {};
        for (const name of UR5_CAMERAS) {
          const c = cams[name];
          const source = buildCamera(name, c, {
            clock: options.clock,
            node: ros2?.node,
            defaultTopic: ur5ImageTopic,
          });
          if (source === undefined) continue;
          await source.start();
          undo.push(() => source.close());
          cameras[name] = source;
          cameraDescriptions[name] =
            c.kind === 'generated' ? `generated ${c.width}x${c.height} @ ${c.fps} Hz` : source.description;
        }
        return new Ur5Robot({
          arm,
          gripper,
          description: `${transport}: ${arm.description}; gripper ${gripper.description}`,
          bringUp: steps,
          safety,
          cameras,
          cameraDescriptions,
          controlHz: options.controlHz,
          homePose,
          homeMs: config.homeMs ?? UR5_CONFIG_DEFAULTS.homeMs,
          clock: options.clock,
          emulated,
          ...(ros2 === null ? {} : { ros2Node: ros2.node }),
          cleanup: () => closeAll(base),
        });
      } catch (e) {
        await closeAll(undo);
        throw e;
      }
    },
    with(more: Ur5PluginExtras): Ur5Plugin {
      return makeUr5Plugin({ ...extras, ...more });
    },
  };
}

/** The built-in UR5 / UR5e plugin. */
export const ur5Plugin: Ur5Plugin = makeUr5Plugin({});
