/**
 * The UR5 app: policy (local bundle, remote openpi server, or any BasePolicy) -> ActionChunkBroker -> PolicyAgent
 * -> Runtime -> Ur5Environment (SafetyGate -> Ur5Driver). Swap {@link SimulatedUr5Driver} for your RTDE driver and
 * the generated cameras for real ones; the rest stays.
 */
import {
  ActionChunkBroker,
  type BasePolicy,
  type Clock,
  realClock,
  WebsocketClientPolicy,
} from '@openpi-edge/client';
import { type CameraSource, type GateDecision, GeneratedCamera, OnnxPolicy } from '@openpi-edge/edge-agent';
import { PolicyAgent, type RunSummary, Runtime } from '@openpi-edge/runtime';
import { SimulatedUr5Driver, type Ur5Driver } from './ur5-driver.js';
import { type Ur5Camera, Ur5Environment } from './ur5-environment.js';

/** Where actions come from. */
export type Ur5PolicySpec =
  /** A bundle exported for the UR5 adapter (manifest `robot.kind: "ur5"`), run here with onnxruntime (TensorRT, CUDA, CPU: the first that loads). */
  | { kind: 'bundle'; dir: string }
  /** An openpi server serving a UR5 policy (e.g. `edge-agent serve --bundle <ur5 bundle>`). */
  | { kind: 'remote'; host: string; port: number }
  /** Any policy object (tests, your own model). */
  | { kind: 'policy'; policy: BasePolicy };

export interface Ur5Options {
  policy: Ur5PolicySpec;
  /** Default: a {@link SimulatedUr5Driver} on `clock`. */
  driver?: Ur5Driver;
  /** Default: two generated 640×480 cameras. */
  cameras?: Record<Ur5Camera, CameraSource>;
  /** Control rate (Hz). Default 20. */
  controlHz?: number;
  /** Chunk rows executed per inference. Default 10 (0.5 s at 20 Hz). */
  actionHorizon?: number;
  /** Steps per episode. Default 200 (10 s at 20 Hz). */
  maxEpisodeSteps?: number;
  /** Episodes. Default 1. */
  numEpisodes?: number;
  /** Home move duration (ms). Default 2000. */
  homeMs?: number;
  /** Default `'pick up the cube'`. */
  prompt?: string;
  /** Default the real clock. */
  clock?: Clock;
  /** Called with every gate decision. */
  onDecision?: (decision: GateDecision) => void;
  /** Aborting it ends the run after the current step. */
  signal?: AbortSignal;
}

export interface Ur5Result {
  summary: RunSummary;
  environment: Ur5Environment;
}

/** Builds everything, runs, closes everything (also on failure). */
export async function runUr5(options: Ur5Options): Promise<Ur5Result> {
  const clock = options.clock ?? realClock;
  let policy: BasePolicy;
  let closePolicy: () => Promise<void> = async () => {};
  switch (options.policy.kind) {
    case 'bundle': {
      const onnx = await OnnxPolicy.load(options.policy.dir);
      policy = onnx;
      closePolicy = () => onnx.close();
      break;
    }
    case 'remote': {
      const client = await WebsocketClientPolicy.connect({
        host: options.policy.host,
        port: options.policy.port,
      });
      policy = client;
      closePolicy = () => client.close();
      break;
    }
    case 'policy':
      policy = options.policy.policy;
      break;
  }
  try {
    const controlHz = options.controlHz ?? 20;
    const environment = new Ur5Environment({
      driver: options.driver ?? new SimulatedUr5Driver({ clock }),
      cameras: options.cameras ?? {
        base_rgb: new GeneratedCamera({ name: 'base_rgb', clock }),
        wrist_rgb: new GeneratedCamera({ name: 'wrist_rgb', clock }),
      },
      controlHz,
      clock,
      prompt: options.prompt ?? 'pick up the cube',
      ...(options.homeMs === undefined ? {} : { homeMs: options.homeMs }),
      ...(options.onDecision === undefined ? {} : { onDecision: options.onDecision }),
    });
    await environment.start();
    try {
      const runtime = new Runtime({
        environment,
        agent: new PolicyAgent(new ActionChunkBroker(policy, options.actionHorizon ?? 10)),
        maxHz: controlHz,
        numEpisodes: options.numEpisodes ?? 1,
        maxEpisodeSteps: options.maxEpisodeSteps ?? 200,
        clock,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      return { summary: await runtime.run(), environment };
    } finally {
      await environment.close();
    }
  } finally {
    await closePolicy();
  }
}
