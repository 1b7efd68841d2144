/**
 * What an emulated URScript program is to the controller model: the emulator does not interpret URScript; it
 * recognises the programs it knows (ur_rtde's `rtde_control`, openpi-edge's servo program) and runs a TypeScript
 * implementation of their contract, one `cycle` per controller step.
 */
import type { TextLevel } from '../rtde/codec.js';
import type { JointMotion } from './joint-motion.js';
import type { RegisterStore } from './registers.js';

export interface ProgramHost {
  readonly registers: RegisterStore;
  readonly motion: JointMotion;
  /** Controller time (s since start) and the cycle length (s). */
  readonly timeS: number;
  readonly dt: number;
  /** A text message to every RTDE client (source: the program name), like URScript's textmsg / a runtime error. */
  text(level: TextLevel, message: string): void;
  /** Reports a new motion target (onTarget listeners). */
  targetApplied(q: readonly number[]): void;
}

export interface EmulatedProgram {
  /** The `def` name (or the loaded .urp file). */
  readonly name: string;
  /** The program starts: called once before its first cycle (it may reset its registers). */
  begin?(host: ProgramHost): void;
  /** One controller cycle while the program plays; false ends the program (runtime_state → STOPPED). */
  cycle(host: ProgramHost): boolean;
  /** The program ended for another reason (dashboard stop, safety stop, a new program replacing it). */
  ended?(reason: string): void;
  /** openpi-edge servo program state (output_int_register_<stateRegister>), for snapshots; absent otherwise. */
  readonly servoState?: number;
}

/** A program the emulator has no implementation for: it plays without moving until stopped. */
export class OpaqueProgram implements EmulatedProgram {
  readonly name: string;
  #announced = false;
  constructor(name: string) {
    this.name = name;
  }
  cycle(host: ProgramHost): boolean {
    if (!this.#announced) {
      this.#announced = true;
      host.text(
        'warning',
        `emulator: program '${this.name}' is not emulated; it plays without moving until stopped`,
      );
    }
    return true;
  }
}
