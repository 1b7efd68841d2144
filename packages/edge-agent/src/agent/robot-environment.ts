/**
 * The runtime's Environment for any robot plugin, with the SafetyGate inside: nothing reaches the robot except the
 * gate's SafeCommands. Per tick:
 * - `getObservation`: one joint-state read gives the observation `state` (the policy's layout) and the measured
 *   joints the gate needs (action units); images are not built here (the policy asks for them, see
 *   images-on-demand.ts);
 * - `applyAction`: the broker's row (or NO_ACTION) goes through `gate.step` with the measured joints, camera stamps,
 *   the policy's health and the robot's own faults; a `move` is written, a `hold` re-sends the last safe command
 *   (nothing before the first one: the robot keeps its own goal).
 * `reset` runs the robot's reset plan as planned moves through `gate.motionStep` (duration from distance and
 * `maxVelocity`), unless the e-stop is latched or resets are off, in which case the robot holds where it is. An
 * e-stop, a fault or a stale joint state during the move holds within one control tick.
 */
import { type Clock, isNDArray, type Obs, OpenpiEdgeError, type Value } from '@openpi-edge/client';
import type { Environment } from '@openpi-edge/runtime';
import type { Subscription } from 'rxjs';
import type { Robot, RobotJointState } from '../robots/interface.js';
import type { SafetyFault } from '../safety/faults.js';
import type { GateDecision, MeasuredJoints, SafetyGate } from '../safety/gate.js';
import { planMove } from '../safety/move-plan.js';
import type { PolicyMonitor } from './policy-monitor.js';

