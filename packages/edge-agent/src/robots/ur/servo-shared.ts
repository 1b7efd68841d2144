/**
 * The memory the UR servo worker (servo-worker-entry.ts) and the control loop's thread share: one
 * SharedArrayBuffer, two seqlocked blocks, no messages on the hot path.
 * - state (worker writes every controller cycle, the loop reads): the newest RTDE outputs, fault bits, the setpoint.
 * - command (the loop writes each gated command, the worker reads every cycle): mode, 6 joint targets, period.
 * A seqlock: the writer makes the sequence word odd, writes, makes it even; a reader retries while it is odd or
 * changed. Readers never block the writer (the worker's cycle must not wait on the loop thread).
 */

/** Fault bits (state `faults`). Latched bits stay set until a resume clears them (ur-arm.ts). */
export const ARM_FAULT = {
  PROTECTIVE_STOP: 1 << 0,
  EMERGENCY_STOP: 1 << 1,
  SAFEGUARD_STOP: 1 << 2,
  SAFETY_FAULT: 1 << 3,
  ROBOT_NOT_RUNNING: 1 << 4,
  PROGRAM_STOPPED: 1 << 5,
  LINK_LOST: 1 << 6,
  SERVO_WATCHDOG: 1 << 7,
} as const;

export type ArmFaultName = keyof typeof ARM_FAULT;

/** Int32 slots. */
const I = {
  STATE_SEQ: 0,
  FAULTS: 1,
  ROBOT_MODE: 2,
  SAFETY_MODE: 3,
  RUNTIME_STATE: 4,
  SERVO_STATE: 5,
  ROBOT_STATUS: 6,
  SAFETY_STATUS: 7,
  SENT_MODE: 8,
  CMD_SEQ: 16,
  CMD_MODE: 17,
  CMD_COUNT: 18,
} as const;
const INT_SLOTS = 32;

/** Float64 slots (after the Int32 area). */
const F = {
  STAMP: 0, // ms since the epoch (performance.timeOrigin + now) when the newest output package arrived
  Q: 1, // actual_q [6]
  QD: 7, // actual_qd [6]
  TARGET_Q: 13, // target_q [6] (the controller's)
  SETPOINT: 19, // the setpoint sent last [6]
  CONTROLLER_TIME: 25, // RTDE `timestamp` (s)
  CMD_Q: 32, // commanded joints [6]
  CMD_PERIOD: 38, // ms over which to reach CMD_Q
} as const;
const FLOAT_SLOTS = 48;

export const SERVO_SHARED_BYTES = INT_SLOTS * 4 + FLOAT_SLOTS * 8;

export interface ArmState {
  /** ms since the epoch when the newest RTDE output package arrived (0 before the first). */
  stampEpochMs: number;
  q: Float64Array;
  qd: Float64Array;
  targetQ: Float64Array;
  setpoint: Float64Array;
  controllerTimeS: number;
  faults: number;
  robotMode: number;
  safetyMode: number;
  runtimeState: number;
  servoState: number;
  robotStatusBits: number;
  safetyStatusBits: number;
  /** Mode word sent last (servo-program.ts SERVO_MODE). */
  sentMode: number;
}

export function emptyArmState(): ArmState {
  return {
    stampEpochMs: 0,
    q: new Float64Array(6),
    qd: new Float64Array(6),
    targetQ: new Float64Array(6),
    setpoint: new Float64Array(6),
    controllerTimeS: 0,
    faults: 0,
    robotMode: -1,
    safetyMode: 0,
    runtimeState: 1,
    servoState: 0,
    robotStatusBits: 0,
    safetyStatusBits: 0,
    sentMode: 0,
  };
}

export interface ArmCommand {
  /** 0 hold, 1 move (servo-program.ts SERVO_MODE). */
  mode: number;
  q: Float64Array;
  periodMs: number;
  /** Commands written so far (a new one has a higher count). */
  count: number;
}

