/**
 * ALOHA arms in MuJoCo: the `sim` {@link AlohaArmsTransport}. It spawns the gym-aloha bridge
 * (packages/edge-agent/sim/aloha_bridge.py, its docstring has the wire format) with the `.venv-sim` interpreter
 * (`bash scripts/sim-env.sh`), sends joint targets, keeps the newest joint state, and feeds {@link SimCamera}s with
 * the bridge's rendered frames.
 *
 * Time. The bridge advances the simulation by DT = 20 ms per STEP it receives and never on its own. This transport
 * sends one STEP per control tick: the environment's two per-arm writes of a tick are coalesced (a STEP goes out
 * once both arms have new targets, or on the next macrotask when only one was written). While nobody commands
 * (before the first reset, between episodes, during a long overrun) it re-sends the last target once a control
 * period (`idleStepping`, default on): servos keep tracking their goal, so the sim keeps pace with the wall clock
 * and a held robot still settles under gravity. With `idleStepping: false` sim time is strictly the number of
 * ticks × DT.
 *
 * The loop thread never waits on the pipe: writes are fire-and-forget with at most `maxStepsInFlight` (4) STEPs
 * unanswered (the pipe keeps their order); a target written beyond that waits as the one queued target, a newer one
 * replaces it (the newest target wins; `stats().coalesced` counts the merges, each a tick the sim did not step), and
 * it goes out with the next reply. `read()` returns the newest received state at once. Its stamp is
 * "now" while no STEP is outstanding (the simulation does not move between STEPs, so the state is current) and the
 * reply's arrival otherwise, so a stalled bridge ages the state and the watchdog's joint-state check trips.
 * Frames arrive on their own pipe (fd 3), so a 900 KB frame never sits in front of a state reply.
 *
 * Bridge death (crash, kill, renderer failure) becomes a fault (`SIM_BRIDGE_EXITED`, naming the exit code or
 * signal and the stderr tail) that the plugin reports every tick (the gate holds with ROBOT_FAULT); reads keep
 * returning the last state with its old stamp, writes go nowhere, the cameras report the failure.
 *
 * Gripper mapping. The environment hands over a gripper motor angle θ (rad; the profile's JOINT constants turned
 * the policy's normalised action into it). gym-aloha's gripper action and observation are the left finger's slide
 * position x (m) normalised with PUPPET_GRIPPER_POSITION_CLOSE/OPEN (0.01844 / 0.058 m), the same constants as the
 * `openpi` profile. So, as on the real arm, the angle goes through the swing-arm geometry:
 *   write: x = r·sinθ + √(L² − r²cos²θ) (gripperAngleToFinger, the profile's geometry), u = (x − 0.01844)/0.03956;
 *   read:  x = u·0.03956 + 0.01844 (the sim's `left_finger` qpos), fingerPosition = x,
 *          θ = fingerSeparationToGripperAngle(2x) (the inverse), dθ/dt from dx/dt by the derivative of the inverse.
 * With the `openpi` profile (vx300s geometry r = 0.022, L = 0.036 m) θ = −0.6213 ↔ x = 0.01844 (u 0) and
 * θ = 1.491 ↔ x = 0.058 (u 1): the JOINT and POSITION constants agree, and the observation's normalised gripper
 * equals gym-aloha's `agent_pos` gripper exactly. The sim's finger actuators clamp x to [0.021, 0.057] m.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { SimCamera } from '../../io/cameras/sim-camera.js';
import {
  fingerSeparationToGripperAngle,
  gripperAngleToFinger,
  normalizeGripperPosition,
  PUPPET_GRIPPER,
  unnormalizeGripperPosition,
} from '../dynamixel/viperx.js';
import type { RobotFault } from '../interface.js';
import {
  ALOHA_CONTROL_HZ,
  ALOHA_GRIPPER_PROFILES,
  type AlohaCameraName,
  type AlohaGripperProfile,
  type AlohaSide,
} from './constants.js';
import type { AlohaArmState, AlohaArmsState, AlohaArmsTransport } from './transport.js';

/** The bridge script shipped with the package (`sim/`, next to `src/` and `dist/`). */
export const ALOHA_SIM_BRIDGE = fileURLToPath(new URL('../../../sim/aloha_bridge.py', import.meta.url));

/** What creates the interpreter the bridge needs. */
export const SIM_ENV_HINT = 'bash scripts/sim-env.sh';

/** Simulator camera rendered for each openpi camera name (gym-aloha's scene). */
export const ALOHA_SIM_CAMERAS: Readonly<Record<AlohaCameraName, string>> = {
  cam_high: 'top',
  cam_low: 'angle',
  cam_left_wrist: 'left_wrist',
  cam_right_wrist: 'right_wrist',
};

