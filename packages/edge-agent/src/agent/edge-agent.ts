/**
 * The on-robot agent for any robot plugin (robots/interface.ts), composed from the project's parts:
 *
 *   Robot (plugin: emulator | serial | ros2 | ...) -> RobotEnvironment observation (state; images only when the
 *   policy is asked) -> GuardedAgent -> chunk broker (async | sync) -> ImagesOnDemandPolicy -> WorkerPolicy (local
 *   bundle in a worker thread) | WebsocketClientPolicy (remote, frames prepared in an image worker)
 *   -> one action row -> SafetyGate (limits, rate, watchdog, robot faults, e-stop) -> SafeCommand | hold -> Robot
 *
 * driven by the runtime's Runtime at the control rate. Threads: the loop thread runs only the tick, broker, gate,
 * drivers, e-stop inputs and telemetry; graphs, image conversion and tokenization run in worker threads
 * (docs/agent.md "Threads"). A policy that fails, stalls or disconnects makes the gate hold the last safe command; the
 * e-stop (signals, keyboard, ROS 2 topic, API) holds within one tick and stops the run, and the final reset then
 * holds where the robot is instead of moving home.
 */
import { availableParallelism } from 'node:os';
import {
  ActionChunkBroker,
  AsyncActionChunkBroker,
  type BasePolicy,
  type Clock,
  type ClosablePolicy,
  isNDArray,
  type Obs,
  OpenpiEdgeError,
  realClock,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import { type RunSummary, Runtime } from '@openpi-edge/runtime';
import type { AgentConfig } from '../config/schema.js';
import { ImagePrepWorker } from '../inference/image-prep-worker.js';
import { WorkerPolicy } from '../inference/worker-policy.js';
import type { Manifest } from '../model/manifest.js';
import type { RecorderResult } from '../record/mcap-protocol.js';
import { McapRecorder } from '../record/mcap-recorder.js';
import type { AnyRobotPlugin, Robot } from '../robots/interface.js';
import { BUILTIN_ROBOTS, findRobot } from '../robots/registry.js';
import { agentParameters, agentParameterValues } from '../ros2/agent-parameters.js';
import { DEFAULT_ESTOP_TOPIC, type OpenedAgentRos2, openAgentRos2Topics } from '../ros2/agent-topics.js';
import type { Ros2Context } from '../ros2/surface.js';
import type { EStop, EStopCause, EStopSource } from '../safety/estop.js';
import { type SafetyCounters, SafetyGate } from '../safety/gate.js';
import { GuardedAgent } from './guarded-agent.js';
import { ImagesOnDemandPolicy, pickFrames } from './images-on-demand.js';
import { LoopStats, type Percentiles, percentiles } from './loop-stats.js';
import { PolicyMonitor } from './policy-monitor.js';
import { tapRecorder } from './recording.js';
import { RobotEnvironment } from './robot-environment.js';
import { describeControl, describeLimits, type StartupReport } from './startup-report.js';
import type { StatusSnapshot } from './status-line.js';

export interface EdgeAgentOptions {
  /** Time source for the loop, the gate, the broker and the robot. Default `realClock`. */
  clock?: Clock;
  /** Robot plugins to pick `config.robot` from. Default the built-in ones (robots/registry.ts). */
  plugins?: readonly AnyRobotPlugin[];
  /** Use this policy instead of loading `config.model` (library use, tests, benches); closed by `close()`. */
  policy?: ClosablePolicy;
  /** A ROS 2 context for the robot and the agent topics (tests pass a fake). Default rclnodejs when needed. */
  ros2?: Ros2Context;
  /** Receives warnings (provider fallbacks, worker restarts). Default `console.warn`. */
  warn?: (message: string) => void;
  /** Check at start-up that the policy serves this robot and config (one inference). Default true. */
  startupCheck?: boolean;
  /** The config file `config` came from, shown as the node's `config` parameter. */
  configPath?: string;
}

/** What a run did. Times in ms. */
export interface AgentRunSummary {
  run: RunSummary;
  /** Loop period and wake-up lateness over all steps. */
  period: Percentiles;
  jitter: Percentiles;
  /** `getAction` time per step (the broker; includes the blocking inference of the sync broker). */
  act: Percentiles;
  /** Inferences asked for and their latency (frame pick + conversion + inference). */
  inferences: number;
  inferenceLatency: Percentiles;
  /** Loop-thread time to pick the camera frames, per inference. */
  imageCaptureMs: number;
  /** Completed async-broker stalls and their durations. */
  stalls: Percentiles;
  /** Ticks on which the guarded agent got nothing: inference deadline passed / inference failed / backing off. */
  policyTimeouts: number;
  policyFailures: number;
  backoffTicks: number;
  /** Policy worker restarts (crashes and hangs), 0 for a remote policy. */
  workerRestarts: number;
  gate: SafetyCounters;
  estop: EStopCause | null;
  /** The last policy error, as text; absent when none. */
  lastPolicyError?: string;
  /** `--record-mcap`: what the loop did not hand to the recorder (frames and ticks dropped); absent when off. */
  recording?: {
    file: string | null;
    /** `--record` dataset folder, or null. */
    dataset: string | null;
    liveUrl: string | null;
    statusUrl: string | null;
    framesDropped: number;
    ticksDropped: number;
    failure: string | null;
  };
}

/**
 * CPU intra-op threads for a local model: the configured number, else all cores but one, so the control loop keeps
 * a core while a chunk is computed. On 2 cores, onnxruntime's own default (all cores) halved the loop rate in our
 * measurements (docs/agent.md).
 */
export function cpuThreads(configured: number | undefined): number {
  return configured ?? Math.max(1, availableParallelism() - 1);
}

export function errorText(e: unknown): string {
  if (e instanceof OpenpiEdgeError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

interface LoadedPolicy {
  policy: ClosablePolicy;
  /** Frame conversion for a policy that is not a FramePolicy (remote). */
  prep: ImagePrepWorker | null;
  metadata: Obs;
  manifest: Manifest | null;
  model: string;
  providers: string;
  defaultPrompt: string | null | undefined;
}

async function loadPolicy(
  config: AgentConfig,
  monitor: PolicyMonitor,
  options: EdgeAgentOptions,
): Promise<LoadedPolicy> {
  const m = config.model;
  const warn = options.warn ?? ((s: string) => console.warn(s));
  if (options.policy !== undefined) {
    const p = options.policy as ClosablePolicy & { metadata?: Obs };
    return {
      policy: options.policy,
      prep: await ImagePrepWorker.start(),
      metadata: p.metadata ?? {},
      manifest: null,
      model: 'caller-provided policy',
      providers: 'n/a',
      defaultPrompt: undefined,
    };
  }
  if (m.kind === 'remote') {
    let connected = false;
    const client = new WebsocketClientPolicy({
      host: m.url,
      ...(m.apiKey === undefined ? {} : { apiKey: m.apiKey }),
      connectTimeoutMs: m.connectTimeoutMs,
      requestTimeoutMs: m.requestTimeoutMs,
      // Come back quickly after a server restart: the robot holds meanwhile.
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      onStateChange: (e) => {
        monitor.connectionEvent(e);
        // Before the first connection, say why start-up waits (openpi's client waits for its server forever).
        if (e.state === 'reconnecting' && !connected && ((e.attempt ?? 1) - 1) % 10 === 0) {
          warn(
            `waiting for the policy server ${e.uri} (attempt ${e.attempt}: ${e.error?.message ?? 'no answer'})`,
          );
        }
      },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    let prep: ImagePrepWorker | null = null;
    try {
      prep = await ImagePrepWorker.start();
      await client.connect();
      connected = true;
    } catch (e) {
      await client.close();
      await prep?.close();
      throw e;
    }
    const metadata = client.getServerMetadata();
    return {
      policy: client,
      prep,
      metadata,
      manifest: null,
      model: `remote ${client.uri} (server metadata: ${Object.keys(metadata).join(', ') || 'none'})`,
      providers: 'on the server',
      defaultPrompt: undefined,
    };
  }
  const policy = await WorkerPolicy.load(m.dir, {
    executionProviders: m.providers.map((name) =>
      name === 'cpu' ? { name, threads: cpuThreads(m.threads) } : name,
    ),
    ...(m.ortPath === undefined ? {} : { ortModulePath: m.ortPath }),
    ...(m.numSteps === undefined ? {} : { numSteps: m.numSteps }),
    ...(m.seed === undefined ? {} : { seed: m.seed }),
    // The guidance graph costs about the denoise graph's memory: load it only when it is used.
    loadGuidance: config.rtc.mode === 'guidance',
    ...(config.rtc.mode === 'off'
      ? {}
      : {
          rtc: { mode: config.rtc.mode, schedule: config.rtc.schedule, maxGuidance: config.rtc.maxGuidance },
        }),
    onProviderWarning: (message) => warn(`warning: ${message}`),
    onEvent: (e) => {
      if (e.type === 'restarted') warn(`warning: policy worker restarted (${e.restarts} so far)`);
      else warn(`warning: policy worker ${e.type}: ${e.error.message}`);
    },
  });
  const man = policy.manifest;
  const r = policy.report;
  const fallbacks =
    r.fallbacks.length === 0
      ? ''
      : ` (fell back from ${r.fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ')})`;
  return {
    policy,
    prep: null,
    metadata: policy.metadata,
    manifest: man,
    model:
      `${man.model_type} bundle ${m.dir} (robot ${man.robot.kind}, action_dim ${man.action_dim}, ` +
      `H=${man.action_horizon}, ${m.numSteps ?? man.num_steps} Euler steps; in a worker thread)`,
    providers:
      `${r.provider.name}${fallbacks}; onnxruntime ${r.ort.version} (${r.ort.source}); ` +
      `sessions ${r.sessionMs.toFixed(0)} ms${r.warmupMs === null ? '' : `, warm-up ${r.warmupMs.toFixed(0)} ms`}`,
    defaultPrompt: man.default_prompt ?? null,
  };
}

/** Longest the start-up check waits for each camera's first frame (ms). */
const FIRST_FRAME_TIMEOUT_MS = 10_000;

/**
 * Waits until every camera with a source has delivered a frame (at most {@link FIRST_FRAME_TIMEOUT_MS}); one that
 * has not is left to the start-up inference, whose BAD_OBSERVATION names it.
 */
async function firstFrames(robot: Robot): Promise<void> {
  await Promise.all(
    robot.layout.cameras.map(async (c) => {
      try {
        await robot.cameras[c.name]?.nextFrame(FIRST_FRAME_TIMEOUT_MS, true);
      } catch {
        // named by the start-up inference
      }
    }),
  );
}

function mismatch(message: string, context: Record<string, unknown>, cause?: unknown): OpenpiEdgeError {
  return new OpenpiEdgeError(
    'CONFIG_MISMATCH',
    message,
    context,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * What can be checked without running the policy: the bundle's robot adapter, its prompt and its horizon against
 * the robot and the config. CONFIG_MISMATCH naming what does not fit.
 */
export function checkBundleFits(manifest: Manifest, robot: Robot, config: AgentConfig): void {
  if (!robot.layout.policyRobotKinds.includes(manifest.robot.kind)) {
    throw mismatch(
      `the bundle's robot adapter is '${manifest.robot.kind}', the robot ${robot.name} runs ${robot.layout.policyRobotKinds.join(' / ')}`,
      { what: 'robot adapter', expected: robot.layout.policyRobotKinds, got: manifest.robot.kind },
    );
  }
  if ((manifest.default_prompt ?? null) === null && config.prompt === undefined) {
    throw mismatch(
      "BAD_OBSERVATION: observation key 'prompt': missing — this model has no default prompt; give one with --prompt (or `prompt` in the config file)",
      { what: 'prompt', expected: 'a prompt', got: 'none' },
    );
  }
  if (config.actionHorizon > manifest.action_horizon) {
    throw mismatch(
      `execution horizon ${config.actionHorizon} exceeds the model's action horizon ${manifest.action_horizon}`,
      { what: 'actionHorizon', expected: `<= ${manifest.action_horizon}`, got: config.actionHorizon },
    );
  }
}

/** Checks a chunk the policy returned against the robot: `actions` [H >= horizon, joints]. */
export function checkChunkFits(result: Obs, robot: Robot, config: AgentConfig): void {
  const a = result.actions;
  const dim = robot.layout.joints.length;
  if (!isNDArray(a) || a.shape.length !== 2) {
    throw mismatch(
      `the policy's reply has no 2-D 'actions' array (got ${isNDArray(a) ? `[${a.shape.join(', ')}]` : typeof a})`,
      {
        what: 'actions',
      },
    );
  }
  const [h, d] = a.shape as [number, number];
  if (d !== dim) {
    throw mismatch(`the policy returns ${d} action values per row, the robot ${robot.name} takes ${dim}`, {
      what: 'action dim',
      expected: dim,
      got: d,
    });
  }
  if (h < config.actionHorizon) {
    throw mismatch(
      `the policy returns ${h} rows per chunk, fewer than the execution horizon ${config.actionHorizon}`,
      {
        what: 'actionHorizon',
        expected: `>= ${config.actionHorizon}`,
        got: h,
      },
    );
  }
}

export class EdgeAgent {
  readonly config: AgentConfig;
  readonly report: StartupReport;
  readonly robot: Robot;
  readonly environment: RobotEnvironment;
  readonly gate: SafetyGate;
  readonly monitor: PolicyMonitor;
  readonly broker: ActionChunkBroker | AsyncActionChunkBroker;
  readonly agent: GuardedAgent;
  readonly policy: ImagesOnDemandPolicy;
  readonly runtime: Runtime;
  readonly stats = new LoopStats();
  readonly #inner: ClosablePolicy;
  #ros2: OpenedAgentRos2 | null = null;
  /** `--record-mcap`'s recorder and its taps; null when not recording. */
  #recorder: { recorder: McapRecorder; detach: () => void } | null = null;
  /** `ws://host:port` of the Foxglove live view (`--foxglove-port`), or null when off. */
  get liveUrl(): string | null {
    return this.#recorder?.recorder.liveUrl ?? null;
  }

  /** `http://host:port` of the status page (`--status-port`), or null when off. */
  get statusUrl(): string | null {
    return this.#recorder?.recorder.statusUrl ?? null;
  }

  /** What the MCAP recorder wrote, once `close()` ended the file; null before or when not recording. */
  recording: RecorderResult | null = null;
  #closed = false;

  private constructor(parts: {
    config: AgentConfig;
    report: StartupReport;
    robot: Robot;
    environment: RobotEnvironment;
    gate: SafetyGate;
    monitor: PolicyMonitor;
    broker: ActionChunkBroker | AsyncActionChunkBroker;
    agent: GuardedAgent;
    policy: ImagesOnDemandPolicy;
    inner: ClosablePolicy;
    runtime: Runtime;
  }) {
    this.config = parts.config;
    this.report = parts.report;
    this.robot = parts.robot;
    this.environment = parts.environment;
    this.gate = parts.gate;
    this.monitor = parts.monitor;
    this.broker = parts.broker;
    this.agent = parts.agent;
    this.policy = parts.policy;
    this.#inner = parts.inner;
    this.runtime = parts.runtime;
    this.runtime.telemetry.steps$.subscribe((s) => this.stats.onStep(s));
    this.runtime.telemetry.overruns$.subscribe(() => {
      this.stats.overruns += 1;
    });
  }

  /**
   * Loads the model (in a worker thread) or connects to the server, brings the robot up (nothing moves), checks
   * that the policy serves this robot and config (CONFIG_MISMATCH naming what does not fit: adapter, prompt,
   * horizon, action size; one inference from a real observation), and builds the loop. On failure everything
   * opened so far is closed again.
   */
  static async create(config: AgentConfig, options: EdgeAgentOptions = {}): Promise<EdgeAgent> {
    const clock = options.clock ?? realClock;
    const warn = options.warn ?? ((s: string) => console.warn(s));
    const plugin = findRobot(config.robot, options.plugins ?? BUILTIN_ROBOTS);
    const monitor = new PolicyMonitor(clock);
    const loaded = await loadPolicy(config, monitor, options);
    const closeLoaded = async (): Promise<void> => {
      try {
        await loaded.policy.close();
      } finally {
        await loaded.prep?.close();
      }
    };
    let robot: Robot;
    try {
      robot = await plugin.connect({
        config: config.robotConfig,
        clock,
        controlHz: config.controlHz,
        safetyOverrides: config.safety,
        ...(options.ros2 === undefined ? {} : { ros2: options.ros2 }),
        ros2NodeName: config.ros2.nodeName,
        warn,
      });
    } catch (e) {
      await closeLoaded();
      throw e;
    }
    let ros2: OpenedAgentRos2 | null = null;
    let recorder: McapRecorder | null = null;
    try {
      if (loaded.manifest !== null) checkBundleFits(loaded.manifest, robot, config);
      robot.applyPolicyMetadata?.(loaded.metadata);
      const gate = new SafetyGate(robot.safety, { clock });
      const policy = new ImagesOnDemandPolicy(loaded.policy, () => pickFrames(robot), {
        prep: loaded.prep,
        imagesKey: robot.layout.imagesKey,
        now: () => clock.now(),
      });
      const environment = new RobotEnvironment(robot, gate, {
        clock,
        monitor,
        ...(config.prompt === undefined ? {} : { prompt: config.prompt }),
        resetMove: config.reset,
        resetSpeedFraction: config.resetSpeed,
      });
      if (
        config.recordMcap !== undefined ||
        config.record !== undefined ||
        config.foxglove !== undefined ||
        config.statusPage !== undefined
      ) {
        // Opened before the start-up inference, so that the file's chunks match the summary's inference count.
        recorder = await McapRecorder.open({
          ...(config.recordMcap === undefined ? {} : { file: config.recordMcap }),
          ...(config.record === undefined
            ? {}
            : {
                dataset: {
                  root: config.record,
                  fps: config.controlHz,
                  robotType: robot.name,
                  task: config.prompt ?? '',
                },
                cameraSources: robot.cameras,
              }),
          ...(config.foxglove === undefined ? {} : { live: config.foxglove }),
          ...(config.statusPage === undefined
            ? {}
            : {
                status: config.statusPage,
                // On the loop's thread: the next tick holds (the gate checks the latch every tick).
                onEstop: (reason: string) => {
                  gate.estop.trigger('status-page', reason);
                  warn(`e-stop latched by status-page: ${reason}`);
                },
              }),
          joints: robot.layout.joints,
          cameras: robot.layout.cameras.map((c) => c.name),
          now: () => clock.now(),
          ...(clock === realClock ? {} : { clockOriginMs: Date.now() - clock.now() }),
          metadata: {
            robot: robot.name,
            transport: robot.description,
            model: loaded.model,
            control_hz: String(config.controlHz),
            action_horizon: String(config.actionHorizon),
            broker: config.broker,
            rtc: config.rtc.mode,
            ...(config.prompt === undefined ? {} : { prompt: config.prompt }),
          },
          warn,
        });
      }
      const taps = recorder === null ? null : tapRecorder(recorder, { environment, policy, gate, clock });
      if (options.startupCheck ?? true) {
        // A webcam's ffmpeg or a ROS 2 image topic delivers its first frame a moment after start.
        await firstFrames(robot);
        // One inference from a real observation: what the policy cannot serve fails here, with its message.
        let result: Obs;
        try {
          result = await policy.infer(await environment.getObservation());
        } catch (e) {
          const transient =
            e instanceof OpenpiEdgeError &&
            [
              'CONNECTION_CLOSED',
              'REQUEST_TIMEOUT',
              'NOT_CONNECTED',
              'WORKER_CRASHED',
              'WORKER_HUNG',
            ].includes(e.code);
          if (transient) throw e;
          throw mismatch(
            `the policy cannot serve this configuration: ${errorText(e)}`,
            { what: 'startup inference' },
            e,
          );
        }
        checkChunkFits(result, robot, config);
      }
      const broker =
        config.broker === 'sync'
          ? new ActionChunkBroker(policy as BasePolicy, config.actionHorizon)
          : new AsyncActionChunkBroker(policy, {
              actionHorizon: config.actionHorizon,
              controlHz: config.controlHz,
              clock,
              onEvent: (e) => monitor.brokerEvent(e),
              ...(config.rtc.mode === 'off' ? {} : { rtc: { mode: config.rtc.mode } }),
            });
      const agent = new GuardedAgent(broker, {
        timeoutMs: config.policyTimeoutMs,
        clock,
        monitor,
        prime: () => environment.getObservation(),
        firstChunkTimeoutMs: config.firstChunkTimeoutMs,
      });
      if (broker instanceof AsyncActionChunkBroker) {
        broker.addListener((e) => {
          if (e.type === 'error') agent.backgroundFailed();
          else if (e.type === 'chunk') agent.noteSuccess();
        });
      }
      const runtime = new Runtime({
        environment,
        agent,
        maxHz: config.controlHz,
        numEpisodes: config.episodes,
        maxEpisodeSteps: config.maxSteps,
        clock,
        ...(broker instanceof AsyncActionChunkBroker ? { policyEvents: broker } : {}),
      });
      taps?.runtime(runtime);
      const defaultPrompt =
        loaded.defaultPrompt === undefined
          ? loaded.manifest === null
            ? "the server's default"
            : 'none'
          : loaded.defaultPrompt === null
            ? 'none'
            : `model default "${loaded.defaultPrompt}"`;
      const report: StartupReport = {
        robot: robot.name,
        model: loaded.model,
        providers: loaded.providers,
        prompt: config.prompt === undefined ? defaultPrompt : JSON.stringify(config.prompt),
        transport: robot.description,
        bringUp: [...(robot.bringUp ?? [])],
        cameras: robot.layout.cameras
          .map(
            (c) =>
              `${c.name}: ${robot.cameraDescriptions[c.name] ?? 'none'}${c.required ? '' : ' (optional)'}`,
          )
          .concat([
            'frames picked only on the ticks that ask the policy (once per chunk); decoded and resized to 224x224 off the loop thread',
          ]),
        control: describeControl(config),
        limits: describeLimits(robot.safety),
        stop: 'Ctrl-C / SIGTERM: e-stop, hold, exit; a second Ctrl-C exits at once (TTY: space/e = e-stop, r = reset)',
      };
      const agentObj = new EdgeAgent({
        config,
        report,
        robot,
        environment,
        gate,
        monitor,
        broker,
        agent,
        policy,
        inner: loaded.policy,
        runtime,
      });
      if (broker instanceof AsyncActionChunkBroker) broker.addListener((e) => agentObj.stats.onBroker(e));
      ros2 = await openAgentRos2Topics({
        ...(robot.ros2Node === undefined ? {} : { node: robot.ros2Node }),
        ...(options.ros2 === undefined ? {} : { context: options.ros2 }),
        ...(config.ros2.estopTopic === undefined ? {} : { estopTopic: config.ros2.estopTopic }),
        nodeName: config.ros2.nodeName,
        statusTopic: config.ros2.statusTopic,
        statusHz: config.ros2.statusHz,
        parameters: agentParameters(
          agentParameterValues(config, {
            estopTopic: config.ros2.estopTopic ?? DEFAULT_ESTOP_TOPIC,
            cameraSources: Object.values(robot.cameras).map((c) => c.description),
            ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
          }),
        ),
        estop: gate.estop,
        status: () => agentObj.snapshot(),
        clock,
      });
      agentObj.#ros2 = ros2;
      if (recorder !== null && taps !== null) agentObj.#recorder = { recorder, detach: taps.detach };
      return agentObj;
    } catch (e) {
      await recorder?.close();
      await ros2?.close();
      await robot.close();
      await closeLoaded();
      throw e;
    }
  }

  /**
   * Runs the configured episodes. Resolves with the summary after the final reset (a hold when the e-stop is
   * latched). A failing robot (bus error, lost arm) rejects with the runtime's STEP_FAILED after the robot was told
   * to hold where it is (best effort).
   */
  async run(): Promise<AgentRunSummary> {
    let run: RunSummary;
    try {
      run = await this.runtime.run();
    } catch (e) {
      try {
        await this.robot.hold();
      } catch {
        // the transport itself failed; the robot keeps its last goal
      }
      throw e;
    }
    return this.summary(run);
  }

  /**
   * The user's explicit resume after clearing a robot fault's cause (robots/interface.ts `resume`): the robot
   * re-arms, then a latched e-stop is reset if nothing else blocks it. Rejects naming what is still wrong
   * (nothing moves then). Robots without `resume` only get the e-stop reset.
   */
  async resume(options: { unlockProtectiveStop?: boolean } = {}): Promise<ReturnType<EStop['reset']> | null> {
    await this.robot.resume?.(options);
    return this.gate.estop.latched ? this.gate.estop.reset('api') : null;
  }

  /** Ends the run after the current step (no e-stop): the final reset moves home unless the e-stop is latched. */
  stop(): void {
    this.runtime.stop();
  }

  /** Latches the e-stop (every tick holds from now on, a reset move stops) and stops the run. */
  emergencyStop(source: EStopSource, reason: string): void {
    this.gate.estop.trigger(source, reason);
    this.runtime.stop();
  }

  /** The current status-line content, or null before the first step. */
  snapshot(): StatusSnapshot | null {
    const s = this.stats;
    if (s.steps === 0) return null;
    const window = Math.max(1, Math.round(this.config.controlHz * 5));
    const cause = this.gate.estop.cause;
    return {
      episode: s.episode,
      episodes: this.config.episodes,
      step: s.step,
      maxSteps: this.config.maxSteps,
      period: s.recent(s.periods, window),
      jitter: s.recent(s.jitters, window),
      chunks: this.policy.inferences,
      latencyMs: this.policy.latencies.last,
      connection: this.monitor.connection,
      stalls:
        this.broker instanceof AsyncActionChunkBroker ? this.broker.stats().stalls : this.agent.timeouts,
      holds: this.environment.tally.holds,
      faults: this.environment.tally.lastFaults,
      estop: cause === null ? null : `${cause.source}: ${cause.reason}`,
    };
  }

  summary(run: RunSummary): AgentRunSummary {
    const s = this.stats;
    const err = this.monitor.lastError;
    const inner = this.#inner as Partial<Pick<WorkerPolicy, 'stats'>>;
    return {
      run,
      period: percentiles(s.periods),
      jitter: percentiles(s.jitters),
      act: percentiles(s.actMs),
      inferences: this.policy.inferences,
      inferenceLatency: percentiles(this.policy.latencies),
      imageCaptureMs: this.policy.captures === 0 ? Number.NaN : this.policy.captureMs / this.policy.captures,
      stalls: percentiles(s.stalls),
      policyTimeouts: this.agent.timeouts,
      policyFailures: this.agent.failures,
      backoffTicks: this.agent.backoffTicks,
      workerRestarts: inner.stats?.restarts ?? 0,
      gate: this.gate.counters(),
      estop: this.gate.estop.cause,
      ...(err === undefined ? {} : { lastPolicyError: errorText(err) }),
      ...(this.#recorder === null
        ? {}
        : {
            recording: {
              file: this.#recorder.recorder.file,
              dataset: this.#recorder.recorder.datasetRoot,
              liveUrl: this.#recorder.recorder.liveUrl,
              statusUrl: this.#recorder.recorder.statusUrl,
              framesDropped: this.#recorder.recorder.stats.framesDropped,
              ticksDropped: this.#recorder.recorder.stats.ticksDropped,
              failure: this.#recorder.recorder.failure,
            },
          }),
    };
  }

  /**
   * Ends the MCAP recording (`recording` then says what was written), closes the topics, the policy (worker /
   * socket), the robot (transport, cameras) and the gate. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const rec = this.#recorder;
      if (rec !== null) {
        rec.detach();
        this.recording = await rec.recorder.close();
      }
    } finally {
      try {
        await this.#ros2?.close();
        await this.policy.close();
      } finally {
        this.environment.close();
        await this.robot.close();
        this.gate.close();
      }
    }
  }
}

/** One-line-per-item summary text for the CLI. */
export function formatSummary(s: AgentRunSummary, config: AgentConfig): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const faults = Object.entries(s.gate.faults)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => {
      const named = Object.entries(s.gate.robotFaults);
      return c === 'ROBOT_FAULT' && named.length > 0
        ? `${c} ${n} (${named.map(([k, m]) => `${k} ${m}`).join(', ')})`
        : `${c} ${n}`;
    })
    .join(', ');
  const eps = s.run.episodes.map((e) => `#${e.index + 1} ${e.steps} steps ${e.endReason}`).join('; ');
  return [
    `summary: ${s.run.totalSteps} steps, episodes ${(s.run.episodes.reduce((a, e) => a + e.durationMs, 0) / 1000).toFixed(1)} s ` +
      `(run ${(s.run.durationMs / 1000).toFixed(1)} s incl. resets)` +
      `${s.run.stopped ? ' (stopped early)' : ''}; episodes: ${eps || 'none'}`,
    `  loop     period p50 ${f(s.period.p50)} ms, p99 ${f(s.period.p99)} ms (target ${f(1000 / config.controlHz)}); ` +
      `jitter p50 ${f(s.jitter.p50)} ms, p99 ${f(s.jitter.p99)} ms; overruns ${s.run.overruns}`,
    `  policy   ${s.inferences} inferences, latency p50 ${f(s.inferenceLatency.p50)} ms, p99 ${f(s.inferenceLatency.p99)} ms ` +
      `(frames ${f(s.imageCaptureMs)} ms each on the loop); getAction p99 ${f(s.act.p99)} ms; stalls ${s.stalls.n}` +
      `${s.stalls.n > 0 ? ` (p50 ${f(s.stalls.p50)} ms)` : ''}; deadline misses ${s.policyTimeouts}, failures ${s.policyFailures}` +
      `${s.backoffTicks > 0 ? `, back-off ticks ${s.backoffTicks}` : ''}` +
      `${s.workerRestarts > 0 ? `, worker restarts ${s.workerRestarts}` : ''}` +
      `${s.lastPolicyError === undefined ? '' : `; last error ${s.lastPolicyError.split('\n')[0]}`}`,
    `  safety   ${s.gate.moves} moves, ${s.gate.holds} holds (position clamps ${s.gate.positionLimited}, ` +
      `rate limits ${s.gate.rateLimited}); faults: ${faults || 'none'}` +
      `${s.estop === null ? '' : `; e-stop by ${s.estop.source} (${s.estop.reason})`}`,
    ...(s.recording === undefined
      ? []
      : [
          `  record   ${[s.recording.file, s.recording.dataset === null ? null : `dataset ${s.recording.dataset}`, s.recording.liveUrl === null ? null : `live ${s.recording.liveUrl}`, s.recording.statusUrl === null ? null : `status page ${s.recording.statusUrl}`].filter((x) => x !== null).join(', ')}: ` +
            `frames dropped ${s.recording.framesDropped}, ticks dropped ${s.recording.ticksDropped}` +
            `${s.recording.failure === null ? '' : `; ${s.recording.failure}`}`,
        ]),
  ].join('\n');
}

/** The lines `start` prints once the MCAP file, the dataset and the live view are closed. */
export function formatRecording(r: RecorderResult): string {
  const live =
    r.live === null
      ? ''
      : `live view ${r.live.url}: ${r.live.sent} message frames sent, ${r.live.dropped} dropped for slow viewers`;
  const status =
    r.status === null
      ? ''
      : `status page ${r.status.url}: ${r.status.sent} updates sent, ${r.status.dropped} dropped for slow pages, ` +
        `${r.status.estops} e-stop requests; ${r.status.workMs.toFixed(1)} ms of worker time for ${r.status.handled} messages`;
  const d = r.dataset;
  const dataset =
    d === null
      ? ''
      : `dataset ${d.root}: ${d.episodes.length} episode(s) written this run (${d.episodes.reduce((a, e) => a + e.frames, 0)} frames, ` +
        `${(d.episodes.reduce((a, e) => a + e.bytes, 0) / (1024 * 1024)).toFixed(2)} MiB), ${d.totalEpisodes} episodes / ` +
        `${d.totalFrames} frames in all${d.rowsSkipped > 0 ? `; ${d.rowsSkipped} ticks not recorded (no frame or joint state yet)` : ''}`;
  const lines = [r.file === null ? '' : formatMcapFile(r), dataset, live, status].filter((x) => x !== '');
  return lines.join('\n');
}

function formatMcapFile(r: RecorderResult): string {
  const mib = r.bytes / (1024 * 1024);
  const rate =
    r.durationS > 0
      ? `, ${(r.bytes / 1024 / r.durationS).toFixed(0)} KiB/s over ${r.durationS.toFixed(1)} s`
      : '';
  return (
    `recording ${r.file}: ${r.messages} messages, ${mib.toFixed(2)} MiB${rate}; ${r.chunks} policy chunks, ` +
    `${r.framesWritten} camera frames (dropped ${r.framesDropped}${r.frameErrors > 0 ? `, unencodable ${r.frameErrors}` : ''})` +
    `${r.ticksDropped > 0 ? `, ticks dropped ${r.ticksDropped}` : ''}`
  );
}
