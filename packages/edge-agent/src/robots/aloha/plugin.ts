/**
 * ALOHA as a robot plugin (robots/interface.ts): two ViperX 300 follower arms and four cameras, over the emulator
 * (in-memory Dynamixel buses), Dynamixel serial (U2D2), ROS 2 (Interbotix xs_sdk) or `sim` (gym-aloha in MuJoCo
 * through a bridge process, sim-transport.ts). Observation and action layout
 * are openpi's aloha_real (14-dim state/action, grippers normalised); safety defaults are the ViperX URDF limits
 * intersected with the servo position limits (servo-limits.ts).
 *
 * Cameras: the emulator defaults to generated frames; `serial` and `ros2` never do (generated frames are refused
 * there): `serial` needs a configured source for every required camera (a V4L2 webcam through ffmpeg, or a ROS 2
 * topic), `ros2` defaults to the ALOHA image topics, `sim` to frames its bridge renders (`generated` = rendered;
 * `cam_low` none). A camera the watchdog requires cannot be `none`.
 */
import { type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import type { SafeCommand } from '../../safety/gate.js';
import { checkTarget } from '../../safety/move-plan.js';
import { cameraFlags, resolveCameras } from '../camera-config.js';
import { DynamixelError } from '../dynamixel/errors.js';
import type {
  Robot,
  RobotConnectOptions,
  RobotFault,
  RobotJointState,
  RobotLayout,
  RobotPlugin,
} from '../interface.js';
import { defined, mergeSection } from '../merge-section.js';
import { safetyConfigFor } from '../safety-defaults.js';
import {
  ALOHA_CONFIG_DEFAULTS,
  type AlohaCameraConfig,
  type AlohaConfig,
  AlohaConfigSchema,
} from './config.js';
import { ALOHA_CAMERA_NAMES, ALOHA_SIDES, type AlohaCameraName, resetPoseFromMetadata } from './constants.js';
import {
  type AlohaCameraSpec,
  type CreateAlohaEnvironmentOptions,
  createAlohaEnvironment,
} from './create.js';
import type { AlohaEnvironment } from './environment.js';
import { withServoLimits } from './servo-limits.js';
import type { AlohaArmsState } from './transport.js';

/** Extra options for library use and tests (an emulator start pose, reset timing, bus options). */
export type AlohaPluginExtras = Partial<
  Omit<CreateAlohaEnvironmentOptions, 'transport' | 'clock' | 'cameras' | 'ports' | 'baudRate' | 'ros2'>
>;

/**
 * Each camera's source for `transport`, with the rules above applied. CONFIG_MISMATCH naming the camera for a
 * generated camera on a real transport, a required camera without a source, or a ROS 2 camera without ROS 2.
 */
export function resolveAlohaCameras(
  config: AlohaConfig,
  required: readonly string[],
): Record<AlohaCameraName, AlohaCameraConfig> {
  const transport = config.transport ?? ALOHA_CONFIG_DEFAULTS.transport;
  const sim = transport === 'sim';
  return resolveCameras({
    robot: 'ALOHA',
    names: ALOHA_CAMERA_NAMES,
    // sim: the bridge renders `generated` cameras; cam_low (unused by openpi) only when asked for.
    given: sim ? { cam_low: { kind: 'none' }, ...config.cameras } : config.cameras,
    transport,
    emulated: transport === 'emulator' || sim,
    ros2: transport === 'ros2',
    required,
    generated: { ...ALOHA_CONFIG_DEFAULTS.generatedCameras, ...defined(config.generatedCameras) },
  });
}

function cameraSpec(c: AlohaCameraConfig): AlohaCameraSpec {
  switch (c.kind) {
    case 'generated':
      return { kind: 'generated', ...defined({ width: c.width, height: c.height, fps: c.fps }) };
    case 'v4l2':
      return { kind: 'v4l2', device: c.device, ...defined({ width: c.width, height: c.height, fps: c.fps }) };
    case 'testsrc':
      return { kind: 'testsrc', ...defined({ width: c.width, height: c.height, fps: c.fps }) };
    case 'ros2':
      return { kind: 'ros2', ...defined({ topic: c.topic, transport: c.transport }) };
    case 'none':
      return { kind: 'none' };
  }
}

const ALOHA_JOINTS = ALOHA_SIDES.flatMap((side) =>
  ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'gripper'].map(
    (j) => `${side}_${j}`,
  ),
);

/** A brought-up ALOHA. */
class AlohaRobot implements Robot {
  readonly name = 'aloha';
  readonly description: string;
  readonly layout: RobotLayout;
  readonly safety;
  readonly cameras;
  readonly cameraDescriptions: Record<string, string>;
  readonly ros2Node;
  readonly environment: AlohaEnvironment;
  readonly #close: () => Promise<void>;
  readonly #clock: RobotConnectOptions<AlohaConfig>['clock'];
  #last: RobotJointState | null = null;
  #fault: RobotFault | null = null;
  #closed = false;

