/**
 * The emulated UR controller without its sockets: robot / safety / runtime modes, the running program, the
 * register file and the joint motion, advanced one cycle at a time by {@link ControllerModel.step} (2 ms e-Series,
 * 8 ms CB3). The network servers (rtde-server.ts, dashboard-server.ts, script-server.ts) call into it.
 *
 * Mode rules (as on a real arm, simplified):
 * - power on: POWER_OFF → POWER_ON → IDLE (one `modeTransitionMs` each); brake release: IDLE → RUNNING (one
 *   more); brake release while powered off powers on first. Power off ends the program and engages the brakes.
 * - A program starts only while RUNNING with safety NORMAL / REDUCED (and, e-Series, in remote control);
 *   otherwise it is refused with an error text message, like a real controller that cannot start it.
 * - Protective stop: safety PROTECTIVE_STOP, motion frozen, program ended; unlock after `unlockDelayMs`.
 * - Emergency stop: safety ROBOT_EMERGENCY_STOP, power off; release → NORMAL, still powered off.
 */
import type { TextLevel } from '../rtde/codec.js';
import { ROBOT_MODE, type RtdeType, type RtdeValue, RUNTIME_STATE, SAFETY_MODE } from '../rtde/types.js';
import { JointMotion } from './joint-motion.js';
import { forwardKinematics, UR5_DH, UR5E_DH } from './kinematics.js';
import { type EmulatedProgram, OpaqueProgram, type ProgramHost } from './program.js';
import { RegisterStore, rtdeZero } from './registers.js';
import { RTDE_CONTROL_PROGRAM, RtdeControlProgram } from './rtde-control-program.js';
import type { ScriptItem } from './script-parser.js';
import { parseServoHeader, SERVO_PROGRAM_MARKER, ServoProgram } from './servo-program.js';

export type UrSeries = 'e-series' | 'cb3';

export const SERIES = {
  'e-series': {
    rateHz: 500,
    version: { major: 5, minor: 11, bugfix: 1, build: 108 },
    polyscope: 'URSoftware 5.11.1.108 (Jan 01 2023)',
  },
  cb3: {
    rateHz: 125,
    version: { major: 3, minor: 15, bugfix: 7, build: 106 },
    polyscope: 'URSoftware 3.15.7.106 (Jan 01 2023)',
  },
} as const;

export interface ControllerOptions {
  series: UrSeries;
  initialQ: readonly number[];
  maxJointSpeed: number;
  startMode: 'power_off' | 'running';
  remoteControl: boolean;
  unlockDelayMs: number;
  serialNumber: string;
  modeTransitionMs: number;
}

export interface ControllerEvents {
  text(level: TextLevel, message: string, source: string): void;
  target(q: readonly number[]): void;
  /** A line for a debug log (dashboard commands, RTDE setups, programs). */
  trace?(line: string): void;
}

/** `joint_mode` values per joint. */
const JOINT_MODE = { POWER_OFF: 239, IDLE: 255, RUNNING: 253 } as const;

/** safety_status_bits of each safety mode (bit numbers in types.ts SAFETY_STATUS_BIT). */
function safetyBits(mode: number): number {
  const STOPPED = 1 << 10;
  switch (mode) {
    case SAFETY_MODE.NORMAL:
      return 1 << 0;
    case SAFETY_MODE.REDUCED:
      return 1 << 1;
    case SAFETY_MODE.PROTECTIVE_STOP:
      return (1 << 2) | STOPPED;
    case SAFETY_MODE.RECOVERY:
      return 1 << 3;
    case SAFETY_MODE.SAFEGUARD_STOP:
      return (1 << 4) | STOPPED;
    case SAFETY_MODE.SYSTEM_EMERGENCY_STOP:
      return (1 << 5) | (1 << 7) | STOPPED;
    case SAFETY_MODE.ROBOT_EMERGENCY_STOP:
      return (1 << 6) | (1 << 7) | STOPPED;
    case SAFETY_MODE.VIOLATION:
      return (1 << 8) | STOPPED;
    case SAFETY_MODE.FAULT:
      return (1 << 9) | STOPPED;
    default:
      return 0;
  }
}

