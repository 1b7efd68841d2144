/**
 * The robot plugin contract (types only). A robot is everything the generic agent (agent/edge-agent.ts) needs and
 * nothing it does not: joint states with timestamps, motion writes that take only the gate's {@link SafeCommand},
 * its observation and action layout, safety defaults, a reset plan, the faults it reports, bring-up and shutdown,
 * and an emulator. The agent, gate, brokers and runtime know no robot by name. Walk-through: docs/robots.md.
 *
 * Units: joint positions in the action's units (rad for arm joints, normalised 0 = closed … 1 = open for grippers),
 * times in ms on the clock the plugin was given.
 */
import type { Clock, Obs } from '@openpi-edge/client';
import type { z } from 'zod';
import type { CameraSource } from '../io/cameras/camera-source.js';
import type { Ros2Context, Ros2Node } from '../ros2/surface.js';
import type { SafetyConfig } from '../safety/config.js';
import type { RobotReportedFault, SafeCommand } from '../safety/gate.js';

/** One joint-state reading. */
export interface RobotJointState {
  /** Measured joints in action order and units: what the gate limits commands against. */
  readonly positions: Float64Array;
  /** The observation's `state` vector in the policy's layout (openpi's robot client sends this). */
  readonly state: Float32Array;
  /** When it was measured (ms, the plugin's clock); the gate holds when it is older than `jointStaleMs`. */
  readonly stampMs: number;
}

/** A camera the policy's observation carries. */
export interface RobotCamera {
  /** Observation name, e.g. `cam_high`, `base_rgb`. */
  readonly name: string;
  /** Required cameras must be present and fresh on every tick; the others may be left out (the model masks them). */
  readonly required: boolean;
}

/** What the robot's observations and actions look like. */
export interface RobotLayout {
  /** Joint names in action order (length = action dimension), e.g. `left_waist` … `right_gripper`. */
  readonly joints: readonly string[];
  /** Length of the observation's `state` vector. */
  readonly stateDim: number;
  /** Cameras in observation order. */
  readonly cameras: readonly RobotCamera[];
  /**
   * Where images go in the observation: a record under this key (`images` for ALOHA), or `null` for one top-level
   * key per camera (openpi's UR5 / DROID layouts).
   */
  readonly imagesKey: string | null;
  /** Image layout the policy expects: `chw` uint8 [3, H, W] (ALOHA) or `hwc` [H, W, 3]. Default `chw`. */
  readonly imageFormat?: 'chw' | 'hwc';
  /** Image size (px) the robot client sends. Default 224 x 224 (openpi's clients). */
  readonly imageSize?: { readonly height: number; readonly width: number };
  /** Robot adapters of model bundles this robot can run (manifest `robot.kind`), e.g. `['aloha']`. */
  readonly policyRobotKinds: readonly string[];
}

/** A fault the robot reports; the gate turns each into a ROBOT_FAULT hold. */
export type RobotFault = RobotReportedFault & {
  /** When it was seen (ms). */
  readonly atMs: number;
};

/** One segment of the robot's reset: move to `target` (all joints together), taking at least `minDurationMs`. */
export interface ResetSegment {
  /** Action-order target (units as the action); checked against the limits before anything moves. */
  readonly target: Float64Array;
  /** What it is, for reports and errors (`arms to the reset pose`, `grippers close`). */
  readonly label: string;
  /** Shortest duration (ms), e.g. openpi's 1 s arm move. Default 0 (the distance decides). */
  readonly minDurationMs?: number;
}

