/**
 * SafetyGate: the one place every command passes between the chunk broker and the robot drivers, whatever the
 * transport. Each control tick, `step` takes the policy's action, the latest measured joints and camera timestamps
 * and returns either a command to send or a hold of the last safe command with the faults that caused it.
 * It never returns a command outside the position limits, further than one per-tick step from the previous one,
 * or non-finite. Check order: docs/safety.md.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { type Observable, Subject } from 'rxjs';
import { parseSafetyConfig, type SafetyConfig } from './config.js';
import { EStop } from './estop.js';
import { FAULT_CODES, type FaultCode, type LimitEvent, type SafetyFault } from './faults.js';
import { type JointVector, SafetyLimiter } from './limiter.js';
import { type PolicyHealth, Watchdog } from './watchdog.js';

/** Measured joint positions in action order (rad; grippers normalised) and when they were measured (ms). */
export interface MeasuredJoints {
  readonly positions: JointVector;
  /** On the gate's clock (ms). */
  readonly stampMs: number;
}

export interface GateInput {
  /** The policy's action for this tick (one value per joint), or null when the broker had none. */
  readonly action: JointVector | null | undefined;
  /** The latest joint state, or null before the first one. */
  readonly joints: MeasuredJoints | null | undefined;
  /** Timestamp (ms, gate clock) of each camera's latest frame, by name. */
  readonly cameras?: Readonly<Record<string, number | null | undefined>>;
  /** What the broker reports about the policy. */
  readonly policy?: PolicyHealth;
  /** Faults the robot itself reports now (servo error, protective stop, lost link); any one holds. */
  readonly robotFaults?: readonly RobotReportedFault[];
}

/** A fault as a robot plugin reports it (robots/interface.ts): its own code, a message naming the part. */
export interface RobotReportedFault {
  /** The robot's code, e.g. `SERVO_ERROR`, `PROTECTIVE_STOP`, `LINK_LOST`. */
  readonly code: string;
  readonly message: string;
}

/**
 * A motion target the gate let through: inside the position limits, at most one per-tick step from the previous
 * command, finite. Only the gate makes these (the constructor needs a module-private token, and every issued
 * command is recorded), and robot plugins accept nothing else ({@link assertSafeCommand}), so a driver cannot be
 * handed an unchecked target. `positions` is a copy each time: the command cannot be changed after the check.
 */
export class SafeCommand {
  readonly #positions: Float64Array;
  /** Robot the gate's limits belong to (SafetyConfig.robot). */
  readonly robot: string;
  /** Gate clock reading (ms) when it was issued. */
  readonly issuedAtMs: number;

  constructor(token: symbol, positions: Float64Array, robot: string, issuedAtMs: number) {
    if (token !== MINT) {
      throw new OpenpiEdgeError('UNSAFE_TARGET', 'SafeCommand: only the SafetyGate issues commands', {
        robot,
      });
    }
    this.#positions = positions.slice();
    this.robot = robot;
    this.issuedAtMs = issuedAtMs;
    ISSUED.add(this);
  }

  /** The targets in action order and units (rad for joints, normalised for grippers); a fresh copy. */
  get positions(): Float64Array {
    return this.#positions.slice();
  }

  /** Number of action dimensions. */
  get length(): number {
    return this.#positions.length;
  }
}

const MINT: unique symbol = Symbol('SafeCommand.mint');
const ISSUED = new WeakSet<object>();

/**
 * Throws UNSAFE_TARGET unless `command` was issued by a SafetyGate (for `robot` and `dim` when given). Robot
 * plugins call this first in every motion write.
 */
export function assertSafeCommand(
  command: unknown,
  expect: { robot?: string; dim?: number } = {},
): asserts command is SafeCommand {
  if (!(command instanceof SafeCommand) || !ISSUED.has(command)) {
    throw new OpenpiEdgeError('UNSAFE_TARGET', 'motion command was not issued by the SafetyGate', {
      got: command === null ? 'null' : typeof command,
    });
  }
  if (expect.robot !== undefined && command.robot !== expect.robot) {
    throw new OpenpiEdgeError(
      'UNSAFE_TARGET',
      `motion command was checked against ${command.robot}'s limits, not ${expect.robot}'s`,
      { robot: expect.robot, commandRobot: command.robot },
    );
  }
  if (expect.dim !== undefined && command.length !== expect.dim) {
    throw new OpenpiEdgeError(
      'UNSAFE_TARGET',
      `motion command has ${command.length} values, ${expect.robot ?? 'the robot'} takes ${expect.dim}`,
      { dim: expect.dim, got: command.length },
    );
  }
}

