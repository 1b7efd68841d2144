/**
 * ur_rtde's control script (`def rtde_control():`, uploaded by RTDEControlInterface on the real-time port),
 * emulated: its main loop and the commands openpi-edge needs. Register protocol (offsets: the script's
 * `reg_offset_int` / `reg_offset_float`, 0, or 24 with ur_rtde's FLAG_UPPER_RANGE_REGISTERS):
 *
 * - input_int_register_0 = command id (0 = none / "clear"); output_int_register_0 = the script's state:
 *   1 ready for a command, 2 done with the command. The loop, once per cycle:
 *   - a real-time command (servoj 11, ...): process it, then signal ready (the client never waits for "done");
 *   - 0: the client cleared its command → not executing, signal ready;
 *   - another command, not yet executing: process it (blocking: movej returns on arrival), signal done, executing.
 *     ur_rtde then clears the command (writes 0) and waits for ready before the next one.
 * - movej (1): q = input_double_register_0..5, speed 6 (rad/s), acceleration 7 (rad/s²), input_int_register_1 =
 *   async (1; not emulated).
 * - servoj (11): q = input_double_register_0..5, (velocity 6, acceleration 7 unused by servoj), time 8 (s),
 *   lookahead 9 (s), gain 10.
 * - servo_stop (16): deceleration input_double_register_0 (rad/s²).
 * - stopj (34): deceleration input_double_register_0, async input_int_register_1.
 * - stop script (255): end the program without signalling done; ur_rtde waits until program running turns false.
 * Any other id: an error text message, and the program ends (a real script would do something this one cannot),
 * so ur_rtde's wait for "done" ends with "RTDE control script is not running" instead of a false success.
 */
import type { EmulatedProgram, ProgramHost } from './program.js';

export const RTDE_CONTROL_PROGRAM = 'rtde_control';

export const UR_RTDE_STATE = { READY: 1, DONE: 2 } as const;

/** ur_rtde's command ids (the script's process_cmd) and what the emulator calls them in messages. */
export const UR_RTDE_COMMAND: Readonly<Record<number, string>> = {
  1: 'movej',
  2: 'movej_ik',
  3: 'movel',
  4: 'movel_fk',
  6: 'force_mode',
  7: 'force_mode_stop',
  8: 'zero_ftsensor',
  9: 'speedj',
  10: 'speedl',
  11: 'servoj',
  12: 'servoc',
  15: 'speed_stop',
  16: 'servo_stop',
  17: 'set_payload',
  18: 'teach_mode',
  19: 'end_teach_mode',
  20: 'force_mode_set_damping',
  21: 'force_mode_set_gain_scaling',
  25: 'tool_contact',
  26: 'get_steptime',
  28: 'get_target_waypoint',
  29: 'set_tcp',
  30: 'get_inverse_kin',
  31: 'protective_stop',
  33: 'stopl',
  34: 'stopj',
  35: 'set_watchdog',
  36: 'is_pose_within_safety_limits',
  37: 'is_joints_within_safety_limits',
  39: 'pose_trans',
  40: 'get_tcp_offset',
  41: 'start_jog',
  42: 'stop_jog',
  45: 'move_path',
  46: 'get_inverse_kin_default',
  47: 'is_steady',
  51: 'move_until_contact',
  53: 'end_freedrive_mode',
  54: 'get_freedrive_status',
  59: 'set_gravity',
  65: 'set_target_payload',
  255: 'stop_script',
};

/** Commands the script's loop treats as real-time: processed every cycle, answered with "ready" at once. */
export const UR_RTDE_REALTIME_COMMANDS: ReadonlySet<number> = new Set([
  6, 9, 10, 11, 24, 25, 26, 27, 38, 58, 66, 67, 68, 69, 70, 71,
]);

/**
 * A register offset of the script header. ur_rtde 1.6.5 writes its value after the template's trailing comment,
 * at the start of the next line (`global reg_offset_int = # int register offset\n0    global ...`), so a comment
 * and a newline may sit between the `=` and the number.
 */
function offsetOf(script: string, name: string): number {
  const m = new RegExp(`global\\s+${name}\\s*=\\s*(?:#[^\\n]*)?\\s*(\\d+)`).exec(script);
  return m ? Number(m[1]) : 0;
}

