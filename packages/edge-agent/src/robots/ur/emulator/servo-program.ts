/**
 * openpi-edge's servo program, emulated from its header line (the URScript body implements the same contract on a
 * real arm; the emulator never reads it):
 *
 *   # openpi-edge-servo {"version":1,"steptime":0.002,"lookahead":0.1,"gain":300,"watchdog":0.1,
 *                        "targetRegister":24,"keepaliveRegister":24,"modeRegister":25,"stateRegister":24}
 *   def openpi_edge_servo():
 *
 * Every `steptime` seconds: input_int_register_<keepaliveRegister> changed since the last step → the target is
 * fresh. No change for longer than `watchdog` s → decelerate, output_int_register_<stateRegister> = 3, end.
 * input_int_register_<modeRegister>: 1 servo to input_double_register_<targetRegister>..+5 (state 1); 0 hold where
 * it is and keep running (state 2); 2 stop and end (state 4). The state register is 0 until the first step ran.
 */
import {
  checkServoParams,
  SERVO_STATE as DRIVER_STATE,
  SERVO_PROGRAM_HEADER,
  type ServoProgramParams,
} from '../servo-program.js';
import type { EmulatedProgram, ProgramHost } from './program.js';

/** The header line's prefix (the driver's, servo-program.ts). */
export const SERVO_PROGRAM_MARKER = SERVO_PROGRAM_HEADER;

/** The program's state register values (the driver's SERVO_STATE under the emulator's names). */
export const SERVO_STATE = {
  STARTING: DRIVER_STATE.NOT_STARTED,
  SERVOING: DRIVER_STATE.SERVOING,
  HOLDING: DRIVER_STATE.HOLDING,
  WATCHDOG: DRIVER_STATE.WATCHDOG,
  STOPPED: DRIVER_STATE.ENDED,
} as const;

/** The header's parameters; `deceleration` (stopj, rad/s²) may be left out (4). */
export type ServoProgramHeader = Omit<ServoProgramParams, 'deceleration'> & {
  readonly deceleration?: number;
};

/** Parses the header line with the driver's own checks; a string says what is wrong. */
export function parseServoHeader(line: string): ServoProgramHeader | string {
  if (!line.startsWith(SERVO_PROGRAM_MARKER))
    return `header does not start with '${SERVO_PROGRAM_MARKER.trim()}'`;
  let raw: unknown;
  try {
    raw = JSON.parse(line.slice(SERVO_PROGRAM_MARKER.length));
  } catch (e) {
    return `header JSON: ${(e as Error).message}`;
  }
  if (typeof raw !== 'object' || raw === null) return 'header JSON is not an object';
  const h = raw as Record<string, unknown>;
  if (h.version !== 1) return `header version ${String(h.version)} (the emulator knows 1)`;
  for (const k of [
    'steptime',
    'lookahead',
    'gain',
    'watchdog',
    'targetRegister',
    'keepaliveRegister',
    'modeRegister',
    'stateRegister',
  ] as const) {
    if (typeof h[k] !== 'number') return `header ${k} must be a number`;
  }
  try {
    checkServoParams({ deceleration: 4, ...(h as unknown as ServoProgramHeader) } as ServoProgramParams);
  } catch (e) {
    return `header ${(e as Error).message.replace(/^servo program: /, '')}`;
  }
  return h as unknown as ServoProgramHeader;
}

export class ServoProgram implements EmulatedProgram {
  readonly name: string;
  readonly header: ServoProgramHeader;
  #since = 0;
  #lastKeepalive: number | undefined;
  #lastFreshS = 0;
  #applied: number[] | undefined;
  #state: number = SERVO_STATE.STARTING;

  constructor(name: string, header: ServoProgramHeader) {
    this.name = name;
    this.header = header;
  }

  get #decel(): number {
    return this.header.deceleration ?? 4;
  }

  get servoState(): number {
    return this.#state;
  }

  #setState(host: ProgramHost, s: number): void {
    this.#state = s;
    host.registers.outputInt[this.header.stateRegister] = s;
  }

  begin(host: ProgramHost): void {
    // State 0 from the moment the program is accepted (a stale state of an earlier run must not read as fresh);
    // the keepalive baseline is whatever the register holds now.
    this.#lastKeepalive = host.registers.inputInt(this.header.keepaliveRegister);
    this.#lastFreshS = host.timeS;
    this.#setState(host, SERVO_STATE.STARTING);
    this.#since = this.header.steptime; // the first step runs in the first cycle
  }

  cycle(host: ProgramHost): boolean {
    const h = this.header;
    this.#since += host.dt;
    if (this.#since + 1e-9 < h.steptime) return true;
    this.#since = 0;

    const ka = host.registers.inputInt(h.keepaliveRegister);
    const fresh = ka !== this.#lastKeepalive;
    if (fresh) {
      this.#lastKeepalive = ka;
      this.#lastFreshS = host.timeS;
    } else if (host.timeS - this.#lastFreshS > h.watchdog) {
      host.motion.stop(this.#decel);
      this.#setState(host, SERVO_STATE.WATCHDOG);
      host.text(
        'error',
        `${this.name}: no keepalive on input_int_register_${h.keepaliveRegister} for ${h.watchdog} s: stopping`,
      );
      return false;
    }
    const mode = host.registers.inputInt(h.modeRegister);
    switch (mode) {
      case 1: {
        const q = host.registers.inputDoubles6(h.targetRegister);
        if (!q.every(Number.isFinite)) {
          host.motion.stop(this.#decel);
          host.text(
            'error',
            `${this.name}: non-finite target on input_double_register_${h.targetRegister}..`,
          );
          return false;
        }
        // Like the URScript body (servoj on the registers every step): the registers are the target whether or
        // not the keepalive moved; a target that differs from the last one applied is reported as new.
        const changed = this.#applied === undefined || q.some((v, i) => v !== this.#applied?.[i]);
        if (changed || host.motion.kind !== 'servo') {
          host.motion.servo(q, h.lookahead);
          if (changed) host.targetApplied(q);
          this.#applied = q;
        }
        this.#setState(host, SERVO_STATE.SERVOING);
        break;
      }
      case 0:
        if (host.motion.kind !== 'stop') host.motion.stop(this.#decel);
        this.#setState(host, SERVO_STATE.HOLDING);
        break;
      case 2:
        host.motion.stop(this.#decel);
        this.#setState(host, SERVO_STATE.STOPPED);
        return false;
      default:
        host.motion.stop(this.#decel);
        host.text(
          'error',
          `${this.name}: unknown mode ${mode} on input_int_register_${h.modeRegister}: stopping`,
        );
        return false;
    }
    return true;
  }
}
