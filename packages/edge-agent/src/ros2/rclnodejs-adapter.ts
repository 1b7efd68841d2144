/**
 * {@link Ros2Context} on real rclnodejs. Thin on purpose: everything above it is tested against the in-process fake
 * with the same contract suite (test/ros2/contract.test.ts), which also runs here when `ROS_DISTRO` is set.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import {
  initRclnodejs,
  loadRclnodejs,
  type RclnodejsModule,
  type RclnodejsNode,
} from './rclnodejs-binding.js';
import {
  type Ros2Context,
  type Ros2Node,
  type Ros2Parameter,
  type Ros2QosPreset,
  type Ros2ServiceHandler,
  type Ros2Subscription,
  resolveRosName,
} from './surface.js';

class RclnodejsNodeAdapter implements Ros2Node {
  readonly #subs = new Map<Ros2Subscription, unknown>();
  #destroyed = false;

  constructor(
    private readonly rcl: RclnodejsModule,
    private readonly node: RclnodejsNode,
    readonly name: string,
    readonly namespace: string,
  ) {}

  createSubscription(
    type: string,
    topic: string,
    options: { qos?: Ros2QosPreset },
    callback: (message: unknown) => void,
  ): Ros2Subscription {
    const Q = this.rcl.QoS;
    const qos =
      options.qos === 'sensor'
        ? Q.profileSensorData
        : options.qos === 'latched'
          ? new Q(
              Q.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
              1,
              Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE,
              Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL,
            )
          : Q.profileDefault;
    const handle = this.node.createSubscription(type, topic, { qos, enableTypedArray: true }, callback);
    const sub: Ros2Subscription = { topic: resolveRosName(this.namespace, topic) };
    this.#subs.set(sub, handle);
    return sub;
  }

  destroySubscription(subscription: Ros2Subscription): void {
    const handle = this.#subs.get(subscription);
    if (handle === undefined) return;
    this.#subs.delete(subscription);
    if (!this.#destroyed) this.node.destroySubscription(handle);
  }

  createPublisher(type: string, topic: string) {
    const pub = this.node.createPublisher(type, topic);
    return {
      topic: resolveRosName(this.namespace, topic),
      publish: (message: Record<string, unknown>) => pub.publish(message),
    };
  }

  createClient(type: string, service: string) {
    const client = this.node.createClient(type, service);
    const name = resolveRosName(this.namespace, service);
    return {
      service: name,
      waitForService: (timeoutMs: number) => client.waitForService(timeoutMs),
      call: async (request: Record<string, unknown>, timeoutMs: number) => {
        try {
          return await client.sendRequestAsync(request, { timeout: timeoutMs });
        } catch (e) {
          throw new OpenpiEdgeError(
            'REQUEST_TIMEOUT',
            `service ${name} (${type}) did not answer: ${e instanceof Error ? e.message : String(e)}`,
            { service: name, type, timeoutMs },
            { cause: e },
          );
        }
      },
    };
  }

  createService(type: string, service: string, handler: Ros2ServiceHandler) {
    this.node.createService(type, service, {}, (request, response) => {
      Promise.resolve()
        .then(() => handler(request as Record<string, unknown>))
        .then(
          (r) => response.send(r),
          () => response.send({}),
        );
    });
    return { service: resolveRosName(this.namespace, service) };
  }

  declareParameters(parameters: readonly Ros2Parameter[]): void {
    const T = this.rcl.ParameterType;
    const typeId = {
      bool: T.PARAMETER_BOOL,
      integer: T.PARAMETER_INTEGER,
      double: T.PARAMETER_DOUBLE,
      string: T.PARAMETER_STRING,
    };
    const params: unknown[] = [];
    const descriptors: unknown[] = [];
    for (const p of parameters) {
      const id = typeId[p.type];
      const value = p.type === 'integer' ? BigInt(p.value as number) : p.value;
      const param = new this.rcl.Parameter(p.name, id, value);
      const descriptor = new this.rcl.ParameterDescriptor(p.name, id, p.description, p.readOnly);
      try {
        // rclnodejs reports a failed declaration without the reason: check each one first to name it.
        descriptor.validateParameter(param);
      } catch (e) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `node ${this.name}: parameter ${p.name} (${p.type} ${JSON.stringify(p.value)}) is invalid: ${e instanceof Error ? e.message : String(e)}`,
          { node: this.name, parameter: p.name, type: p.type },
          { cause: e },
        );
      }
      params.push(param);
      descriptors.push(descriptor);
    }
    try {
      this.node.declareParameters(params, descriptors);
    } catch (e) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `node ${this.name}: parameters could not be declared: ${e instanceof Error ? e.message : String(e)}`,
        { node: this.name, parameters: parameters.map((p) => p.name) },
        { cause: e },
      );
    }
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#subs.clear();
    this.node.destroy();
  }
}

export interface RclnodejsContextOptions {
  /** Environment to check for a sourced ROS 2. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Loads rclnodejs (ROS2_UNAVAILABLE when ROS 2 is not sourced) and returns a context whose nodes spin at once. */
export async function createRclnodejsContext(options: RclnodejsContextOptions = {}): Promise<Ros2Context> {
  const env = options.env ?? process.env;
  const rcl = await loadRclnodejs(env);
  await initRclnodejs(rcl);
  const nodes = new Set<Ros2Node>();
  let down = false;
  return {
    description: `rclnodejs (ROS_DISTRO=${env.ROS_DISTRO})`,
    createNode(name: string, namespace = '/') {
      if (down) {
        throw new OpenpiEdgeError('CLOSED', `ROS 2 context is shut down; cannot create node ${name}`, {
          node: name,
        });
      }
      const raw = new rcl.Node(name, namespace);
      raw.spin();
      const node = new RclnodejsNodeAdapter(rcl, raw, name, namespace);
      nodes.add(node);
      return node;
    },
    async shutdown() {
      if (down) return;
      down = true;
      for (const n of nodes) n.destroy();
      nodes.clear();
      await rcl.shutdown();
    },
  };
}