export class ControllerModel {
  readonly options: ControllerOptions;
  readonly rateHz: number;
  /** Cycle length (s). */
  readonly dt: number;
  readonly registers = new RegisterStore();
  readonly motion: JointMotion;
  robotMode: number;
  safetyMode: number = SAFETY_MODE.NORMAL;
  runtimeState: number = RUNTIME_STATE.STOPPED;
  remoteControl: boolean;
  /** Seconds since start: cycles × dt (RTDE `timestamp`). */
  timeS = 0;
  cycles = 0;
  loadedProgram: string | null = null;
  /** Last openpi-edge servo program state seen (kept after the program ends). */
  servoState = 0;
  /** Programs started / refused since start, and the last program text received. */
  programsStarted = 0;
  programsRefused = 0;
  lastScript: string | null = null;
  #program: EmulatedProgram | null = null;
  #pending: { atS: number; run: () => void }[] = [];
  #protectiveStopAtS: number | undefined;
  readonly #events: ControllerEvents;
  readonly #dh;
  readonly #host: ProgramHost;

  constructor(options: ControllerOptions, events: ControllerEvents) {
    this.options = options;
    this.rateHz = SERIES[options.series].rateHz;
    this.dt = 1 / this.rateHz;
    this.motion = new JointMotion(options.initialQ, options.maxJointSpeed);
    this.robotMode = options.startMode === 'running' ? ROBOT_MODE.RUNNING : ROBOT_MODE.POWER_OFF;
    this.remoteControl = options.remoteControl;
    this.#events = events;
    this.#dh = options.series === 'cb3' ? UR5_DH : UR5E_DH;
    const self = this;
    this.#host = {
      registers: this.registers,
      motion: this.motion,
      get timeS() {
        return self.timeS;
      },
      dt: this.dt,
      text: (level, message) => this.text(level, message, this.#program?.name ?? 'Controller'),
      targetApplied: (q) => this.#events.target(q),
    };
  }

  get program(): EmulatedProgram | null {
    return this.#program;
  }

  get robotStatusBits(): number {
    const powered =
      this.robotMode === ROBOT_MODE.POWER_ON ||
      this.robotMode === ROBOT_MODE.IDLE ||
      this.robotMode === ROBOT_MODE.BACKDRIVE ||
      this.robotMode === ROBOT_MODE.RUNNING;
    return (powered ? 1 : 0) | (this.runtimeState === RUNTIME_STATE.PLAYING ? 2 : 0);
  }

  get safetyStatusBits(): number {
    return safetyBits(this.safetyMode);
  }

  /** Whether programs may move the arm: brakes released, no safety stop. */
  get canRun(): boolean {
    return (
      this.robotMode === ROBOT_MODE.RUNNING &&
      (this.safetyMode === SAFETY_MODE.NORMAL || this.safetyMode === SAFETY_MODE.REDUCED)
    );
  }

  text(level: TextLevel, message: string, source = 'Controller'): void {
    this.#events.trace?.(`text ${level} [${source}] ${message}`);
    this.#events.text(level, message, source);
  }

  trace(line: string): void {
    this.#events.trace?.(line);
  }

  /** One controller cycle: due mode transitions, the program, the motion. */
  step(): void {
    this.cycles++;
    this.timeS = this.cycles * this.dt;
    if (this.#pending.length > 0) {
      const due = this.#pending.filter((p) => p.atS <= this.timeS);
      this.#pending = this.#pending.filter((p) => p.atS > this.timeS);
      for (const p of due) p.run();
    }
    const p = this.#program;
    if (p !== null && this.runtimeState === RUNTIME_STATE.PLAYING) {
      let keep: boolean;
      try {
        keep = p.cycle(this.#host);
      } catch (e) {
        this.text('error', `${p.name}: emulator fault: ${(e as Error).message}`, p.name);
        keep = false;
      }
      this.#trackServoState();
      if (!keep && this.#program === p) this.#finish(null);
    }
    this.motion.step(this.dt);
  }

  #trackServoState(): void {
    const s = this.#program?.servoState;
    if (s !== undefined) this.servoState = s;
  }

  #after(ms: number, run: () => void): void {
    this.#pending.push({ atS: this.timeS + ms / 1000, run });
  }

