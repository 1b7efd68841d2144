/**
 * The control loop's handle on the UR servo worker (servo-worker-entry.ts): starts it, hands it gated commands
 * and holds through shared memory (no message on the hot path, so a hold reaches the next 2 ms cycle however busy
 * this thread's event loop is), and reads the arm's state back the same way.
 */
import { Worker } from 'node:worker_threads';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { workerLaunchOf } from '../../inference/worker-entry-url.js';
import type { SafetyConfig } from '../../safety/config.js';
import type { ControllerVersion, TextMessage } from './rtde/codec.js';
import type { FromServoWorker, SerializedError, ServoStats, ToServoWorker } from './servo-messages.js';
import { DEFAULT_SERVO_PARAMS, SERVO_MODE, type ServoProgramParams } from './servo-program.js';
import { type ArmState, emptyArmState, ServoShared } from './servo-shared.js';

export interface ServoStreamerOptions {
  readonly host: string;
  /** RTDE port. Default 30004. */
  readonly port?: number;
  /** The arm's 6 joints (limits and speeds); the worker applies them per servo cycle. */
  readonly safety: SafetyConfig;
  /** Default 500 (the controller caps it: 125 on CB3). */
  readonly maxServoHz?: number;
  readonly params?: Partial<ServoProgramParams>;
  /** Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** No RTDE output for this long → LINK_LOST. Default 100 ms. */
  readonly linkTimeoutMs?: number;
  /** No command from the loop for this long → hold. Default 250 ms. */
  readonly commandStaleMs?: number;
  readonly dryRun?: boolean;
  /**
   * Nice value of the servo thread (Linux). Default −10: ahead of the control loop, the policy worker (+10) and
   * anything else, where the process may (root / CAP_SYS_NICE); otherwise it keeps the process's.
   */
  readonly threadNice?: number;
  /**
   * SCHED_FIFO priority of the servo thread (1–99; 0 = none). Default 80 where the process may (root /
   * CAP_SYS_NICE / rtprio limit): a waking real-time thread preempts the rest at once, where a nice value only
   * weighs the time-sharing scheduler.
   */
  readonly realtimePriority?: number;
  /** The controller's text messages (program errors, protective stop reasons). */
  readonly onText?: (m: TextMessage) => void;
  /** The RTDE link ended. */
  readonly onLinkLost?: (e: OpenpiEdgeError) => void;
}

function revive(e: SerializedError): OpenpiEdgeError {
  return new OpenpiEdgeError(e.code as never, e.message, e.context);
}

export class ServoStreamer {
  readonly shared: ServoShared;
  readonly version: ControllerVersion;
  readonly servoHz: number;
  readonly params: ServoProgramParams;
  /** The servo thread's nice value in effect (null: unknown). */
  readonly nice: number | null;
  /** The servo thread's SCHED_FIFO priority, null when it is not real-time. */
  readonly realtime: number | null;
  readonly #worker: Worker;
  readonly #replies = new Map<number, (m: FromServoWorker) => void>();
  #nextId = 1;
  #closed = false;
  #exited: Promise<void>;

  private constructor(
    worker: Worker,
    shared: ServoShared,
    ready: Extract<FromServoWorker, { type: 'ready' }>,
    exited: Promise<void>,
  ) {
    this.#worker = worker;
    this.shared = shared;
    this.version = ready.version;
    this.servoHz = ready.servoHz;
    this.params = ready.params;
    this.nice = ready.nice;
    this.realtime = ready.realtime;
    this.#exited = exited;
  }

