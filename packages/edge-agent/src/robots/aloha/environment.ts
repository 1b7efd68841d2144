/**
 * openpi's `aloha_real` environment on any {@link AlohaArmsTransport}: the observation is exactly what openpi's
 * `examples/aloha_real/env.py` sends ({state: float32[14], images: 4 × uint8 [3, 224, 224]}), actions are the
 * 14-vector `[left joints 6, left gripper, right joints 6, right gripper]` with grippers normalised (0 closed,
 * 1 open). Safety is not applied here: the agent loop puts the SafetyGate between broker and environment and uses
 * {@link AlohaEnvironment.measure}, {@link AlohaEnvironment.cameraStamps} and {@link AlohaEnvironment.hold}.
 */
import {
  type Clock,
  isNDArray,
  type NDArray,
  type Obs,
  OpenpiEdgeError,
  realClock,
  type Value,
} from '@openpi-edge/client';
import type { Environment } from '@openpi-edge/runtime';
import type { CameraSource } from '../../io/cameras/camera-source.js';
import {
  normalizeGripperJoint,
  normalizeGripperPosition,
  unnormalizeGripperJoint,
  viperxArmLimits,
} from '../dynamixel/viperx.js';
import { captureCameraImages } from './camera-images.js';
import {
  ALOHA_CAMERA_NAMES,
  ALOHA_CONTROL_HZ,
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
  /** Rate (Hz) of the reset interpolation steps. Default 50. */
  controlHz?: number;
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
   * limits ({@link viperxArmLimits}). `reset` starts its interpolation from the measured pose clamped into them.
   */
  armLimits?: ReadonlyArray<{ readonly min: number; readonly max: number }>;
}

export interface AlohaResetOptions {
  /**
   * Aborting it stops the home move between two interpolation steps (or during the wait between them): no further
   * goal is written and the arms hold where they are ({@link AlohaEnvironment.hold}). Default none.
   */
  signal?: AbortSignal;
}

/** How a `reset` ended: `done` at the reset pose, grippers open; `aborted` holding where the arms were. */
export type AlohaResetOutcome = 'done' | 'aborted';

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

/** Reads `actions` as 14 finite numbers; BAD_OBSERVATION-style errors name the key, shape and dtype. */
function actionVector(action: Obs): Float64Array {
  const v: Value | undefined = action.actions;
  let values: ArrayLike<unknown>;
  let shape: readonly number[];
  let dtype = typeof v;
  if (isNDArray(v)) {
    values = v.data as ArrayLike<unknown>;
    shape = v.shape;
    dtype = v.dtype as typeof dtype;
    if (v.dtype === 'unicode' || v.dtype === 'float16' || v.dtype === 'bool') {
      throw new OpenpiEdgeError(
        'BAD_DTYPE',
        `action key "actions" has dtype ${v.dtype}, need a float/int array`,
        {
          key: 'actions',
          dtype: v.dtype,
          shape: v.shape,
        },
      );
    }
  } else if (Array.isArray(v)) {
    values = v;
    shape = [v.length];
  } else {
    throw new OpenpiEdgeError('BAD_OBSERVATION', 'action has no "actions" array', {
      key: 'actions',
      keys: Object.keys(action),
      type: dtype,
    });
  }
  if (shape.length !== 1 || shape[0] !== 14 || values.length !== 14) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `ALOHA action "actions" must have shape [14], got [${shape.join(', ')}]`,
      {
        key: 'actions',
        shape,
        dtype,
      },
    );
  }
  const out = new Float64Array(14);
  for (let i = 0; i < 14; i++) {
    const x = values[i];
    const n = typeof x === 'bigint' ? Number(x) : x;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `ALOHA action "actions"[${i}] is not a finite number: ${String(x)}`,
        {
          key: 'actions',
          index: i,
          value: String(x),
        },
      );
    }
    out[i] = n;
  }
  return out;
}

const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;
const clamp = (x: number, r: { min: number; max: number }): number => Math.min(r.max, Math.max(r.min, x));

/** Thrown inside `reset` to unwind an aborted interpolation; never escapes it. */
class ResetAborted extends Error {}

export class AlohaEnvironment implements Environment {
  readonly transport: AlohaArmsTransport;
  readonly cameras: Readonly<Partial<Record<AlohaCameraName, CameraSource>>>;
  readonly gripper: AlohaGripperProfile;
  readonly #clock: Clock;
  readonly #dtMs: number;
  readonly #timing: AlohaResetTiming;
  readonly #reboot: boolean;
  readonly #maxAgeMs: number;
  readonly #optional: ReadonlySet<AlohaCameraName>;
  readonly #h: number;
  readonly #w: number;
  readonly #prompt: string | undefined;
  readonly #limits: ReadonlyArray<{ readonly min: number; readonly max: number }>;
  #resetPose: number[];
  #resetAbort: AbortController | null = null;
  #lastReset: AlohaResetOutcome | null = null;
  #lastCommand: Float64Array | null = null;
  #missing: AlohaCameraName[] = [];

