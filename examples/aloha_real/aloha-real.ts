/**
 * openpi's `examples/aloha_real/main.py` as a TypeScript app: a remote openpi policy server drives an ALOHA through
 * WebsocketClientPolicy -> ActionChunkBroker -> PolicyAgent -> Runtime (50 Hz) -> RobotEnvironment (SafetyGate) ->
 * the ALOHA robot plugin (emulator | serial | ros2).
 * Unlike openpi's script, every motion passes a SafetyGate: the policy's actions (position limits, per-tick rate,
 * joint-state and camera watchdog) and the reset (a planned move, each target gated). `edge-agent start` adds the
 * e-stop inputs, a policy watchdog and more (docs/agent.md, docs/safety.md).
 */
import {
  ActionChunkBroker,
  AsyncActionChunkBroker,
  type BasePolicy,
  type Obs,
  realClock,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import {
  ALOHA_DEFAULT_RESET_POSE,
  type AlohaCameraConfig,
  type AlohaCameraName,
  type AlohaConfig,
  type AlohaResetTiming,
  alohaPlugin,
  type GateDecision,
  pickFrames,
  type Robot,
  RobotEnvironment,
  resetPoseFromMetadata,
  SafetyGate,
  withFrameImages,
} from '@openpi-edge/edge-agent';
import {
  type Environment,
  PolicyAgent,
  type RunSummary,
  Runtime,
  type Subscriber,
} from '@openpi-edge/runtime';

export interface AlohaRealOptions {
  /** Policy server host (or a full ws:// URI). Default `'0.0.0.0'` (openpi's; use `localhost` for a local server). */
  host?: string;
  /** Policy server port. Default 8000. */
  port?: number;
  /** Rows of each chunk executed before asking the server again. Default 25 (0.5 s at 50 Hz). */
  actionHorizon?: number;
  /** Episodes to run. Default 1. */
  numEpisodes?: number;
  /** Steps per episode. Default 1000 (20 s at 50 Hz). */
  maxEpisodeSteps?: number;
  /** Control rate (Hz). Default 50 (openpi's `max_hz`). */
  maxHz?: number;
  /** `'sync'`: openpi's ActionChunkBroker (the loop waits for each chunk); `'async'`: fetch the next chunk while
   *  the current one runs. Default `'sync'`. */
  broker?: 'sync' | 'async';
  /** Where the arms are: `'emulator'` (in-process Dynamixel bus emulators), `'serial'`, `'ros2'`. Default `'emulator'`. */
  transport?: 'emulator' | 'serial' | 'ros2';
  /** serial: follower ports. Default `/dev/ttyDXL_puppet_left` / `/dev/ttyDXL_puppet_right`. */
  ports?: { left: string; right: string };
  /**
   * Camera sources by name. Default: generated frames (emulator), the ALOHA image topics (ros2); serial has no
   * default: give V4L2 devices for cam_high, cam_left_wrist and cam_right_wrist.
   */
  cameras?: Partial<Record<AlohaCameraName, AlohaCameraConfig>>;
  /** Sent as `prompt` with every observation. Default none (the server's default prompt applies). */
  prompt?: string;
  /** Shortest reset move durations (ms). Default openpi's 1000 / 1000 / 500 (longer moves take longer). */
  resetTiming?: Partial<AlohaResetTiming>;
  /** Per-infer reply deadline (ms). Default none (openpi waits forever). */
  requestTimeoutMs?: number;
  /** Extra runtime subscribers (recorders, loggers). Default none. */
  subscribers?: readonly Subscriber[];
  /** Called with every gate decision (the policy's ticks and the reset moves). Default none. */
  onDecision?: (decision: GateDecision, phase: 'step' | 'reset') => void;
  /** Aborting it ends the run after the current step (the final reset still runs). */
  signal?: AbortSignal;
}

export interface AlohaRealResult {
  summary: RunSummary;
  /** The server's metadata (first frame of the connection). */
  metadata: Obs;
  /** The reset pose used for each arm (rad): the server's `reset_pose` or openpi's default. */
  resetPose: readonly number[];
  /** What the gate did over the run. */
  gate: ReturnType<SafetyGate['counters']>;
}

/**
 * The runtime's Environment of this app: openpi's client sends the four camera images with every observation
 * (`{state, images}`), so each tick converts the cameras' newest frames and adds them to the RobotEnvironment's
 * observation (state, prompt). The images come first: the joint state the gate checks the action against is the
 * freshest one.
 */
class OpenpiAlohaEnvironment implements Environment {
  constructor(readonly inner: RobotEnvironment) {}

  reset(): Promise<void> {
    return this.inner.reset();
  }

  isEpisodeComplete(): boolean {
    return this.inner.isEpisodeComplete();
  }

  async getObservation(): Promise<Obs> {
    const robot: Robot = this.inner.robot;
    return withFrameImages(await this.inner.getObservation(), pickFrames(robot));
  }

  applyAction(action: Obs): Promise<void> {
    return this.inner.applyAction(action);
  }
}

/** Connects, brings up the arms, runs the episodes, then closes everything (also on failure). */
export async function runAlohaReal(options: AlohaRealOptions = {}): Promise<AlohaRealResult> {
  const maxHz = options.maxHz ?? 50;
  const actionHorizon = options.actionHorizon ?? 25;
  const clock = realClock;
  const client = await WebsocketClientPolicy.connect({
    host: options.host ?? '0.0.0.0',
    port: options.port ?? 8000,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
  try {
    const metadata = client.getServerMetadata();
    const config: AlohaConfig = {
      transport: options.transport ?? 'emulator',
      ...(options.ports === undefined
        ? {}
        : { serial: { portLeft: options.ports.left, portRight: options.ports.right } }),
      ...(options.cameras === undefined ? {} : { cameras: options.cameras }),
    };
    const plugin = alohaPlugin.with(
      options.resetTiming === undefined ? {} : { resetTiming: options.resetTiming },
    );
    const robot = await plugin.connect({
      config,
      clock,
      controlHz: maxHz,
      safetyOverrides: {},
      warn: (m) => console.warn(m),
    });
    const gate = new SafetyGate(robot.safety, { clock });
    const env = new RobotEnvironment(robot, gate, {
      clock,
      ...(options.prompt === undefined ? {} : { prompt: options.prompt }),
    });
    env.onDecision = options.onDecision;
    try {
      // openpi: `reset_pose` from the metadata when present (pi0_aloha / pi05_aloha configs send it); a pose outside
      // the limits is refused (UNSAFE_TARGET naming the joint).
      robot.applyPolicyMetadata?.(metadata);
      const resetPose = resetPoseFromMetadata(metadata) ?? ALOHA_DEFAULT_RESET_POSE;
      const broker: BasePolicy =
        options.broker === 'async'
          ? new AsyncActionChunkBroker(client, { actionHorizon, controlHz: maxHz })
          : new ActionChunkBroker(client, actionHorizon);
      const runtime = new Runtime({
        environment: new OpenpiAlohaEnvironment(env),
        agent: new PolicyAgent(broker),
        subscribers: options.subscribers ?? [],
        maxHz,
        numEpisodes: options.numEpisodes ?? 1,
        maxEpisodeSteps: options.maxEpisodeSteps ?? 1000,
        clock,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(broker instanceof AsyncActionChunkBroker ? { policyEvents: broker } : {}),
      });
      const summary = await runtime.run();
      return { summary, metadata, resetPose, gate: gate.counters() };
    } finally {
      env.close();
      gate.close();
      await robot.close();
    }
  } finally {
    await client.close();
  }
}
