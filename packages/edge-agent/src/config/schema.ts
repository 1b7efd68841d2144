/**
 * The `edge-agent start` configuration: a JSON file (`--config <file>`) validated with zod, merged with the CLI
 * flags (flags win) over the defaults below. Every key, its default and unit: docs/agent.md "Config file".
 */
import { z } from 'zod';
import type { RtcSchedule } from '../model/rtc.js';
import { SafetyOverridesSchema } from '../safety/config.js';

const positiveInt = z.number().int().positive();

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

/** A ROS 2 topic name: absolute or relative, letters, digits, `_` and `/`. */
const rosName = z
  .string()
  .regex(/^\/?[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a ROS 2 name');

/** Running as a ROS 2 node: node name, e-stop and status topics (docs/agent.md "ROS 2"). */
export const Ros2ConfigSchema = z
  .object({
    /** Node name of the agent (the robot's ROS 2 transport, e-stop and status topics). Default `openpi_edge_agent`. */
    nodeName: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a ROS 2 node name')
      .optional(),
    /**
     * `std_msgs/msg/Bool` e-stop topic (true = e-stop). Default `/openpi_edge/estop`, subscribed when the robot runs
     * on ROS 2; setting it subscribes with any transport, and a topic that cannot be opened (ROS 2 not available)
     * is a start-up error.
     */
    estopTopic: rosName.optional(),
    /** `std_msgs/msg/String` topic carrying the agent state as JSON. Default `/openpi_edge/status`. */
    statusTopic: rosName.optional(),
    /** Status publish rate (Hz). Default 2. */
    statusHz: z.number().positive().max(100).optional(),
  })
  .strict();

/** Keys every robot shares; the robot's own section sits under its name (e.g. `aloha`). */
const COMMON_SHAPE = {
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
  /**
   * Real-time chunking (docs/rtc.md; needs the async broker): `mode` `guidance` (the bundle's VJP graph),
   * `inpaint` (training-free, any bundle) or `off` (default); the soft mask's `schedule` (default `exp`) and β
   * `maxGuidance` (default 5).
   */
  rtc: z
    .object({
      mode: z.enum(['off', 'guidance', 'inpaint']).optional(),
      schedule: z.enum(['exp', 'linear', 'ones', 'zeros']).optional(),
      maxGuidance: z.number().nonnegative().max(1000).optional(),
    })
    .strict()
    .optional(),
  /** Episodes to run. Default 1. */
  episodes: positiveInt.optional(),
  /** Control steps per episode; 0 = unbounded (until Ctrl-C). Default 500 (10 s at 50 Hz). */
  maxSteps: z.number().int().nonnegative().optional(),
  /** Longest one tick waits for the policy before holding the robot (ms). Default 1000. */
  policyTimeoutMs: positiveInt.optional(),
  /**
   * Longest the first chunk of an episode may take (ms); it is fetched after the reset, before the episode clock
   * starts. Default 60000 (a full-size model's first chunk on CPU).
   */
  firstChunkTimeoutMs: positiveInt.optional(),
  /** Move to the reset pose before every episode and after the last one. Default true. */
  reset: z.boolean().optional(),
  /** Fraction of each joint's maximum velocity a reset move uses (0 < f <= 1). Default 0.5. */
  resetSpeed: z.number().positive().max(1).optional(),
  /** Safety overrides (docs/safety.md "Knobs"): limits, velocities, watchdog, latchOn. Default none. */
  safety: SafetyOverridesSchema.optional(),
  /** Live status line period (ms); 0 = no status line. Default 250. */
  statusIntervalMs: z.number().int().nonnegative().optional(),
  /** Write an MCAP log of the run to this file (docs/agent.md "Recording an MCAP log"). Default none. */
  recordMcap: z.string().min(1).optional(),
  /** Append each episode to the LeRobot v2.1 dataset in this folder (docs/agent.md "Recording a LeRobot dataset"). */
  record: z.string().min(1).optional(),
  /**
   * Serve the same topics live over the Foxglove WebSocket protocol (docs/agent.md "Live view in Foxglove"):
   * `port` 0 = any free port; `host` default 127.0.0.1. Default none.
   */
  foxglove: z
    .object({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535) })
    .strict()
    .optional(),
  /**
   * Serve the status page (docs/agent.md "Status page"): cameras, plots, latency, faults and an e-stop button.
   * `port` 0 = any free port; `host` default 127.0.0.1. Default none.
   */
  statusPage: z
    .object({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535) })
    .strict()
    .optional(),
};

