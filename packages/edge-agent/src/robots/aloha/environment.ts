/**
 * ALOHA's I/O on any {@link AlohaArmsTransport}, for the ALOHA robot plugin (plugin.ts): the observation is exactly
 * what openpi's `examples/aloha_real/env.py` sends ({state: float32[14], images: 4 × uint8 [3, 224, 224]}), motion
 * targets are the 14-vector `[left joints 6, left gripper, right joints 6, right gripper]` with grippers normalised
 * (0 closed, 1 open). Motion goes only through {@link AlohaEnvironment.send}, which takes the SafetyGate's
 * SafeCommand; openpi's reset (arms home, grippers close then open) is a plan ({@link AlohaEnvironment.resetPlan})
 * that the generic agent runs through the gate (agent/robot-environment.ts).
 */
import { type Clock, type NDArray, type Obs, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import type { CameraSource } from '../../io/cameras/camera-source.js';
import { assertSafeCommand, type SafeCommand } from '../../safety/gate.js';
import {
  normalizeGripperJoint,
  normalizeGripperPosition,
  unnormalizeGripperJoint,
  viperxArmLimits,
} from '../dynamixel/viperx.js';
import type { ResetSegment } from '../interface.js';
import { captureCameraImages } from './camera-images.js';
import {
  ALOHA_CAMERA_NAMES,
  ALOHA_DEFAULT_RESET_POSE,
  ALOHA_GRIPPER_PROFILES,
  ALOHA_RESET_TIMING,
  ALOHA_SIDES,
  type AlohaCameraName,
  type AlohaGeneration,
  type AlohaGripperProfile,
  type AlohaSide,
} from './constants.js';
import type { AlohaArmsState, AlohaArmsTransport } from './transport.js';

export interface AlohaResetTiming {
  /** Arm move to the reset pose (ms). Default 1000. */
  armMs: number;
  /** Grippers to CLOSE, after the arms (ms). Default 1000. */
  gripperCloseMs: number;
  /** Grippers to OPEN, after closing (ms). Default 500. */
  gripperOpenMs: number;
}

export interface AlohaEnvironmentOptions {
  transport: AlohaArmsTransport;
  /** Camera sources by openpi camera name. `cam_high` is required; the others unless listed in `optionalCameras`. */
  cameras: Partial<Record<AlohaCameraName, CameraSource>>;
  /** Gripper generation (constants + geometry). Default `'openpi'` (PUPPET_*: cmd = v·(1.4910 + 0.6213) − 0.6213). */
  gripper?: AlohaGeneration | AlohaGripperProfile;
  /** Clock (ms) for reset interpolation and camera ages. Default the real clock. */
  clock?: Clock;
  /** Reset pose of each arm (6 rad). Default [0, −0.96, 1.16, 0, −0.3, 0]; set the server's `reset_pose` here. */
  resetPose?: readonly number[];
  /** Reset durations. Default 1000 / 1000 / 500 ms (openpi). */
  resetTiming?: Partial<AlohaResetTiming>;
  /** Reboot the gripper servos at the start of every reset when the transport can (openpi does). Default true. */
  rebootGrippersOnReset?: boolean;
  /** A camera frame older than this is stale (ms). Default 500. */
  maxCameraAgeMs?: number;
  /**
   * Cameras that may be missing or stale: they are left out of `images`, which openpi's AlohaInputs turns into a
   * zero image with mask False (wrist cameras; `cam_low` is unused by openpi). `cam_high` cannot be listed.
   * Default none: any missing camera is a BAD_OBSERVATION.
   */
  optionalCameras?: readonly AlohaCameraName[];
  /** Output image size (px). Default 224 x 224. */
  imageHeight?: number;
  imageWidth?: number;
  /** Added to every observation as `prompt` when set. Default none. */
  prompt?: string;
  /**
   * Position limits (rad) of each arm's six joints, the range the servos accept goals in. Default the ViperX servo
   * limits ({@link viperxArmLimits}). `hold` sends no arm goal outside them (the servos would refuse it).
   */
  armLimits?: ReadonlyArray<{ readonly min: number; readonly max: number }>;
}

/** Measured joints in action order for the SafetyGate: rad for arms, grippers normalised like the action. */
export interface AlohaMeasuredJoints {
  readonly positions: Float64Array;
  /** When measured (ms, environment clock): the older of the two arms' stamps. */
  readonly stampMs: number;
}

function resolveProfile(g: AlohaGeneration | AlohaGripperProfile | undefined): AlohaGripperProfile {
  if (g === undefined) return ALOHA_GRIPPER_PROFILES.openpi;
  if (typeof g === 'string') {
    const p = ALOHA_GRIPPER_PROFILES[g];
    if (p === undefined) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `unknown ALOHA gripper generation ${String(g)}`, {
        gripper: g,
        known: Object.keys(ALOHA_GRIPPER_PROFILES),
      });
    }
    return p;
  }
  return g;
}

