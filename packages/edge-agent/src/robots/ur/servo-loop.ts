/**
 * One controller cycle of the UR servo stream, on the servo worker's thread (servo-worker-entry.ts), at the
 * controller's rate (500 Hz e-Series, 125 Hz CB3):
 * 1. faults from the newest RTDE outputs (safety mode and status bits, robot mode, program state, link age);
 * 2. the setpoint: the loop's newest gated command, interpolated linearly from where the previous one left off
 *    over the policy loop's period, the first step on the cycle that picks it up (openpi UR5/DROID policies run at 15–20 Hz, the arm wants a target every cycle);
 * 3. the setpoint through a SafetyGate with this rate's per-cycle limits (same joint limits and speeds as the
 *    loop's gate) → servo targets, or a hold (mode word HOLD: the program stops the arm where it is);
 * 4. one RTDE input package: 6 targets, the keepalive (bumped every cycle: the program's watchdog) and the mode.
 * Faults latch once the servo program is armed: motion never resumes by itself; `clearLatched` (a user's resume)
 * keeps only what is still true.
 */

import type { SafetyConfig } from '../../safety/config.js';
import { SafetyGate } from '../../safety/gate.js';
import type { RtdeValue } from './rtde/types.js';
import { ROBOT_MODE, RUNTIME_STATE, SAFETY_MODE, SAFETY_STATUS_BIT } from './rtde/types.js';
import { SERVO_MODE, SERVO_STATE } from './servo-program.js';
import {
  ARM_FAULT,
  type ArmCommand,
  type ArmState,
  emptyArmState,
  type ServoShared,
} from './servo-shared.js';

/** The output recipe the servo worker asks for (order matters: `applyOutputs` reads by position). */
export const SERVO_OUTPUTS = (stateRegister: number): string[] => [
  'timestamp',
  'actual_q',
  'actual_qd',
  'target_q',
  'robot_mode',
  'safety_mode',
  'safety_status_bits',
  'runtime_state',
  'robot_status_bits',
  `output_int_register_${stateRegister}`,
];

/** The input recipe: 6 targets, keepalive, mode. */
export const SERVO_INPUTS = (target: number, keepalive: number, mode: number): string[] => [
  ...[0, 1, 2, 3, 4, 5].map((k) => `input_double_register_${target + k}`),
  `input_int_register_${keepalive}`,
  `input_int_register_${mode}`,
];

export interface ServoLoopOptions {
  readonly shared: ServoShared;
  /** The arm's 6 joints (limits, speeds) at this loop's rate (`controlRateHz` = the servo rate). */
  readonly safety: SafetyConfig;
  /** ms clock of this thread (performance.now). */
  readonly now: () => number;
  /** Epoch offset of `now` (performance.timeOrigin), for the shared stamp. */
  readonly epochOffsetMs: number;
  /** Sends one input package (values in SERVO_INPUTS order). Throws when the link is down. */
  readonly send: ((values: RtdeValue[]) => void) | null;
  /** No output package for this long (ms) → LINK_LOST. */
  readonly linkTimeoutMs: number;
  /** No new command from the loop for this long (ms) while moving → hold until the next one. */
  readonly commandStaleMs: number;
}

const SAFE_MODES = new Set<number>([SAFETY_MODE.NORMAL, SAFETY_MODE.REDUCED]);

function bit(v: number, b: number): boolean {
  return ((v >>> b) & 1) === 1;
}

/** Faults the outputs show now (armed: the servo program should be running). */
export function outputFaults(s: ArmState, armed: boolean): number {
  let m = 0;
  const st = s.safetyStatusBits;
  if (s.safetyMode === SAFETY_MODE.PROTECTIVE_STOP || bit(st, SAFETY_STATUS_BIT.PROTECTIVE_STOPPED)) {
    m |= ARM_FAULT.PROTECTIVE_STOP;
  }
  if (
    s.safetyMode === SAFETY_MODE.SYSTEM_EMERGENCY_STOP ||
    s.safetyMode === SAFETY_MODE.ROBOT_EMERGENCY_STOP ||
    bit(st, SAFETY_STATUS_BIT.SYSTEM_EMERGENCY_STOPPED) ||
    bit(st, SAFETY_STATUS_BIT.ROBOT_EMERGENCY_STOPPED) ||
    bit(st, SAFETY_STATUS_BIT.EMERGENCY_STOPPED)
  ) {
    m |= ARM_FAULT.EMERGENCY_STOP;
  }
  if (
    s.safetyMode === SAFETY_MODE.SAFEGUARD_STOP ||
    s.safetyMode === SAFETY_MODE.AUTOMATIC_MODE_SAFEGUARD_STOP ||
    s.safetyMode === SAFETY_MODE.SYSTEM_THREE_POSITION_ENABLING_STOP ||
    bit(st, SAFETY_STATUS_BIT.SAFEGUARD_STOPPED)
  ) {
    m |= ARM_FAULT.SAFEGUARD_STOP;
  }
  if (m === 0 && !SAFE_MODES.has(s.safetyMode)) m |= ARM_FAULT.SAFETY_FAULT;
  if (armed) {
    if (s.robotMode !== ROBOT_MODE.RUNNING) m |= ARM_FAULT.ROBOT_NOT_RUNNING;
    if (s.servoState === SERVO_STATE.WATCHDOG) m |= ARM_FAULT.SERVO_WATCHDOG;
    else if (s.runtimeState !== RUNTIME_STATE.PLAYING || s.servoState === SERVO_STATE.ENDED) {
      m |= ARM_FAULT.PROGRAM_STOPPED;
    }
  }
  return m;
}

