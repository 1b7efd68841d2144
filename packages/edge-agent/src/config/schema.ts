/**
 * The `edge-agent start` configuration: a JSON file (`--config <file>`) validated with zod, merged with the CLI
 * flags (flags win) over the defaults below. Every key, its default and unit: docs/agent.md "Config file".
 */
import { z } from 'zod';
import { SafetyOverridesSchema } from '../safety/config.js';

const positiveInt = z.number().int().positive();

/** Follower ports of the `serial` transport (U2D2 adapters, or `edge-agent emulate aloha`'s ptys). */
export const SerialConfigSchema = z
  .object({
    /** Left follower port. Default `/dev/ttyDXL_puppet_left` (openpi's udev name). */
    portLeft: z.string().min(1).optional(),
    /** Right follower port. Default `/dev/ttyDXL_puppet_right`. */
    portRight: z.string().min(1).optional(),
    /** Line rate (bit/s). Default 1_000_000 (Interbotix / ALOHA). */
    baudRate: positiveInt.optional(),
  })
  .strict();

/** Local model: an exported bundle run with onnxruntime. */
export const BundleConfigSchema = z
  .object({
    /** Bundle directory. Default: the committed demo π0 bundle (assets/demo-bundle-pi0). */
    dir: z.string().min(1).optional(),
    /** Execution providers in priority order, e.g. `["tensorrt", "cuda", "cpu"]` (the default). */
    providers: z
      .array(z.enum(['tensorrt', 'cuda', 'cpu']))
      .min(1)
      .optional(),
    /** onnxruntime Node package with GPU providers. Default `$OPENPI_EDGE_ORT_PATH`, else onnxruntime-node. */
    ortPath: z.string().min(1).optional(),
    /** Euler steps per chunk. Default: the manifest's `num_steps`. */
    numSteps: positiveInt.optional(),
    /** Noise seed. Default: random. */
    seed: z.number().int().nonnegative().optional(),
    /** CPU intra-op threads, 0 = onnxruntime's choice (all cores). Default: cores - 1 (min 1), a core for the loop. */
    threads: z.number().int().nonnegative().optional(),
  })
  .strict();

/** Remote model: an openpi websocket policy server (openpi's `serve_policy.py` or `edge-agent serve`). */
export const RemoteConfigSchema = z
  .object({
    /** Server URI, `ws://host:port` or `wss://...`. Required for a remote policy. */
    url: z.string().regex(/^wss?:\/\/.+/, 'must start with ws:// or wss://'),
    /** Sends `Authorization: Api-Key <key>`. Default none. */
    apiKey: z.string().min(1).optional(),
    /** Handshake + metadata deadline per connection attempt (ms). Default 10000. */
    connectTimeoutMs: positiveInt.optional(),
    /** Reply deadline per inference (ms); on expiry the connection is dropped and re-made. Default 5000. */
    requestTimeoutMs: positiveInt.optional(),
  })
  .strict();

/** Cameras of the robot. */
export const CamerasConfigSchema = z
  .object({
    /**
     * `generated`: synthetic moving frames (the default for `emulator` and `serial`); `ros2`: the ALOHA image topics
     * (the default for `ros2`); `none`: no cameras (the policy sees black frames, the watchdog requires none).
     */
    source: z.enum(['generated', 'ros2', 'none']).optional(),
    /** Frame size (px) of generated cameras. Default 640 x 480 (ALOHA's RealSense cameras). */
    width: positiveInt.optional(),
    height: positiveInt.optional(),
    /** Frame rate (Hz) of generated cameras. Default 30. */
    fps: z.number().positive().optional(),
  })
  .strict();