  /** Ends the running program (reason: a message for the program, null when it ended by itself). */
  #finish(reason: string | null): void {
    const p = this.#program;
    if (p === null) return;
    this.#program = null;
    this.runtimeState = RUNTIME_STATE.STOPPED;
    if (reason !== null) p.ended?.(reason);
    if (this.motion.kind !== 'frozen') this.motion.stop();
  }

  // ---- programs -------------------------------------------------------------------------------------------------

  /** A script item from a script port (port: for messages). */
  receiveScript(item: ScriptItem, port: number): void {
    if (item.kind === 'line') {
      this.text(
        'warning',
        `emulator: ignored URScript outside a def program on port ${port}: ${item.text.slice(0, 80)}`,
      );
      return;
    }
    this.lastScript = item.text;
    this.trace(`script port ${port}: ${item.flavour} ${item.name}() (${item.text.length} bytes)`);
    if (item.flavour === 'sec') {
      this.text('info', `emulator: secondary program '${item.name}' received on port ${port}; not emulated`);
      return;
    }
    if (this.options.series === 'e-series' && !this.remoteControl) {
      this.#refuse(item.name, 'the robot is in local control: script ports do not accept programs');
      return;
    }
    const program = this.#programOf(item);
    if (typeof program === 'string') {
      this.#refuse(item.name, program);
      return;
    }
    this.#startProgram(program);
  }

  #programOf(item: Extract<ScriptItem, { kind: 'program' }>): EmulatedProgram | string {
    const marker = item.header.find((l) => l.startsWith(SERVO_PROGRAM_MARKER.trim()));
    if (marker !== undefined) {
      const header = parseServoHeader(marker);
      return typeof header === 'string'
        ? `openpi-edge servo program: ${header}`
        : new ServoProgram(item.name, header);
    }
    if (item.name === RTDE_CONTROL_PROGRAM) return new RtdeControlProgram(item.text);
    return new OpaqueProgram(item.name);
  }

  #refuse(name: string, why: string): void {
    this.programsRefused++;
    this.text('error', `Program '${name}' could not start: ${why}`);
  }

  #startProgram(program: EmulatedProgram): boolean {
    if (!this.canRun) {
      const mode = Object.entries(ROBOT_MODE).find(([, v]) => v === this.robotMode)?.[0] ?? this.robotMode;
      const safety =
        Object.entries(SAFETY_MODE).find(([, v]) => v === this.safetyMode)?.[0] ?? this.safetyMode;
      this.#refuse(program.name, `robot mode ${mode}, safety mode ${safety} (needs RUNNING and NORMAL)`);
      return false;
    }
    this.#finish('replaced by a new program');
    this.#program = program;
    this.runtimeState = RUNTIME_STATE.PLAYING;
    this.programsStarted++;
    program.begin?.(this.#host);
    this.#trackServoState();
    return true;
  }

  // ---- dashboard actions ----------------------------------------------------------------------------------------

  load(file: string): void {
    this.loadedProgram = file;
  }

  /** Plays the loaded program (or resumes a paused one); false when nothing is loaded. */
  play(): boolean {
    if (this.#program !== null && this.runtimeState === RUNTIME_STATE.PAUSED) {
      this.runtimeState = RUNTIME_STATE.PLAYING;
      return true;
    }
    if (this.#program !== null && this.runtimeState === RUNTIME_STATE.PLAYING) return true;
    if (this.loadedProgram === null) return false;
    return this.#startProgram(new OpaqueProgram(this.loadedProgram));
  }

  stop(): void {
    this.#finish('stopped');
  }

  /** False when no program plays. */
  pause(): boolean {
    if (this.#program === null || this.runtimeState !== RUNTIME_STATE.PLAYING) return false;
    this.runtimeState = RUNTIME_STATE.PAUSED;
    this.motion.stop();
    return true;
  }

  /** Null when accepted, else why not. */
  powerOn(): string | null {
    if (this.safetyMode !== SAFETY_MODE.NORMAL && this.safetyMode !== SAFETY_MODE.REDUCED) {
      return 'safety mode is not NORMAL';
    }
    if (this.robotMode === ROBOT_MODE.POWER_OFF) {
      this.robotMode = ROBOT_MODE.POWER_ON;
      this.#after(this.options.modeTransitionMs, () => {
        if (this.robotMode === ROBOT_MODE.POWER_ON) this.robotMode = ROBOT_MODE.IDLE;
      });
    }
    return null;
  }

  brakeRelease(): string | null {
    if (this.robotMode === ROBOT_MODE.POWER_OFF) {
      const why = this.powerOn();
      if (why !== null) return why;
    }
    const release = (): void => {
      if (this.robotMode === ROBOT_MODE.IDLE) {
        this.#after(this.options.modeTransitionMs, () => {
          if (this.robotMode === ROBOT_MODE.IDLE && this.canRunSafety) {
            this.robotMode = ROBOT_MODE.RUNNING;
            this.motion.release();
          }
        });
      } else if (this.robotMode === ROBOT_MODE.POWER_ON) {
        this.#after(this.options.modeTransitionMs, release);
      }
    };
    release();
    return null;
  }

  get canRunSafety(): boolean {
    return this.safetyMode === SAFETY_MODE.NORMAL || this.safetyMode === SAFETY_MODE.REDUCED;
  }

  powerOff(): void {
    this.#finish('robot powered off');
    this.robotMode = ROBOT_MODE.POWER_OFF;
    this.#pending = [];
    this.motion.freeze();
  }

  /** 'ok', 'too-early' (within unlockDelayMs of the stop). Not protectively stopped: 'ok' (nothing to do). */
  unlockProtectiveStop(): 'ok' | 'too-early' {
    if (this.safetyMode !== SAFETY_MODE.PROTECTIVE_STOP) return 'ok';
    const since = (this.timeS - (this.#protectiveStopAtS ?? 0)) * 1000;
    if (since < this.options.unlockDelayMs) return 'too-early';
    this.safetyMode = SAFETY_MODE.NORMAL;
    this.#protectiveStopAtS = undefined;
    if (this.robotMode === ROBOT_MODE.RUNNING) this.motion.release();
    return 'ok';
  }

  restartSafety(): void {
    this.#finish('safety restarted');
    this.safetyMode = SAFETY_MODE.NORMAL;
    this.robotMode = ROBOT_MODE.POWER_OFF;
    this.#pending = [];
    this.motion.freeze();
  }

  // ---- fault injection ------------------------------------------------------------------------------------------

  protectiveStop(reason: string): void {
    this.safetyMode = SAFETY_MODE.PROTECTIVE_STOP;
    this.#protectiveStopAtS = this.timeS;
    this.motion.freeze();
    this.#finish('protective stop');
    this.text('error', `Protective stop: ${reason}`, 'Safety');
  }

  emergencyStop(): void {
    this.safetyMode = SAFETY_MODE.ROBOT_EMERGENCY_STOP;
    this.#finish('emergency stop');
    this.robotMode = ROBOT_MODE.POWER_OFF;
    this.#pending = [];
    this.motion.freeze();
    this.text('error', 'Emergency stop: robot emergency stop button pressed', 'Safety');
  }

  releaseEmergencyStop(): void {
    if (
      this.safetyMode === SAFETY_MODE.ROBOT_EMERGENCY_STOP ||
      this.safetyMode === SAFETY_MODE.SYSTEM_EMERGENCY_STOP
    ) {
      this.safetyMode = SAFETY_MODE.NORMAL;
      this.text('info', 'Emergency stop released: power on and release the brakes to continue', 'Safety');
    }
  }

  // ---- RTDE outputs ---------------------------------------------------------------------------------------------

  /** The value of output variable `name` of type `type` now (unknown-to-the-model variables: zero of the type). */
  output(name: string, type: RtdeType): RtdeValue {
    switch (name) {
      case 'timestamp':
        return this.timeS;
      case 'target_q':
        return this.motion.targetQ;
      case 'actual_q':
        return this.motion.q;
      case 'target_qd':
      case 'actual_qd':
        return this.motion.qd;
      case 'actual_TCP_pose':
        return forwardKinematics(this.motion.q, this.#dh);
      case 'target_TCP_pose':
        return forwardKinematics(this.motion.targetQ, this.#dh);
      case 'robot_mode':
        return this.robotMode;
      case 'joint_mode': {
        const m =
          this.robotMode === ROBOT_MODE.RUNNING
            ? JOINT_MODE.RUNNING
            : this.robotMode === ROBOT_MODE.POWER_OFF
              ? JOINT_MODE.POWER_OFF
              : JOINT_MODE.IDLE;
        return [m, m, m, m, m, m];
      }
      case 'safety_mode':
      case 'safety_status':
        return this.safetyMode;
      case 'runtime_state':
        return this.runtimeState;
      case 'robot_status_bits':
        return this.robotStatusBits;
      case 'safety_status_bits':
        return this.safetyStatusBits;
      case 'speed_scaling':
      case 'target_speed_fraction':
        return 1;
      case 'joint_temperatures':
        return [30, 30, 30, 30, 30, 30];
      case 'actual_main_voltage':
      case 'actual_robot_voltage':
        return this.robotStatusBits & 1 ? 48 : 0;
      case 'actual_execution_time':
        return 0.1;
      default: {
        const r = this.registers.registerOutput(name);
        return r ?? rtdeZero(type);
      }
    }
  }
}
