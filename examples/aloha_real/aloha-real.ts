/**
 * openpi's `examples/aloha_real/main.py` as a TypeScript app: a remote openpi policy server drives an ALOHA through
 * WebsocketClientPolicy -> ActionChunkBroker -> PolicyAgent -> Runtime (50 Hz) -> AlohaEnvironment.
 * Like openpi's script there is no safety layer between the policy and the arms; `edge-agent start` adds one
 * (docs/safety.md), and examples/ur5 shows how to put the SafetyGate in your own loop.
 */
import {
  ActionChunkBroker,
  AsyncActionChunkBroker,
  type BasePolicy,
  type Obs,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import {
  type AlohaResetTiming,
  type CreateAlohaEnvironmentOptions,
  createAlohaEnvironment,
  resetPoseFromMetadata,
} from '@openpi-edge/edge-agent';
import { PolicyAgent, type RunSummary, Runtime, type Subscriber } from '@openpi-edge/runtime';

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
  /** Sent as `prompt` with every observation. Default none (the server's default prompt applies). */
  prompt?: string;
  /** Reset move durations (ms). Default openpi's 1000 / 1000 / 500. */
  resetTiming?: Partial<AlohaResetTiming>;
  /** Per-infer reply deadline (ms). Default none (openpi waits forever). */
  requestTimeoutMs?: number;
  /** Extra runtime subscribers (recorders, loggers). Default none. */
  subscribers?: readonly Subscriber[];
  /** Aborting it ends the run after the current step (the final reset still runs). */
  signal?: AbortSignal;
}

export interface AlohaRealResult {
  summary: RunSummary;
  /** The server's metadata (first frame of the connection). */
  metadata: Obs;
  /** The reset pose used for each arm (rad): the server's `reset_pose` or openpi's default. */
  resetPose: readonly number[];
}

/** Connects, brings up the arms, runs the episodes, then closes everything (also on failure). */
export async function runAlohaReal(options: AlohaRealOptions = {}): Promise<AlohaRealResult> {
  const maxHz = options.maxHz ?? 50;
  const actionHorizon = options.actionHorizon ?? 25;
  const client = await WebsocketClientPolicy.connect({
    host: options.host ?? '0.0.0.0',
    port: options.port ?? 8000,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
  try {
    const metadata = client.getServerMetadata();
    // openpi: `reset_pose` from the metadata when present (pi0_aloha / pi05_aloha configs send it).
    const resetPose = resetPoseFromMetadata(metadata);
    const env: CreateAlohaEnvironmentOptions = {
      transport: options.transport ?? 'emulator',
      ...(resetPose === undefined ? {} : { resetPose }),
      ...(options.ports === undefined ? {} : { ports: options.ports }),
      ...(options.prompt === undefined ? {} : { prompt: options.prompt }),
      ...(options.resetTiming === undefined ? {} : { resetTiming: options.resetTiming }),
    };
    const aloha = await createAlohaEnvironment(env);
    try {
      const broker: BasePolicy =
        options.broker === 'async'
          ? new AsyncActionChunkBroker(client, { actionHorizon, controlHz: maxHz })
          : new ActionChunkBroker(client, actionHorizon);
      const runtime = new Runtime({
        environment: aloha.environment,
        agent: new PolicyAgent(broker),
        subscribers: options.subscribers ?? [],
        maxHz,
        numEpisodes: options.numEpisodes ?? 1,
        maxEpisodeSteps: options.maxEpisodeSteps ?? 1000,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(broker instanceof AsyncActionChunkBroker ? { policyEvents: broker } : {}),
      });
      const summary = await runtime.run();
      return { summary, metadata, resetPose: aloha.environment.resetPose };
    } finally {
      await aloha.close();
    }
  } finally {
    await client.close();
  }
}