/** A ROS 2 topic name: absolute or relative, letters, digits, `_` and `/`. */
const rosName = z
  .string()
  .regex(/^\/?[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a ROS 2 name');

/** Running as a ROS 2 node: node name, e-stop and status topics (docs/agent.md "ROS 2"). */
export const Ros2ConfigSchema = z
  .object({
    /** Node name of the agent (ros2 transport, e-stop and status topics). Default `openpi_edge_agent`. */
    nodeName: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a ROS 2 node name')
      .optional(),
    /**
     * `std_msgs/msg/Bool` e-stop topic (true = e-stop). Default `/openpi_edge/estop`, subscribed with the ros2
     * transport; setting it subscribes with any transport when ROS 2 is available (a warning otherwise).
     */
    estopTopic: rosName.optional(),
    /** `std_msgs/msg/String` topic carrying the agent state as JSON. Default `/openpi_edge/status`. */
    statusTopic: rosName.optional(),
    /** Status publish rate (Hz). Default 2. */
    statusHz: z.number().positive().max(100).optional(),
  })
  .strict();

/** The config file: every key optional; unknown keys are rejected. */
export const AgentConfigFileSchema = z
  .object({
    /** Robot. Only `aloha` for now. Default `aloha`. */
    robot: z.enum(['aloha']).optional(),
    /** How the arms are reached. Default `emulator`. */
    transport: z.enum(['emulator', 'serial', 'ros2']).optional(),
    serial: SerialConfigSchema.optional(),
    cameras: CamerasConfigSchema.optional(),
    ros2: Ros2ConfigSchema.optional(),
    /** Local bundle. Exclusive with `remote`; the default model is the demo bundle. */
    bundle: BundleConfigSchema.optional(),
    /** Remote openpi server. Exclusive with `bundle`. */
    remote: RemoteConfigSchema.optional(),
    /** Task prompt sent with every observation. Default none (the model's default prompt applies). */
    prompt: z.string().optional(),
    /** Control rate (Hz). Default 50 (openpi aloha_real). */
    controlHz: z.number().positive().max(1000).optional(),
    /** Rows of each chunk executed before the next one is used (execution horizon). Default 25. */
    actionHorizon: positiveInt.optional(),
    /** `async`: fetch the next chunk while the current one executes; `sync`: openpi's blocking broker. Default `async`. */
    broker: z.enum(['async', 'sync']).optional(),
    /** Episodes to run. Default 1. */
    episodes: positiveInt.optional(),
    /** Control steps per episode; 0 = unbounded (until Ctrl-C). Default 500 (10 s at 50 Hz). */
    maxSteps: z.number().int().nonnegative().optional(),
    /** Longest one tick waits for the policy before holding the arms (ms). Default 1000. */
    policyTimeoutMs: positiveInt.optional(),
    /** Move to the reset pose before every episode and after the last one. Default true. */
    reset: z.boolean().optional(),
    /** Safety overrides (docs/safety.md "Knobs"): limits, velocities, watchdog, latchOn. Default none. */
    safety: SafetyOverridesSchema.optional(),
    /** Live status line period (ms); 0 = no status line. Default 250. */
    statusIntervalMs: z.number().int().nonnegative().optional(),
  })
  .strict()
  .refine((c) => !(c.bundle !== undefined && c.remote !== undefined), {
    message: 'give either bundle or remote, not both',
    path: ['remote'],
  });

export type AgentConfigFile = z.output<typeof AgentConfigFileSchema>;
export type SafetyOverridesConfig = z.output<typeof SafetyOverridesSchema>;

/** The model the agent runs: a local bundle or a remote server. */
export type ModelConfig =
  | {
      readonly kind: 'bundle';
      readonly dir: string;
      readonly providers: readonly ('tensorrt' | 'cuda' | 'cpu')[];
      readonly ortPath?: string;
      readonly numSteps?: number;
      readonly seed?: number;
      readonly threads?: number;
    }
  | {
      readonly kind: 'remote';
      readonly url: string;
      readonly apiKey?: string;
      readonly connectTimeoutMs: number;
      readonly requestTimeoutMs: number;
    };

/** Everything resolved: the defaults, then the file, then the flags. */
export interface AgentConfig {
  readonly robot: 'aloha';
  readonly transport: 'emulator' | 'serial' | 'ros2';
  readonly serial: { readonly portLeft: string; readonly portRight: string; readonly baudRate: number };
  readonly cameras: {
    readonly source: 'generated' | 'ros2' | 'none';
    readonly width: number;
    readonly height: number;
    readonly fps: number;
  };
  readonly model: ModelConfig;
  /** ROS 2 node name and topics; `estopTopic` absent = the default, subscribed only with the ros2 transport. */
  readonly ros2: {
    readonly nodeName: string;
    readonly estopTopic?: string;
    readonly statusTopic: string;
    readonly statusHz: number;
  };
  readonly prompt?: string;
  readonly controlHz: number;
  readonly actionHorizon: number;
  readonly broker: 'async' | 'sync';
  readonly episodes: number;
  readonly maxSteps: number;
  readonly policyTimeoutMs: number;
  readonly reset: boolean;
  readonly safety: SafetyOverridesConfig;
  readonly statusIntervalMs: number;
}