/** gym-aloha's gripper normalisation (PUPPET_GRIPPER_POSITION_CLOSE / OPEN, m): fixed by the simulator. */
const SIM_GRIPPER = PUPPET_GRIPPER;

export interface SimCameraRequest {
  readonly name: AlohaCameraName;
  /** Rendered size (px). Default 640 x 480 (gym-aloha's `pixels.top`). */
  readonly width?: number;
  readonly height?: number;
}

export interface SimAlohaOptions {
  /** Python with gym-aloha. Default `$OPENPI_EDGE_SIM_PYTHON`, else the nearest `.venv-sim/bin/python` above the
   *  working directory or this package. */
  python?: string;
  /** The bridge script. Default {@link ALOHA_SIM_BRIDGE}. */
  bridge?: string;
  /** gym-aloha task. Default `transfer_cube` (AlohaTransferCube-v0). */
  task?: 'transfer_cube' | 'insertion';
  /** Seed of the reset at start (cube / peg position). Default 0. */
  seed?: number;
  /** Cameras to render. Default cam_high, cam_left_wrist, cam_right_wrist at 640 x 480. */
  cameras?: readonly SimCameraRequest[];
  /** Most camera sets rendered per wall-clock second. Default 30 (the renderer is usually slower: see docs). */
  fps?: number;
  /** Render quality: shadow map size (px, gym-aloha 4096) and multisamples (gym-aloha 4), default 1024 / 0: on a
   *  software renderer ~4x cheaper per frame, nearly the same look. `nice`: the render thread's niceness (default
   *  10: the renderer yields the CPU to physics, the loop and the policy; 0 = as the bridge). */
  render?: { shadowSize?: number; msaa?: number; nice?: number };
  /** Clock for state and frame stamps (ms). Default the real clock. */
  clock?: Clock;
  /** Gripper generation whose geometry maps motor angle <-> finger position. Default `openpi`. */
  gripper?: AlohaGripperProfile;
  /** Control rate (Hz) for idle stepping. Default 50. */
  controlHz?: number;
  /** Re-send the last target once a control period while nobody commands. Default true (see above). */
  idleStepping?: boolean;
  /** STEPs written but not answered at most; a tick's target beyond that waits as the one queued target (a newer
   *  one replaces it: `stats().coalesced`). Default 4 (80 ms of ticks): lock-step holds through short stalls. */
  maxStepsInFlight?: number;
  /** Bridge start (interpreter, imports, EGL, first state) limit (ms). Default 60000. */
  startTimeoutMs?: number;
  /** Extra environment for the bridge (e.g. `LP_NUM_THREADS` for Mesa's llvmpipe). MUJOCO_GL defaults to egl. */
  env?: Readonly<Record<string, string>>;
}

/** What the simulator reported with its newest state. */
export interface SimEpisodeStatus {
  /** Sim time since the reset (s) and steps since the reset. */
  readonly simTimeS: number;
  readonly steps: number;
  /** gym-aloha's reward (0..4) and `is_success` (reward = 4). */
  readonly reward: number;
  readonly success: boolean;
}

/** Counters and samples (ms) for the benchmark; samples keep the newest 100k. */
export interface SimBridgeStats {
  readonly stepsSent: number;
  /** STEPs sent by idle stepping (no target written for 1.5 control periods). */
  readonly idleSteps: number;
  /** Targets merged into a queued STEP because one was in flight. */
  readonly coalesced: number;
  /** STEP written -> its STATE parsed here. */
  readonly roundTripMs: readonly number[];
  /** The bridge's own time for the command (physics + task reward). */
  readonly physicsMs: readonly number[];
  /** Bridge wrote the STATE -> parsed here (CLOCK_MONOTONIC on both sides). */
  readonly statePipeMs: readonly number[];
  /** Frames received per camera. */
  readonly frames: Readonly<Record<string, number>>;
  /** Render time per frame in the bridge. */
  readonly renderMs: readonly number[];
  /** Bridge wrote the frame -> its last byte arrived here. */
  readonly framePipeMs: readonly number[];
  /** Loop-thread time spent receiving frame bytes (all chunks of one frame together). */
  readonly frameReceiveMs: readonly number[];
  /** ms from the first frame to the newest, for frame rates. */
  readonly frameSpanMs: number;
}

