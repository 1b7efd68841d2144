/**
 * The on-robot loop for ALOHA, composed from the project's parts:
 *
 *   AlohaEnvironment (emulator | serial | ros2) -> observation (state; images only when the policy is asked)
 *   -> GuardedAgent -> chunk broker (async | sync) -> ImagesOnDemandPolicy -> OnnxPolicy | WebsocketClientPolicy
 *   -> one action row -> SafetyGate (limits, rate, watchdog, e-stop) -> move | hold -> AlohaEnvironment.applyAction
 *
 * driven by the runtime's Runtime at the control rate. A policy that fails, stalls or disconnects makes the gate
 * hold the last safe command; the e-stop (signals, keyboard, `emergencyStop`) holds and stops the run, and the
 * final reset then holds where the arms are instead of moving home.
 */
import { availableParallelism } from 'node:os';
import {
  ActionChunkBroker,
  AsyncActionChunkBroker,
  type BasePolicy,
  type Clock,
  type ClosablePolicy,
  type Obs,
  OpenpiEdgeError,
  realClock,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import { type RunSummary, Runtime } from '@openpi-edge/runtime';
import type { AgentConfig } from '../config/schema.js';
import { OnnxPolicy } from '../policy/onnx-policy.js';
import { ALOHA_CAMERA_NAMES, resetPoseFromMetadata } from '../robots/aloha/constants.js';
import {
  type CreateAlohaEnvironmentOptions,
  type CreatedAloha,
  createAlohaEnvironment,
} from '../robots/aloha/create.js';
import type { AlohaEnvironment } from '../robots/aloha/environment.js';
import { type OpenedAgentRos2, openAgentRos2Topics } from '../ros2/agent-topics.js';
import { safetyConfigFor } from '../safety/config.js';
import type { EStopCause, EStopSource } from '../safety/estop.js';
import { type SafetyCounters, SafetyGate } from '../safety/gate.js';
import { captureImages } from './capture-images.js';
import { GatedEnvironment } from './gated-environment.js';
import { GuardedAgent } from './guarded-agent.js';
import { ImagesOnDemandPolicy } from './images-on-demand.js';
import { LoopStats, type Percentiles, percentiles } from './loop-stats.js';
import { PolicyMonitor } from './policy-monitor.js';
import { withServoLimits } from '../robots/aloha/servo-limits.js';
import { describeControl, describeLimits, type StartupReport } from './startup-report.js';
import type { StatusSnapshot } from './status-line.js';

export interface AlohaAgentOptions {
  /** Time source for the loop, the gate, the broker and the environment. Default `realClock`. */
  clock?: Clock;
  /** Extra `createAlohaEnvironment` options (emulator pose, reset timing, a ROS 2 context...). Default none. */
  environment?: Partial<Omit<CreateAlohaEnvironmentOptions, 'transport' | 'clock'>>;
  /** Use this policy instead of loading `config.model` (library use, tests); closed by `close()`. Default none. */
  policy?: ClosablePolicy;
  /** Receives warnings (provider fallbacks). Default `console.warn`. */
  warn?: (message: string) => void;
}

/** What a run did. Times in ms. */
export interface AgentRunSummary {
  run: RunSummary;
  /** Loop period and wake-up lateness over all steps. */
  period: Percentiles;
  jitter: Percentiles;
  /** `getAction` time per step (the broker; includes the blocking inference of the sync broker). */
  act: Percentiles;
  /** Inferences asked for and their latency (image capture + inference). */
  inferences: number;
  inferenceLatency: Percentiles;
  /** Image capture time per inference. */
  imageCaptureMs: number;
  /** Completed async-broker stalls and their durations. */
  stalls: Percentiles;
  /** Ticks on which the guarded agent got nothing: inference deadline passed / inference failed. */
  policyTimeouts: number;
  policyFailures: number;
  gate: SafetyCounters;
  estop: EStopCause | null;
  /** The last policy error, as text; absent when none. */
  lastPolicyError?: string;
}

/**
 * CPU intra-op threads for a local model: the configured number, else all cores but one, so the control loop
 * (same process, main thread) keeps a core while a chunk is computed. On 2 cores, onnxruntime's own default (all
 * cores) halved the loop rate in our measurements (docs/agent.md).
 */
export function cpuThreads(configured: number | undefined): number {
  return configured ?? Math.max(1, availableParallelism() - 1);
}

function errorText(e: unknown): string {
  if (e instanceof OpenpiEdgeError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

function cameraSpecs(config: AgentConfig): CreateAlohaEnvironmentOptions['cameras'] {
  const { source, width, height, fps } = config.cameras;
  return Object.fromEntries(
    ALOHA_CAMERA_NAMES.map((name) => [
      name,
      source === 'generated' ? { kind: 'generated', width, height, fps } : { kind: 'ros2' },
    ]),
  );
}

interface LoadedPolicy {
  policy: ClosablePolicy;
  metadata: Obs;
  model: string;
  providers: string;
  defaultPrompt: string;
}

async function loadPolicy(
  config: AgentConfig,
  monitor: PolicyMonitor,
  options: AlohaAgentOptions,
): Promise<LoadedPolicy> {
  const m = config.model;
  if (options.policy !== undefined) {
    return {
      policy: options.policy,
      metadata: {},
      model: 'caller-provided policy',
      providers: 'n/a',
      defaultPrompt: 'the policy default',
    };
  }
  const warn = options.warn ?? ((s: string) => console.warn(s));
  if (m.kind === 'remote') {
    let connected = false;
    const client = new WebsocketClientPolicy({
      host: m.url,
      ...(m.apiKey === undefined ? {} : { apiKey: m.apiKey }),
      connectTimeoutMs: m.connectTimeoutMs,
      requestTimeoutMs: m.requestTimeoutMs,
      // Come back quickly after a server restart: the arms hold meanwhile.
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
    try {
      await client.connect();
      connected = true;
    } catch (e) {
      await client.close();
      throw e;
    }
    const metadata = client.getServerMetadata();
    return {
      policy: client,
      metadata,
      model: `remote ${client.uri} (server metadata: ${Object.keys(metadata).join(', ') || 'none'})`,
      providers: 'on the server',
      defaultPrompt: "the server's default",
    };
  }
  const policy = await OnnxPolicy.load(m.dir, {
    executionProviders: m.providers.map((name) =>
      name === 'cpu' ? { name, threads: cpuThreads(m.threads) } : name,
    ),
    ...(m.ortPath === undefined ? {} : { ortModulePath: m.ortPath }),
    ...(m.numSteps === undefined ? {} : { numSteps: m.numSteps }),
    ...(m.seed === undefined ? {} : { seed: m.seed }),
    onProviderWarning: (message) => warn(`warning: ${message}`),
  });
  const man = policy.model.manifest;
  if (config.actionHorizon > man.action_horizon) {
    await policy.close();
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `execution horizon ${config.actionHorizon} exceeds the model's action horizon ${man.action_horizon} (${m.dir})`,
      { actionHorizon: config.actionHorizon, modelHorizon: man.action_horizon, bundle: m.dir },
    );
  }
  const r = policy.model.report;
  const fallbacks =
    r.fallbacks.length === 0
      ? ''
      : ` (fell back from ${r.fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ')})`;
  return {
    policy,
    metadata: policy.metadata,
    model:
      `${man.model_type} bundle ${m.dir} (robot ${man.robot.kind}, action_dim ${man.action_dim}, ` +
      `H=${man.action_horizon}, ${m.numSteps ?? man.num_steps} Euler steps)`,
    providers:
      `${r.provider.name}${fallbacks}; onnxruntime ${r.ort.version} (${r.ort.source}); ` +
      `sessions ${r.sessionMs.toFixed(0)} ms${r.warmupMs === null ? '' : `, warm-up ${r.warmupMs.toFixed(0)} ms`}`,
    defaultPrompt:
      man.default_prompt === undefined || man.default_prompt === null
        ? 'none'
        : `model default "${man.default_prompt}"`,
  };
}

export class AlohaAgent {
  readonly config: AgentConfig;
  readonly report: StartupReport;
  readonly environment: AlohaEnvironment;
  readonly gated: GatedEnvironment;
  readonly gate: SafetyGate;
  readonly monitor: PolicyMonitor;
  readonly broker: ActionChunkBroker | AsyncActionChunkBroker;
  readonly agent: GuardedAgent;
  readonly policy: ImagesOnDemandPolicy;
  readonly runtime: Runtime;
  readonly stats = new LoopStats();
  readonly #created: CreatedAloha;
  /** E-stop and status topics (ros2 transport, or `ros2.estopTopic` set); null when off. */
  #ros2: OpenedAgentRos2 | null = null;
  #closed = false;

  private constructor(parts: {
    config: AgentConfig;
    report: StartupReport;
    created: CreatedAloha;
    gated: GatedEnvironment;
    gate: SafetyGate;
    monitor: PolicyMonitor;
    broker: ActionChunkBroker | AsyncActionChunkBroker;
    agent: GuardedAgent;
    policy: ImagesOnDemandPolicy;
    runtime: Runtime;
  }) {
    this.config = parts.config;
    this.report = parts.report;
    this.#created = parts.created;
    this.environment = parts.created.environment;
    this.gated = parts.gated;
    this.gate = parts.gate;
    this.monitor = parts.monitor;
    this.broker = parts.broker;
    this.agent = parts.agent;
    this.policy = parts.policy;
    this.runtime = parts.runtime;
    this.runtime.telemetry.steps$.subscribe((s) => this.stats.onStep(s));
    this.runtime.telemetry.overruns$.subscribe(() => {
      this.stats.overruns += 1;
    });
    // Any e-stop (signal, keyboard, ROS 2 topic, API) also cuts a home move short: the reset holds where it is.
    this.gate.estop.events$.subscribe((e) => {
      if (e.type === 'triggered')
        this.environment.abortReset(`e-stop (${e.cause.source}: ${e.cause.reason})`);
    });
  }

  /**
   * Loads the model (or connects to the server), brings up the arms and cameras (follower setup, torque on) and
   * builds the loop. Nothing moves until `run()`. On failure everything opened so far is closed again.
   */
  static async create(config: AgentConfig, options: AlohaAgentOptions = {}): Promise<AlohaAgent> {
    const clock = options.clock ?? realClock;
    const monitor = new PolicyMonitor(clock);
    const loaded = await loadPolicy(config, monitor, options);
    let created: CreatedAloha;
    try {
      const resetPose = resetPoseFromMetadata(loaded.metadata);
      created = await createAlohaEnvironment({
        transport: config.transport,
        clock,
        controlHz: config.controlHz,
        cameras: cameraSpecs(config),
        ports: { left: config.serial.portLeft, right: config.serial.portRight },
        baudRate: config.serial.baudRate,
        nodeName: config.ros2.nodeName,
        ...(resetPose === undefined ? {} : { resetPose }),
        ...options.environment,
      });
    } catch (e) {
      await loaded.policy.close();
      throw e;
    }
    try {
      const env = created.environment;
      const safety = withServoLimits(
        safetyConfigFor('aloha', { ...config.safety, controlRateHz: config.controlHz }),
      );
      const gate = new SafetyGate(safety, { clock });
      const policy = new ImagesOnDemandPolicy(
        loaded.policy,
        () => captureImages(env),
        () => clock.now(),
      );
      const broker =
        config.broker === 'sync'
          ? new ActionChunkBroker(policy as BasePolicy, config.actionHorizon)
          : new AsyncActionChunkBroker(policy, {
              actionHorizon: config.actionHorizon,
              controlHz: config.controlHz,
              clock,
              onEvent: (e) => monitor.brokerEvent(e),
            });
      const agent = new GuardedAgent(broker, { timeoutMs: config.policyTimeoutMs, clock, monitor });
      const gated = new GatedEnvironment(env, gate, monitor, {
        ...(config.prompt === undefined ? {} : { prompt: config.prompt }),
        resetMove: config.reset,
      });
      const runtime = new Runtime({
        environment: gated,
        agent,
        maxHz: config.controlHz,
        numEpisodes: config.episodes,
        maxEpisodeSteps: config.maxSteps,
        clock,
        ...(broker instanceof AsyncActionChunkBroker ? { policyEvents: broker } : {}),
      });
      const report: StartupReport = {
        model: loaded.model,
        providers: loaded.providers,
        prompt: config.prompt === undefined ? loaded.defaultPrompt : JSON.stringify(config.prompt),
        transport: `${created.transport.kind}: ${created.transport.description}`,
        cameras: ALOHA_CAMERA_NAMES.map((name) => {
          const src = env.cameras[name];
          if (src === undefined) return `${name}: none`;
          const size =
            src.description === 'generated'
              ? ` ${config.cameras.width}x${config.cameras.height} @ ${config.cameras.fps} Hz`
              : '';
          return `${name}: ${src.description}${size}`;
        }).concat([
          'images built only on the ticks that ask the policy (once per chunk), resized to 224x224',
        ]),
        control: describeControl(config),
        limits: describeLimits(safety),
        stop: 'Ctrl-C / SIGTERM: e-stop, hold, exit; a second Ctrl-C exits at once (TTY: space/e = e-stop, r = reset)',
      };
      const agentObj = new AlohaAgent({
        config,
        report,
        created,
        gated,
        gate,
        monitor,
        broker,
        agent,
        policy,
        runtime,
      });
      if (broker instanceof AsyncActionChunkBroker) broker.addListener((e) => agentObj.stats.onBroker(e));
      const ros2Context = options.environment?.ros2;
      agentObj.#ros2 = await openAgentRos2Topics({
        ...(created.node === undefined ? {} : { node: created.node }),
        ...(ros2Context === undefined ? {} : { context: ros2Context }),
        ...(config.ros2.estopTopic === undefined ? {} : { estopTopic: config.ros2.estopTopic }),
        nodeName: config.ros2.nodeName,
        statusTopic: config.ros2.statusTopic,
        statusHz: config.ros2.statusHz,
        estop: gate.estop,
        status: () => agentObj.snapshot(),
        clock,
        ...(options.warn === undefined ? {} : { warn: options.warn }),
      });
      return agentObj;
    } catch (e) {
      await created.close();
      await loaded.policy.close();
      throw e;
    }
  }

  /**
   * Runs the configured episodes. Resolves with the summary after the final reset (a hold when the e-stop is
   * latched). A failing environment (bus error, lost arm) rejects with the runtime's STEP_FAILED after the arms
   * were told to hold where they are (best effort).
   */
  async run(): Promise<AgentRunSummary> {
    let run: RunSummary;
    try {
      run = await this.runtime.run();
    } catch (e) {
      try {
        await this.environment.hold();
      } catch {
        // the transport itself failed; the servos keep their last goal
      }
      throw e;
    }
    return this.summary(run);
  }

  /** Ends the run after the current step (no e-stop): the final reset moves home unless the e-stop is latched. */
  stop(): void {
    this.runtime.stop();
  }

  /** Latches the e-stop (every tick holds from now on) and stops the run. */
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
      latencyMs: this.policy.latencies.at(-1) ?? Number.NaN,
      connection: this.monitor.connection,
      stalls:
        this.broker instanceof AsyncActionChunkBroker ? this.broker.stats().stalls : this.agent.timeouts,
      holds: this.gated.tally.holds,
      faults: this.gated.tally.lastFaults,
      estop: cause === null ? null : `${cause.source}: ${cause.reason}`,
    };
  }

  summary(run: RunSummary): AgentRunSummary {
    const s = this.stats;
    const err = this.monitor.lastError;
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
      gate: this.gate.counters(),
      estop: this.gate.estop.cause,
      ...(err === undefined ? {} : { lastPolicyError: errorText(err) }),
    };
  }

  /** Closes the policy (socket / sessions), the environment (transport, cameras) and the gate. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#ros2?.close();
      await this.policy.close();
    } finally {
      await this.#created.close();
      this.gate.close();
    }
  }
}

/** One-line-per-item summary text for the CLI. */
export function formatSummary(s: AgentRunSummary, config: AgentConfig): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const faults = Object.entries(s.gate.faults)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  const eps = s.run.episodes.map((e) => `#${e.index + 1} ${e.steps} steps ${e.endReason}`).join('; ');
  return [
    `summary: ${s.run.totalSteps} steps, episodes ${(s.run.episodes.reduce((a, e) => a + e.durationMs, 0) / 1000).toFixed(1)} s ` +
      `(run ${(s.run.durationMs / 1000).toFixed(1)} s incl. resets)` +
      `${s.run.stopped ? ' (stopped early)' : ''}; episodes: ${eps || 'none'}`,
    `  loop     period p50 ${f(s.period.p50)} ms, p99 ${f(s.period.p99)} ms (target ${f(1000 / config.controlHz)}); ` +
      `jitter p50 ${f(s.jitter.p50)} ms, p99 ${f(s.jitter.p99)} ms; overruns ${s.run.overruns}`,
    `  policy   ${s.inferences} inferences, latency p50 ${f(s.inferenceLatency.p50)} ms, p99 ${f(s.inferenceLatency.p99)} ms ` +
      `(images ${f(s.imageCaptureMs)} ms each); getAction p99 ${f(s.act.p99)} ms; stalls ${s.stalls.n}` +
      `${s.stalls.n > 0 ? ` (p50 ${f(s.stalls.p50)} ms)` : ''}; deadline misses ${s.policyTimeouts}, failures ${s.policyFailures}` +
      `${s.lastPolicyError === undefined ? '' : `; last error ${s.lastPolicyError.split('\n')[0]}`}`,
    `  safety   ${s.gate.moves} moves, ${s.gate.holds} holds (position clamps ${s.gate.positionLimited}, ` +
      `rate limits ${s.gate.rateLimited}); faults: ${faults || 'none'}` +
      `${s.estop === null ? '' : `; e-stop by ${s.estop.source} (${s.estop.reason})`}`,
  ].join('\n');
}