export interface RobotEnvironmentOptions {
  clock: Clock;
  /** Policy health for the gate's watchdog. Default: none reported (scripted use, examples). */
  monitor?: PolicyMonitor;
  /** Added to every observation as `prompt`. Default none. */
  prompt?: string;
  /** Run the robot's reset plan on reset. Default true; false holds where the robot is. */
  resetMove?: boolean;
  /** Fraction of each joint's `maxVelocity` a reset uses (0 < f <= 1). Default 0.5. */
  resetSpeedFraction?: number;
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

/** How the last reset ended: `done` (plan completed), `held` (no move asked), `aborted` (e-stop, fault, stale state). */
export type ResetOutcome =
  | { readonly kind: 'done'; readonly durationMs: number; readonly segments: number }
  | { readonly kind: 'held'; readonly reason: string }
  | { readonly kind: 'aborted'; readonly reason: string; readonly faults: readonly SafetyFault[] };

/** Reads `actions` as a vector when present (the gate checks length and values); null when absent. */
export function actionRow(action: Obs): ArrayLike<number> | null {
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

const measuredOf = (j: RobotJointState): MeasuredJoints => ({ positions: j.positions, stampMs: j.stampMs });

export class RobotEnvironment implements Environment {
  readonly robot: Robot;
  readonly gate: SafetyGate;
  readonly #clock: Clock;
  readonly #monitor: PolicyMonitor | undefined;
  readonly #prompt: string | undefined;
  readonly #resetMove: boolean;
  readonly #speed: number;
  readonly #estopSub: Subscription;
  #measured: MeasuredJoints | null = null;
  #sent: Float64Array | null = null;
  #resetAbort: AbortController | null = null;
  #lastReset: ResetOutcome | null = null;
  readonly tally: GateTally = { moves: 0, holds: 0, holdsSent: 0, lastFaults: [] };
  /** Called with every gate decision of the policy's ticks and of reset moves (tests, telemetry). */
  onDecision: ((d: GateDecision, phase: 'step' | 'reset') => void) | undefined;
  /** Like `onDecision`, for the agent's own telemetry (the MCAP recorder), called first. */
  decisionTap: ((d: GateDecision, phase: 'step' | 'reset') => void) | undefined;

  constructor(robot: Robot, gate: SafetyGate, options: RobotEnvironmentOptions) {
    if (gate.config.robot !== robot.name || gate.dim !== robot.layout.joints.length) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `the gate's limits are for ${gate.config.robot} (${gate.dim} dims), the robot is ${robot.name} (${robot.layout.joints.length})`,
        { gate: gate.config.robot, robot: robot.name },
      );
    }
    this.robot = robot;
    this.gate = gate;
    this.#clock = options.clock;
    this.#monitor = options.monitor;
    this.#prompt = options.prompt;
    this.#resetMove = options.resetMove ?? true;
    this.#speed = options.resetSpeedFraction ?? 0.5;
    // Any e-stop (signal, keyboard, ROS 2 topic, API, a latching fault) cuts a reset move short.
    this.#estopSub = gate.estop.events$.subscribe((e) => {
      if (e.type === 'triggered') this.#resetAbort?.abort(`e-stop (${e.cause.source}: ${e.cause.reason})`);
    });
  }

  /** The latest measured joints (action units) and their stamp, or null before the first observation. */
  get measured(): MeasuredJoints | null {
    return this.#measured;
  }

  /** The last command written to the robot by this environment (action units), or null. */
  get lastSent(): Float64Array | null {
    return this.#sent === null ? null : this.#sent.slice();
  }

  /** How the last reset ended; null before the first and while one runs. */
  get lastResetOutcome(): ResetOutcome | null {
    return this.#lastReset;
  }

  /** Stops a reset in progress: no further target, the robot holds where it is. No effect on a later reset. */
  abortReset(reason = 'reset aborted'): void {
    this.#resetAbort?.abort(reason);
  }

  async reset(): Promise<void> {
    this.#lastReset = null;
    this.#measured = null;
    if (this.gate.estop.latched || !this.#resetMove) {
      await this.robot.hold();
      this.gate.forgetLast();
      this.#sent = null;
      this.#lastReset = {
        kind: 'held',
        reason: this.gate.estop.latched ? 'e-stop latched' : 'resets are off',
      };
      return;
    }
    this.#lastReset = await this.#runReset();
  }

  async #runReset(): Promise<ResetOutcome> {
    const abort = new AbortController();
    this.#resetAbort = abort;
    const { signal } = abort;
    const period = 1000 / this.gate.config.controlRateHz;
    const t0 = this.#clock.now();
    const aborted = async (reason: string, faults: readonly SafetyFault[] = []): Promise<ResetOutcome> => {
      await this.robot.hold();
      this.gate.forgetLast();
      this.#sent = null;
      return { kind: 'aborted', reason, faults };
    };
    try {
      if (signal.aborted) return await aborted(String(signal.reason));
      await this.robot.prepareReset?.();
      const measured = await this.robot.read();
      let from = measured.positions;
      // Re-anchor the limiter on where the robot is now (something else may have moved it since the last command).
      this.gate.forgetLast();
      const segments = this.robot.resetPlan(measured);
      for (const seg of segments) {
        const plan = planMove(this.gate.config, from, seg.target, {
          speedFraction: this.#speed,
          minDurationMs: seg.minDurationMs ?? 0,
          what: `reset (${seg.label})`,
        });
        const start = this.#clock.now();
        for (const [i, waypoint] of plan.waypoints.entries()) {
          if (signal.aborted) return await aborted(String(signal.reason));
          const j = await this.robot.read();
          const d = this.gate.motionStep({
            target: waypoint,
            joints: measuredOf(j),
            robotFaults: this.robot.faults(),
          });
          this.decisionTap?.(d, 'reset');
          this.onDecision?.(d, 'reset');
          if (d.kind === 'hold') {
            return await aborted(
              `gate held during ${seg.label}: ${d.faults.map((f) => f.code).join(', ')}`,
              d.faults,
            );
          }
          await this.robot.write(d.safe);
          this.#sent = d.command;
          try {
            await this.#clock.sleepUntil(start + (i + 1) * period, signal);
          } catch {
            return await aborted(String(signal.reason));
          }
        }
        from = plan.waypoints.at(-1) ?? from;
      }
      return { kind: 'done', durationMs: this.#clock.now() - t0, segments: segments.length };
    } finally {
      if (this.#resetAbort === abort) this.#resetAbort = null;
    }
  }

  isEpisodeComplete(): boolean {
    return false;
  }

  async getObservation(): Promise<Obs> {
    const j = await this.robot.read();
    this.#measured = measuredOf(j);
    const obs: Obs = this.robot.observation?.(j) ?? {
      state: { dtype: 'float32', shape: [j.state.length], data: j.state },
    };
    if (this.#prompt !== undefined) obs.prompt = this.#prompt;
    return obs;
  }

  /** Arrival stamp (ms) of each configured camera's newest frame, null before the first. */
  cameraStamps(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const c of this.robot.layout.cameras) {
      const src = this.robot.cameras[c.name];
      if (src !== undefined) out[c.name] = src.latest()?.frame.stampMs ?? null;
      else if (c.required) out[c.name] = null;
    }
    return out;
  }

  async applyAction(action: Obs): Promise<void> {
    const decision = this.gate.step({
      action: actionRow(action),
      joints: this.#measured,
      cameras: this.cameraStamps(),
      ...(this.#monitor === undefined ? {} : { policy: this.#monitor.health() }),
      robotFaults: this.robot.faults(),
    });
    this.decisionTap?.(decision, 'step');
    this.onDecision?.(decision, 'step');
    if (decision.kind === 'move') {
      this.tally.moves += 1;
      this.tally.lastFaults = [];
      await this.robot.write(decision.safe);
      this.#sent = decision.command;
      return;
    }
    this.tally.holds += 1;
    this.tally.lastFaults = [...new Set(decision.faults.map((f) => f.code))];
    if (decision.safe !== null) {
      this.tally.holdsSent += 1;
      await this.robot.write(decision.safe);
    }
  }

  /** Stops following e-stop events. The robot itself is closed by its owner. */
  close(): void {
    this.#estopSub.unsubscribe();
  }
}