const T_STEP = 0x01;
const T_RESET = 0x02;
const T_STATE = 0x03;
const T_CLOSE = 0x04;
const T_HELLO = 0x10;
const T_STATE_REPLY = 0x11;
const T_ERROR = 0x1f;
const T_FRAME = 0x20;
/** u32 seq, u32 steps, f64 t, f64[14] qpos, f64[14] qvel, f64 reward, u8 success, f32 step ms, u64 sent ns. */
const STATE_BYTES = 4 + 4 + 8 + 14 * 8 + 14 * 8 + 8 + 1 + 4 + 8;
/** u8 camera, u32 seq, u32 steps, f64 t, u16 w, u16 h, f32 render ms, u64 sent ns. */
const FRAME_HEADER_BYTES = 1 + 4 + 4 + 8 + 2 + 2 + 4 + 8;
const MAX_SAMPLES = 100_000;

interface StateReply {
  seq: number;
  steps: number;
  simTimeS: number;
  qpos: Float64Array;
  qvel: Float64Array;
  reward: number;
  success: boolean;
  stepMs: number;
  sentNs: bigint;
}

interface Hello {
  protocol: number;
  task: string;
  dt: number;
  n_sub_steps: number;
  cameras: { name: string; mj_camera: string; width: number; height: number }[];
}

/**
 * Length-prefixed messages (`[u32 length][u8 type][payload]`) from a stream. FRAME payloads are split into their
 * header and the pixels, which land in a SharedArrayBuffer of their own (no copy when posted to a worker).
 */
class MessageReader {
  readonly #head = Buffer.alloc(FRAME_HEADER_BYTES);
  #headHave = 0;
  #stage: 'len' | 'frame-head' | 'body' = 'len';
  #type = 0;
  #length = 0;
  #body: Uint8Array = new Uint8Array(0);
  #bodyHave = 0;
  #frameHead: Buffer | null = null;

