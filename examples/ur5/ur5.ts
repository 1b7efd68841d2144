/**
 * The UR5 app: the app's own robot plugin (ur5-plugin.ts) run by the package's generic agent:
 *
 *   resolveConfig(flags, [ur5Plugin]) -> EdgeAgent.create(config, { plugins: [ur5Plugin] })
 *   policy (local bundle in a worker thread | remote openpi server | any BasePolicy) -> chunk broker
 *   -> RobotEnvironment -> SafetyGate -> SafeCommand -> ur5Plugin's Robot.write -> Ur5Driver (servoJ-like)
 *
 * Every motion goes through the gate: the policy's actions (`gate.step`: limits, per-tick rate, joint-state,
 * camera and policy watchdog, the protective stop) and the home move (a planned reset through `gate.motionStep`).
 * Swap the simulated driver for yours with `driver` (or `ur5Plugin.with({ driver, cameras })`); the rest stays.
 */
import type { BasePolicy, Clock, ClosablePolicy, Obs } from '@openpi-edge/client';
import {
  type AgentConfig,
  type AgentRunSummary,
  type CameraSource,
  EdgeAgent,
  type GateDecision,
  resolveConfig,
  type SafetyOverrides,
  type StartupReport,
} from '@openpi-edge/edge-agent';
import type { Ur5Driver } from './ur5-driver.js';
import { type Ur5Camera, type Ur5Plugin, type Ur5Robot, ur5Plugin } from './ur5-plugin.js';

/** Where actions come from. */
export type Ur5PolicySpec =
  /** A bundle exported for the UR5 adapter (manifest `robot.kind: "ur5"`), run in a worker thread with onnxruntime. */
  | { kind: 'bundle'; dir: string }
  /** An openpi server serving a UR5 policy (`ws://host:port`, e.g. `edge-agent serve --bundle <ur5 bundle>`). */
  | { kind: 'remote'; url: string }
  /** Any policy object (tests, your own model). Not closed by the run. */
  | { kind: 'policy'; policy: BasePolicy };

export interface Ur5Options {
  policy: Ur5PolicySpec;
  /** Your driver for the arm. Default: the plugin's simulated driver (with generated cameras). */
  driver?: Ur5Driver;
  /** Camera sources (required with your own driver). Default: generated frames for the simulated driver. */
  cameras?: Record<Ur5Camera, CameraSource>;
  /** Control rate (Hz). Default 20 (openpi's UR5e data). */
  controlHz?: number;
  /** Chunk rows executed per inference. Default 10 (0.5 s at 20 Hz). */
  actionHorizon?: number;
  /** Steps per episode. Default 200 (10 s at 20 Hz). */
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
  /** Receives warnings (execution-provider fallbacks, worker restarts). Default `console.warn`. */
  warn?: (message: string) => void;
  /** Called with every gate decision: the policy's ticks (`step`) and the home moves (`reset`). */
  onDecision?: (decision: GateDecision, phase: 'step' | 'reset') => void;
  /** Called once the agent is up (policy loaded or connected, robot up, start-up check passed), before the run. */
  onReady?: (report: StartupReport) => void;
  /** Aborting it ends the run after the current step (the final home move still runs). */
  signal?: AbortSignal;
}

export interface Ur5Result {
  summary: AgentRunSummary;
  config: AgentConfig;
  report: StartupReport;
  /** The robot (closed by now); `robot.driver` is the driver that was used. */
  robot: Ur5Robot;
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

/** Builds everything, runs, closes everything (also on failure). */
export async function runUr5(options: Ur5Options): Promise<Ur5Result> {
  let plugin: Ur5Plugin = ur5Plugin;
  const { driver, cameras } = options;
  if (driver !== undefined) plugin = plugin.with({ driver: () => driver });
  if (cameras !== undefined) plugin = plugin.with({ cameras: () => cameras });
  const config = resolveConfig(
    {},
    {
      robot: 'ur5',
      ...(options.homeMs === undefined ? {} : { ur5: { homeMs: options.homeMs } }),
      ...(options.policy.kind === 'bundle' ? { bundle: { dir: options.policy.dir } } : {}),
      ...(options.policy.kind === 'remote' ? { remote: { url: options.policy.url } } : {}),
      prompt: options.prompt ?? 'pick up the cube',
      controlHz: options.controlHz ?? 20,
      actionHorizon: options.actionHorizon ?? 10,
      maxSteps: options.maxEpisodeSteps ?? 200,
      episodes: options.numEpisodes ?? 1,
      broker: options.broker ?? 'sync',
      ...(options.safety === undefined ? {} : { safety: options.safety }),
    },
    [plugin],
  );
  const agent = await EdgeAgent.create(config, {
    plugins: [plugin],
    ...(options.policy.kind === 'policy' ? { policy: borrowed(options.policy.policy) } : {}),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.warn === undefined ? {} : { warn: options.warn }),
  });
  const stop = () => agent.stop();
  try {
    agent.environment.onDecision = options.onDecision;
    options.onReady?.(agent.report);
    if (options.signal?.aborted) agent.stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    const summary = await agent.run();
    return { summary, config, report: agent.report, robot: agent.robot as Ur5Robot };
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await agent.close();
  }
}
