/**
 * The small part of rclnodejs that openpi-edge uses, as an interface: contexts, nodes, subscriptions, publishers,
 * service clients and servers. `rclnodejs-adapter.ts` maps it onto the real library; tests use an in-process fake
 * of the same interface, so every driver above it runs the same code either way.
 */
import type { Ros2ParameterType, Ros2ParameterValue } from './ros-args.js';

/**
 * QoS preset names: `default` = reliable, depth 10; `sensor` = best effort, depth 5 (rclnodejs `QoS.profile*`);
 * `latched` = reliable, transient local, depth 1: a late subscriber still gets the last message of a topic that
 * publishes only on change (ur_robot_driver's io_and_status_controller modes).
 */
export type Ros2QosPreset = 'default' | 'sensor' | 'latched';

export interface Ros2SubscriptionOptions {
  /** QoS preset. Default `'default'` (reliable; also receives from reliable publishers with `sensor`). */
  qos?: Ros2QosPreset;
}

/** A handle to undo a subscription with {@link Ros2Node.destroySubscription}. */
export interface Ros2Subscription {
  readonly topic: string;
}

export interface Ros2Publisher {
  readonly topic: string;
  /** Publishes a plain object shaped like the message (plain arrays accepted for array fields). Never throws on a
   *  missing subscriber. */
  publish(message: Record<string, unknown>): void;
}

export interface Ros2ServiceClient {
  readonly service: string;
  /** Resolves true once a server is available, false after `timeoutMs` (ms). */
  waitForService(timeoutMs: number): Promise<boolean>;
  /** Sends one request and resolves with the response; rejects after `timeoutMs` (ms) without one. */
  call(request: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
}

/** Answers one request; the returned object is the response (an empty object for empty responses). */
export type Ros2ServiceHandler = (
  request: Record<string, unknown>,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface Ros2Service {
  readonly service: string;
}

/**
 * A node parameter as `declareParameters` takes it: visible to every other node through the standard parameter
 * services (`~/list_parameters`, `~/get_parameters`, `~/describe_parameters`; `ros2 param list` / `get`).
 */
export interface Ros2Parameter {
  name: string;
  type: Ros2ParameterType;
  /** Integers as JS numbers (safe-integer range); rclnodejs takes them as BigInt, the adapter converts. */
  value: Ros2ParameterValue;
  description: string;
  /** True: a `set_parameters` from outside is refused (the agent reads its parameters once, at start-up). */
  readOnly: boolean;
}

/**
 * One ROS 2 node. Topic and service names are resolved as ROS does: absolute (`/a/b`) as given, relative against the
 * node's namespace. Callbacks run on the event loop (rclnodejs spins in the background); they must not throw.
 */
export interface Ros2Node {
  readonly name: string;
  readonly namespace: string;
  /** `type` like `'sensor_msgs/msg/JointState'`. Messages arrive as plain objects; numeric arrays as TypedArrays. */
  createSubscription(
    type: string,
    topic: string,
    options: Ros2SubscriptionOptions,
    callback: (message: unknown) => void,
  ): Ros2Subscription;
  destroySubscription(subscription: Ros2Subscription): void;
  createPublisher(type: string, topic: string): Ros2Publisher;
  /** `type` like `'interbotix_xs_msgs/srv/TorqueEnable'`. */
  createClient(type: string, service: string): Ros2ServiceClient;
  createService(type: string, service: string, handler: Ros2ServiceHandler): Ros2Service;
  /** Declares parameters on the node (each name once; a second declaration of a name is BAD_ARGUMENT). */
  declareParameters(parameters: readonly Ros2Parameter[]): void;
  /** Destroys the node and everything created on it; idempotent. */
  destroy(): void;
}

/** An initialised ROS 2 client library (one per process for rclnodejs). */
export interface Ros2Context {
  /** What backs it (`rclnodejs <distro>`, `fake`), for error context. */
  readonly description: string;
  /** A new node, already spinning. `namespace` default `'/'`. */
  createNode(name: string, namespace?: string): Ros2Node;
  /** Destroys every node and shuts the library down; idempotent. */
  shutdown(): Promise<void>;
}

/** ROS name resolution for the names used here (no `~`, no remapping): absolute stays, relative joins the namespace. */
export function resolveRosName(namespace: string, name: string): string {
  if (name.startsWith('/')) return name;
  const ns = namespace === '' || namespace === '/' ? '' : namespace.replace(/\/+$/, '');
  return `${ns.startsWith('/') || ns === '' ? ns : `/${ns}`}/${name}`;
}
