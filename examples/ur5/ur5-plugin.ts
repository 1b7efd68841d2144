/**
 * A user's own robot as a plugin, written in the app against the package's public API only (the plugin author's
 * surface `@openpi-edge/edge-agent/robot`, plus `UR5_SAFETY_DEFAULTS`): a UR5e behind the app's {@link Ur5Driver}
 * (ur5-driver.ts). The agent, the SafetyGate and the runtime know nothing about a UR5; this file tells them
 * (contract: packages/edge-agent/src/robots/interface.ts, walk-through docs/robots.md).
 *
 * - Layout: openpi's UR5 (examples/ur5/README.md): actions `[7]` = 6 joints (rad, `shoulder_pan` … `wrist_3`) +
 *   `gripper` (0 open .. 1 closed); observation `joints` float32 [6], `gripper` float32 [1], and top-level images
 *   `base_rgb`, `wrist_rgb` uint8 [224, 224, 3] (both required).
 * - Safety: `UR5_SAFETY_DEFAULTS` with the config file's `safety` overrides and the control rate.
 * - Motion: `write` takes only a SafeCommand the gate issued for `ur5` (7 values) and streams it: the 6 joints as one
 *   servoJ-like target reached in one control period, then the gripper. During a protective stop nothing is
 *   forwarded (the controller would refuse it) and `faults()` reports PROTECTIVE_STOP: the gate holds (ROBOT_FAULT).
 * - Reset: one segment, home pose + gripper open, at least `homeMs` (2000 ms), planned and gated by the agent.
 * - Drivers: the config section selects one. Today only `simulated` ({@link SimulatedUr5Driver} with generated
 *   cameras, the plugin's emulator); a UR RTDE driver is a later issue (it will be built into the package and
 *   become a second `driver` option here). Until then an app can pass its own with `ur5Plugin.with({ driver })`.
 */
