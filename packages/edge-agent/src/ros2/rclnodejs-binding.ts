/**
 * The one place that loads rclnodejs. rclnodejs is optional: it installs only where ROS 2 is sourced, and importing
 * it without a built binary tries to compile at import time (minutes) before failing, so the environment is checked
 * first (`ROS_DISTRO`, `AMENT_PREFIX_PATH`) and the import is dynamic, behind a try/catch.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { rosArgSections } from './ros-args.js';

/** The members of the rclnodejs module used by the adapter (typed structurally: no rclnodejs types needed). */
export interface RclnodejsModule {
  /** `context` undefined = the default context; `argv` is what rcl parses for `--ros-args` (default process.argv). */
  init(context?: unknown, argv?: string[]): Promise<void>;
  shutdown(): void | Promise<void>;
  Node: new (name: string, namespace?: string) => RclnodejsNode;
  /** rclnodejs `Parameter(name, type, value)`: integer values as BigInt. */
  Parameter: new (
    name: string,
    type: number,
    value: unknown,
  ) => unknown;
  ParameterDescriptor: new (
    name: string,
    type: number,
    description: string,
    readOnly: boolean,
  ) => { validateParameter(parameter: unknown): void };
  ParameterType: {
    PARAMETER_BOOL: number;
    PARAMETER_INTEGER: number;
    PARAMETER_DOUBLE: number;
    PARAMETER_STRING: number;
  };
  QoS: {
    profileDefault: unknown;
    profileSensorData: unknown;
    new (history: number, depth: number, reliability: number, durability: number): unknown;
    HistoryPolicy: { RMW_QOS_POLICY_HISTORY_KEEP_LAST: number };
    ReliabilityPolicy: { RMW_QOS_POLICY_RELIABILITY_RELIABLE: number };
    DurabilityPolicy: { RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL: number };
  };
}

export interface RclnodejsNode {
  createSubscription(
    type: string,
    topic: string,
    options: Record<string, unknown>,
    callback: (message: unknown) => void,
  ): unknown;
  destroySubscription(subscription: unknown): void;
  createPublisher(type: string, topic: string): { publish(message: unknown): void };
  createClient(
    type: string,
    service: string,
  ): {
    waitForService(timeoutMs: number): Promise<boolean>;
    sendRequestAsync(request: unknown, options: { timeout: number }): Promise<unknown>;
  };
  createService(
    type: string,
    service: string,
    options: Record<string, unknown>,
    callback: (request: unknown, response: { send(r: unknown): void }) => void,
  ): unknown;
  declareParameters(parameters: unknown[], descriptors: unknown[]): unknown;
  spin(): void;
  destroy(): void;
  name(): string;
  namespace(): string;
}

/** Why ROS 2 cannot be used in `env`, or undefined when it looks sourced. */
export function rosEnvironmentProblem(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const missing = ['ROS_DISTRO', 'AMENT_PREFIX_PATH'].filter((k) => !env[k]);
  if (missing.length === 0) return undefined;
  return (
    `ROS 2 is not sourced (${missing.join(' and ')} unset): run \`source /opt/ros/<distro>/setup.bash\` ` +
    '(and your workspace with interbotix_xs_msgs) before starting, or pick another transport'
  );
}

let loaded: Promise<RclnodejsModule> | undefined;

/**
 * Imports rclnodejs once (not initialised: see {@link initRclnodejs}). Throws ROS2_UNAVAILABLE (context: missing/distro/cause) when ROS 2 is not
 * sourced or the package is not installed (`pnpm --filter @openpi-edge/edge-agent add -O rclnodejs` with ROS sourced).
 */
export function loadRclnodejs(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<RclnodejsModule> {
  const problem = rosEnvironmentProblem(env);
  if (problem !== undefined) {
    return Promise.reject(
      new OpenpiEdgeError('ROS2_UNAVAILABLE', problem, {
        missing: ['ROS_DISTRO', 'AMENT_PREFIX_PATH'].filter((k) => !env[k]),
      }),
    );
  }
  loaded ??= (async () => {
    // A variable specifier keeps TypeScript and bundlers from resolving the optional package at build time.
    const specifier = 'rclnodejs';
    let mod: RclnodejsModule;
    try {
      const imported = (await import(specifier)) as { default?: RclnodejsModule } & RclnodejsModule;
      mod = imported.default ?? imported;
    } catch (e) {
      throw new OpenpiEdgeError(
        'ROS2_UNAVAILABLE',
        `rclnodejs could not be loaded (ROS_DISTRO=${env.ROS_DISTRO}): ${e instanceof Error ? e.message : String(e)}; ` +
          'install it with ROS 2 sourced: pnpm --filter @openpi-edge/edge-agent add -O rclnodejs',
        { distro: env.ROS_DISTRO, module: 'rclnodejs' },
        { cause: e },
      );
    }
    return mod;
  })().catch((e: unknown) => {
    loaded = undefined;
    throw e;
  });
  return loaded;
}

/**
 * `rclnodejs.init()`, tolerating a context that another part of the process initialised already. rcl gets the
 * process arguments without `--ros-args`: the CLI applies those itself (cli/start.ts `withRosArgs`, typed and
 * checked by ros2/agent-parameters.ts); rcl would also apply them to every node of the process, as overrides that
 * clash with the agent's declared parameter types (`hz:=25` is an integer to rcl, a double to the agent).
 */
export async function initRclnodejs(mod: RclnodejsModule): Promise<void> {
  try {
    await mod.init(undefined, rosArgSections(process.argv).args);
  } catch (e) {
    if (!/already/i.test(e instanceof Error ? e.message : String(e))) throw e;
  }
}
