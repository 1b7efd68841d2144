/**
 * Bring your own robot: a UR5e as a runtime {@link Environment}, with the SafetyGate between the policy's actions
 * and the driver. Observation = openpi's UR5 layout (`examples/ur5/README.md`): `joints` float32 [6] (rad),
 * `gripper` float32 [1] (0 open .. 1 closed), `base_rgb` / `wrist_rgb` uint8 [224, 224, 3], `prompt`.
 * Action = `actions` [7]: 6 joint targets (rad, absolute: the server's delta->absolute transform already ran) +
 * gripper. Every tick the gate sees a fresh joint read, the camera stamps and the policy health, and either lets a
 * limited command through or holds the last safe one.
 */
import { type Clock, isNDArray, ndarray, type Obs, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { resizeWithPad } from '@openpi-edge/client/node';
import {
  type CameraSource,
  frameToRgb,
  type GateDecision,
  type PolicyHealth,
  SafetyGate,
  safetyConfigFor,
} from '@openpi-edge/edge-agent';
import type { Environment } from '@openpi-edge/runtime';
import type { Ur5Driver } from './ur5-driver.js';

/** openpi's UR5 camera names. */
export const UR5_CAMERAS = ['base_rgb', 'wrist_rgb'] as const;
export type Ur5Camera = (typeof UR5_CAMERAS)[number];

export interface Ur5EnvironmentOptions {
  driver: Ur5Driver;
  /** Both cameras are required (the UR5 safety defaults watch both). */
  cameras: Record<Ur5Camera, CameraSource>;
  /** Control rate (Hz); sets the gate's per-tick limits and the servo time. Default 20 (openpi: UR5e data at 20 Hz). */
  controlHz?: number;
  /** The gate. Default `new SafetyGate(safetyConfigFor('ur5', { controlRateHz: controlHz }), { clock })`. */
  gate?: SafetyGate;
  /** Clock (ms) of the joint stamps, camera stamps and gate. Default the real clock. */
  clock?: Clock;
  /** Pose `reset` moves to (6 rad). Default [0, -1.57, 1.57, -1.57, -1.57, 0]. */
  homePose?: readonly number[];
  /** Duration of the home move (ms). Default 2000. */
  homeMs?: number;
  /** Sent as `prompt`. Default none. */
  prompt?: string;
  /** Image side sent to the policy (px). Default 224. */
  imageSize?: number;
  /** Policy health for the gate's watchdog (e.g. from an AsyncActionChunkBroker). Default: always healthy. */
  policyHealth?: () => PolicyHealth;
  /** Called with every gate decision. */
  onDecision?: (decision: GateDecision) => void;
}

export class Ur5Environment implements Environment {
  readonly driver: Ur5Driver;
  readonly cameras: Readonly<Record<Ur5Camera, CameraSource>>;
  readonly gate: SafetyGate;
  readonly controlHz: number;
  readonly #clock: Clock;
  readonly #home: readonly number[];
  readonly #homeMs: number;
  readonly #prompt: string | undefined;
  readonly #size: number;
  readonly #health: () => PolicyHealth;
  readonly #onDecision: ((d: GateDecision) => void) | undefined;

  constructor(options: Ur5EnvironmentOptions) {
    this.driver = options.driver;
    this.cameras = { ...options.cameras };
    this.controlHz = options.controlHz ?? 20;
    this.#clock = options.clock ?? realClock;
    this.gate =
      options.gate ??
      new SafetyGate(safetyConfigFor('ur5', { controlRateHz: this.controlHz }), { clock: this.#clock });
    if (this.gate.dim !== 7) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `the UR5 gate must have 7 dims, got ${this.gate.dim}`, {
        key: 'gate',
        dim: this.gate.dim,
      });
    }
    this.#home = [...(options.homePose ?? [0, -1.57, 1.57, -1.57, -1.57, 0])];
    this.#homeMs = options.homeMs ?? 2000;
    this.#prompt = options.prompt;
    this.#size = options.imageSize ?? 224;
    this.#health = options.policyHealth ?? (() => ({}));
    this.#onDecision = options.onDecision;
  }

  /** Connects the driver and starts the cameras. Await before the first reset. */
  async start(): Promise<void> {
    await this.driver.connect();
    for (const c of UR5_CAMERAS) await this.cameras[c].start();
  }

  /** Closes the cameras and the driver (the arm holds where it is). */
  async close(): Promise<void> {
    for (const c of UR5_CAMERAS) await this.cameras[c].close();
    await this.driver.close();
    this.gate.close();
  }

  /**
   * Moves to the home pose on a straight line in joint space (one servo target per tick), opens the gripper, then
   * re-anchors the gate on the measured pose. Not gated: the path is ours, not the policy's; keep it clear.
   */
  async reset(): Promise<void> {
    const start = (await this.driver.readJoints()).positions;
    const period = 1000 / this.controlHz;
    const n = Math.max(1, Math.round(this.#homeMs / period));
    await this.driver.gripper(0);
    for (let k = 1; k <= n; k++) {
      const t = k / n;
      await this.driver.moveJoints(
        start.map((a, i) => a + ((this.#home[i] ?? a) - a) * t),
        { timeS: period / 1000 },
      );
      await this.#clock.sleep(period);
    }
    this.gate.limiter.forgetLast();
  }

  isEpisodeComplete(): boolean {
    return false;
  }

  async getObservation(): Promise<Obs> {
    const joints = await this.driver.readJoints();
    const gripper = await this.driver.readGripper();
    const obs: Obs = {
      joints: ndarray('float32', [6], Float32Array.from(joints.positions)),
      gripper: ndarray('float32', [1], Float32Array.of(gripper)),
    };
    for (const c of UR5_CAMERAS) {
      const latest = this.cameras[c].latest();
      if (latest === null) {
        throw new OpenpiEdgeError('BAD_OBSERVATION', `camera ${c} has no frame yet`, {
          camera: c,
          source: this.cameras[c].description,
        });
      }
      obs[c] = resizeWithPad(await frameToRgb(latest.frame, c), this.#size, this.#size);
    }
    if (this.#prompt !== undefined) obs.prompt = this.#prompt;
    return obs;
  }

  /** Gate, then driver: a move streams the limited command; a hold re-sends the last safe one (or nothing). */
  async applyAction(action: Obs): Promise<void> {
    const a = action.actions;
    const vector =
      isNDArray(a) && a.shape.length === 1 && a.dtype !== 'unicode'
        ? Array.from(a.data as ArrayLike<number | bigint | boolean>, Number)
        : null;
    const joints = await this.driver.readJoints();
    const gripper = await this.driver.readGripper();
    const cameras: Record<string, number | null> = {};
    for (const c of UR5_CAMERAS) cameras[c] = this.cameras[c].latest()?.frame.stampMs ?? null;
    const decision = this.gate.step({
      action: vector,
      joints: { positions: [...joints.positions, gripper], stampMs: joints.stampMs },
      cameras,
      policy: this.#health(),
    });
    this.#onDecision?.(decision);
    const command = decision.command;
    if (command === null) return;
    await this.driver.moveJoints(Array.from(command.subarray(0, 6)), { timeS: 1 / this.controlHz });
    await this.driver.gripper(command[6] ?? 0);
  }
}