  /** Starts the worker; resolves once RTDE streams and the first cycle ran. RTDE_ERROR as the worker saw it. */
  static async start(o: ServoStreamerOptions): Promise<ServoStreamer> {
    const shared = new ServoShared();
    const launch = workerLaunchOf(new URL('./servo-worker-entry.ts', import.meta.url));
    const worker = new Worker(launch.filename, {
      eval: launch.eval,
      execArgv: launch.execArgv,
      workerData: {
        host: o.host,
        port: o.port ?? 30004,
        connectTimeoutMs: o.connectTimeoutMs ?? 2000,
        buffer: shared.buffer,
        safety: o.safety,
        maxServoHz: o.maxServoHz ?? 500,
        params: { ...DEFAULT_SERVO_PARAMS, ...o.params },
        linkTimeoutMs: o.linkTimeoutMs ?? 100,
        commandStaleMs: o.commandStaleMs ?? 250,
        dryRun: o.dryRun ?? false,
        threadNice: o.threadNice ?? -10,
        ...((o.realtimePriority ?? 80) > 0 ? { realtimePriority: o.realtimePriority ?? 80 } : {}),
      },
    });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    let streamer: ServoStreamer | null = null;
    const ready = await new Promise<Extract<FromServoWorker, { type: 'ready' }>>((resolve, reject) => {
      worker.on('message', (m: FromServoWorker) => {
        if (streamer === null) {
          if (m.type === 'ready') resolve(m);
          else if (m.type === 'error') reject(revive(m.error));
          return;
        }
        streamer.#onMessage(m, o);
      });
      worker.once('error', (e) =>
        reject(
          new OpenpiEdgeError('RTDE_ERROR', `UR servo worker failed: ${e.message}`, { stage: 'worker' }),
        ),
      );
      worker.once('exit', (code) =>
        reject(
          new OpenpiEdgeError('RTDE_ERROR', `UR servo worker exited (code ${code})`, { stage: 'worker' }),
        ),
      );
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    streamer = new ServoStreamer(worker, shared, ready, exited);
    return streamer;
  }

  #onMessage(m: FromServoWorker, o: ServoStreamerOptions): void {
    if (m.type === 'text') o.onText?.(m.message);
    else if (m.type === 'link-lost') o.onLinkLost?.(revive(m.error));
    else if ('id' in m) {
      const r = this.#replies.get(m.id);
      this.#replies.delete(m.id);
      r?.(m);
    }
  }

  #ask(m: ToServoWorker & { id: number }): Promise<FromServoWorker> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new OpenpiEdgeError('CLOSED', 'UR servo streamer is closed', {}));
        return;
      }
      this.#replies.set(m.id, resolve);
      this.#worker.postMessage(m);
    });
  }

  /** The newest state (into `out`). */
  state(out: ArmState = emptyArmState()): ArmState {
    return this.shared.readState(out);
  }

  /** Streams toward `q` (6 rad, already gated) over `periodMs` (the loop's period). */
  move(q: ArrayLike<number>, periodMs: number): void {
    this.shared.writeCommand(SERVO_MODE.SERVO, q, periodMs);
  }

  /** Holds from the next cycle: the program stops the arm where it is. */
  hold(): void {
    const s = this.shared.readState();
    this.shared.writeCommand(SERVO_MODE.HOLD, s.q, 0);
  }

  /** Asks the program to end (it stops the arm first). */
  end(): void {
    const s = this.shared.readState();
    this.shared.writeCommand(SERVO_MODE.END, s.q, 0);
  }

  /** The servo program was uploaded: faults latch once it runs. */
  expectProgram(): void {
    if (!this.#closed) this.#worker.postMessage({ type: 'expect-program' } satisfies ToServoWorker);
  }

  /** Clears latched faults that are no longer true; resolves with the fault bits still set. */
  async clearLatched(): Promise<number> {
    const r = await this.#ask({ type: 'clear', id: this.#nextId++ });
    return r.type === 'cleared' ? r.remaining : -1;
  }

  /** Cycle timing since the start (or the last reset). */
  async stats(reset = false): Promise<ServoStats> {
    const r = await this.#ask({ type: 'stats', id: this.#nextId++, reset });
    if (r.type !== 'stats') throw new OpenpiEdgeError('RTDE_ERROR', 'UR servo worker: no stats', {});
    return r.stats;
  }

  /** Stops the ticker, closes RTDE, ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.postMessage({ type: 'close' } satisfies ToServoWorker);
    const timer = setTimeout(() => void this.#worker.terminate(), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}
