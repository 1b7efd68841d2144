/**
 * A UR arm (CB3 or e-Series) over its own network interfaces: the dashboard server (29999) for bring-up and
 * recovery, a script port (30002) for the servo program (servo-program.ts), RTDE (30004) for the 500 Hz stream in
 * the servo worker (servo-streamer.ts). The robot plugin (ur5/plugin.ts) wraps this with the gripper and cameras.
 *
 * Bring-up, reported step by step: dashboard (software version, serial number) → remote control → robot mode →
 * power on / brake release when needed → safety mode NORMAL → RTDE stream → servo program running (holding).
 * `dryRun` stops after reading: no power, no brakes, no program, no input recipe — nothing can move.
 * Faults (protective stop, e-stop, safeguard stop, safety fault, robot not running, program stopped, RTDE link
 * lost, servo watchdog) latch in the worker; only `resume()` (a user's explicit action) clears them.
 */
import { Socket } from 'node:net';
import { type Clock, OpenpiEdgeError } from '@openpi-edge/client';
import type { SafetyConfig } from '../../safety/config.js';
import type { RobotFault } from '../interface.js';
import type { Ur5ArmLink } from '../ur5/arm-link.js';
import { bringUp, DashboardClient } from './dashboard-client.js';
import { enumName, ROBOT_MODE, RUNTIME_STATE, SAFETY_MODE } from './rtde/types.js';
import type { ServoStats } from './servo-messages.js';
import { SERVO_STATE, type ServoProgramParams, servoProgram } from './servo-program.js';
import { ARM_FAULT, type ArmFaultName, type ArmState, emptyArmState, faultNames } from './servo-shared.js';
import { ServoStreamer } from './servo-streamer.js';

export interface UrPorts {
  readonly rtde: number;
  readonly dashboard: number;
  /** Where the servo program is sent (secondary interface). */
  readonly script: number;
}

export const UR_DEFAULT_PORTS: UrPorts = { rtde: 30004, dashboard: 29999, script: 30002 };

export interface BringUpStep {
  readonly step: string;
  readonly detail: string;
}

export interface UrArmOptions {
  readonly host: string;
  readonly ports?: Partial<UrPorts>;
  /** The arm's 6 joints (limits, speeds), applied per servo cycle by the worker. */
  readonly safety: SafetyConfig;
  readonly clock: Clock;
  readonly servo?: Partial<ServoProgramParams>;
  /** Default 500 (CB3 controllers cap it at 125). */
  readonly maxServoHz?: number;
  /** Connect and read only (no power, brakes, program or inputs). */
  readonly dryRun?: boolean;
  /** Power on and release the brakes when the arm is not running. Default true. */
  readonly powerOn?: boolean;
  /** Each bring-up step as it completes. */
  readonly onStep?: (s: BringUpStep) => void;
  /** Longest wait for the servo program to run (ms). Default 3000. */
  readonly programTimeoutMs?: number;
  /** Longest power-on / brake release (ms). Default 30000. */
  readonly bringUpTimeoutMs?: number;
  readonly warn?: (message: string) => void;
}

const FAULT_TEXT: Record<ArmFaultName, string> = {
  PROTECTIVE_STOP:
    'protective stop: clear it on the pendant (or dashboard `unlock protective stop`), then resume',
  EMERGENCY_STOP: 'emergency stop pressed: release it, power on, then resume',
  SAFEGUARD_STOP: 'safeguard stop (safety input open): close the safeguard, then resume',
  SAFETY_FAULT: 'safety system not in normal mode (fault, violation or recovery)',
  ROBOT_NOT_RUNNING: 'the arm is not running (power off or brakes engaged)',
  PROGRAM_STOPPED: 'the servo program is not running (stopped on the pendant or by the controller)',
  LINK_LOST: 'RTDE link lost: no data from the controller',
  SERVO_WATCHDOG: 'the servo program stopped itself: no fresh target within its watchdog time',
};