  constructor(
    private readonly onMessage: (type: number, body: Uint8Array) => void,
    private readonly onFrame: (head: Buffer, pixels: Uint8Array) => void,
  ) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#stage === 'len' || this.#stage === 'frame-head') {
        const need = (this.#stage === 'len' ? 5 : FRAME_HEADER_BYTES) - this.#headHave;
        const n = Math.min(need, chunk.length - off);
        chunk.copy(this.#head, this.#headHave, off, off + n);
        this.#headHave += n;
        off += n;
        if (this.#headHave < (this.#stage === 'len' ? 5 : FRAME_HEADER_BYTES)) continue;
        this.#headHave = 0;
        if (this.#stage === 'len') {
          this.#length = this.#head.readUInt32LE(0);
          this.#type = this.#head.readUInt8(4);
          if (this.#type === T_FRAME && this.#length >= FRAME_HEADER_BYTES) {
            this.#stage = 'frame-head';
            continue;
          }
          this.#body = new Uint8Array(this.#length);
        } else {
          this.#frameHead = Buffer.from(this.#head);
          this.#body = new Uint8Array(new SharedArrayBuffer(this.#length - FRAME_HEADER_BYTES));
        }
        this.#bodyHave = 0;
        this.#stage = 'body';
      }
      const n = Math.min(this.#body.byteLength - this.#bodyHave, chunk.length - off);
      this.#body.set(chunk.subarray(off, off + n), this.#bodyHave);
      this.#bodyHave += n;
      off += n;
      if (this.#bodyHave < this.#body.byteLength) continue;
      this.#stage = 'len';
      if (this.#frameHead !== null) {
        const head = this.#frameHead;
        this.#frameHead = null;
        this.onFrame(head, this.#body);
      } else {
        this.onMessage(this.#type, this.#body);
      }
    }
  }
}

function pushSample(xs: number[], x: number): void {
  if (xs.length >= MAX_SAMPLES) xs.shift();
  xs.push(x);
}

function findUp(start: string, rel: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** The interpreter: option, `$OPENPI_EDGE_SIM_PYTHON`, the nearest `.venv-sim` above cwd or this package. */
export function resolveSimPython(python?: string): string {
  if (python !== undefined) return python;
  const env = process.env.OPENPI_EDGE_SIM_PYTHON;
  if (env !== undefined && env !== '') return env;
  const rel = join('.venv-sim', 'bin', 'python');
  return (
    findUp(process.cwd(), rel) ??
    findUp(dirname(ALOHA_SIM_BRIDGE), rel) ??
    resolve(dirname(ALOHA_SIM_BRIDGE), '..', '..', '..', rel)
  );
}

/** Geometry limits of the slide the finger inverse is defined on (m), with a hair of margin for acos. */
function fingerRange(g: AlohaGripperProfile['geometry']): [number, number] {
  return [g.armLength - g.hornRadius + 1e-9, g.armLength + g.hornRadius - 1e-9];
}

export class SimAlohaArms implements AlohaArmsTransport {
  readonly kind = 'sim' as const;
  readonly description: string;
  readonly capabilities = { reboot: false } as const;
  /** Cameras by name, fed by the bridge; started with the transport. */
  readonly cameras: Readonly<Partial<Record<AlohaCameraName, SimCamera>>>;
  readonly python: string;
  readonly #o: Required<Omit<SimAlohaOptions, 'python' | 'env' | 'render' | 'cameras' | 'gripper' | 'clock'>>;
  readonly #env: Readonly<Record<string, string>>;
  readonly #render: { shadowSize: number; msaa: number; nice: number };
  readonly #requests: readonly Required<SimCameraRequest>[];
  readonly #cameraOrder: SimCamera[];
  readonly #clock: Clock;
  readonly #gripper: AlohaGripperProfile;
  readonly #periodMs: number;
  #child: ChildProcess | null = null;
  #stdin: Writable | null = null;
  #seq = 1;
  #waiters = new Map<number, { resolve: (s: StateReply) => void; reject: (e: Error) => void }>();
  #state: AlohaArmsState | null = null;
  #reply: StateReply | null = null;
  #receivedAtMs = 0;
  /** The 14-vector the next STEP sends (gym-aloha action layout). */
  readonly #target = new Float64Array(14);
  readonly #dirty = new Set<AlohaSide>();
  #flushScheduled = false;
  /** STEPs written, not yet answered (oldest first; the bridge answers in order). */
  readonly #inFlight: { seq: number; sentAt: number }[] = [];
  #queued = false;
  #lastStepAt = Number.NEGATIVE_INFINITY;
  /** The last STEP came from idle stepping: keep stepping every control period until a target is written. */
  #idling = false;
  #idleTimer: NodeJS.Timeout | null = null;
  #fault: RobotFault | null = null;
  #stderr = '';
  #exit: Promise<void> | null = null;
  #closing = false;
  #closed = false;
  #started = false;
  // stats
  #stepsSent = 0;
  #idleSteps = 0;
  #coalesced = 0;
  readonly #rt: number[] = [];
  readonly #physics: number[] = [];
  readonly #statePipe: number[] = [];
  readonly #renderMs: number[] = [];
  readonly #framePipe: number[] = [];
  readonly #frameReceive: number[] = [];
  readonly #frames: Record<string, number> = {};
  #firstFrameAt: number | null = null;
  #lastFrameAt = 0;
  #receiveAcc = 0;

  constructor(options: SimAlohaOptions = {}) {
    this.python = resolveSimPython(options.python);
    this.#o = {
      bridge: options.bridge ?? ALOHA_SIM_BRIDGE,
      task: options.task ?? 'transfer_cube',
      seed: options.seed ?? 0,
      fps: options.fps ?? 30,
      controlHz: options.controlHz ?? ALOHA_CONTROL_HZ,
      idleStepping: options.idleStepping ?? true,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      maxStepsInFlight: Math.max(1, options.maxStepsInFlight ?? 4),
    };
    if (!(this.#o.fps > 0) || !(this.#o.controlHz > 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'ALOHA sim: fps and controlHz must be > 0', {
        fps: this.#o.fps,
        controlHz: this.#o.controlHz,
      });
    }
    this.#env = options.env ?? {};
    this.#render = {
      shadowSize: options.render?.shadowSize ?? 1024,
      msaa: options.render?.msaa ?? 0,
      nice: options.render?.nice ?? 10,
    };
    this.#clock = options.clock ?? realClock;
    this.#gripper = options.gripper ?? ALOHA_GRIPPER_PROFILES.openpi;
    this.#periodMs = 1000 / this.#o.controlHz;
    const requests = options.cameras ?? [
      { name: 'cam_high' as const },
      { name: 'cam_left_wrist' as const },
      { name: 'cam_right_wrist' as const },
    ];
    this.#requests = requests.map((r) => ({ name: r.name, width: r.width ?? 640, height: r.height ?? 480 }));
    const cams: Partial<Record<AlohaCameraName, SimCamera>> = {};
    this.#cameraOrder = this.#requests.map((r) => {
      if (cams[r.name] !== undefined || !Number.isInteger(r.width) || !Number.isInteger(r.height)) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `ALOHA sim camera ${r.name}: listed twice or a bad size`, {
          camera: r.name,
          width: r.width,
          height: r.height,
        });
      }
      const cam = new SimCamera({
        name: r.name,
        description: `sim:${ALOHA_SIM_CAMERAS[r.name]} ${r.width}x${r.height} (gym-aloha bridge)`,
        width: r.width,
        height: r.height,
        clock: this.#clock,
      });
      cams[r.name] = cam;
      return cam;
    });
    this.cameras = cams;
    this.description = `gym-aloha ${this.#o.task} (MuJoCo) via ${this.python}`;
  }

  /** The fault present now (bridge exited), for the plugin's `faults()`. */
  faults(): readonly RobotFault[] {
    return this.#fault === null ? [] : [this.#fault];
  }

  /** Reward, success, sim time and steps of the newest state. */
  get episode(): SimEpisodeStatus | null {
    const r = this.#reply;
    return r === null ? null : { simTimeS: r.simTimeS, steps: r.steps, reward: r.reward, success: r.success };
  }

  /** The bridge's process id (tests: kill it to see the fault). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  stats(): SimBridgeStats {
    return {
      stepsSent: this.#stepsSent,
      idleSteps: this.#idleSteps,
      coalesced: this.#coalesced,
      roundTripMs: this.#rt,
      physicsMs: this.#physics,
      statePipeMs: this.#statePipe,
      frames: { ...this.#frames },
      renderMs: this.#renderMs,
      framePipeMs: this.#framePipe,
      frameReceiveMs: this.#frameReceive,
      frameSpanMs: this.#firstFrameAt === null ? 0 : this.#lastFrameAt - this.#firstFrameAt,
    };
  }

  #notConnected(message: string, context: Record<string, unknown> = {}, cause?: unknown): OpenpiEdgeError {
    return new OpenpiEdgeError(
      'NOT_CONNECTED',
      `ALOHA sim: ${message}`,
      { transport: 'sim', python: this.python, bridge: this.#o.bridge, fix: SIM_ENV_HINT, ...context },
      cause === undefined ? undefined : { cause },
    );
  }

  /** Spawns the bridge, waits for its HELLO, resets the task with `seed`; resolves with the first state. */
  async start(): Promise<void> {
    if (this.#started) return;
    if (this.#closed)
      throw new OpenpiEdgeError('CLOSED', 'ALOHA sim transport is closed', { transport: 'sim' });
    if (!existsSync(this.python)) {
      throw this.#notConnected(
        `no Python interpreter at ${this.python}; create the simulator venv with \`${SIM_ENV_HINT}\` ` +
          '(or set OPENPI_EDGE_SIM_PYTHON)',
        { missing: 'python' },
      );
    }
    if (!existsSync(this.#o.bridge)) {
      throw this.#notConnected(`bridge script ${this.#o.bridge} is missing`, { missing: 'bridge' });
    }
    const args = [
      this.#o.bridge,
      '--task',
      this.#o.task,
      '--fps',
      String(this.#o.fps),
      '--frames-fd',
      this.#requests.length > 0 ? '3' : '-1',
      '--shadow-size',
      String(this.#render.shadowSize),
      '--msaa',
      String(this.#render.msaa),
      '--render-nice',
      String(this.#render.nice),
      ...this.#requests.flatMap((r) => [
        '--camera',
        `${r.name}=${ALOHA_SIM_CAMERAS[r.name]}:${r.width}x${r.height}`,
      ]),
    ];
    const child = spawn(this.python, args, {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, MUJOCO_GL: process.env.MUJOCO_GL ?? 'egl', ...this.#env },
    });
    this.#child = child;
    this.#stdin = child.stdin;
    child.stdin?.on('error', () => {}); // EPIPE after an exit: the exit handler reports it
    let hello: ((h: Hello) => void) | undefined;
    let startFailed: ((e: Error) => void) | undefined;
    let bridgeError: { kind?: string; message?: string } | undefined;
    const helloP = new Promise<Hello>((res) => {
      hello = res;
    });
    // Rejects when start-up fails (exit, spawn error, timeout); raced against each start-up step.
    const failP = new Promise<never>((_, rej) => {
      startFailed = rej;
    });
    failP.catch(() => {});
    const states = new MessageReader(
      (type, body) => {
        if (type === T_HELLO) hello?.(JSON.parse(Buffer.from(body).toString('utf8')) as Hello);
        else if (type === T_STATE_REPLY) this.#onState(body);
        else if (type === T_ERROR) bridgeError = JSON.parse(Buffer.from(body).toString('utf8'));
      },
      () => {},
    );
    child.stdout?.on('data', (c: Buffer) => states.feed(c));
    const frames = new MessageReader(
      () => {},
      (head, pixels) => this.#onFrame(head, pixels),
    );
    const framePipe = child.stdio[3] as Readable | null;
    framePipe?.on('data', (c: Buffer) => {
      const t0 = performance.now();
      frames.feed(c);
      this.#receiveAcc += performance.now() - t0;
    });
    framePipe?.on('error', () => {});
    child.stderr?.on('data', (c: Buffer) => {
      this.#stderr = (this.#stderr + c.toString('utf8')).slice(-4000);
    });
    this.#exit = new Promise((res) => {
      child.once('exit', (code, signal) => {
        // The start-up error first: it names the cause (missing venv / module) better than the fault does.
        startFailed?.(this.#exitError(code, signal, bridgeError));
        this.#onExit(code, signal, bridgeError);
        res();
      });
    });
    child.once('error', (e) => {
      startFailed?.(this.#notConnected(`cannot run ${this.python}: ${e.message}`, { missing: 'python' }, e));
    });
    const timeout = setTimeout(
      () =>
        startFailed?.(
          new OpenpiEdgeError(
            'CONNECT_TIMEOUT',
            `ALOHA sim: no HELLO from the bridge within ${this.#o.startTimeoutMs} ms`,
            { transport: 'sim', python: this.python, stderr: this.#stderrTail() },
          ),
        ),
      this.#o.startTimeoutMs,
    );
    try {
      const h = await Promise.race([helloP, failP]);
      if (h.protocol !== 1) {
        throw this.#notConnected(`bridge speaks protocol ${h.protocol}, expected 1`, {
          protocol: h.protocol,
        });
      }
      const first = await Promise.race([this.#request(T_RESET, this.#resetPayload(this.#o.seed)), failP]);
      this.#adoptTarget(first);
    } catch (e) {
      clearTimeout(timeout);
      await this.#kill();
      throw e;
    }
    clearTimeout(timeout);
    startFailed = undefined;
    this.#started = true;
    if (this.#o.idleStepping) {
      this.#idleTimer = setInterval(() => this.#idleTick(), this.#periodMs);
      this.#idleTimer.unref();
    }
  }

  #stderrTail(n = 1500): string {
    return this.#stderr.trim().slice(-n);
  }

  #exitError(
    code: number | null,
    signal: NodeJS.Signals | null,
    err: { kind?: string; message?: string } | undefined,
  ): OpenpiEdgeError {
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    if (code === 2 || err?.kind === 'missing_module') {
      return this.#notConnected(
        `the bridge cannot import its modules (${err?.message ?? this.#stderrTail(400)}); create the simulator venv with \`${SIM_ENV_HINT}\``,
        { missing: 'module', exitCode: code },
      );
    }
    return this.#notConnected(
      `the bridge exited during start-up (${how}): ${err?.message ?? this.#stderrTail()}`,
      {
        exitCode: code,
        signal,
        stderr: this.#stderrTail(),
      },
    );
  }

  #onExit(
    code: number | null,
    signal: NodeJS.Signals | null,
    err: { kind?: string; message?: string } | undefined,
  ): void {
    this.#child = null;
    this.#stdin = null;
    if (this.#idleTimer !== null) clearInterval(this.#idleTimer);
    this.#idleTimer = null;
    this.#inFlight.length = 0;
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    const detail = err?.message ?? this.#stderrTail(600);
    const message = `ALOHA sim bridge exited (${how})${detail === '' ? '' : `: ${detail}`}`;
    const error = new OpenpiEdgeError('ROBOT_FAULT', message, {
      robot: 'aloha',
      fault: 'SIM_BRIDGE_EXITED',
      exitCode: code,
      signal,
    });
    for (const w of this.#waiters.values()) w.reject(error);
    this.#waiters.clear();
    if (this.#closing) return;
    this.#fault = { code: 'SIM_BRIDGE_EXITED', message, atMs: this.#clock.now() };
    for (const cam of this.#cameraOrder) cam.fail(error);
  }

  #resetPayload(seed: number | undefined): Buffer {
    const b = Buffer.alloc(9);
    b.writeUInt8(seed === undefined ? 0 : 1, 4);
    b.writeUInt32LE((seed ?? 0) >>> 0, 5);
    return b;
  }

  /** Sends a RESET / STATE command (seq filled in) and resolves with its reply. */
  #request(type: number, payload: Buffer): Promise<StateReply> {
    const seq = this.#seq++;
    payload.writeUInt32LE(seq, 0);
    return new Promise((res, rej) => {
      if (!this.#send(type, payload)) {
        rej(
          new OpenpiEdgeError('ROBOT_FAULT', 'ALOHA sim bridge is not running', {
            robot: 'aloha',
            fault: 'SIM_BRIDGE_EXITED',
          }),
        );
        return;
      }
      this.#waiters.set(seq, { resolve: res, reject: rej });
    });
  }

  #send(type: number, payload: Uint8Array): boolean {
    const stdin = this.#stdin;
    if (stdin === null || stdin.destroyed || this.#child === null) return false;
    const head = Buffer.alloc(5);
    head.writeUInt32LE(payload.byteLength, 0);
    head.writeUInt8(type, 4);
    stdin.write(Buffer.concat([head, payload]));
    return true;
  }

  /**
   * The episode reset of the task (gym-aloha `reset(seed)`): arms jump to START_ARM_POSE (= ALOHA's reset pose),
   * objects to the seed's pose. Not a planned move: for tests and scene setup while nothing else commands. The next
   * STEP starts from the reset pose, so re-anchor any limiter on a fresh read.
   */
  async resetScene(seed?: number): Promise<void> {
    const s = await this.#request(T_RESET, this.#resetPayload(seed));
    this.#adoptTarget(s);
  }

  /** Asks the bridge for its state (nothing advances) and waits for it. */
  async refresh(): Promise<AlohaArmsState> {
    await this.#request(T_STATE, Buffer.alloc(4));
    return this.read();
  }

  #adoptTarget(s: StateReply): void {
    this.#target.set(s.qpos);
    this.#dirty.clear();
    this.#queued = false;
  }

  #onState(body: Uint8Array): void {
    if (body.byteLength !== STATE_BYTES) return;
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const now = this.#clock.now();
    const r: StateReply = {
      seq: v.getUint32(0, true),
      steps: v.getUint32(4, true),
      simTimeS: v.getFloat64(8, true),
      qpos: new Float64Array(14),
      qvel: new Float64Array(14),
      reward: v.getFloat64(16 + 224, true),
      success: v.getUint8(16 + 232) === 1,
      stepMs: v.getFloat32(16 + 233, true),
      sentNs: v.getBigUint64(16 + 237, true),
    };
    for (let i = 0; i < 14; i++) {
      r.qpos[i] = v.getFloat64(16 + 8 * i, true);
      r.qvel[i] = v.getFloat64(16 + 112 + 8 * i, true);
    }
    pushSample(this.#statePipe, Number(process.hrtime.bigint() - r.sentNs) / 1e6);
    pushSample(this.#physics, r.stepMs);
    this.#reply = r;
    this.#receivedAtMs = now;
    this.#state = this.#toState(r, now);
    const oldest = this.#inFlight[0];
    if (oldest !== undefined && oldest.seq === r.seq) {
      pushSample(this.#rt, performance.now() - oldest.sentAt);
      this.#inFlight.shift();
      if (this.#queued) {
        this.#queued = false;
        this.#sendStep(false);
      }
    }
    const w = this.#waiters.get(r.seq);
    if (w !== undefined) {
      this.#waiters.delete(r.seq);
      w.resolve(r);
    }
  }

  #onFrame(head: Buffer, pixels: Uint8Array): void {
    const index = head.readUInt8(0);
    const cam = this.#cameraOrder[index];
    const now = performance.now();
    pushSample(this.#frameReceive, this.#receiveAcc);
    this.#receiveAcc = 0;
    if (cam === undefined) return;
    // FRAME header: u8 camera @0, u32 seq @1, u32 steps @5, f64 sim time @9, u16 w @17, u16 h @19,
    // f32 render ms @21, u64 sent ns @25.
    const renderMs = head.readFloatLE(21);
    pushSample(this.#renderMs, renderMs);
    pushSample(this.#framePipe, Number(process.hrtime.bigint() - head.readBigUInt64LE(25)) / 1e6);
    this.#frames[cam.name] = (this.#frames[cam.name] ?? 0) + 1;
    this.#firstFrameAt ??= now;
    this.#lastFrameAt = now;
    if (head.readUInt16LE(17) !== cam.width || head.readUInt16LE(19) !== cam.height) return;
    cam.push(pixels, { simTimeS: head.readDoubleLE(9), steps: head.readUInt32LE(5), renderMs });
  }

  #toState(r: StateReply, stampMs: number): AlohaArmsState {
    const g = this.#gripper.geometry;
    const [lo, hi] = fingerRange(g);
    const span = SIM_GRIPPER.positionOpen - SIM_GRIPPER.positionClose;
    const arm = (k: number): AlohaArmState => {
      const u = r.qpos[7 * k + 6] as number;
      const x = Math.min(hi, Math.max(lo, unnormalizeGripperPosition(u, SIM_GRIPPER)));
      const angle = fingerSeparationToGripperAngle(2 * x, g);
      // dθ/dx of the inverse: sinθ = (x² + r² − L²)/(2rx) => cosθ·dθ = (x² − r² + L²)/(2rx²)·dx.
      const r0 = g.hornRadius;
      const cos = Math.max(1e-6, Math.cos(angle));
      const dThetaDx = (x * x - r0 * r0 + g.armLength ** 2) / (2 * r0 * x * x * cos);
      const velocity = new Float64Array(7);
      velocity.set(r.qvel.subarray(7 * k, 7 * k + 6));
      velocity[6] = dThetaDx * (r.qvel[7 * k + 6] as number) * span;
      return {
        arm: r.qpos.slice(7 * k, 7 * k + 6),
        gripperAngle: angle,
        fingerPosition: x,
        velocity,
        effort: new Float64Array(0),
        stampMs,
      };
    };
    return { left: arm(0), right: arm(1) };
  }

  async read(): Promise<AlohaArmsState> {
    const s = this.#state;
    if (s === null) {
      throw new OpenpiEdgeError('NOT_CONNECTED', 'ALOHA sim: read before start()', { transport: 'sim' });
    }
    // Between STEPs the simulation does not move: the newest state is the state now (see the file comment).
    if (this.#inFlight.length > 0 || this.#child === null) return s;
    const now = this.#clock.now();
    return {
      left: { ...s.left, stampMs: now },
      right: { ...s.right, stampMs: now },
    };
  }

  /** When the newest state arrived (ms, the transport's clock). */
  get receivedAtMs(): number {
    return this.#receivedAtMs;
  }

  #setArm(side: AlohaSide, positions: ArrayLike<number>): void {
    const o = side === 'left' ? 0 : 7;
    for (let j = 0; j < 6; j++) this.#target[o + j] = positions[j] as number;
  }

  #setGripper(side: AlohaSide, angle: number): void {
    const x = gripperAngleToFinger(angle, this.#gripper.geometry);
    this.#target[side === 'left' ? 6 : 13] = normalizeGripperPosition(x, SIM_GRIPPER);
  }

  #written(side: AlohaSide): Promise<void> {
    this.#dirty.add(side);
    if (this.#dirty.size === 2) {
      this.#flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return Promise.resolve();
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#dirty.size === 0) return;
    this.#dirty.clear();
    if (this.#inFlight.length >= this.#o.maxStepsInFlight) {
      if (this.#queued) this.#coalesced++;
      this.#queued = true;
      return;
    }
    this.#sendStep(false);
  }

  #sendStep(idle: boolean): void {
    const payload = Buffer.alloc(4 + 14 * 8);
    const seq = this.#seq++;
    payload.writeUInt32LE(seq, 0);
    for (let i = 0; i < 14; i++) payload.writeDoubleLE(this.#target[i] as number, 4 + 8 * i);
    if (!this.#send(T_STEP, payload)) return;
    this.#inFlight.push({ seq, sentAt: performance.now() });
    this.#lastStepAt = performance.now();
    this.#stepsSent++;
    this.#idling = idle;
    if (idle) this.#idleSteps++;
  }

  #idleTick(): void {
    if (this.#inFlight.length > 0 || this.#closing || this.#child === null) return;
    // Start idling once no target came for 1.5 periods (never between two ticks of a running loop), then step on
    // every timer tick until a target is written again.
    if (!this.#idling && performance.now() - this.#lastStepAt < 1.5 * this.#periodMs) return;
    this.#sendStep(true);
  }

  writeArm(side: AlohaSide, positions: ArrayLike<number>): Promise<void> {
    this.#setArm(side, positions);
    return this.#written(side);
  }

  writeGripper(side: AlohaSide, angle: number): Promise<void> {
    this.#setGripper(side, angle);
    return this.#written(side);
  }

  /** Both in one STEP: six arm targets (rad) and the gripper motor angle (rad) of one arm. */
  writeJoints(side: AlohaSide, positions: ArrayLike<number>, gripperAngle: number): Promise<void> {
    this.#setArm(side, positions);
    this.#setGripper(side, gripperAngle);
    return this.#written(side);
  }

  /** No gripper servos to reboot in the sim. */
  async rebootGrippers(): Promise<void> {}

  /** The sim's position actuators are always on. */
  async setTorque(_enabled: boolean): Promise<void> {}

  async #kill(): Promise<void> {
    this.#closing = true;
    const child = this.#child;
    if (child !== null) child.kill('SIGKILL');
    await this.#exit;
  }

  /** Asks the bridge to exit (CLOSE), SIGKILL after 3 s. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    if (this.#idleTimer !== null) clearInterval(this.#idleTimer);
    this.#idleTimer = null;
    const child = this.#child;
    if (child === null) return;
    this.#send(T_CLOSE, new Uint8Array(0));
    this.#stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await this.#exit;
    clearTimeout(timer);
  }
}