export type GateDecision =
  /**
   * Send `safe` (what a robot plugin accepts); `command` is the same values as a fresh array (telemetry, tests).
   * `limited`: clamps and slow-downs applied to the action.
   */
  | {
      readonly kind: 'move';
      readonly command: Float64Array;
      readonly safe: SafeCommand;
      readonly limited: readonly LimitEvent[];
    }
  /**
   * Do not follow the policy: send `command` (the last safe command) again, or nothing when it is null (nothing
   * was ever sent; the servos keep their own goal). `faults`: why, in check order.
   */
  | {
      readonly kind: 'hold';
      readonly command: Float64Array | null;
      readonly safe: SafeCommand | null;
      readonly faults: readonly SafetyFault[];
    };

/** What {@link SafetyGate.motionStep} checks: a non-policy move (homing, reset, gripper sequence, example). */
export interface MotionInput {
  /** This tick's target (action order and units), one waypoint of a planned move. */
  readonly target: JointVector;
  readonly joints: MeasuredJoints | null | undefined;
  readonly robotFaults?: readonly RobotReportedFault[];
}

export interface SafetyCounters {
  /** `step` calls. */
  ticks: number;
  moves: number;
  holds: number;
  /** Position clamps applied (one per joint per tick). */
  positionLimited: number;
  /** Rate limits applied (one per joint per tick). */
  rateLimited: number;
  /** Fault records by code (one per fault per held tick). */
  faults: Record<FaultCode, number>;
  /** ROBOT_FAULT records by the robot's own code (`PROTECTIVE_STOP`, `LINK_LOST`...). */
  robotFaults: Record<string, number>;
}

export interface SafetyGateOptions {
  /** Clock (ms) for `now`; every timestamp passed in must be on it. Any object with `now()`, e.g. a client `Clock`. */
  readonly clock: { now(): number };
}

/** The robot's reported faults as gate faults (one ROBOT_FAULT each, `name` = the robot's code). */
function robotFaults(reported: readonly RobotReportedFault[] | undefined, now: number): SafetyFault[] {
  return (reported ?? []).map((f) => ({
    code: 'ROBOT_FAULT' as const,
    message: `robot fault ${f.code}: ${f.message}`,
    atMs: now,
    name: f.code,
  }));
}

const codeOrder = new Map<FaultCode, number>(FAULT_CODES.map((c, i) => [c, i]));

function zeroCounts(): Record<FaultCode, number> {
  return Object.fromEntries(FAULT_CODES.map((c) => [c, 0])) as Record<FaultCode, number>;
}