  constructor(parts: {
    environment: AlohaEnvironment;
    description: string;
    safety: Robot['safety'];
    required: readonly string[];
    cameraDescriptions: Record<string, string>;
    ros2Node: Robot['ros2Node'];
    close: () => Promise<void>;
    clock: RobotConnectOptions<AlohaConfig>['clock'];
  }) {
    this.environment = parts.environment;
    this.description = parts.description;
    this.safety = parts.safety;
    this.cameras = Object.fromEntries(
      Object.entries(parts.environment.cameras).filter(([, s]) => s !== undefined),
    ) as Robot['cameras'];
    this.cameraDescriptions = parts.cameraDescriptions;
    if (parts.ros2Node !== undefined) this.ros2Node = parts.ros2Node;
    this.#close = parts.close;
    this.#clock = parts.clock;
    this.layout = {
      joints: ALOHA_JOINTS,
      stateDim: 14,
      cameras: ALOHA_CAMERA_NAMES.map((name) => ({ name, required: parts.required.includes(name) })),
      imagesKey: 'images',
      policyRobotKinds: ['aloha'],
    };
  }

  #toJoints(s: AlohaArmsState): RobotJointState {
    const { positions, stampMs } = this.environment.measuredFrom(s);
    return { positions, state: this.environment.stateVector(s), stampMs };
  }

  /**
   * One bus read (or the newest joint_states). A servo that reports an error or stops answering becomes a
   * SERVO_ERROR / SERVO_TIMEOUT fault and the last good reading is returned (its stamp ages, so the watchdog also
   * sees it stale): the gate holds instead of the loop failing. The fault clears on the next good read.
   */
  async read(): Promise<RobotJointState> {
    try {
      const j = this.#toJoints(await this.environment.transport.read());
      this.#last = j;
      this.#fault = null;
      return j;
    } catch (e) {
      // A status error is a DynamixelError (SERVO_ERROR); a servo that stops answering is the bus's SERVO_TIMEOUT.
      const servoFault =
        e instanceof DynamixelError || (e instanceof OpenpiEdgeError && e.code === 'SERVO_TIMEOUT');
      if (!servoFault || this.#last === null) throw e;
      this.#fault = { code: e.code, message: e.message, atMs: this.#clock.now() };
      return this.#last;
    }
  }

  write(command: SafeCommand): Promise<void> {
    return this.environment.send(command);
  }

  hold(): Promise<void> {
    return this.environment.hold();
  }

  faults(): readonly RobotFault[] {
    const link = this.environment.transport.faults?.() ?? [];
    if (this.#fault === null) return link;
    return link.length === 0 ? [this.#fault] : [this.#fault, ...link];
  }

  resetPlan(from: RobotJointState) {
    return this.environment.resetPlan(from.positions);
  }

  prepareReset(): Promise<void> {
    return this.environment.rebootGrippers();
  }

  /** openpi: the server's `reset_pose` (first 6 values, both arms). UNSAFE_TARGET naming the joint when outside the limits. */
  applyPolicyMetadata(metadata: Obs): void {
    const pose = resetPoseFromMetadata(metadata);
    if (pose === undefined) return;
    const target = Float64Array.from([...pose, 1, ...pose, 1]);
    checkTarget(this.safety, target, "reset_pose from the policy's metadata");
    this.environment.setResetPose(pose);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#close();
  }
}

type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface AlohaPlugin extends RobotPlugin<AlohaConfig> {
  /** The same plugin with extra environment options (emulator start pose, reset timing...), for library use and tests. */
  with(extras: AlohaPluginExtras): AlohaPlugin;
}

function makeAlohaPlugin(extras: AlohaPluginExtras): AlohaPlugin {
  return {
    name: 'aloha',
    summary: 'ALOHA: two ViperX 300 follower arms + four cameras (emulator | serial | ros2 | sim)',
    configSchema: AlohaConfigSchema,
    flags: [
      {
        name: 'transport',
        type: 'string',
        help: 'emulator | serial | ros2 | sim (gym-aloha in MuJoCo; bash scripts/sim-env.sh) (default emulator)',
      },
      {
        name: 'port-left',
        type: 'string',
        help: 'serial: left follower port (default /dev/ttyDXL_puppet_left)',
      },
      {
        name: 'port-right',
        type: 'string',
        help: 'serial: right follower port (default /dev/ttyDXL_puppet_right)',
      },
      { name: 'baud', type: 'string', help: 'serial: bit/s (default 1000000)' },
      {
        name: 'camera',
        type: 'string',
        multiple: true,
        help: 'per camera <name>=<source>: /dev/videoN (V4L2), ros2[:topic], testsrc, none; repeatable',
      },
      {
        name: 'cameras',
        type: 'string',
        help: 'all four cameras at once: generated (emulator; sim: rendered) | ros2 | none',
      },
    ],
    flagsToConfig(v: FlagValues) {
      const str = (k: string): string | undefined =>
        typeof v[k] === 'string' ? (v[k] as string) : undefined;
      const cameras: Partial<Record<AlohaCameraName, AlohaCameraConfig>> = {};
      const bulk = str('cameras');
      if (bulk !== undefined) {
        if (bulk !== 'generated' && bulk !== 'ros2' && bulk !== 'none') {
          throw new OpenpiEdgeError(
            'BAD_ARGUMENT',
            `--cameras: expected generated | ros2 | none, got ${bulk}`,
            {
              option: 'cameras',
            },
          );
        }
        for (const name of ALOHA_CAMERA_NAMES) cameras[name] = { kind: bulk };
      }
      Object.assign(cameras, cameraFlags(v.camera, ALOHA_CAMERA_NAMES));
      const baud = str('baud');
      const baudRate = baud === undefined ? undefined : Number(baud);
      if (baudRate !== undefined && !(Number.isInteger(baudRate) && baudRate > 0)) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `--baud: expected a positive integer, got '${baud}'`, {
          option: 'baud',
        });
      }
      const serial = defined({ portLeft: str('port-left'), portRight: str('port-right'), baudRate });
      return defined({
        transport: str('transport'),
        serial: Object.keys(serial).length === 0 ? undefined : serial,
        cameras: Object.keys(cameras).length === 0 ? undefined : cameras,
      });
    },
    mergeConfig: mergeSection,
    resolveConfig(section) {
      return {
        ...section,
        transport: section.transport ?? ALOHA_CONFIG_DEFAULTS.transport,
        serial: { ...ALOHA_CONFIG_DEFAULTS.serial, ...defined(section.serial) },
        generatedCameras: { ...ALOHA_CONFIG_DEFAULTS.generatedCameras, ...defined(section.generatedCameras) },
      };
    },
    isEmulated(section) {
      const transport = section.transport ?? ALOHA_CONFIG_DEFAULTS.transport;
      return transport === 'emulator' || transport === 'sim';
    },
    async connect(options: RobotConnectOptions<AlohaConfig>): Promise<Robot> {
      const config = this.resolveConfig(options.config);
      const safety = withServoLimits(
        safetyConfigFor('aloha', {
          ...(options.safetyOverrides as object),
          controlRateHz: options.controlHz,
        }),
      );
      const required = safety.watchdog.requiredCameras;
      const cams = resolveAlohaCameras(config, required);
      const transport = config.transport ?? 'emulator';
      {
        const created = await createAlohaEnvironment({
          ...extras,
          transport,
          clock: options.clock,
          cameras: Object.fromEntries(ALOHA_CAMERA_NAMES.map((n) => [n, cameraSpec(cams[n])])),
          optionalCameras: ALOHA_CAMERA_NAMES.filter((n) => !required.includes(n)),
          ...(config.serial?.portLeft !== undefined && config.serial.portRight !== undefined
            ? { ports: { left: config.serial.portLeft, right: config.serial.portRight } }
            : {}),
          ...(config.serial?.baudRate === undefined ? {} : { baudRate: config.serial.baudRate }),
          ...(config.gripper === undefined ? {} : { gripper: config.gripper }),
          ...(options.ros2 === undefined ? {} : { ros2: options.ros2 }),
          ...(options.ros2NodeName === undefined ? {} : { nodeName: options.ros2NodeName }),
          ...(transport === 'sim' ? { sim: { controlHz: options.controlHz, ...extras.sim } } : {}),
        });
        const env = created.environment;
        const describe = (name: AlohaCameraName): string => {
          const c = cams[name];
          const src = env.cameras[name];
          if (src === undefined) return 'none';
          return c.kind === 'generated' && transport !== 'sim'
            ? `generated ${c.width}x${c.height} @ ${c.fps} Hz`
            : src.description;
        };
        return new AlohaRobot({
          environment: env,
          description: `${created.transport.kind}: ${created.transport.description}`,
          safety,
          required,
          cameraDescriptions: Object.fromEntries(ALOHA_CAMERA_NAMES.map((n) => [n, describe(n)])),
          ros2Node: created.node,
          clock: options.clock,
          close: () => created.close(),
        });
      }
    },
    with(more: AlohaPluginExtras): AlohaPlugin {
      return makeAlohaPlugin({ ...extras, ...more });
    },
  };
}

/** The ALOHA plugin. `alohaPlugin.with({...})` adds environment options (emulator pose, reset timing). */
export const alohaPlugin: AlohaPlugin = makeAlohaPlugin({});