function checkPose(pose: readonly number[], where: string): number[] {
  if (pose.length !== 6 || !pose.every(Number.isFinite)) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${where} must be 6 finite joint angles (rad), got [${pose.join(', ')}]`,
      {
        key: where,
        shape: [pose.length],
      },
    );
  }
  return [...pose];
}

export class AlohaEnvironment {
  readonly transport: AlohaArmsTransport;
  readonly cameras: Readonly<Partial<Record<AlohaCameraName, CameraSource>>>;
  readonly gripper: AlohaGripperProfile;
  readonly #clock: Clock;
  readonly #timing: AlohaResetTiming;
  readonly #reboot: boolean;
  readonly #maxAgeMs: number;
  readonly #optional: ReadonlySet<AlohaCameraName>;
  readonly #h: number;
  readonly #w: number;
  readonly #prompt: string | undefined;
  readonly #limits: ReadonlyArray<{ readonly min: number; readonly max: number }>;
  #resetPose: number[];
  #lastCommand: Float64Array | null = null;
  #missing: AlohaCameraName[] = [];

  constructor(options: AlohaEnvironmentOptions) {
    this.transport = options.transport;
    this.cameras = { ...options.cameras };
    this.gripper = resolveProfile(options.gripper);
    this.#clock = options.clock ?? realClock;
    this.#timing = { ...ALOHA_RESET_TIMING, ...options.resetTiming };
    this.#reboot = options.rebootGrippersOnReset ?? true;
    this.#maxAgeMs = options.maxCameraAgeMs ?? 500;
    this.#optional = new Set(options.optionalCameras ?? []);
    if (this.#optional.has('cam_high')) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        'cam_high cannot be optional: openpi requires it (base_0_rgb)',
        {
          camera: 'cam_high',
        },
      );
    }
    for (const name of ALOHA_CAMERA_NAMES) {
      if (this.cameras[name] === undefined && !this.#optional.has(name)) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `ALOHA camera ${name} has no source; configure one or list it in optionalCameras`,
          { camera: name, configured: Object.keys(this.cameras) },
        );
      }
    }
    this.#h = options.imageHeight ?? 224;
    this.#w = options.imageWidth ?? 224;
    this.#prompt = options.prompt;
    this.#limits = options.armLimits ?? viperxArmLimits();
    if (this.#limits.length !== 6) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `armLimits must have 6 entries, got ${this.#limits.length}`, {
        key: 'armLimits',
        shape: [this.#limits.length],
      });
    }
    this.#resetPose = checkPose(options.resetPose ?? ALOHA_DEFAULT_RESET_POSE, 'resetPose');
  }

  /** The pose `reset` moves each arm to (rad). */
  get resetPose(): readonly number[] {
    return this.#resetPose;
  }

  /** Sets the reset pose, e.g. from the policy server's metadata (first 6 values of `reset_pose`). */
  setResetPose(pose: readonly number[]): void {
    this.#resetPose = checkPose(pose, 'resetPose');
  }

  /** The last action sent to the arms (14, action units), or null before the first. */
  get lastCommand(): Float64Array | null {
    return this.#lastCommand === null ? null : this.#lastCommand.slice();
  }

  /** Optional cameras left out of the last observation. */
  get missingCameras(): readonly AlohaCameraName[] {
    return this.#missing;
  }

  /** Transport setup (torque, modes) and camera start. Must be awaited before the first reset. */
  async start(): Promise<void> {
    await this.transport.start();
    for (const cam of Object.values(this.cameras)) await cam?.start();
  }

  /** Closes the transport and the cameras. */
  async close(): Promise<void> {
    for (const cam of Object.values(this.cameras)) await cam?.close();
    await this.transport.close();
  }

  /** The 14-vector state openpi sends: arm joints (rad) + finger position normalised with the POSITION constants. */
  stateVector(s: AlohaArmsState): Float32Array {
    const out = new Float32Array(14);
    ALOHA_SIDES.forEach((side, k) => {
      const a = s[side];
      out.set(a.arm.subarray(0, 6), 7 * k);
      out[7 * k + 6] = normalizeGripperPosition(a.fingerPosition, this.gripper.constants);
    });
    return out;
  }

  /** Measured joints in action units (arms rad; grippers = JOINT-normalised motor angle), for the SafetyGate. */
  async measure(): Promise<AlohaMeasuredJoints> {
    return this.measuredFrom(await this.transport.read());
  }

  /** {@link measure} of a state already read: arms rad, grippers JOINT-normalised; the older arm's stamp. */
  measuredFrom(s: AlohaArmsState): AlohaMeasuredJoints {
    const positions = new Float64Array(14);
    ALOHA_SIDES.forEach((side, k) => {
      positions.set(s[side].arm.subarray(0, 6), 7 * k);
      positions[7 * k + 6] = normalizeGripperJoint(s[side].gripperAngle, this.gripper.constants);
    });
    return { positions, stampMs: Math.min(s.left.stampMs, s.right.stampMs) };
  }

  /** Arrival stamp (ms, environment clock) of each camera's newest frame, null before the first. */
  cameraStamps(): Record<AlohaCameraName, number | null> {
    const out = {} as Record<AlohaCameraName, number | null>;
    for (const name of ALOHA_CAMERA_NAMES) out[name] = this.cameras[name]?.latest()?.frame.stampMs ?? null;
    return out;
  }

  async getObservation(): Promise<Obs> {
    const arms = await this.transport.read();
    const images = await this.#images(false);
    const obs: Obs = {
      state: { dtype: 'float32', shape: [14], data: this.stateVector(arms) },
      images,
    };
    if (this.#prompt !== undefined) obs.prompt = this.#prompt;
    return obs;
  }

  /**
   * The observation's `images` alone (no bus read), the same conversion as {@link getObservation}: each camera's
   * newest frame (BAD_OBSERVATION naming the camera when missing or older than `maxCameraAgeMs`; optional cameras
   * are left out instead) -> RGB -> openpi's resize_with_pad -> uint8 CHW. The agent builds images only on the
   * ticks that ask the policy; the control loop runs on the same thread, so by default this yields to the event
   * loop (one macrotask) after each frame is fetched and after each resize, and a tick that falls due runs first.
   */
  captureImages(options: { yieldBetweenCameras?: boolean } = {}): Promise<Record<string, NDArray<'uint8'>>> {
    return this.#images(options.yieldBetweenCameras ?? true);
  }

  async #images(yieldBetweenCameras: boolean): Promise<Record<string, NDArray<'uint8'>>> {
    const ordered = Object.fromEntries(ALOHA_CAMERA_NAMES.map((name) => [name, this.cameras[name]]));
    const { images, missing } = await captureCameraImages(ordered, {
      height: this.#h,
      width: this.#w,
      maxAgeMs: this.#maxAgeMs,
      optional: this.#optional,
      yieldBetweenCameras,
    });
    this.#missing = missing as AlohaCameraName[];
    return images;
  }

  /**
   * Sends one gate-checked 14-vector target: arms as joint goals, grippers un-normalised to motor angles (JOINT
   * constants). UNSAFE_TARGET for anything the SafetyGate did not issue for ALOHA.
   */
  async send(command: SafeCommand): Promise<void> {
    assertSafeCommand(command, { robot: 'aloha', dim: 14 });
    await this.#command(command.positions);
  }

  async #command(a: Float64Array): Promise<void> {
    const c = this.gripper.constants;
    for (const [k, side] of ALOHA_SIDES.entries()) {
      await this.#write(
        side,
        a.subarray(7 * k, 7 * k + 6),
        unnormalizeGripperJoint(a[7 * k + 6] as number, c),
      );
    }
    this.#lastCommand = a.slice();
  }

  /** One arm's 6 joint goals + gripper goal: one transport command when it has `writeJoints`, else two. */
  async #write(side: AlohaSide, arm: ArrayLike<number>, gripperAngle: number): Promise<void> {
    if (this.transport.writeJoints !== undefined) {
      await this.transport.writeJoints(side, arm, gripperAngle);
      return;
    }
    await this.transport.writeArm(side, arm);
    await this.transport.writeGripper(side, gripperAngle);
  }

  #inLimits(arm: ArrayLike<number>): boolean {
    return this.#limits.every((r, j) => (arm[j] as number) >= r.min && (arm[j] as number) <= r.max);
  }

  /**
   * Stops where the arms are: commands the measured joint and gripper positions as goals. An arm resting with a
   * joint outside its servo limits (e.g. the ViperX sleep pose, shoulder at 712 < 841 counts) gets only its gripper
   * goal: the servos could not take that pose as a goal, and they keep the goal they have.
   */
  async hold(): Promise<void> {
    const s = await this.transport.read();
    for (const side of ALOHA_SIDES) {
      if (this.#inLimits(s[side].arm)) await this.#write(side, s[side].arm, s[side].gripperAngle);
      else await this.transport.writeGripper(side, s[side].gripperAngle);
    }
  }

  /** Reboots both gripper servos when the transport can (openpi does at every reset); otherwise nothing. */
  async rebootGrippers(): Promise<void> {
    if (this.#reboot && this.transport.capabilities.reboot) await this.transport.rebootGrippers();
  }

  /**
   * openpi's reset as a plan for the gate: both arms to the reset pose (grippers where they are) over at least
   * `armMs`, then grippers to CLOSE over at least `gripperCloseMs`, then to OPEN over at least `gripperOpenMs`.
   * `from` is the measured 14-vector in action units. The gate's limits (URDF ∩ servo limits) clamp a start from
   * outside them (the ViperX sleep pose) and refuse a reset pose outside them.
   */
  resetPlan(from: ArrayLike<number>): ResetSegment[] {
    const pose = this.#resetPose;
    const grip = (k: number): number => from[7 * k + 6] as number;
    const arms = Float64Array.from([...pose, grip(0), ...pose, grip(1)]);
    const withGrippers = (g: number): Float64Array => Float64Array.from([...pose, g, ...pose, g]);
    return [
      { target: arms, label: 'arms to the reset pose', minDurationMs: this.#timing.armMs },
      { target: withGrippers(0), label: 'grippers close', minDurationMs: this.#timing.gripperCloseMs },
      { target: withGrippers(1), label: 'grippers open', minDurationMs: this.#timing.gripperOpenMs },
    ];
  }
}