/** Plugins as far as the config needs them: a name and the schema of their section. */
export interface RobotConfigSection {
  readonly name: string;
  readonly configSchema: z.ZodType;
}

/**
 * The config file for a set of robot plugins: a discriminated union on `robot` (default `aloha` when absent), each
 * variant the common keys plus the robot's own section under its name. Unknown keys are rejected.
 */
export function agentConfigFileSchema(robots: readonly RobotConfigSection[]) {
  const variants = robots.map((r) =>
    z
      .object({
        /** Robot plugin. Default `aloha`. */
        robot: z.literal(r.name),
        ...COMMON_SHAPE,
        [r.name]: r.configSchema.optional(),
      })
      .strict(),
  );
  if (variants.length === 0) throw new Error('agentConfigFileSchema: no robot plugins');
  return z.preprocess(
    (v) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && !('robot' in v)
        ? { robot: 'aloha', ...v }
        : v,
    z
      .discriminatedUnion('robot', variants as unknown as [(typeof variants)[number], ...typeof variants])
      .refine((c) => !(c.bundle !== undefined && c.remote !== undefined), {
        message: 'give either bundle or remote, not both',
        path: ['remote'],
      }),
  );
}

/** A validated config file (the robot's section is `Record<string, unknown>` here; its plugin knows its type). */
export type AgentConfigFile = {
  robot: string;
  ros2?: z.output<typeof Ros2ConfigSchema>;
  bundle?: z.output<typeof BundleConfigSchema>;
  remote?: z.output<typeof RemoteConfigSchema>;
  prompt?: string;
  controlHz?: number;
  actionHorizon?: number;
  broker?: 'async' | 'sync';
  rtc?: { mode?: 'off' | 'guidance' | 'inpaint'; schedule?: RtcSchedule; maxGuidance?: number };
  episodes?: number;
  maxSteps?: number;
  policyTimeoutMs?: number;
  firstChunkTimeoutMs?: number;
  reset?: boolean;
  resetSpeed?: number;
  safety?: z.output<typeof SafetyOverridesSchema>;
  statusIntervalMs?: number;
  recordMcap?: string;
  record?: string;
  foxglove?: { host?: string; port: number };
  statusPage?: { host?: string; port: number };
} & { [robotSection: string]: unknown };
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
  /** Robot plugin name. */
  readonly robot: string;
  /** The robot's section with its plugin's defaults filled in (the plugin's `configSchema` type). */
  readonly robotConfig: Readonly<Record<string, unknown>>;
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
  /** Real-time chunking; `mode: 'off'` = plain chunks. */
  readonly rtc: {
    readonly mode: 'off' | 'guidance' | 'inpaint';
    readonly schedule: RtcSchedule;
    readonly maxGuidance: number;
  };
  readonly episodes: number;
  readonly maxSteps: number;
  readonly policyTimeoutMs: number;
  readonly firstChunkTimeoutMs: number;
  readonly reset: boolean;
  readonly resetSpeed: number;
  readonly safety: SafetyOverridesConfig;
  readonly statusIntervalMs: number;
  /** MCAP log file; absent = no recording. */
  readonly recordMcap?: string;
  /** LeRobot dataset folder; absent = no dataset. */
  readonly record?: string;
  /** Foxglove live view address; absent = none. */
  readonly foxglove?: { readonly host: string; readonly port: number };
  /** Status page address; absent = none. */
  readonly statusPage?: { readonly host: string; readonly port: number };
}
