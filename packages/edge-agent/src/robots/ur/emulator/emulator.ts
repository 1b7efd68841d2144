/**
 * An emulated UR5 / UR5e controller on loopback TCP ports that SDU's ur_rtde and openpi-edge's own UR driver talk
 * to as if it were the robot: RTDE (30004), dashboard (29999), URScript ports (30001 primary, 30002 secondary,
 * 30003 real-time). The controller cycle (500 Hz e-Series, 125 Hz CB3) runs on this thread's timers, catching up
 * when a timer fires late (at most {@link MAX_CATCH_UP_CYCLES} at once; beyond that, controller time falls behind
 * wall time rather than bursting). {@link startUrEmulatorThread} (emulator-thread.ts) runs it on a worker thread instead.
 *
 * Contracts of the parts: controller.ts (modes, programs), rtde-server.ts (recipes, streaming, IN_USE),
 * dashboard-server.ts (commands and replies), rtde-control-program.ts (ur_rtde's register protocol),
 * servo-program.ts (openpi-edge's servo program).
 */
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { PreciseTicker } from '../precise-ticker.js';
import { ControllerModel, type UrSeries } from './controller.js';
import { DashboardServer } from './dashboard-server.js';
import { RtdeServer } from './rtde-server.js';
import { ScriptServer } from './script-server.js';
import { TcpService } from './tcp-service.js';

export type UrEmulatorPort = 'rtde' | 'dashboard' | 'primary' | 'secondary' | 'realtime';

export const UR_DEFAULT_PORTS: Readonly<Record<UrEmulatorPort, number>> = {
  rtde: 30004,
  dashboard: 29999,
  primary: 30001,
  secondary: 30002,
  realtime: 30003,
};

export const UR_DEFAULT_INITIAL_Q: readonly number[] = [0, -1.57, 1.57, -1.57, -1.57, 0];

/** Most cycles run back to back when the timer fired late (50 ms of e-Series time). */
export const MAX_CATCH_UP_CYCLES = 25;

export interface UrEmulatorOptions {
  /** Listen address, loopback only (127.0.0.0/8, ::1, localhost). Default 127.0.0.1. */
  host?: string;
  /** Ports (0 = ephemeral). Defaults: {@link UR_DEFAULT_PORTS}. */
  ports?: Partial<Record<UrEmulatorPort, number>>;
  /** e-series: software 5.11.1.108, 500 Hz; cb3: 3.15.7.106, 125 Hz. Default e-series. */
  series?: UrSeries;
  /** Initial joint angles (6, rad). Default {@link UR_DEFAULT_INITIAL_Q}. */
  initialQ?: readonly number[];
  /** Joint speed limit (rad/s) of every motion. Default π. */
  maxJointSpeed?: number;
  /** power_off: as after boot (needs power on + brake release); running: brakes released. Default power_off. */
  startMode?: 'power_off' | 'running';
  /** e-Series remote control (false = local mode: dashboard refuses robot commands, script ports refuse). */
  remoteControl?: boolean;
  /** How long after a protective stop `unlock protective stop` is accepted (ms). Default 5000, as on a real arm. */
  unlockDelayMs?: number;
  /** `get serial number`. Default 20205500001. */
  serialNumber?: string;
  /** Each power-on / brake-release stage (ms of controller time). Default 100. */
  modeTransitionMs?: number;
  /** Debug log: dashboard commands and replies, RTDE setups, programs received, text messages. */
  trace?: (line: string) => void;
  /**
   * How the controller cycle is paced. `timers` (default in-process): event-loop timers, ~1 ms resolution, late
   * cycles caught up. `precise` (default on the worker thread): the UR driver's PreciseTicker (precise-ticker.ts),
   * timers then `Atomics.wait` for the last ~1 ms — it blocks the thread, so only for a thread of its own.
   */
  timing?: 'timers' | 'precise';
}

export interface UrEmulatorSnapshot {
  q: number[];
  qd: number[];
  targetQ: number[];
  robotMode: number;
  safetyMode: number;
  runtimeState: number;
  robotStatusBits: number;
  safetyStatusBits: number;
  /** The running program's name, or null. */
  program: string | null;
  loadedProgram: string | null;
  /** openpi-edge servo program state (its state register): last value seen, 0 before any. */
  servoState: number;
  /** Client `U` packages applied. */
  inputPackets: number;
  /** Output `U` packages streamed (all clients). */
  outputPackets: number;
  /** Controller time (s) and cycles since start. */
  timestamp: number;
  cycles: number;
  rtdeClients: number;
  dashboardCommands: number;
  programsStarted: number;
  programsRefused: number;
  /** New motion targets applied (what onTarget reports). */
  targets: number;
  remoteControl: boolean;
}

