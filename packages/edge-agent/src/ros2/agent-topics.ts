/**
 * The agent on the ROS 2 graph: a `std_msgs/msg/Bool` e-stop topic (true -> `EStop.trigger('ros2', ...)`; false
 * does nothing: a latched e-stop is cleared only by an explicit reset) and a `std_msgs/msg/String` status topic
 * (the agent state as JSON, published at `statusHz`). Through the {@link Ros2Node} surface, so the in-process fake
 * runs the same code as rclnodejs.
 */
import { type Clock, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import type { EStop } from '../safety/estop.js';
import { createRclnodejsContext } from './rclnodejs-adapter.js';
import type { Ros2Context, Ros2Node, Ros2Parameter, Ros2Publisher, Ros2Subscription } from './surface.js';

/** Message types of the agent's topics. */
export const AGENT_ROS2_TYPES = { bool: 'std_msgs/msg/Bool', string: 'std_msgs/msg/String' } as const;
/** Default e-stop topic (`std_msgs/msg/Bool`, true = e-stop). */
export const DEFAULT_ESTOP_TOPIC = '/openpi_edge/estop';
/** Default status topic (`std_msgs/msg/String`, JSON). */
export const DEFAULT_STATUS_TOPIC = '/openpi_edge/status';

export interface AgentRos2TopicsOptions {
  /** The latch a `true` on the e-stop topic sets. */
  estop: EStop;
  /** The state to publish (serialised with JSON.stringify; `estop` is added). Called at `statusHz`. */
  status: () => unknown;
  /** E-stop topic. Default {@link DEFAULT_ESTOP_TOPIC}. */
  estopTopic?: string;
  /** Status topic. Default {@link DEFAULT_STATUS_TOPIC}. */
  statusTopic?: string;
  /** Status rate (Hz). Default 2. */
  statusHz?: number;
  /** Clock for the status timeline (ms). Default the real clock. */
  clock?: Clock;
  /** Declared on the node at construction (the agent's read-only parameters, ros2/agent-parameters.ts). */
  parameters?: readonly Ros2Parameter[];
}

/** Subscriptions and publisher of the agent's topics on one node. */
export class AgentRos2Topics {
  readonly estopTopic: string;
  readonly statusTopic: string;
  /** E-stop messages received: true, false, and malformed (ignored). */
  readonly received = { true: 0, false: 0, malformed: 0 };
  readonly #node: Ros2Node;
  readonly #sub: Ros2Subscription;
  readonly #pub: Ros2Publisher;
  readonly #opts: AgentRos2TopicsOptions;
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;

  constructor(node: Ros2Node, options: AgentRos2TopicsOptions) {
    const hz = options.statusHz ?? 2;
    if (!(hz > 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `statusHz must be > 0, got ${hz}`, { key: 'ros2.statusHz' });
    }
    this.#node = node;
    this.#opts = options;
    this.estopTopic = options.estopTopic ?? DEFAULT_ESTOP_TOPIC;
    this.statusTopic = options.statusTopic ?? DEFAULT_STATUS_TOPIC;
    if (options.parameters !== undefined) node.declareParameters(options.parameters);
    this.#pub = node.createPublisher(AGENT_ROS2_TYPES.string, this.statusTopic);
    this.#sub = node.createSubscription(AGENT_ROS2_TYPES.bool, this.estopTopic, { qos: 'default' }, (m) =>
      this.#onEstop(m),
    );
    this.#loop = this.#publishLoop(1000 / hz, options.clock ?? realClock);
  }

  #onEstop(message: unknown): void {
    const data = (message as { data?: unknown } | null)?.data;
    if (data === true) {
      this.received.true += 1;
      this.#opts.estop.trigger('ros2', `std_msgs/Bool true on ${this.estopTopic}`);
    } else if (data === false) this.received.false += 1;
    else this.received.malformed += 1;
  }

  /** Publishes the status once now (also done at `statusHz`). Never throws: a failing `status()` is reported. */
  publishStatus(): void {
    let state: unknown;
    try {
      state = this.#opts.status();
    } catch (e) {
      state = { error: e instanceof Error ? e.message : String(e) };
    }
    const cause = this.#opts.estop.cause;
    const body = {
      estop: cause === null ? null : { source: cause.source, reason: cause.reason },
      state: state ?? null,
    };
    this.#pub.publish({ data: JSON.stringify(body) });
  }

  async #publishLoop(periodMs: number, clock: Clock): Promise<void> {
    const t0 = clock.now();
    for (let i = 1; !this.#stop.signal.aborted; i++) {
      try {
        await clock.sleepUntil(t0 + i * periodMs, this.#stop.signal);
      } catch {
        return; // aborted by close()
      }
      this.publishStatus();
    }
  }

  /** Stops publishing and unsubscribes (the node itself stays). Idempotent. */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    await this.#loop;
    this.#node.destroySubscription(this.#sub);
  }
}

export interface OpenAgentRos2Options extends AgentRos2TopicsOptions {
  /** The ros2 transport's node: the topics go on it. Absent: a node of their own is made when `estopTopic` is set. */
  node?: Ros2Node;
  /** Context for an own node (e.g. a test fake). Default rclnodejs. */
  context?: Ros2Context;
  /** Name of an own node. Default `openpi_edge_agent`. */
  nodeName?: string;
}

/** The topics and what to close: the topics, plus the node and context when they were made here. */
export interface OpenedAgentRos2 {
  topics: AgentRos2Topics;
  close(): Promise<void>;
}

/**
 * With a node (ros2 transport): the topics on it. Without one: only when `estopTopic` is set, on a node of its own
 * (`nodeName`); when ROS 2 is not available that is a start-up error (ROS2_UNAVAILABLE naming the topic): an e-stop
 * input that was asked for and cannot be opened must not be dropped with a warning. Otherwise null.
 */
export async function openAgentRos2Topics(options: OpenAgentRos2Options): Promise<OpenedAgentRos2 | null> {
  if (options.node !== undefined) {
    const topics = new AgentRos2Topics(options.node, options);
    return { topics, close: () => topics.close() };
  }
  if (options.estopTopic === undefined) return null;
  let context = options.context;
  let owned: Ros2Context | undefined;
  if (context === undefined) {
    try {
      owned = await createRclnodejsContext();
    } catch (e) {
      if (e instanceof OpenpiEdgeError && e.code === 'ROS2_UNAVAILABLE') {
        throw new OpenpiEdgeError(
          'ROS2_UNAVAILABLE',
          `e-stop topic ${options.estopTopic} cannot be subscribed: ${e.message}`,
          { ...e.context, topic: options.estopTopic },
          { cause: e },
        );
      }
      throw e;
    }
    context = owned;
  }
  const node = context.createNode(options.nodeName ?? 'openpi_edge_agent');
  let topics: AgentRos2Topics;
  try {
    topics = new AgentRos2Topics(node, options);
  } catch (e) {
    // A live rclnodejs context keeps the process running: a failed start-up must not leave one behind.
    node.destroy();
    await owned?.shutdown();
    throw e;
  }
  return {
    topics,
    async close() {
      await topics.close();
      node.destroy();
      await owned?.shutdown();
    },
  };
}