import { type Clock, ndarray, type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import { UR5_SAFETY_DEFAULTS } from '@openpi-edge/edge-agent';
import {
  applySafetyOverrides,
  assertSafeCommand,
  type CameraSource,
  checkTarget,
  GeneratedCamera,
  mergeSection,
  type ResetSegment,
  type Robot,
  type RobotConnectOptions,
  type RobotFault,
  type RobotJointState,
  type RobotLayout,
  type RobotPlugin,
  type SafeCommand,
  type SafetyConfig,
  z,
} from '@openpi-edge/edge-agent/robot';
import { SimulatedUr5Driver, UR5_HOME_POSE, type Ur5Driver } from './ur5-driver.js';

/** openpi's UR5 camera names, in observation order. */
export const UR5_CAMERAS = ['base_rgb', 'wrist_rgb'] as const;
export type Ur5Camera = (typeof UR5_CAMERAS)[number];

/** Joint names in action order: the UR5 safety defaults' (6 arm joints, then the gripper). */
export const UR5_JOINTS: readonly string[] = UR5_SAFETY_DEFAULTS.joints.map((j) => j.name);

/** The gripper value the reset ends at: open (openpi's UR5 convention, 0 open .. 1 closed). */
export const UR5_GRIPPER_OPEN = 0;

const pose = z.array(z.number()).length(6);
const positiveInt = z.number().int().positive();

/** The `ur5` section of the agent's config (strict: unknown keys are rejected). */
export const Ur5ConfigSchema = z
  .object({
    /**
     * Which driver: `simulated` (in memory, the default). A UR RTDE driver (`rtde`, host and recipe) is a later
     * issue; it will be built into the package and added here as the second option.
     */
    driver: z.enum(['simulated']).optional(),
    /** Home pose of the reset (6 rad, inside the limits). Default [0, -1.57, 1.57, -1.57, -1.57, 0]. */
    homePose: pose.optional(),
    /** Shortest duration of the home move (ms); longer moves take longer (the agent's `resetSpeed`). Default 2000. */
    homeMs: z.number().int().nonnegative().optional(),
    /** The simulated driver's motion model. */
    simulated: z
      .object({
        /** Start pose (6 rad). Default the home pose above. */
        initial: pose.optional(),
        /** Fastest joint speed (rad/s). Default π. */
        maxJointSpeed: z.number().positive().optional(),
        /** Gripper speed (normalised /s). Default 2. */
        gripperSpeed: z.number().positive().optional(),
      })
      .strict()
      .optional(),
    /** Generated camera frames of the simulated driver. Default 640 x 480 at 30 Hz. */
    generatedCameras: z
      .object({
        width: positiveInt.optional(),
        height: positiveInt.optional(),
        fps: z.number().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type Ur5Config = z.output<typeof Ur5ConfigSchema>;

/** The section's defaults. */
export const UR5_CONFIG_DEFAULTS = {
  driver: 'simulated',
  homePose: UR5_HOME_POSE,
  homeMs: 2000,
  generatedCameras: { width: 640, height: 480, fps: 30 },
} as const;

/** openpi's UR5 layout. */
export const UR5_LAYOUT: RobotLayout = {
  joints: UR5_JOINTS,
  stateDim: 7,
  cameras: UR5_CAMERAS.map((name) => ({ name, required: true })),
  imagesKey: null,
  imageFormat: 'hwc',
  imageSize: { height: 224, width: 224 },
  policyRobotKinds: ['ur5'],
};

/** What a driver or camera factory of {@link Ur5PluginExtras} gets. */
export interface Ur5OpenContext {
  /** The section with defaults filled in. */
  readonly config: Ur5Config;
  readonly clock: Clock;
  readonly controlHz: number;
}

/** Your own parts in place of the section's choice (library use, tests, a driver not in the package yet). */
export interface Ur5PluginExtras {
  /** Makes the driver (e.g. your RTDE driver), not yet connected. Default: the section's `driver`. */
  driver?: (context: Ur5OpenContext) => Ur5Driver;
  /**
   * Makes the camera sources, not yet started. Default: generated frames for the simulated driver; a driver of
   * your own has no default (generated frames are for the emulator only).
   */
  cameras?: (context: Ur5OpenContext) => Record<Ur5Camera, CameraSource>;
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  if (o === undefined) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A brought-up UR5e. `driver` is the app's driver (tests reach the simulated one through it). */
export class Ur5Robot implements Robot {
  readonly name = 'ur5';
  readonly description: string;
  readonly layout = UR5_LAYOUT;
  readonly safety: SafetyConfig;
  readonly cameras: Readonly<Record<Ur5Camera, CameraSource>>;
  readonly cameraDescriptions: Readonly<Record<string, string>>;
  readonly driver: Ur5Driver;
  /** Gated commands not forwarded to the driver because the controller was in a protective stop. */
  writesDuringStop = 0;
  readonly #servoS: number;
  readonly #home: Float64Array;
  readonly #homeMs: number;
  #fault: RobotFault | null = null;
  #closed = false;

  constructor(parts: {
    driver: Ur5Driver;
    description: string;
    safety: SafetyConfig;
    cameras: Record<Ur5Camera, CameraSource>;
    cameraDescriptions: Record<string, string>;
    controlHz: number;
    homePose: readonly number[];
    homeMs: number;
  }) {
    this.driver = parts.driver;
    this.description = parts.description;
    this.safety = parts.safety;
    this.cameras = parts.cameras;
    this.cameraDescriptions = parts.cameraDescriptions;
    this.#servoS = 1 / parts.controlHz;
    this.#home = Float64Array.from([...parts.homePose, UR5_GRIPPER_OPEN]);
    this.#homeMs = parts.homeMs;
  }

  /** One joint + gripper reading; notes a protective stop (reported by `faults()` until it clears). */
  async read(): Promise<RobotJointState> {
    const j = await this.driver.readJoints();
    const gripper = await this.driver.readGripper();
    const positions = Float64Array.from([...j.positions, gripper]);
    if (positions.length !== 7 || !positions.every(Number.isFinite)) {
      throw new OpenpiEdgeError(
        'ROBOT_FAULT',
        `ur5: the driver read [${[...positions].join(', ')}], expected 6 finite joint angles and a gripper value`,
        { robot: 'ur5', fault: 'BAD_READING' },
      );
    }
    if (j.protectiveStopped === true) {
      this.#fault ??= {
        code: 'PROTECTIVE_STOP',
        message:
          'UR5e protective stop: the controller ignores motion until it is cleared (teach pendant or dashboard)',
        atMs: j.stampMs,
      };
    } else {
      this.#fault = null;
    }
    return { positions, state: Float32Array.from(positions), stampMs: j.stampMs };
  }

  /** openpi's UR5 observation: `joints` float32 [6] (rad) and `gripper` float32 [1]. */
  observation(reading: RobotJointState): Obs {
    return {
      joints: ndarray('float32', [6], Float32Array.from(reading.positions.subarray(0, 6))),
      gripper: ndarray('float32', [1], Float32Array.of(reading.positions[6] as number)),
    };
  }

  /** Streams one gated command: 6 joints (servoJ-like, one control period), then the gripper. */
  async write(command: SafeCommand): Promise<void> {
    assertSafeCommand(command, { robot: 'ur5', dim: 7 });
    if (this.#closed) {
      throw new OpenpiEdgeError('CLOSED', 'ur5: write after close', { robot: 'ur5' });
    }
    if (this.#fault !== null) {
      // The gate holds on the fault; what it re-sends is not forwarded: a stopped controller refuses targets.
      this.writesDuringStop += 1;
      return;
    }
    const p = command.positions;
    await this.driver.moveJoints(Array.from(p.subarray(0, 6)), { timeS: this.#servoS });
    await this.driver.gripper(p[6] as number);
  }

  /** Stops where the arm is (the driver's servoStop / stopJ). */
  async hold(): Promise<void> {
    if (this.#closed) return;
    await this.driver.stop();
  }

  faults(): readonly RobotFault[] {
    return this.#fault === null ? [] : [this.#fault];
  }

  /** Home pose and gripper open, together, over at least `homeMs`. */
  resetPlan(_from: RobotJointState): readonly ResetSegment[] {
    return [{ target: this.#home.slice(), label: 'arm home, gripper open', minDurationMs: this.#homeMs }];
  }

  /** Stops the cameras and closes the driver (the arm holds where it is). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      for (const c of UR5_CAMERAS) await this.cameras[c].close();
    } finally {
      await this.driver.close();
    }
  }
}

type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface Ur5Plugin extends RobotPlugin<Ur5Config> {
  /** The same plugin with your own driver and/or cameras in place of the section's. */
  with(extras: Ur5PluginExtras): Ur5Plugin;
  connect(options: RobotConnectOptions<Ur5Config>): Promise<Ur5Robot>;
}

function makeUr5Plugin(extras: Ur5PluginExtras): Ur5Plugin {
  return {
    name: 'ur5',
    summary: 'UR5e (app plugin): 6 joints + gripper, base_rgb + wrist_rgb (driver: simulated)',
    configSchema: Ur5ConfigSchema,
    flags: [
      {
        name: 'driver',
        type: 'string',
        help: 'simulated (default; a UR RTDE driver is a later issue)',
      },
    ],
    flagsToConfig(v: FlagValues) {
      return defined({ driver: typeof v.driver === 'string' ? v.driver : undefined });
    },
    mergeConfig: mergeSection,
    resolveConfig(section) {
      return {
        ...section,
        driver: section.driver ?? UR5_CONFIG_DEFAULTS.driver,
        homePose: [...(section.homePose ?? UR5_CONFIG_DEFAULTS.homePose)],
        homeMs: section.homeMs ?? UR5_CONFIG_DEFAULTS.homeMs,
        generatedCameras: { ...UR5_CONFIG_DEFAULTS.generatedCameras, ...defined(section.generatedCameras) },
      };
    },
    isEmulated(section) {
      return extras.driver === undefined && (section.driver ?? UR5_CONFIG_DEFAULTS.driver) === 'simulated';
    },
    async connect(options: RobotConnectOptions<Ur5Config>): Promise<Ur5Robot> {
      const config = this.resolveConfig(options.config);
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
      const context: Ur5OpenContext = { config, clock: options.clock, controlHz: options.controlHz };
      let driver: Ur5Driver;
      let description: string;
      if (extras.driver !== undefined) {
        driver = extras.driver(context);
        description = `app-provided driver (${driver.constructor.name}), servo period ${(1000 / options.controlHz).toFixed(0)} ms`;
      } else {
        switch (config.driver ?? UR5_CONFIG_DEFAULTS.driver) {
          case 'simulated':
            driver = new SimulatedUr5Driver({
              clock: options.clock,
              initial: homePose,
              ...defined(config.simulated),
            });
            description = `simulated: in-memory UR5e (SimulatedUr5Driver), servo period ${(1000 / options.controlHz).toFixed(0)} ms`;
            break;
        }
      }
      let cameras: Record<Ur5Camera, CameraSource>;
      let cameraDescriptions: Record<string, string>;
      if (extras.cameras !== undefined) {
        cameras = extras.cameras(context);
        cameraDescriptions = Object.fromEntries(UR5_CAMERAS.map((c) => [c, cameras[c].description]));
      } else if (extras.driver === undefined) {
        const g = { ...UR5_CONFIG_DEFAULTS.generatedCameras, ...defined(config.generatedCameras) };
        cameras = {
          base_rgb: new GeneratedCamera({ name: 'base_rgb', clock: options.clock, ...g }),
          wrist_rgb: new GeneratedCamera({ name: 'wrist_rgb', clock: options.clock, ...g }),
        };
        cameraDescriptions = Object.fromEntries(
          UR5_CAMERAS.map((c) => [c, `generated ${g.width}x${g.height} @ ${g.fps} Hz`]),
        );
      } else {
        throw new OpenpiEdgeError(
          'CONFIG_MISMATCH',
          'ur5: an app-provided driver needs camera sources too (ur5Plugin.with({ driver, cameras })); ' +
            'generated frames belong to the simulated driver',
          { what: 'camera', expected: [...UR5_CAMERAS], got: 'none' },
        );
      }
      await driver.connect();
      const started: CameraSource[] = [];
      try {
        for (const c of UR5_CAMERAS) {
          await cameras[c].start();
          started.push(cameras[c]);
        }
      } catch (e) {
        for (const s of started) await s.close();
        await driver.close();
        throw e;
      }
      return new Ur5Robot({
        driver,
        description,
        safety,
        cameras,
        cameraDescriptions,
        controlHz: options.controlHz,
        homePose,
        homeMs: config.homeMs ?? UR5_CONFIG_DEFAULTS.homeMs,
      });
    },
    with(more: Ur5PluginExtras): Ur5Plugin {
      return makeUr5Plugin({ ...extras, ...more });
    },
  };
}

/** The UR5e plugin of this app: pass it to `resolveConfig(..., [ur5Plugin])` and `EdgeAgent.create(config, { plugins })`. */
export const ur5Plugin: Ur5Plugin = makeUr5Plugin({});
