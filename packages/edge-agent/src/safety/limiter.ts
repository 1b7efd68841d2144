/**
 * SafetyLimiter: turns a policy action into a command that stays inside the joint position limits and moves each
 * dimension by at most `maxVelocity / controlRateHz` per call (one call per control tick). Pure: no I/O, no timers;
 * the only state is the last command it let through. The caller passes `now` (ms) for fault timestamps.
 */
import { parseSafetyConfig, perTickLimits, type SafetyConfig } from './config.js';
import type { LimitEvent, SafetyFault } from './faults.js';

/** A command or joint-position vector in action order (rad for joints, normalised for grippers). */
export type JointVector = ArrayLike<number>;

export type LimiterResult =
  /** Send `command` (a fresh array the caller may keep). `limited` lists every clamp / slow-down applied. */
  | { readonly ok: true; readonly command: Float64Array; readonly limited: readonly LimitEvent[] }
  /** Do not move: `command` is the last safe command (null when nothing was ever sent: send nothing). */
  | { readonly ok: false; readonly command: Float64Array | null; readonly faults: readonly SafetyFault[] };

export class SafetyLimiter {
  readonly config: SafetyConfig;
  /** Number of action dimensions (= joints in the config). */
  readonly dim: number;
  /** Largest change per tick for each dimension (rad/tick, or normalised units/tick for grippers). */
  readonly stepLimits: Float64Array;
  #last: Float64Array | null = null;

  /** Validates `config` (BAD_ARGUMENT on a bad one). */
  constructor(config: SafetyConfig) {
    this.config = parseSafetyConfig(config);
    this.dim = this.config.joints.length;
    this.stepLimits = perTickLimits(this.config);
  }

  /** A copy of the last command let through, or null before the first one. */
  lastSafe(): Float64Array | null {
    return this.#last === null ? null : this.#last.slice();
  }

  /**
   * Forgets the last command, so the next `filter` rate-limits from the measured position again. Use after
   * something else moved the arms (homing, teleoperation).
   */
  forgetLast(): void {
    this.#last = null;
  }

  /** Faults a measured joint vector has (wrong length, non-finite value); empty when usable. */
  checkMeasured(measured: JointVector, now: number): SafetyFault[] {
    const { joints } = this.config;
    if (measured.length !== this.dim) {
      return [
        {
          code: 'JOINT_STATE_INVALID',
          message: `${this.config.robot}: joint state has ${measured.length} positions, expected ${this.dim}`,
          atMs: now,
          value: measured.length,
          limit: this.dim,
        },
      ];
    }
    const faults: SafetyFault[] = [];
    for (let i = 0; i < this.dim; i++) {
      const v = measured[i] as number;
      if (!Number.isFinite(v)) {
        const name = joints[i]?.name ?? String(i);
        faults.push({
          code: 'JOINT_STATE_INVALID',
          message: `${this.config.robot}: measured ${name} (index ${i}) is ${v}`,
          atMs: now,
          index: i,
          name,
          value: v,
        });
      }
    }
    return faults;
  }

  /**
   * Every fault `command` has (ACTION_LENGTH, ACTION_NON_FINITE, ACTION_OUT_OF_RANGE), plus the measured
   * position's faults when it is given or needed (JOINT_STATE_MISSING when nothing was sent yet and `measured`
   * is null). Does not change state.
   */
  check(command: JointVector, measured: JointVector | null, now: number): SafetyFault[] {
    const faults: SafetyFault[] = [];
    const { joints, robot } = this.config;
    if (command.length !== this.dim) {
      faults.push({
        code: 'ACTION_LENGTH',
        message: `${robot}: action has ${command.length} values, expected ${this.dim}`,
        atMs: now,
        value: command.length,
        limit: this.dim,
      });
    } else {
      for (let i = 0; i < this.dim; i++) {
        const v = command[i] as number;
        const j = joints[i];
        if (j === undefined) continue;
        if (!Number.isFinite(v)) {
          faults.push({
            code: 'ACTION_NON_FINITE',
            message: `${robot}: action ${j.name} (index ${i}) is ${v}`,
            atMs: now,
            index: i,
            name: j.name,
            value: v,
          });
        } else if (v < j.min - j.rejectMargin || v > j.max + j.rejectMargin) {
          const limit = v < j.min ? j.min - j.rejectMargin : j.max + j.rejectMargin;
          faults.push({
            code: 'ACTION_OUT_OF_RANGE',
            message: `${robot}: action ${j.name} (index ${i}) = ${v} is beyond ${limit} (range [${j.min}, ${j.max}] plus margin ${j.rejectMargin})`,
            atMs: now,
            index: i,
            name: j.name,
            value: v,
            limit,
          });
        }
      }
    }
    if (measured !== null) {
      faults.push(...this.checkMeasured(measured, now));
    } else if (this.#last === null) {
      faults.push({
        code: 'JOINT_STATE_MISSING',
        message: `${robot}: no joint state to rate-limit the first command from`,
        atMs: now,
      });
    }
    return faults;
  }

  /**
   * The command to send for `command`: each target clamped into [min, max], then moved at most one per-tick step
   * from the reference (the last command let through, or `measured` before the first), then clamped again (only
   * matters when the measured reference lies outside the limits). Any fault from `check` rejects the whole
   * command: the result holds the last safe command and the state is unchanged.
   */
  filter(command: JointVector, measured: JointVector | null, now: number): LimiterResult {
    const faults = this.check(command, measured, now);
    if (faults.length > 0) return { ok: false, command: this.lastSafe(), faults };
    const reference = (this.#last ?? measured) as JointVector;
    const { joints } = this.config;
    const out = new Float64Array(this.dim);
    const limited: LimitEvent[] = [];
    for (let i = 0; i < this.dim; i++) {
      const j = joints[i] as (typeof joints)[number];
      const requested = command[i] as number;
      let target = requested;
      if (target < j.min) target = j.min;
      else if (target > j.max) target = j.max;
      if (target !== requested) {
        limited.push({ kind: 'position', index: i, name: j.name, requested, applied: target, limit: target });
      }
      const ref = reference[i] as number;
      const step = this.stepLimits[i] as number;
      let v = target;
      if (target - ref > step) v = ref + step;
      else if (ref - target > step) v = ref - step;
      if (v !== target)
        limited.push({ kind: 'rate', index: i, name: j.name, requested: target, applied: v, limit: step });
      const beforeClamp = v;
      if (v < j.min) v = j.min;
      else if (v > j.max) v = j.max;
      if (v !== beforeClamp) {
        limited.push({
          kind: 'position',
          index: i,
          name: j.name,
          requested: beforeClamp,
          applied: v,
          limit: v,
        });
      }
      out[i] = v;
    }
    this.#last = out.slice();
    return { ok: true, command: out, limited };
  }
}