  constructor(options: AlohaEnvironmentOptions) {
    this.transport = options.transport;
    this.cameras = { ...options.cameras };
    this.gripper = resolveProfile(options.gripper);
    this.#clock = options.clock ?? realClock;
    const hz = options.controlHz ?? ALOHA_CONTROL_HZ;
    if (!(hz > 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `controlHz must be > 0, got ${hz}`, { controlHz: hz });
    }
    this.#dtMs = 1000 / hz;
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
    const s = await this.transport.read();
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

  isEpisodeComplete(): boolean {
    return false;
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

  /** Sends one 14-vector action: arms as joint goals, grippers un-normalised to motor angles (JOINT constants). */
  async applyAction(action: Obs): Promise<void> {
    const a = actionVector(action);
    await this.#command(a);
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

  /** How the last `reset` ended; null before the first (or while it runs, after a failed one). */
  get lastResetOutcome(): AlohaResetOutcome | null {
    return this.#lastReset;
  }

  /**
   * Aborts the `reset` in progress, if any (same effect as aborting its `signal`): it writes no further goal,
   * holds and resolves (`lastResetOutcome` `aborted`). The agent calls this when the e-stop is triggered. No effect on a later reset.
   */
  abortReset(reason = 'reset aborted'): void {
    this.#resetAbort?.abort(reason);
  }

  /**
   * openpi's reset: reboot the grippers (when the transport can), move both arms linearly from where they are to
   * the reset pose over `armMs` in control-rate steps, then grippers to CLOSE over `gripperCloseMs` and to OPEN
   * over `gripperOpenMs`. Steps are on an absolute timeline of the injected clock.
   *
   * The interpolation starts from the measured arm pose clamped into the servo limits (`armLimits`): an arm at
   * the ViperX sleep pose (shoulder −2.05 rad = 712 counts, below its 841 limit) cannot be sent a goal there, so
   * its first goal is one step from the clamped pose and the servo moves to that clamped start first (at most one
   * step from the limit), then follows the interpolation.
   *
   * `options.signal` (or {@link abortReset}) stops it between steps: no further goal, then {@link hold}; resolves
   * (`lastResetOutcome` = `aborted`). A transport error still rejects.
   */
  async reset(options: AlohaResetOptions = {}): Promise<void> {
    const own = new AbortController();
    this.#resetAbort = own;
    this.#lastReset = null;
    const signal = options.signal === undefined ? own.signal : AbortSignal.any([own.signal, options.signal]);
    try {
      const check = (): void => {
        if (signal.aborted) throw new ResetAborted();
      };
      check();
      if (this.#reboot && this.transport.capabilities.reboot) await this.transport.rebootGrippers();
      check();
      const start = await this.transport.read();
      const from = {
        left: this.#limits.map((r, j) => clamp(start.left.arm[j] as number, r)),
        right: this.#limits.map((r, j) => clamp(start.right.arm[j] as number, r)),
      };
      const pose = this.#resetPose;
      await this.#interpolate(this.#timing.armMs, signal, async (t) => {
        for (const side of ALOHA_SIDES) {
          const f = from[side as AlohaSide];
          check();
          await this.transport.writeArm(
            side,
            pose.map((p, j) => lerp(f[j] as number, p, t)),
          );
        }
      });
      const c = this.gripper.constants;
      for (const [target, ms] of [
        [c.jointClose, this.#timing.gripperCloseMs],
        [c.jointOpen, this.#timing.gripperOpenMs],
      ] as const) {
        const now = await this.transport.read();
        const g = { left: now.left.gripperAngle, right: now.right.gripperAngle };
        await this.#interpolate(ms, signal, async (t) => {
          for (const side of ALOHA_SIDES) {
            check();
            await this.transport.writeGripper(side, lerp(g[side as AlohaSide], target, t));
          }
        });
      }
      const open = normalizeGripperJoint(c.jointOpen, c);
      this.#lastCommand = Float64Array.from([...pose, open, ...pose, open]);
      this.#lastReset = 'done';
    } catch (e) {
      if (!signal.aborted) throw e;
      this.#lastReset = 'aborted';
      await this.hold();
    } finally {
      if (this.#resetAbort === own) this.#resetAbort = null;
    }
  }

  /** Calls `step(t)` for t = 1/n … 1 (n = max(1, round(ms / dt))), one step per control period. */
  async #interpolate(ms: number, signal: AbortSignal, step: (t: number) => Promise<void>): Promise<void> {
    const n = Math.max(1, Math.round(ms / this.#dtMs));
    const t0 = this.#clock.now();
    for (let i = 1; i <= n; i++) {
      await step(i / n);
      await this.#clock.sleepUntil(t0 + i * this.#dtMs, signal);
    }
  }
}
