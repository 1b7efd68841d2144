/**
 * The runtime's Environment for the agent loop: an {@link AlohaEnvironment} with the SafetyGate between the broker's
 * action and the arms. Per tick:
 * - `getObservation`: one bus read gives both the observation state (openpi's 14-vector) and the measured joints
 *   the gate needs (action units); images are not built here (see images-on-demand.ts);
 * - `applyAction`: the broker's row (or NO_ACTION) goes through `gate.step` with the measured joints, the camera
 *   stamps and the policy's health; a `move` is sent, a `hold` re-sends the last safe command (nothing before the
 *   first one: the servos keep their own goal).
 * `reset` runs the environment's reset (openpi's home move) unless the e-stop is latched, in which case the arms
 * are held where they are instead; either way the gate's rate limiter is re-anchored on the measured position.
 */
import { isNDArray, type Obs, type Value } from '@openpi-edge/client';
import type { Environment } from '@openpi-edge/runtime';
import type { AlohaEnvironment } from '../robots/aloha/environment.js';
import { normalizeGripperJoint } from '../robots/dynamixel/viperx.js';
import type { GateDecision, MeasuredJoints, SafetyGate } from '../safety/gate.js';
import type { PolicyMonitor } from './policy-monitor.js';

export interface GatedEnvironmentOptions {
  /** Added to every observation as `prompt`. Default none. */
  prompt?: string;
  /** Run the environment's home move on reset. Default true; false holds where the arms are. */
  resetMove?: boolean;
}

/** What the gate did over the run (for the status line and the summary). */
export interface GateTally {
  moves: number;
  holds: number;
  /** Holds with a command re-sent (the rest sent nothing: no safe command yet). */
  holdsSent: number;
  /** The last decision's fault codes (empty after a move). */
  lastFaults: readonly string[];
}

/** Reads `actions` as a vector when present (the gate checks length and values); null when absent. */
function actionRow(action: Obs): ArrayLike<number> | null {
  const v: Value | undefined = action.actions;
  if (v === undefined) return null;
  if (isNDArray(v) && v.dtype !== 'unicode' && v.dtype !== 'bool') {
    const d = v.data as ArrayLike<number | bigint>;
    return Float64Array.from({ length: d.length }, (_, i) => Number(d[i]));
  }
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
  // Anything else is not an action vector: hand the gate an impossible length so it holds with ACTION_LENGTH.
  return new Float64Array(0);
}

export class GatedEnvironment implements Environment {
  readonly env: AlohaEnvironment;
  readonly gate: SafetyGate;
  readonly #monitor: PolicyMonitor;
  readonly #prompt: string | undefined;
  readonly #resetMove: boolean;
  #measured: MeasuredJoints | null = null;
  #sent: Float64Array | null = null;
  readonly tally: GateTally = { moves: 0, holds: 0, holdsSent: 0, lastFaults: [] };
  /** Called with every gate decision (tests and telemetry). */
  onDecision: ((d: GateDecision) => void) | undefined;

  constructor(
    env: AlohaEnvironment,
    gate: SafetyGate,
    monitor: PolicyMonitor,
    options: GatedEnvironmentOptions = {},
  ) {
    this.env = env;
    this.gate = gate;
    this.#monitor = monitor;
    this.#prompt = options.prompt;
    this.#resetMove = options.resetMove ?? true;
  }

  /** The latest measured joints (action units) and their stamp, or null before the first observation. */
  get measured(): MeasuredJoints | null {
    return this.#measured;
  }

  /** The last command written to the arms by this wrapper (action units), or null. */
  get lastSent(): Float64Array | null {
    return this.#sent === null ? null : this.#sent.slice();
  }

  async reset(): Promise<void> {
    if (this.gate.estop.latched || !this.#resetMove) await this.env.hold();
    else await this.env.reset();
    this.gate.limiter.forgetLast();
    this.#sent = null;
    this.#measured = null;
  }

  isEpisodeComplete(): boolean {
    return false;
  }

  async getObservation(): Promise<Obs> {
    const s = await this.env.transport.read();
    const c = this.env.gripper.constants;
    const positions = new Float64Array(14);
    (['left', 'right'] as const).forEach((side, k) => {
      positions.set(s[side].arm.subarray(0, 6), 7 * k);
      positions[7 * k + 6] = normalizeGripperJoint(s[side].gripperAngle, c);
    });
    this.#measured = { positions, stampMs: Math.min(s.left.stampMs, s.right.stampMs) };
    const obs: Obs = { state: { dtype: 'float32', shape: [14], data: this.env.stateVector(s) } };
    if (this.#prompt !== undefined) obs.prompt = this.#prompt;
    return obs;
  }

  async applyAction(action: Obs): Promise<void> {
    const decision = this.gate.step({
      action: actionRow(action),
      joints: this.#measured,
      cameras: this.env.cameraStamps(),
      policy: this.#monitor.health(),
    });
    this.onDecision?.(decision);
    if (decision.kind === 'move') {
      this.tally.moves += 1;
      this.tally.lastFaults = [];
      await this.#send(decision.command);
      return;
    }
    this.tally.holds += 1;
    this.tally.lastFaults = [...new Set(decision.faults.map((f) => f.code))];
    if (decision.command !== null) {
      this.tally.holdsSent += 1;
      await this.#send(decision.command);
    }
  }

  async #send(command: Float64Array): Promise<void> {
    await this.env.applyAction({ actions: { dtype: 'float64', shape: [command.length], data: command } });
    this.#sent = command;
  }
}