export class SafetyGate {
  readonly config: SafetyConfig;
  readonly limiter: SafetyLimiter;
  readonly watchdog: Watchdog;
  /** The gate's latch: wire sources to it with attachSignals / attachKeyboard / `trigger`. */
  readonly estop: EStop;
  readonly #clock: { now(): number };
  readonly #latchOn: ReadonlySet<FaultCode>;
  readonly #faults = new Subject<SafetyFault>();
  readonly #limited = new Subject<LimitEvent>();
  #active: readonly SafetyFault[] = [];
  /** The SafeCommand of the last move (re-sent by holds); null before the first or after `forgetLast`. */
  #lastSafe: SafeCommand | null = null;
  #counters: SafetyCounters = {
    ticks: 0,
    moves: 0,
    holds: 0,
    positionLimited: 0,
    rateLimited: 0,
    faults: zeroCounts(),
    robotFaults: {},
  };

  /** Every fault of every held tick, in check order. Completes on `close()`. */
  readonly faults$: Observable<SafetyFault> = this.#faults.asObservable();
  /** Every clamp and slow-down applied to a command that was sent. Completes on `close()`. */
  readonly limited$: Observable<LimitEvent> = this.#limited.asObservable();

  /** Validates `config` (BAD_ARGUMENT on a bad one). */
  constructor(config: SafetyConfig, { clock }: SafetyGateOptions) {
    this.config = parseSafetyConfig(config);
    this.#clock = clock;
    this.#latchOn = new Set(this.config.latchOn);
    this.limiter = new SafetyLimiter(this.config);
    this.watchdog = new Watchdog(this.config.watchdog);
    this.estop = new EStop({ clock, blockingFaults: () => this.#active });
  }

  /** Action dimension expected by `step`. */
  get dim(): number {
    return this.limiter.dim;
  }

  /** Faults of the last tick (empty after a move). These block an e-stop reset. */
  activeFaults(): readonly SafetyFault[] {
    return this.#active;
  }

  /** A copy of the last command sent (move), or null before the first. */
  lastSafe(): Float64Array | null {
    return this.limiter.lastSafe();
  }

  /** A snapshot of the counters. */
  counters(): SafetyCounters {
    return {
      ...this.#counters,
      faults: { ...this.#counters.faults },
      robotFaults: { ...this.#counters.robotFaults },
    };
  }

  /** One control tick. See the module comment for the guarantees and docs/safety.md for the check order. */
  step(input: GateInput): GateDecision {
    const now = this.#clock.now();
    const c = this.#counters;
    c.ticks++;
    const faults: SafetyFault[] = this.watchdog.check(
      { jointStampMs: input.joints?.stampMs, cameras: input.cameras, policy: input.policy },
      now,
    );
    faults.push(...robotFaults(input.robotFaults, now));
    const measured = input.joints?.positions ?? null;
    if (input.action === null || input.action === undefined) {
      faults.push({ code: 'ACTION_MISSING', message: 'the policy delivered no action this tick', atMs: now });
      if (measured !== null) faults.push(...this.limiter.checkMeasured(measured, now));
    } else {
      // JOINT_STATE_MISSING already comes from the watchdog whenever joints are absent.
      faults.push(
        ...this.limiter.check(input.action, measured, now).filter((f) => f.code !== 'JOINT_STATE_MISSING'),
      );
    }
    return this.#decide(faults, input.action ?? null, measured, now);
  }

  /**
   * One tick of a motion that is not the policy's (homing, reset, gripper sequence, an example's scripted move):
   * the same limiter, e-stop, robot faults and joint-state watchdog as {@link step}, without the camera and policy
   * checks (they do not concern a scripted move). Counted like `step` in the counters.
   */
  motionStep(input: MotionInput): GateDecision {
    const now = this.#clock.now();
    this.#counters.ticks++;
    const faults: SafetyFault[] = this.watchdog.check(
      { jointStampMs: input.joints?.stampMs, checkCameras: false },
      now,
    );
    faults.push(...robotFaults(input.robotFaults, now));
    const measured = input.joints?.positions ?? null;
    faults.push(
      ...this.limiter.check(input.target, measured, now).filter((f) => f.code !== 'JOINT_STATE_MISSING'),
    );
    return this.#decide(faults, input.target, measured, now);
  }

  #decide(
    faults: SafetyFault[],
    action: JointVector | null,
    measured: JointVector | null,
    now: number,
  ): GateDecision {
    const c = this.#counters;
    const latch = faults.find((f) => this.#latchOn.has(f.code));
    if (latch !== undefined && !this.estop.latched)
      this.estop.trigger('fault', `${latch.code}: ${latch.message}`);
    const cause = this.estop.cause;
    if (cause !== null) {
      faults.push({
        code: 'E_STOP',
        message: `e-stop latched by ${cause.source}: ${cause.reason}`,
        atMs: now,
        source: cause.source,
      });
    }
    if (faults.length === 0 && action !== null && measured !== null) {
      const r = this.limiter.filter(action, measured, now);
      if (r.ok) {
        this.#active = [];
        c.moves++;
        for (const l of r.limited) {
          if (l.kind === 'position') c.positionLimited++;
          else c.rateLimited++;
          this.#limited.next(l);
        }
        const safe = new SafeCommand(MINT, r.command, this.config.robot, now);
        this.#lastSafe = safe;
        return { kind: 'move', command: r.command, safe, limited: r.limited };
      }
      faults.push(...r.faults);
    }
    faults.sort((a, b) => (codeOrder.get(a.code) ?? 0) - (codeOrder.get(b.code) ?? 0));
    this.#active = faults;
    c.holds++;
    for (const f of faults) {
      c.faults[f.code]++;
      if (f.code === 'ROBOT_FAULT' && f.name !== undefined)
        c.robotFaults[f.name] = (c.robotFaults[f.name] ?? 0) + 1;
      this.#faults.next(f);
    }
    const last = this.limiter.lastSafe();
    return { kind: 'hold', command: last, safe: last === null ? null : this.#lastSafe, faults };
  }

  /**
   * Forgets the last command (the next one is rate-limited from the measured position again). Use after the robot
   * moved by other means (teleoperation, a hold at the measured pose).
   */
  forgetLast(): void {
    this.limiter.forgetLast();
    this.#lastSafe = null;
  }

  /** Completes `faults$`, `limited$` and the e-stop's `events$`. */
  close(): void {
    this.#faults.complete();
    this.#limited.complete();
    this.estop.close();
  }
}