/** Cycle timing: period deviations kept for percentiles (the last `capacity` cycles). */
export class CycleStats {
  readonly #dev: Float64Array;
  #n = 0;
  cycles = 0;
  missed = 0;
  #last = Number.NaN;
  maxWorkMs = 0;

  constructor(
    readonly periodMs: number,
    capacity = 60_000,
  ) {
    this.#dev = new Float64Array(capacity);
  }

  /** A cycle started at `t` (ms); `workMs` its duration. */
  record(t: number, workMs: number): void {
    this.cycles++;
    if (workMs > this.maxWorkMs) this.maxWorkMs = workMs;
    if (!Number.isNaN(this.#last)) {
      const dt = t - this.#last;
      this.#dev[this.#n % this.#dev.length] = Math.abs(dt - this.periodMs);
      this.#n++;
      if (dt > 1.5 * this.periodMs) this.missed += Math.round(dt / this.periodMs) - 1;
    }
    this.#last = t;
  }

  /** A skipped deadline (the ticker fell behind). */
  skip(cycles: number): void {
    this.missed += cycles;
  }

  /** Percentiles (ms) of |period − nominal| over the kept cycles. */
  summary(): {
    cycles: number;
    missed: number;
    jitterP50Ms: number;
    jitterP90Ms: number;
    jitterP99Ms: number;
    jitterMaxMs: number;
    maxWorkMs: number;
  } {
    const n = Math.min(this.#n, this.#dev.length);
    const xs = Float64Array.from(this.#dev.subarray(0, n)).sort();
    const q = (p: number): number => (n === 0 ? 0 : (xs[Math.min(n - 1, Math.floor(p * n))] as number));
    return {
      cycles: this.cycles,
      missed: this.missed,
      jitterP50Ms: q(0.5),
      jitterP90Ms: q(0.9),
      jitterP99Ms: q(0.99),
      jitterMaxMs: n === 0 ? 0 : (xs[n - 1] as number),
      maxWorkMs: this.maxWorkMs,
    };
  }

  reset(): void {
    this.#n = 0;
    this.cycles = 0;
    this.missed = 0;
    this.#last = Number.NaN;
    this.maxWorkMs = 0;
  }
}

export class ServoLoop {
  readonly #o: ServoLoopOptions;
  readonly #gate: SafetyGate;
  readonly #state: ArmState = emptyArmState();
  readonly #cmd: ArmCommand = { mode: SERVO_MODE.HOLD, q: new Float64Array(6), periodMs: 50, count: 0 };
  #rxAt = Number.NaN;
  #keepalive = 0;
  #armed = false;
  #latched = 0;
  #linkDown = false;
  /** Interpolation segment. */
  #from: Float64Array | null = null;
  #to = new Float64Array(6);
  #segStart = 0;
  #segMs = 1;
  #lastCount = 0;
  #lastCmdAt = Number.NaN;
  #setpoint = new Float64Array(6);
  readonly #values: RtdeValue[] = [0, 0, 0, 0, 0, 0, 0, 0];
  /** Cycles that sent servo targets / holds. */
  moves = 0;
  holds = 0;

  readonly #cycleMs: number;

  constructor(options: ServoLoopOptions) {
    this.#o = options;
    this.#cycleMs = 1000 / options.safety.controlRateHz;
    this.#gate = new SafetyGate(options.safety, { clock: { now: options.now } });
  }

  /** A decoded output package (values in SERVO_OUTPUTS order), as it arrives. */
  applyOutputs(v: readonly RtdeValue[]): void {
    const s = this.#state;
    s.controllerTimeS = v[0] as number;
    s.q.set(v[1] as number[]);
    s.qd.set(v[2] as number[]);
    s.targetQ.set(v[3] as number[]);
    s.robotMode = v[4] as number;
    s.safetyMode = v[5] as number;
    s.safetyStatusBits = v[6] as number;
    s.runtimeState = v[7] as number;
    s.robotStatusBits = v[8] as number;
    s.servoState = v[9] as number;
    this.#rxAt = this.#o.now();
    s.stampEpochMs = this.#o.epochOffsetMs + this.#rxAt;
  }

  /** The RTDE link ended: LINK_LOST from now on (latched whatever the phase). */
  linkLost(): void {
    this.#linkDown = true;
  }

  /** True once the servo program was seen running (faults latch from then on). */
  get armed(): boolean {
    return this.#armed;
  }

  /** Waits for the servo program: arms as soon as it runs (PLAYING and servoing/holding). */
  #maybeArm(): void {
    const s = this.#state;
    if (
      !this.#armed &&
      this.#expectProgram &&
      s.runtimeState === RUNTIME_STATE.PLAYING &&
      (s.servoState === SERVO_STATE.SERVOING || s.servoState === SERVO_STATE.HOLDING)
    ) {
      this.#armed = true;
    }
  }

  #expectProgram = false;

  /** The program was uploaded: arm when it runs. */
  expectProgram(): void {
    this.#expectProgram = true;
    this.#armed = false;
  }

  /** A user's resume: keep only the faults that are still true; forget the last command. */
  clearLatched(): number {
    this.#latched = this.#currentFaults();
    this.#gate.forgetLast();
    this.#from = null;
    // Publish at once: a reader right after the resume must not see the old bits until the next cycle.
    this.#state.faults = this.#latched;
    this.#o.shared.writeState(this.#state);
    return this.#latched;
  }

  /** The program is about to be replaced (resume): disarm until the new one runs. */
  disarm(): void {
    this.#armed = false;
  }

  #currentFaults(): number {
    let m = outputFaults(this.#state, this.#armed);
    const now = this.#o.now();
    if (this.#linkDown || (!Number.isNaN(this.#rxAt) && now - this.#rxAt > this.#o.linkTimeoutMs)) {
      m |= ARM_FAULT.LINK_LOST;
    }
    return m;
  }

  /** One cycle (see the module comment). */
  tick(): void {
    const now = this.#o.now();
    this.#maybeArm();
    const current = this.#currentFaults();
    if (this.#armed || (current & ARM_FAULT.LINK_LOST) !== 0) this.#latched |= current;
    const faults = this.#latched | current;
    const cmd = this.#o.shared.readCommand(this.#cmd);
    const s = this.#state;
    const haveJoints = !Number.isNaN(this.#rxAt);
    if (cmd.count !== this.#lastCount) {
      this.#lastCount = cmd.count;
      this.#lastCmdAt = now;
      if (cmd.mode === SERVO_MODE.SERVO) {
        this.#from =
          this.#from === null ? Float64Array.from(haveJoints ? s.q : cmd.q) : this.#setpoint.slice();
        this.#to.set(cmd.q);
        this.#segStart = now;
        this.#segMs = Math.max(1, cmd.periodMs);
      } else {
        this.#from = null;
        this.#gate.forgetLast();
      }
    }
    let mode: number = SERVO_MODE.HOLD;
    const fresh = now - this.#lastCmdAt <= this.#o.commandStaleMs;
    if (this.#from !== null && cmd.mode === SERVO_MODE.SERVO && fresh && this.#armed && haveJoints) {
      // The cycle that picks a command up already takes the first step of its segment (no idle cycle).
      const a = Math.min(1, (now - this.#segStart + this.#cycleMs) / this.#segMs);
      const target = new Float64Array(6);
      for (let k = 0; k < 6; k++) {
        const f = this.#from[k] as number;
        target[k] = f + ((this.#to[k] as number) - f) * a;
      }
      const faultList =
        faults === 0 ? [] : [{ code: 'UR_FAULT', message: `controller fault bits 0x${faults.toString(16)}` }];
      const d = this.#gate.motionStep({
        target,
        joints: { positions: s.q, stampMs: this.#rxAt },
        robotFaults: faultList,
      });
      if (d.kind === 'move') {
        mode = SERVO_MODE.SERVO;
        this.#setpoint.set(d.command);
      }
    }
    if (cmd.mode === SERVO_MODE.END) mode = SERVO_MODE.END;
    if (mode !== SERVO_MODE.SERVO) {
      // Holding: the next move starts from the measured pose, rate-limited again.
      this.#from = null;
      this.#gate.forgetLast();
      if (haveJoints) this.#setpoint.set(s.q);
    }
    this.#keepalive = (this.#keepalive + 1) | 0;
    s.faults = faults;
    s.sentMode = mode;
    s.setpoint.set(this.#setpoint);
    const send = this.#o.send;
    if (send !== null && !this.#linkDown) {
      const v = this.#values;
      for (let k = 0; k < 6; k++) v[k] = this.#setpoint[k] as number;
      v[6] = this.#keepalive;
      v[7] = mode;
      try {
        send(v);
        if (mode === SERVO_MODE.SERVO) this.moves++;
        else this.holds++;
      } catch {
        this.#linkDown = true;
      }
    }
    this.#o.shared.writeState(s);
  }
}