export class ServoShared {
  readonly buffer: SharedArrayBuffer;
  readonly #i: Int32Array;
  readonly #f: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(SERVO_SHARED_BYTES)) {
    this.buffer = buffer;
    this.#i = new Int32Array(buffer, 0, INT_SLOTS);
    this.#f = new Float64Array(buffer, INT_SLOTS * 4, FLOAT_SLOTS);
  }

  /** Worker: publishes a state. */
  writeState(s: ArmState): void {
    const i = this.#i;
    const f = this.#f;
    Atomics.add(i, I.STATE_SEQ, 1);
    f[F.STAMP] = s.stampEpochMs;
    f.set(s.q, F.Q);
    f.set(s.qd, F.QD);
    f.set(s.targetQ, F.TARGET_Q);
    f.set(s.setpoint, F.SETPOINT);
    f[F.CONTROLLER_TIME] = s.controllerTimeS;
    i[I.FAULTS] = s.faults;
    i[I.ROBOT_MODE] = s.robotMode;
    i[I.SAFETY_MODE] = s.safetyMode;
    i[I.RUNTIME_STATE] = s.runtimeState;
    i[I.SERVO_STATE] = s.servoState;
    i[I.ROBOT_STATUS] = s.robotStatusBits;
    i[I.SAFETY_STATUS] = s.safetyStatusBits;
    i[I.SENT_MODE] = s.sentMode;
    Atomics.add(i, I.STATE_SEQ, 1);
  }

  /** Loop thread: the newest consistent state, into `out`. */
  readState(out: ArmState = emptyArmState()): ArmState {
    const i = this.#i;
    const f = this.#f;
    for (;;) {
      const s1 = Atomics.load(i, I.STATE_SEQ);
      if ((s1 & 1) === 1) continue;
      out.stampEpochMs = f[F.STAMP] as number;
      out.q.set(f.subarray(F.Q, F.Q + 6));
      out.qd.set(f.subarray(F.QD, F.QD + 6));
      out.targetQ.set(f.subarray(F.TARGET_Q, F.TARGET_Q + 6));
      out.setpoint.set(f.subarray(F.SETPOINT, F.SETPOINT + 6));
      out.controllerTimeS = f[F.CONTROLLER_TIME] as number;
      out.faults = i[I.FAULTS] as number;
      out.robotMode = i[I.ROBOT_MODE] as number;
      out.safetyMode = i[I.SAFETY_MODE] as number;
      out.runtimeState = i[I.RUNTIME_STATE] as number;
      out.servoState = i[I.SERVO_STATE] as number;
      out.robotStatusBits = i[I.ROBOT_STATUS] as number;
      out.safetyStatusBits = i[I.SAFETY_STATUS] as number;
      out.sentMode = i[I.SENT_MODE] as number;
      if (Atomics.load(i, I.STATE_SEQ) === s1) return out;
    }
  }

  /** Loop thread: a new command (mode, joints, period). */
  writeCommand(mode: number, q: ArrayLike<number>, periodMs: number): void {
    const i = this.#i;
    const f = this.#f;
    Atomics.add(i, I.CMD_SEQ, 1);
    for (let k = 0; k < 6; k++) f[F.CMD_Q + k] = q[k] as number;
    f[F.CMD_PERIOD] = periodMs;
    i[I.CMD_MODE] = mode;
    i[I.CMD_COUNT] = (i[I.CMD_COUNT] as number) + 1;
    Atomics.add(i, I.CMD_SEQ, 1);
  }

  /** Worker: the newest command, into `out`. */
  readCommand(out: ArmCommand): ArmCommand {
    const i = this.#i;
    const f = this.#f;
    for (;;) {
      const s1 = Atomics.load(i, I.CMD_SEQ);
      if ((s1 & 1) === 1) continue;
      out.q.set(f.subarray(F.CMD_Q, F.CMD_Q + 6));
      out.periodMs = f[F.CMD_PERIOD] as number;
      out.mode = i[I.CMD_MODE] as number;
      out.count = i[I.CMD_COUNT] as number;
      if (Atomics.load(i, I.CMD_SEQ) === s1) return out;
    }
  }
}

/** The names of the set bits of a fault mask. */
export function faultNames(mask: number): ArmFaultName[] {
  return (Object.keys(ARM_FAULT) as ArmFaultName[]).filter((k) => (mask & ARM_FAULT[k]) !== 0);
}
