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
import { convertToUint8, hwcToChw, resizeWithPad } from '@openpi-edge/client/node';
import type { Environment } from '@openpi-edge/runtime';
import { type CameraSource, freshFrame } from '../../io/cameras/camera-source.js';
import { frameToRgb } from '../../io/cameras/frame-convert.js';
import {
  normalizeGripperJoint,
  normalizeGripperPosition,
  unnormalizeGripperJoint,
} from '../dynamixel/viperx.js';
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
  #resetPose: number[];
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
    const images: Record<string, NDArray> = {};
    const missing: AlohaCameraName[] = [];
    for (const name of ALOHA_CAMERA_NAMES) {
      const source = this.cameras[name];
      if (source === undefined) {
        missing.push(name);
        continue;
      }
      let frame: ReturnType<typeof freshFrame>;
      try {
        frame = freshFrame(source, this.#maxAgeMs);
      } catch (e) {
        if (this.#optional.has(name)) {
          missing.push(name);
          continue;
        }
        const ctx = (e as OpenpiEdgeError).context ?? {};
        throw new OpenpiEdgeError(
          'BAD_OBSERVATION',
          `ALOHA observation: camera ${name} unusable: ${e instanceof Error ? e.message : String(e)}`,
          { ...ctx, key: `images.${name}`, camera: name },
          { cause: e },
        );
      }
      const rgb = await frameToRgb(frame.frame, name);
      const resized = resizeWithPad(rgb, this.#h, this.#w);
      images[name] = hwcToChw(convertToUint8(resized) as NDArray<'uint8'>);
    }
    this.#missing = missing;
    const obs: Obs = {
      state: { dtype: 'float32', shape: [14], data: this.stateVector(arms) },
      images,
    };
    if (this.#prompt !== undefined) obs.prompt = this.#prompt;
    return obs;
  }

  /** Sends one 14-vector action: arms as joint goals, grippers un-normalised to motor angles (JOINT constants). */
  async applyAction(action: Obs): Promise<void> {
    const a = actionVector(action);
    await this.#command(a);
  }

  async #command(a: Float64Array): Promise<void> {
    const c = this.gripper.constants;
    for (const [k, side] of ALOHA_SIDES.entries()) {
      await this.transport.writeArm(side, a.subarray(7 * k, 7 * k + 6));
      await this.transport.writeGripper(side, unnormalizeGripperJoint(a[7 * k + 6] as number, c));
    }
    this.#lastCommand = a.slice();
  }

  /** Stops where the arms are: commands the measured joint and gripper positions as goals. */
  async hold(): Promise<void> {
    const s = await this.transport.read();
    for (const side of ALOHA_SIDES) {
      await this.transport.writeArm(side, s[side].arm);
      await this.transport.writeGripper(side, s[side].gripperAngle);
    }
  }

  /**
   * openpi's reset: reboot the grippers (when the transport can), move both arms linearly from where they are to
   * the reset pose over `armMs` in control-rate steps, then grippers to CLOSE over `gripperCloseMs` and to OPEN
   * over `gripperOpenMs`. Steps are on an absolute timeline of the injected clock.
   */
  async reset(): Promise<void> {
    if (this.#reboot && this.transport.capabilities.reboot) await this.transport.rebootGrippers();
    const start = await this.transport.read();
    const pose = this.#resetPose;
    await this.#interpolate(this.#timing.armMs, async (t) => {
      for (const side of ALOHA_SIDES) {
        const from = start[side].arm;
        await this.transport.writeArm(
          side,
          pose.map((p, j) => lerp(from[j] as number, p, t)),
        );
      }
    });
    const c = this.gripper.constants;
    for (const [target, ms] of [
      [c.jointClose, this.#timing.gripperCloseMs],
      [c.jointOpen, this.#timing.gripperOpenMs],
    ] as const) {
      const now = await this.transport.read();
      const from = { left: now.left.gripperAngle, right: now.right.gripperAngle };
      await this.#interpolate(ms, async (t) => {
        for (const side of ALOHA_SIDES)
          await this.transport.writeGripper(side, lerp(from[side as AlohaSide], target, t));
      });
    }
    const open = normalizeGripperJoint(c.jointOpen, c);
    this.#lastCommand = Float64Array.from([...pose, open, ...pose, open]);
  }

  /** Calls `step(t)` for t = 1/n … 1 (n = max(1, round(ms / dt))), one step per control period. */
  async #interpolate(ms: number, step: (t: number) => Promise<void>): Promise<void> {
    const n = Math.max(1, Math.round(ms / this.#dtMs));
    const t0 = this.#clock.now();
    for (let i = 1; i <= n; i++) {
      await step(i / n);
      await this.#clock.sleepUntil(t0 + i * this.#dtMs);
    }
  }
}