export type UrTargetListener = (q: readonly number[], atMs: number) => void;

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function validPort(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 65535) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `UR emulator ${name} port must be an integer 0..65535, got ${v}`,
      {
        option: `ports.${name}`,
        value: v,
      },
    );
  }
  return v;
}

export class UrControllerEmulator {
  readonly host: string;
  readonly ports: Readonly<Record<UrEmulatorPort, number>>;
  readonly #model: ControllerModel;
  readonly #rtde: RtdeServer;
  readonly #dashboard: DashboardServer;
  readonly #scripts: ScriptServer;
  readonly #services: TcpService[];
  readonly #targetListeners = new Set<UrTargetListener>();
  #targets = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticker: PreciseTicker | undefined;
  #nextMs = 0;
  #closing: Promise<void> | undefined;

  private constructor(
    host: string,
    ports: Record<UrEmulatorPort, number>,
    model: ControllerModel,
    parts: { rtde: RtdeServer; dashboard: DashboardServer; scripts: ScriptServer; services: TcpService[] },
  ) {
    this.host = host;
    this.ports = Object.freeze(ports);
    this.#model = model;
    this.#rtde = parts.rtde;
    this.#dashboard = parts.dashboard;
    this.#scripts = parts.scripts;
    this.#services = parts.services;
  }

