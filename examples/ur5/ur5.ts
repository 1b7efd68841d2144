/**
 * The UR5 app: the package's built-in `ur5` robot plugin (a UR controller over RTDE + dashboard + its own servo
 * program, or the UR controller emulator that speaks the same protocols; a Robotiq 2F-85 over Modbus RTU) run by
 * the package's generic agent, from the public API only:
 *
 *   resolveConfig({}, { robot: 'ur5', ur5: { transport, host, gripper, cameras, dryRun }, ... })
 *   -> EdgeAgent.create(config): policy (demo UR5 bundle | local bundle in a worker thread | remote openpi server |
 *      any BasePolicy) -> chunk broker -> RobotEnvironment -> SafetyGate -> SafeCommand -> the plugin's Robot.write
 *      -> the arm's 500 Hz servo stream (gated again per cycle) + the gripper's goal
 *
 * Every motion goes through the gate by construction: the policy's actions (`gate.step`: limits, per-tick rate,
 * joint-state, camera and policy watchdog, the robot's faults) and the home move (a planned reset through
 * `gate.motionStep`). This file adds no motion path of its own; what it adds is the operator's side of a fault:
 * a protective stop (or a lost link) holds the gate, and only `onRobotFault`'s explicit answer resumes.
 */
import type { BasePolicy, Clock, ClosablePolicy, Obs } from '@openpi-edge/client';
import {
  type AgentConfig,
  type AgentRunSummary,
  type CameraConfig,
  DEMO_BUNDLE_UR5,
  EdgeAgent,
  type GateDecision,
  type Robot,
  type RobotFault,
  resolveConfig,
  type SafetyOverrides,
  type StartupReport,
  type Ur5Camera,
} from '@openpi-edge/edge-agent';

/** openpi's UR5 cameras (both required by the layout). */
export type Ur5CameraName = Ur5Camera;

/**
 * One camera's source: `v4l2` (a UVC webcam, e.g. `/dev/video0`), `testsrc` (ffmpeg's test pattern), `ros2` (an
 * image topic; ros2 transport only), `generated` (the emulator's moving pattern; emulator only).
 */
export type Ur5CameraSpec = CameraConfig;

/** Where actions come from. */
export type Ur5PolicySpec =
  /** A bundle exported for the UR5 adapter (manifest `robot.kind: "ur5"`), run in a worker thread with onnxruntime. */
  | { kind: 'bundle'; dir: string }
  /** An openpi server serving a UR5 policy (`ws://host:port`, e.g. `edge-agent serve --bundle <ur5 bundle>`). */
  | { kind: 'remote'; url: string }
  /** Any policy object (tests, your own model). Not closed by the run. */
  | { kind: 'policy'; policy: BasePolicy };

/**
 * What the app does about a robot fault (a protective stop, an e-stop, the servo program stopped, the RTDE link
 * lost, the gripper):
 * - `unlock-and-resume`: unlock a protective stop over the dashboard, then resume (`agent.resume({
 *   unlockProtectiveStop: true })`); only on the operator's explicit yes, after looking at the cell;
 * - `resume`: the operator cleared it on the pendant (or plugged the cable back in): resume (`agent.resume()`;
 *   a lost link is reconnected, the servo program re-sent);
 * - `hold`: keep holding; asked again when the set of faults changes;
 * - `stop`: end the run; the arm stays where it is (the final home move does not start while faulted).
 */
export type Ur5FaultAnswer = 'unlock-and-resume' | 'resume' | 'hold' | 'stop';

export interface Ur5FaultEvent {
  /** The robot's faults now (code `PROTECTIVE_STOP`, `LINK_LOST`, ...; the message says how to clear it). */
  readonly faults: readonly RobotFault[];
  /** Aborted when the run ends while the question is open (the answer is ignored then). */
  readonly signal: AbortSignal;
}