export class RtdeControlProgram implements EmulatedProgram {
  readonly name = RTDE_CONTROL_PROGRAM;
  readonly intOffset: number;
  readonly floatOffset: number;
  #executing = false;
  /** A blocking movej in progress: done is signalled on arrival. */
  #moving = false;
  #lastServo: number[] | undefined;

  constructor(script: string) {
    this.intOffset = offsetOf(script, 'reg_offset_int');
    this.floatOffset = offsetOf(script, 'reg_offset_float');
  }

  #inInt(host: ProgramHost, i: number): number {
    return host.registers.inputInt(i + this.intOffset);
  }
  #inDouble(host: ProgramHost, i: number): number {
    return host.registers.inputDouble(i + this.floatOffset);
  }
  #signal(host: ProgramHost, state: number): void {
    host.registers.outputInt[this.intOffset] = state;
  }

  begin(host: ProgramHost): void {
    this.#signal(host, UR_RTDE_STATE.READY);
  }

  cycle(host: ProgramHost): boolean {
    if (this.#moving) {
      if (!host.motion.arrived) return true;
      this.#moving = false;
      this.#signal(host, UR_RTDE_STATE.DONE);
      return true;
    }
    const cmd = this.#inInt(host, 0);
    if (cmd !== 11) this.#lastServo = undefined;
    if (UR_RTDE_REALTIME_COMMANDS.has(cmd)) {
      if (!this.#process(host, cmd)) return false;
      this.#signal(host, UR_RTDE_STATE.READY);
      return true;
    }
    if (cmd === 0) {
      this.#executing = false;
      this.#signal(host, UR_RTDE_STATE.READY);
      return true;
    }
    if (this.#executing) return true;
    this.#executing = true;
    if (cmd === 255) {
      host.text('info', 'Received stop script!');
      host.motion.stop();
      return false;
    }
    if (!this.#process(host, cmd)) return false;
    if (!this.#moving) this.#signal(host, UR_RTDE_STATE.DONE);
    return true;
  }

  /** Runs one command; false ends the program (not emulated). */
  #process(host: ProgramHost, cmd: number): boolean {
    switch (cmd) {
      case 1: {
        if (this.#inInt(host, 1) === 1) return this.#notEmulated(host, cmd, 'asynchronous movej');
        const q = this.#q(host);
        if (q === undefined) return this.#badTarget(host, cmd);
        host.motion.moveTo(q, this.#inDouble(host, 6), this.#inDouble(host, 7));
        host.targetApplied(q);
        this.#moving = true;
        return true;
      }
      case 11: {
        const q = this.#q(host);
        if (q === undefined) return this.#badTarget(host, cmd);
        const same = this.#lastServo?.every((v, i) => v === q[i]) === true && host.motion.kind === 'servo';
        if (!same) {
          host.motion.servo(q, this.#inDouble(host, 9));
          host.targetApplied(q);
          this.#lastServo = q;
        }
        return true;
      }
      case 16:
      case 34: {
        if (cmd === 34 && this.#inInt(host, 1) === 1)
          return this.#notEmulated(host, cmd, 'asynchronous stopj');
        const decel = this.#inDouble(host, 0);
        host.motion.stop(decel > 0 ? decel : 10);
        return true;
      }
      default:
        return this.#notEmulated(host, cmd);
    }
  }

  #q(host: ProgramHost): number[] | undefined {
    const q: number[] = [];
    for (let i = 0; i < 6; i++) q.push(this.#inDouble(host, i));
    return q.every(Number.isFinite) ? q : undefined;
  }

  #badTarget(host: ProgramHost, cmd: number): boolean {
    host.motion.stop();
    host.text(
      'error',
      `${this.name}: ${UR_RTDE_COMMAND[cmd] ?? cmd}: non-finite joint target: program stopped`,
    );
    return false;
  }

  #notEmulated(host: ProgramHost, cmd: number, what?: string): boolean {
    host.motion.stop();
    const name = UR_RTDE_COMMAND[cmd];
    host.text(
      'error',
      `${this.name}: ${what ?? `ur_rtde command ${cmd}${name === undefined ? '' : ` (${name})`}`} is not emulated: program stopped`,
    );
    return false;
  }
}