  /** Listens on every port and starts the controller cycle. BAD_ARGUMENT for invalid options or a taken port. */
  static async start(options: UrEmulatorOptions = {}): Promise<UrControllerEmulator> {
    const host = options.host ?? '127.0.0.1';
    if (!isLoopback(host)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `UR emulator host must be a loopback address (127.x.x.x, ::1, localhost), got '${host}': an emulated robot must not be reachable from the network`,
        { option: 'host', value: host },
      );
    }
    const initialQ = options.initialQ ?? UR_DEFAULT_INITIAL_Q;
    if (initialQ.length !== 6 || !initialQ.every(Number.isFinite)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `UR emulator initialQ must be 6 finite angles (rad)`, {
        option: 'initialQ',
        value: [...initialQ],
      });
    }
    const maxJointSpeed = options.maxJointSpeed ?? Math.PI;
    if (!(maxJointSpeed > 0) || !Number.isFinite(maxJointSpeed)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `UR emulator maxJointSpeed must be > 0 rad/s`, {
        option: 'maxJointSpeed',
        value: maxJointSpeed,
      });
    }
    const unlockDelayMs = options.unlockDelayMs ?? 5000;
    const modeTransitionMs = options.modeTransitionMs ?? 100;
    for (const [k, v] of [
      ['unlockDelayMs', unlockDelayMs],
      ['modeTransitionMs', modeTransitionMs],
    ] as const) {
      if (!(v >= 0) || !Number.isFinite(v)) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `UR emulator ${k} must be >= 0 ms, got ${v}`, {
          option: k,
          value: v,
        });
      }
    }
    const series = options.series ?? 'e-series';
    if (series !== 'e-series' && series !== 'cb3') {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `UR emulator series must be 'e-series' or 'cb3', got '${series}'`,
        {
          option: 'series',
          value: series,
        },
      );
    }
    const wanted = { ...UR_DEFAULT_PORTS, ...options.ports };
    for (const [k, v] of Object.entries(wanted)) validPort(k, v);

    let rtde: RtdeServer | undefined;
    let self: UrControllerEmulator | undefined;
    const model = new ControllerModel(
      {
        series,
        initialQ,
        maxJointSpeed,
        startMode: options.startMode ?? 'power_off',
        remoteControl: options.remoteControl ?? true,
        unlockDelayMs,
        serialNumber: options.serialNumber ?? '20205500001',
        modeTransitionMs,
      },
      {
        text: (level, message, source) => rtde?.broadcastText(level, message, source),
        ...(options.trace === undefined ? {} : { trace: options.trace }),
        target: (q) => {
          if (self !== undefined) self.#emitTarget(q);
        },
      },
    );
    rtde = new RtdeServer(model);
    const dashboard = new DashboardServer(model);
    const scripts = new ScriptServer(model);
    const ports = { ...wanted };
    const rtdeService = new TcpService('rtde', (s) => rtde?.accept(s));
    const services: Record<UrEmulatorPort, TcpService> = {
      rtde: rtdeService,
      dashboard: new TcpService('dashboard', (s) => dashboard.accept(s)),
      primary: new TcpService('primary', (s) => scripts.accept(s, ports.primary)),
      secondary: new TcpService('secondary', (s) => scripts.accept(s, ports.secondary)),
      realtime: new TcpService('realtime', (s) => scripts.accept(s, ports.realtime)),
    };
    try {
      for (const name of Object.keys(services) as UrEmulatorPort[]) {
        try {
          ports[name] = await services[name].listen(host, wanted[name]);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw new OpenpiEdgeError(
            'BAD_ARGUMENT',
            `UR emulator cannot listen on ${host}:${wanted[name]} (${name}): ${code === 'EADDRINUSE' ? 'the port is taken (another emulator or controller?)' : (e as Error).message}`,
            { option: `ports.${name}`, host, port: wanted[name], errno: code },
            { cause: e },
          );
        }
      }
    } catch (e) {
      await Promise.all(Object.values(services).map((s) => s.close()));
      throw e;
    }
    self = new UrControllerEmulator(host, ports, model, {
      rtde,
      dashboard,
      scripts,
      services: Object.values(services),
    });
    if (options.timing === 'precise') {
      const emu = self;
      self.#ticker = new PreciseTicker({ periodMs: 1000 / model.rateHz, onTick: () => emu.#cycle() });
      self.#ticker.start();
    } else {
      self.#nextMs = performance.now() + 1000 / model.rateHz;
      self.#schedule();
    }
    return self;
  }

  #schedule(): void {
    const delay = Math.max(0, this.#nextMs - performance.now());
    this.#timer = setTimeout(() => this.#loop(), delay);
  }

  #loop(): void {
    if (this.#closing !== undefined) return;
    const period = 1000 / this.#model.rateHz;
    const now = performance.now();
    let n = 0;
    while (this.#nextMs <= now && n < MAX_CATCH_UP_CYCLES) {
      this.#cycle();
      this.#nextMs += period;
      n++;
    }
    if (this.#nextMs <= now) this.#nextMs = now + period;
    this.#schedule();
  }

  #cycle(): void {
    try {
      this.#model.step();
      this.#rtde.tick();
    } catch (e) {
      // A bug in a part must not stop the controller cycle; report it to the RTDE clients.
      this.#rtde.broadcastText('error', `emulator fault: ${(e as Error).message}`, 'Controller');
    }
  }

  #emitTarget(q: readonly number[]): void {
    this.#targets++;
    if (this.#targetListeners.size === 0) return;
    const at = performance.now();
    const copy = [...q];
    for (const l of this.#targetListeners) {
      try {
        l(copy, at);
      } catch {
        // A listener's failure is its own business.
      }
    }
  }

  /** The controller state now. */
  snapshot(): UrEmulatorSnapshot {
    const m = this.#model;
    return {
      q: [...m.motion.q],
      qd: [...m.motion.qd],
      targetQ: [...m.motion.targetQ],
      robotMode: m.robotMode,
      safetyMode: m.safetyMode,
      runtimeState: m.runtimeState,
      robotStatusBits: m.robotStatusBits,
      safetyStatusBits: m.safetyStatusBits,
      program: m.program?.name ?? null,
      loadedProgram: m.loadedProgram,
      servoState: m.servoState,
      inputPackets: m.registers.inputPackets,
      outputPackets: this.#rtde.packagesSent,
      timestamp: m.timeS,
      cycles: m.cycles,
      rtdeClients: this.#rtde.clients,
      dashboardCommands: this.#dashboard.commands,
      programsStarted: m.programsStarted,
      programsRefused: m.programsRefused,
      targets: this.#targets,
      remoteControl: m.remoteControl,
    };
  }

  /** The text of the last program received on a script port (e.g. ur_rtde's control script), or null. */
  lastScript(): string | null {
    return this.#model.lastScript;
  }

  /** Bytes of URScript received on the script ports. */
  get scriptBytes(): number {
    return this.#scripts.bytesReceived;
  }

  /** Protective stop: safety mode 3, motion frozen, the program ends, an error text message to RTDE clients. */
  injectProtectiveStop(reason = 'injected by the emulator'): void {
    this.#model.protectiveStop(reason);
  }

  /** Robot emergency stop: safety mode 7, power off, the program ends. */
  injectEmergencyStop(): void {
    this.#model.emergencyStop();
  }

  /** Releases the emergency stop: safety NORMAL; the robot stays powered off. */
  releaseEmergencyStop(): void {
    this.#model.releaseEmergencyStop();
  }

  /** Switches e-Series remote / local control (the pendant's switch). */
  setRemoteControl(on: boolean): void {
    this.#model.remoteControl = on;
  }

  /** Resets (RST) every RTDE connection; the port keeps listening. */
  dropRtdeConnections(): void {
    this.#rtde.dropAll();
  }

  /** Calls `listener(q, atMs)` for each new servo / move target applied (atMs: performance.now() of this thread). */
  onTarget(listener: UrTargetListener): () => void {
    this.#targetListeners.add(listener);
    return () => {
      this.#targetListeners.delete(listener);
    };
  }

  /** Stops the cycle, closes every connection and port. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#targetListeners.clear();
      const ticker = this.#ticker?.stop() ?? Promise.resolve();
      this.#closing = Promise.all([ticker, ...this.#services.map((s) => s.close())]).then(() => undefined);
    }
    return this.#closing;
  }
}