export interface Ur5Options {
  /** Default the demo UR5 bundle (tiny random weights: it moves, it does not do the task). */
  policy?: Ur5PolicySpec;
  /** `emulator` (default): the UR controller emulator on loopback; `rtde`: a real controller at `host`. */
  transport?: 'emulator' | 'rtde';
  /** rtde: the controller's address (remote-control mode on e-Series). */
  host?: string;
  /** `robotiq` (default: a 2F-85 over Modbus RTU; the emulator makes its own) or `none`. */
  gripper?: 'robotiq' | 'none';
  /** rtde: the Robotiq's serial device. Default `/dev/ttyUSB0`. */
  gripperPort?: string;
  /** Camera sources. Default generated frames on the emulator; rtde has no default: give both. */
  cameras?: Partial<Record<Ur5CameraName, Ur5CameraSpec>>;
  /** Connect and read only: no power on, brake release, servo program or motion. Default false. */
  dryRun?: boolean;
  /** Control rate (Hz). Default 20 (openpi's UR5e data). */
  controlHz?: number;
  /** Chunk rows executed per inference. Default 10 (0.5 s at 20 Hz). */
  actionHorizon?: number;
  /** Steps per episode; 0 = until stopped. Default 200 (10 s at 20 Hz). */
  maxEpisodeSteps?: number;
  /** Episodes. Default 1. */
  numEpisodes?: number;
  /** Shortest home move (ms). Default 2000. */
  homeMs?: number;
  /** Default `'pick up the cube'`. */
  prompt?: string;
  /** `sync`: openpi's blocking ActionChunkBroker; `async`: the next chunk is fetched while one runs. Default `sync`. */
  broker?: 'sync' | 'async';
  /** Safety overrides (docs/safety.md "Knobs"), as in the config file's `safety` section. Default none. */
  safety?: SafetyOverrides;
  /** Default the real clock. */
  clock?: Clock;
  /** Receives warnings (execution-provider fallbacks, worker restarts, refused resumes). Default `console.warn`. */
  warn?: (message: string) => void;
  /** Called with every gate decision: the policy's ticks (`step`) and the home moves (`reset`). */
  onDecision?: (decision: GateDecision, phase: 'step' | 'reset') => void;
  /** Called once the agent is up (policy loaded or connected, robot up, start-up check passed), before the run. */
  onReady?: (report: StartupReport, agent: EdgeAgent) => void;
  /**
   * Asked when the robot reports a fault during the episode (never in a dry run). While it is open the gate keeps
   * holding; nothing resumes without its answer. Default: none, i.e. hold until the run ends. A rejection ends the
   * run and `runUr5` rejects with it.
   */
  onRobotFault?: (event: Ur5FaultEvent) => Ur5FaultAnswer | Promise<Ur5FaultAnswer>;
  /** Aborting it ends the run after the current step (the final home move still runs unless faulted). */
  signal?: AbortSignal;
}

export interface Ur5Result {
  summary: AgentRunSummary;
  config: AgentConfig;
  report: StartupReport;
  /** The robot (closed by now). */
  robot: Robot;
  /** Resumes after a robot fault that succeeded. */
  resumes: number;
}

/** A caller's policy as the agent's (it closes what it is given; the caller keeps ownership of theirs). */
function borrowed(policy: BasePolicy): ClosablePolicy & { metadata?: Obs } {
  const p = policy as BasePolicy & { metadata?: Obs };
  return {
    infer: (obs) => p.infer(obs),
    reset: () => p.reset(),
    close: async () => {},
    ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
  };
}

/** The `ur5` section of the agent's config for these options (the plugin validates it, strictly). */
export function ur5Section(options: Ur5Options): Record<string, unknown> {
  const section: Record<string, unknown> = { transport: options.transport ?? 'emulator' };
  if (options.host !== undefined) section.host = options.host;
  if (options.gripper !== undefined) section.gripper = options.gripper;
  if (options.gripperPort !== undefined) section.robotiq = { port: options.gripperPort };
  if (options.cameras !== undefined) section.cameras = options.cameras;
  if (options.dryRun === true) section.dryRun = true;
  if (options.homeMs !== undefined) section.homeMs = options.homeMs;
  return section;
}

