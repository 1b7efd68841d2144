/**
 * The URScript program the UR driver runs on the controller while the agent streams joint targets over RTDE.
 *
 * Register protocol (RTDE inputs written by the servo worker every controller cycle, outputs read back):
 * - `input_double_register_<targetRegister>` … `+5`: joint targets (rad), shoulder_pan … wrist_3.
 * - `input_int_register_<keepaliveRegister>`: a counter the client bumps every cycle. The program's own watchdog:
 *   no change for longer than `watchdog` seconds → stop the arm (stopj) and end the program (state 3). The RTDE
 *   watchdog (`rtde_set_watchdog`, action STOP) also stops it when input packages stop arriving altogether.
 * - `input_int_register_<modeRegister>`: 1 servo to the targets (servoj with `steptime`, `lookahead`, `gain`),
 *   0 hold (decelerate and stay where the arm is, program keeps running), 2 stop and end the program (state 4).
 * - `output_int_register_<stateRegister>`: 0 not started, 1 servoing, 2 holding, 3 ended by the watchdog,
 *   4 ended on request.
 * Registers 24+ keep clear of 0–23, which ur_rtde's own control script uses.
 *
 * The first line is a header comment with the parameters as JSON: the controller ignores it; the emulator
 * (ur/emulator) reads it to run the same semantics without interpreting URScript.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';

export const SERVO_PROGRAM_NAME = 'openpi_edge_servo';
export const SERVO_PROGRAM_HEADER = '# openpi-edge-servo ';

/** Program state in `output_int_register_<stateRegister>`. */
export const SERVO_STATE = { NOT_STARTED: 0, SERVOING: 1, HOLDING: 2, WATCHDOG: 3, ENDED: 4 } as const;
/** Mode word in `input_int_register_<modeRegister>`. */
export const SERVO_MODE = { HOLD: 0, SERVO: 1, END: 2 } as const;

export interface ServoProgramParams {
  readonly version: 1;
  /** servoj blocking time = one controller cycle (s): 0.002 e-Series, 0.008 CB3. */
  readonly steptime: number;
  /** servoj lookahead (s), 0.03–0.2: smoother but later. */
  readonly lookahead: number;
  /** servoj gain, 100–2000. */
  readonly gain: number;
  /** Program watchdog (s): longest time without a fresh keepalive. */
  readonly watchdog: number;
  readonly targetRegister: number;
  readonly keepaliveRegister: number;
  readonly modeRegister: number;
  readonly stateRegister: number;
  /** stopj deceleration (rad/s²) for holds and the watchdog. */
  readonly deceleration: number;
}

export const DEFAULT_SERVO_PARAMS: ServoProgramParams = {
  version: 1,
  steptime: 0.002,
  lookahead: 0.1,
  gain: 300,
  watchdog: 0.1,
  targetRegister: 24,
  keepaliveRegister: 24,
  modeRegister: 25,
  stateRegister: 24,
  deceleration: 4,
};

function check(name: string, v: number, min: number, max: number): void {
  if (!(Number.isFinite(v) && v >= min && v <= max)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `servo program: ${name} ${v} outside [${min}, ${max}]`, {
      name,
      value: v,
      min,
      max,
    });
  }
}

/** Validates the parameters (BAD_ARGUMENT naming the first bad one). */
export function checkServoParams(p: ServoProgramParams): void {
  check('steptime', p.steptime, 0.002, 0.008);
  check('lookahead', p.lookahead, 0.03, 0.2);
  check('gain', p.gain, 100, 2000);
  check('watchdog', p.watchdog, 0.004, 1);
  check('deceleration', p.deceleration, 0.5, 40);
  for (const r of ['targetRegister', 'keepaliveRegister', 'modeRegister', 'stateRegister'] as const) {
    check(r, p[r], 0, r === 'targetRegister' ? 42 : 47);
  }
}

const fmt = (x: number): string => (Number.isInteger(x) ? x.toFixed(1) : String(x));

/**
 * The program text (ends with a newline, as the script ports need). A `def` block sent to a script port replaces
 * the running program and runs at once.
 */
export function servoProgram(p: ServoProgramParams = DEFAULT_SERVO_PARAMS): string {
  checkServoParams(p);
  const t = p.targetRegister;
  const q = [0, 1, 2, 3, 4, 5].map((i) => `read_input_float_register(${t + i})`).join(', ');
  const watchdogCycles = Math.max(1, Math.ceil(p.watchdog / p.steptime));
  return `${SERVO_PROGRAM_HEADER}${JSON.stringify(p)}
def ${SERVO_PROGRAM_NAME}():
  # RTDE watchdog: inputs must keep arriving (at least ${fmt(1 / p.watchdog)} Hz) or the controller stops the program.
  rtde_set_watchdog("input_int_register_${p.keepaliveRegister}", ${fmt(1 / p.watchdog)}, "STOP")
  write_output_integer_register(${p.stateRegister}, ${SERVO_STATE.NOT_STARTED})
  last_alive = read_input_integer_register(${p.keepaliveRegister})
  stale_cycles = 0
  holding = False
  while True:
    alive = read_input_integer_register(${p.keepaliveRegister})
    if alive != last_alive:
      last_alive = alive
      stale_cycles = 0
    else:
      stale_cycles = stale_cycles + 1
    end
    if stale_cycles > ${watchdogCycles}:
      write_output_integer_register(${p.stateRegister}, ${SERVO_STATE.WATCHDOG})
      stopj(${fmt(p.deceleration)})
      halt
    end
    mode = read_input_integer_register(${p.modeRegister})
    if mode == ${SERVO_MODE.END}:
      write_output_integer_register(${p.stateRegister}, ${SERVO_STATE.ENDED})
      stopj(${fmt(p.deceleration)})
      halt
    elif mode == ${SERVO_MODE.SERVO}:
      holding = False
      write_output_integer_register(${p.stateRegister}, ${SERVO_STATE.SERVOING})
      servoj([${q}], 0, 0, ${fmt(p.steptime)}, ${fmt(p.lookahead)}, ${fmt(p.gain)})
    else:
      if not holding:
        stopj(${fmt(p.deceleration)})
        holding = True
      end
      write_output_integer_register(${p.stateRegister}, ${SERVO_STATE.HOLDING})
      sync()
    end
  end
end
`;
}

/** The parameters of a program's header line, or null when `script` is not this program. */
export function parseServoHeader(script: string): ServoProgramParams | null {
  const first = script.split('\n', 1)[0] ?? '';
  if (!first.startsWith(SERVO_PROGRAM_HEADER)) return null;
  try {
    const p = JSON.parse(first.slice(SERVO_PROGRAM_HEADER.length)) as ServoProgramParams;
    checkServoParams(p);
    return p;
  } catch {
    return null;
  }
}