/** A brought-up robot. Every method may reject with an OpenpiEdgeError naming the part that failed. */
export interface Robot {
  /** Plugin name (`aloha`), also the SafetyConfig's `robot`. */
  readonly name: string;
  /** How it is reached, for the startup report (`emulator: two in-memory ViperX buses`). */
  readonly description: string;
  readonly layout: RobotLayout;
  /** What `connect` did, step by step, for the startup report (`dashboard: URSoftware 5.11…`, `power on: …`). */
  readonly bringUp?: readonly string[];
  /** Safety limits and watchdog for this robot as configured (the gate is built from it). */
  readonly safety: SafetyConfig;
  /** Camera sources by observation name (absent = no camera; only non-required cameras may be absent). */
  readonly cameras: Readonly<Record<string, CameraSource>>;
  /** Per camera, where its frames come from (startup report). */
  readonly cameraDescriptions: Readonly<Record<string, string>>;
  /** The ROS 2 node its transport runs on, when it has one (the agent's e-stop and status topics join it). */
  readonly ros2Node?: Ros2Node;
  /** One joint-state reading (a bus read, the newest joint_states message...). */
  read(): Promise<RobotJointState>;
  /**
   * The tick's observation (without images and prompt) from a reading, in the policy's layout. Default
   * `{ state: float32[stateDim] }` (openpi's ALOHA); UR5 sends `{ joints, gripper }`.
   */
  observation?(reading: RobotJointState): Obs;
  /**
   * Sends one motion target. Accepts only a {@link SafeCommand} the gate issued for this robot (UNSAFE_TARGET
   * otherwise, see `assertSafeCommand`). Resolves when written.
   */
  write(command: SafeCommand): Promise<void>;
  /** Stops where the robot is now (measured pose as goal, a protective stop…). Used when a fault or e-stop holds. */
  hold(): Promise<void>;
  /** Faults present now; empty when healthy. Cheap: called every tick. */
  faults(): readonly RobotFault[];
  /** Where a reset takes the robot from `from`, in segments (each one a planned, gated move). */
  resetPlan(from: RobotJointState): readonly ResetSegment[];
  /** Work before a reset's first move (ALOHA: reboot the gripper servos). Optional. */
  prepareReset?(): Promise<void>;
  /** Sets the reset target from a policy server's metadata (e.g. ALOHA `reset_pose`). UNSAFE_TARGET if outside the limits. */
  applyPolicyMetadata?(metadata: Obs): void;
  /**
   * The user's explicit resume after clearing a latched fault's cause (UR: a protective stop unlocked on the
   * pendant): re-arms the robot so `faults()` clears. Motion never resumes by itself; rejects naming what is still
   * wrong. `unlockProtectiveStop` lets the plugin unlock it itself (UR dashboard), where the robot allows that.
   */
  resume?(options?: { unlockProtectiveStop?: boolean }): Promise<void>;
  /** Torque off / disconnect / stop cameras. Idempotent. */
  close(): Promise<void>;
}

/** What a plugin gets to bring a robot up. */
export interface RobotConnectOptions<Section> {
  /** The robot's config section, already validated with the plugin's schema (defaults not yet filled in). */
  readonly config: Section;
  readonly clock: Clock;
  /** Control rate (Hz) of the agent's loop. */
  readonly controlHz: number;
  /** Safety overrides from the config file's `safety` section (docs/safety.md). */
  readonly safetyOverrides: unknown;
  /** A ROS 2 context to use (tests pass a fake). Default: the plugin makes one with rclnodejs when it needs ROS 2. */
  readonly ros2?: Ros2Context;
  /** ROS 2 node name for a node of the robot's own. */
  readonly ros2NodeName?: string;
  readonly warn: (message: string) => void;
}

/** A robot-specific command-line flag: `--name <value>` (or a boolean switch) mapped into the robot's section. */
export interface RobotFlag {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  /** One line for `--help`. */
  readonly help: string;
  /** May be given more than once (values collected in order). Default false. */
  readonly multiple?: boolean;
}

/** A robot plugin: registered by name; `edge-agent start --robot <name>` picks it. */
export interface RobotPlugin<Section = unknown> {
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** The robot's config section (zod, strict): the file's `<name>` key and the robot flags map into it. */
  readonly configSchema: z.ZodType<Section>;
  /** Robot flags for `start --robot <name>`. */
  readonly flags: readonly RobotFlag[];
  /** The model bundle used when none is configured (a demo bundle for this robot's layout). Default ALOHA's. */
  readonly defaultBundle?: string;
  /** Parsed robot flags (only those given) -> a partial section, validated with `configSchema` afterwards. */
  flagsToConfig(
    values: Readonly<Record<string, string | boolean | string[] | undefined>>,
  ): Record<string, unknown>;
  /** Merges the file's section under the flags' section (both partial), key by key. */
  mergeConfig(file: Record<string, unknown>, flags: Record<string, unknown>): Record<string, unknown>;
  /** The section with defaults filled in (for `--print-config` and the report). */
  resolveConfig(section: Section): Section;
  /** True when the section selects an emulator (no hardware; the shared contract suite runs against it). */
  isEmulated(section: Section): boolean;
  /** Brings the robot up: transport, cameras, setup (torque on...). Nothing moves. */
  connect(options: RobotConnectOptions<Section>): Promise<Robot>;
}

/** A plugin of any section type (registries, the agent's options): each plugin validates its own section. */
export type AnyRobotPlugin = RobotPlugin<Record<string, unknown>>;