function sendScript(host: string, port: number, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const fail = (e: Error): void => {
      s.destroy();
      reject(
        new OpenpiEdgeError(
          'RTDE_ERROR',
          `UR script port ${host}:${port}: cannot send the servo program: ${e.message}`,
          {
            stage: 'script',
            host,
            port,
          },
        ),
      );
    };
    s.once('error', fail);
    s.setTimeout(3000, () => fail(new Error('timed out')));
    s.connect({ host, port }, () => {
      s.end(script, () => {
        s.destroy();
        resolve();
      });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class UrArm implements Ur5ArmLink {
  readonly host: string;
  readonly ports: UrPorts;
  readonly dryRun: boolean;
  readonly #o: UrArmOptions;
  #dashboard: DashboardClient;
  #streamer: ServoStreamer;
  readonly #state: ArmState = emptyArmState();
  #closed = false;
  #lastEpoch = 0;
  #lastStamp = Number.NEGATIVE_INFINITY;
  /** Controller text messages (newest last, at most 20). */
  readonly messages: string[] = [];

  private constructor(o: UrArmOptions, ports: UrPorts, dashboard: DashboardClient, streamer: ServoStreamer) {
    this.#o = o;
    this.host = o.host;
    this.ports = ports;
    this.dryRun = o.dryRun ?? false;
    this.#dashboard = dashboard;
    this.#streamer = streamer;
  }

  /** Brings the arm up (see the module comment). Errors name the step that failed. */
  static async connect(o: UrArmOptions): Promise<UrArm> {
    const ports: UrPorts = { ...UR_DEFAULT_PORTS, ...o.ports };
    const step = (s: string, detail: string): void => o.onStep?.({ step: s, detail });
    const dryRun = o.dryRun ?? false;
    const dashboard = await DashboardClient.connect({ host: o.host, port: ports.dashboard });
    let streamer: ServoStreamer | null = null;
    try {
      const version = await dashboard.polyscopeVersion();
      const serial = await dashboard.serialNumber();
      step('dashboard', `${o.host}:${ports.dashboard}, ${version}, serial ${serial}`);
      if (dryRun) {
        // Read only: what bring-up would check, nothing powered or released.
        const remote = await dashboard.command('is in remote control');
        step('remote control', /^could not understand/i.test(remote) ? 'not applicable (CB3)' : remote);
        step('robot mode', await dashboard.robotMode());
        step('safety mode', await dashboard.safetyMode());
      } else if (o.powerOn === false) {
        const mode = await dashboard.robotMode();
        step('robot mode', mode);
        if (mode !== 'RUNNING') {
          throw new OpenpiEdgeError(
            'DASHBOARD_ERROR',
            `UR ${o.host}: robot mode ${mode}, and powering on is disabled; power on and release the brakes first`,
            { command: 'robotmode', reply: mode },
          );
        }
      } else {
        // Remote control, popups, safety mode, power on, brake release (each reported).
        await bringUp(dashboard, {
          timeoutMs: o.bringUpTimeoutMs ?? 30_000,
          onStep: (s: BringUpStep) => step(s.step, s.detail),
        });
      }
      if (!dryRun) {
        const safety = await dashboard.safetyMode();
        if (safety !== 'NORMAL' && safety !== 'REDUCED') {
          throw new OpenpiEdgeError(
            'DASHBOARD_ERROR',
            `UR ${o.host}: safety mode ${safety}; clear it (pendant, or \`unlock protective stop\`) before starting`,
            { command: 'safetymode', reply: safety },
          );
        }
      }
      let armRef: UrArm | null = null;
      const started = await UrArm.#startStreamer(o, ports, dryRun, () => armRef);
      streamer = started;
      const arm: UrArm = new UrArm(o, ports, dashboard, started);
      armRef = arm;
      const v = started.version;
      step(
        'rtde',
        `${o.host}:${ports.rtde} protocol 2, controller ${v.major}.${v.minor}.${v.bugfix}.${v.build} (${v.major >= 5 ? 'e-Series' : 'CB3'}), ${dryRun ? 'read only' : `servo ${started.servoHz} Hz, servo thread ${started.realtime === null ? `nice ${started.nice ?? 'unknown'}` : `SCHED_FIFO ${started.realtime}`}`}`,
      );
      if (!dryRun) {
        await arm.#startProgram();
        step('servo program', `running (holding), watchdog ${started.params.watchdog * 1000} ms`);
      }
      return arm;
    } catch (e) {
      await streamer?.close();
      await dashboard.close().catch(() => undefined);
      throw e;
    }
  }

  static async #startStreamer(
    o: UrArmOptions,
    ports: UrPorts,
    dryRun: boolean,
    arm: () => UrArm | null,
  ): Promise<ServoStreamer> {
    return ServoStreamer.start({
      host: o.host,
      port: ports.rtde,
      safety: o.safety,
      ...(o.maxServoHz === undefined ? {} : { maxServoHz: o.maxServoHz }),
      ...(o.servo === undefined ? {} : { params: o.servo }),
      dryRun,
      onText: (m) => {
        const a = arm();
        if (a === null) return;
        a.messages.push(`${m.level}: ${m.message}${m.source === '' ? '' : ` (${m.source})`}`);
        if (a.messages.length > 20) a.messages.shift();
        if (m.level === 'exception' || m.level === 'error')
          o.warn?.(`UR controller ${m.level}: ${m.message}`);
      },
      onLinkLost: (e) => o.warn?.(e.message),
    });
  }

  async #startProgram(): Promise<void> {
    const s = this.#streamer;
    s.hold();
    s.expectProgram();
    await sendScript(this.host, this.ports.script, servoProgram(s.params));
    const until = performance.now() + (this.#o.programTimeoutMs ?? 3000);
    for (;;) {
      const st = s.state(this.#state);
      if (
        st.runtimeState === RUNTIME_STATE.PLAYING &&
        (st.servoState === SERVO_STATE.HOLDING || st.servoState === SERVO_STATE.SERVOING)
      ) {
        return;
      }
      if (performance.now() > until) {
        throw new OpenpiEdgeError(
          'RTDE_ERROR',
          `UR ${this.host}: the servo program did not start within ${this.#o.programTimeoutMs ?? 3000} ms ` +
            `(runtime state ${enumName(RUNTIME_STATE, st.runtimeState)}, program state ${st.servoState}, ` +
            `robot mode ${enumName(ROBOT_MODE, st.robotMode)}${this.messages.length === 0 ? '' : `; controller said: ${this.messages.at(-1)}`})`,
          { stage: 'program', runtimeState: st.runtimeState, servoState: st.servoState },
        );
      }
      await sleep(5);
    }
  }

  /** Servo rate (Hz) and program parameters in use. */
  get servoHz(): number {
    return this.#streamer.servoHz;
  }

  get params(): ServoProgramParams {
    return this.#streamer.params;
  }

  /**
   * The newest state the worker published: `q` (actual_q, rad), `stampMs` on the arm's clock (−∞ before the first
   * package), the whole `state`. The arrays are reused by the next read.
   */
  read(): { q: Float64Array; stampMs: number; state: ArmState } {
    const st = this.#streamer.state(this.#state);
    if (st.stampEpochMs === 0) return { q: st.q, stampMs: Number.NEGATIVE_INFINITY, state: st };
    if (st.stampEpochMs !== this.#lastEpoch) {
      // The worker stamps on the epoch (its clock's origin is not this thread's); convert through the package's
      // age, never going backwards (the threads' epochs differ by microseconds).
      const ageMs = performance.timeOrigin + performance.now() - st.stampEpochMs;
      this.#lastEpoch = st.stampEpochMs;
      this.#lastStamp = Math.max(this.#lastStamp, this.#o.clock.now() - Math.max(0, ageMs));
    }
    return { q: st.q, stampMs: this.#lastStamp, state: st };
  }

  get description(): string {
    const v = this.#streamer.version;
    return `UR ${v.major >= 5 ? 'e-Series' : 'CB3'} ${v.major}.${v.minor}.${v.bugfix} at ${this.host} (RTDE ${this.ports.rtde}, servo ${this.#streamer.servoHz} Hz${this.dryRun ? ', dry run' : ''})`;
  }

  /** Streams toward `q` (6 rad, gated by the caller) over `periodMs`. Refused in dry-run mode. */
  move(q: ArrayLike<number>, periodMs: number): void {
    if (this.dryRun) {
      throw new OpenpiEdgeError('UNSAFE_TARGET', `UR ${this.host}: dry run, motion refused`, {
        robot: 'ur5',
      });
    }
    this.#streamer.move(q, periodMs);
  }

  /** Holds at the next servo cycle; if the RTDE link is down, stops the program over the dashboard instead. */
  async hold(): Promise<void> {
    this.#streamer.hold();
    const st = this.#streamer.state(this.#state);
    if ((st.faults & ARM_FAULT.LINK_LOST) !== 0 && !this.dryRun) {
      await this.#dashboard.stop().catch(() => undefined);
    }
  }

  /** Latched and current faults, each naming what is wrong and how to clear it. */
  faults(atMs: number): RobotFault[] {
    const st = this.#streamer.state(this.#state);
    return faultNames(st.faults).map((code) => ({
      code,
      message: `UR ${this.host}: ${FAULT_TEXT[code]} (safety mode ${enumName(SAFETY_MODE, st.safetyMode)}, robot mode ${enumName(ROBOT_MODE, st.robotMode)}, runtime ${enumName(RUNTIME_STATE, st.runtimeState)})`,
      atMs,
    }));
  }

  /**
   * The user's explicit resume after clearing the cause: `unlockProtectiveStop` unlocks it over the dashboard
   * (the controller refuses within 5 s of the stop); safety mode must be NORMAL, the arm is powered and released
   * if needed, a lost RTDE link is reconnected, the servo program re-sent; then the latched faults clear.
   * Rejects naming what is still wrong (nothing moves then).
   */
  async resume(options: { unlockProtectiveStop?: boolean } = {}): Promise<void> {
    if (this.dryRun) return;
    const d = this.#dashboard;
    let safety = await d.safetyMode();
    if (safety === 'PROTECTIVE_STOP' && options.unlockProtectiveStop === true) {
      await d.unlockProtectiveStop();
      safety = await d.safetyMode();
    }
    if (safety !== 'NORMAL' && safety !== 'REDUCED') {
      throw new OpenpiEdgeError('DASHBOARD_ERROR', `UR ${this.host}: cannot resume, safety mode ${safety}`, {
        command: 'safetymode',
        reply: safety,
      });
    }
    await d.closeSafetyPopup().catch(() => undefined);
    if ((await d.robotMode()) !== 'RUNNING') {
      await bringUp(d, {
        timeoutMs: this.#o.bringUpTimeoutMs ?? 30_000,
        onStep: (s: BringUpStep) => this.#o.onStep?.(s),
      });
    }
    let st = this.#streamer.state(this.#state);
    if ((st.faults & ARM_FAULT.LINK_LOST) !== 0) {
      await this.#streamer.close();
      this.#streamer = await UrArm.#startStreamer(this.#o, this.ports, false, () => this);
      this.#o.onStep?.({ step: 'rtde', detail: `reconnected to ${this.host}:${this.ports.rtde}` });
    }
    await this.#startProgram();
    const remaining = await this.#streamer.clearLatched();
    if (remaining !== 0) {
      st = this.#streamer.state(this.#state);
      throw new OpenpiEdgeError(
        'ROBOT_FAULT',
        `UR ${this.host}: still faulted after resume: ${faultNames(remaining).join(', ')}`,
        { robot: 'ur5', fault: faultNames(remaining).join(',') },
      );
    }
  }

  /** Servo cycle timing (period jitter, missed cycles) since the start or the last reset. */
  stats(reset = false): Promise<ServoStats> {
    return this.#streamer.stats(reset);
  }

  /** Ends the servo program (the arm stops), stops the worker, closes the dashboard. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.dryRun) {
      this.#streamer.end();
      await sleep(20);
    }
    await this.#streamer.close();
    await this.#dashboard.close().catch(() => undefined);
  }
}
