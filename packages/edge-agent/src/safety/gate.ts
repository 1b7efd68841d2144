/**
 * SafetyGate: the one place every command passes between the chunk broker and the robot drivers, whatever the
 * transport. Each control tick, `step` takes the policy's action, the latest measured joints and camera timestamps
 * and returns either a command to send or a hold of the last safe command with the faults that caused it.
 * It never returns a command outside the position limits, further than one per-tick step from the previous one,
 * or non-finite. Check order: docs/safety.md.
 */
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
}

export type GateDecision =
  /** Send `command` (fresh array). `limited`: clamps and slow-downs applied to the action. */
  | { readonly kind: 'move'; readonly command: Float64Array; readonly limited: readonly LimitEvent[] }
  /**
   * Do not follow the policy: send `command` (the last safe command) again, or nothing when it is null (nothing
   * was ever sent; the servos keep their own goal). `faults`: why, in check order.
   */
  | { readonly kind: 'hold'; readonly command: Float64Array | null; readonly faults: readonly SafetyFault[] };

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
}

export interface SafetyGateOptions {
  /** Clock (ms) for `now`; every timestamp passed in must be on it. Any object with `now()`, e.g. a client `Clock`. */
  readonly clock: { now(): number };
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
  #counters: SafetyCounters = {
    ticks: 0,
    moves: 0,
    holds: 0,
    positionLimited: 0,
    rateLimited: 0,
    faults: zeroCounts(),
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
    return { ...this.#counters, faults: { ...this.#counters.faults } };
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
    if (faults.length === 0 && input.action && measured !== null) {
      const r = this.limiter.filter(input.action, measured, now);
      if (r.ok) {
        this.#active = [];
        c.moves++;
        for (const l of r.limited) {
          if (l.kind === 'position') c.positionLimited++;
          else c.rateLimited++;
          this.#limited.next(l);
        }
        return { kind: 'move', command: r.command, limited: r.limited };
      }
      faults.push(...r.faults);
    }
    faults.sort((a, b) => (codeOrder.get(a.code) ?? 0) - (codeOrder.get(b.code) ?? 0));
    this.#active = faults;
    c.holds++;
    for (const f of faults) {
      c.faults[f.code]++;
      this.#faults.next(f);
    }
    return { kind: 'hold', command: this.limiter.lastSafe(), faults };
  }

  /** Completes `faults$`, `limited$` and the e-stop's `events$`. */
  close(): void {
    this.#faults.complete();
    this.#limited.complete();
    this.estop.close();
  }
}