/** The agent config for these options (BAD_ARGUMENT naming the key on a bad one). */
export function ur5Config(options: Ur5Options): AgentConfig {
  const policy = options.policy ?? { kind: 'bundle', dir: DEMO_BUNDLE_UR5 };
  return resolveConfig(
    {},
    {
      robot: 'ur5',
      ur5: ur5Section(options),
      ...(policy.kind === 'bundle' ? { bundle: { dir: policy.dir } } : {}),
      ...(policy.kind === 'remote' ? { remote: { url: policy.url } } : {}),
      prompt: options.prompt ?? 'pick up the cube',
      controlHz: options.controlHz ?? 20,
      actionHorizon: options.actionHorizon ?? 10,
      maxSteps: options.maxEpisodeSteps ?? 200,
      episodes: options.numEpisodes ?? 1,
      broker: options.broker ?? 'sync',
      ...(options.safety === undefined ? {} : { safety: options.safety }),
    },
  );
}

/**
 * The operator's side of a robot fault: on the first faulted tick of the episode, `onRobotFault` is asked (once at
 * a time, off the loop: the gate holds meanwhile), and its answer carried out. A refused resume (the stop not
 * cleared yet, the controller still in its 5 s unlock wait) is reported and asked again.
 */
class FaultDesk {
  resumes = 0;
  error: unknown;
  readonly #agent: EdgeAgent;
  readonly #ask: NonNullable<Ur5Options['onRobotFault']>;
  readonly #warn: (message: string) => void;
  readonly #ended = new AbortController();
  #open: Promise<void> | null = null;
  /** The faults answered with `hold` (asked again when they change). */
  #held: string | null = null;

  constructor(agent: EdgeAgent, ask: NonNullable<Ur5Options['onRobotFault']>, warn: (m: string) => void) {
    this.#agent = agent;
    this.#ask = ask;
    this.#warn = warn;
  }

  /** Called after every decision of the episode's ticks. */
  tick(): void {
    if (this.#open !== null || this.#ended.signal.aborted) return;
    const faults = this.#agent.robot.faults().filter((f) => f.code !== 'DRY_RUN');
    const key = faults
      .map((f) => f.code)
      .sort()
      .join();
    if (faults.length === 0 || key !== this.#held) this.#held = null;
    if (faults.length === 0 || key === this.#held) return;
    this.#open = this.#handle(faults, key).finally(() => {
      this.#open = null;
    });
  }

  async #handle(faults: readonly RobotFault[], key: string): Promise<void> {
    let answer: Ur5FaultAnswer;
    try {
      answer = await this.#ask({ faults, signal: this.#ended.signal });
    } catch (e) {
      if (this.#ended.signal.aborted) return;
      this.error ??= e;
      this.#agent.stop();
      return;
    }
    if (this.#ended.signal.aborted) return;
    if (answer === 'stop') {
      this.#agent.stop();
    } else if (answer === 'hold') {
      this.#held = key;
    } else {
      try {
        await this.#agent.resume(answer === 'unlock-and-resume' ? { unlockProtectiveStop: true } : {});
        this.resumes += 1;
      } catch (e) {
        this.#warn(`resume refused: ${(e as Error).message}`);
      }
    }
  }

  /** The run is over: an open question is cancelled, a resume in progress is waited for. */
  async end(): Promise<void> {
    this.#ended.abort();
    await this.#open;
  }
}

/** Builds everything, runs, closes everything (also on failure). */
export async function runUr5(options: Ur5Options = {}): Promise<Ur5Result> {
  const config = ur5Config(options);
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const agent = await EdgeAgent.create(config, {
    ...(options.policy?.kind === 'policy' ? { policy: borrowed(options.policy.policy) } : {}),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    warn,
  });
  const stop = (): void => agent.stop();
  const desk =
    options.onRobotFault === undefined || options.dryRun === true
      ? null
      : new FaultDesk(agent, options.onRobotFault, warn);
  try {
    agent.environment.onDecision = (d, phase) => {
      options.onDecision?.(d, phase);
      if (phase === 'step') desk?.tick();
    };
    options.onReady?.(agent.report, agent);
    if (options.signal?.aborted) agent.stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    let summary: AgentRunSummary;
    try {
      summary = await agent.run();
    } finally {
      await desk?.end();
    }
    if (desk?.error !== undefined) throw desk.error;
    return { summary, config, report: agent.report, robot: agent.robot, resumes: desk?.resumes ?? 0 };
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await agent.close();
  }
}
