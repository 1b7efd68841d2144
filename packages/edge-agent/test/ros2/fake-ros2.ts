/**
 * An in-process ROS 2 graph implementing the same {@link Ros2Context} surface the rclnodejs adapter implements:
 * nodes, topics (delivery on a later microtask, messages structured-cloned like a serialisation round trip),
 * services, with name resolution against node namespaces. It records every publication and service call so tests
 * can assert on them, and `deliver` injects a message as if an outside publisher sent it. `transientLocal` marks a
 * topic latched: its newest message also goes to later subscribers.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import {
  type Ros2Context,
  type Ros2Node,
  type Ros2Parameter,
  type Ros2Publisher,
  type Ros2Service,
  type Ros2ServiceClient,
  type Ros2ServiceHandler,
  type Ros2Subscription,
  type Ros2SubscriptionOptions,
  resolveRosName,
} from '../../src/ros2/surface.js';

export interface Publication {
  topic: string;
  type: string;
  message: Record<string, unknown>;
  node: string;
}

export interface ServiceCall {
  service: string;
  type: string;
  request: Record<string, unknown>;
}

interface Sub {
  handle: Ros2Subscription;
  type: string;
  options: Ros2SubscriptionOptions;
  callback: (m: unknown) => void;
  node: FakeNode;
}

export class FakeRos2Graph implements Ros2Context {
  readonly description = 'fake';
  readonly publications: Publication[] = [];
  readonly calls: ServiceCall[] = [];
  readonly nodes = new Set<FakeNode>();
  readonly subs = new Map<string, Set<Sub>>();
  readonly services = new Map<string, { type: string; handler: Ros2ServiceHandler }>();
  readonly #serviceWaiters = new Set<() => void>();
  /** Latched topics and their newest message (null before the first). */
  readonly #retained = new Map<string, { type: string; message: unknown } | null>();
  #down = false;

  /**
   * Makes `topic` (absolute) transient local, as a latched publisher would: its newest message is kept and handed
   * to every later subscriber too, on a later microtask.
   */
  transientLocal(topic: string): void {
    if (!this.#retained.has(topic)) this.#retained.set(topic, null);
  }

  /** The kept newest message of a latched topic (a copy), if any. */
  retained(topic: string): { type: string; message: unknown } | undefined {
    const r = this.#retained.get(topic);
    return r == null ? undefined : { type: r.type, message: structuredClone(r.message) };
  }

  createNode(name: string, namespace = '/'): Ros2Node {
    if (this.#down) throw new OpenpiEdgeError('CLOSED', 'fake graph shut down', { node: name });
    const n = new FakeNode(this, name, namespace);
    this.nodes.add(n);
    return n;
  }

  async shutdown(): Promise<void> {
    this.#down = true;
    for (const n of this.nodes) n.destroy();
  }

  /** Publications on `topic` (absolute name). */
  published(topic: string): Publication[] {
    return this.publications.filter((p) => p.topic === topic);
  }

  /** Subscriptions currently on `topic`. */
  subscribers(topic: string): Array<{ type: string; qos: string | undefined }> {
    return [...(this.subs.get(topic) ?? [])].map((s) => ({ type: s.type, qos: s.options.qos }));
  }

  /** Delivers `message` to every subscriber of `topic`, as an outside publisher of `type` would. */
  deliver(topic: string, type: string, message: unknown): void {
    this.route(topic, type, message);
  }

  route(topic: string, type: string, message: unknown): void {
    if (this.#retained.has(topic)) this.#retained.set(topic, { type, message: structuredClone(message) });
    for (const s of this.subs.get(topic) ?? []) {
      if (s.type !== type) {
        throw new OpenpiEdgeError('BAD_MESSAGE', `fake graph: ${topic} carries ${s.type}, got ${type}`, {
          topic,
          type,
          expected: s.type,
        });
      }
    }
    for (const s of [...(this.subs.get(topic) ?? [])]) {
      const copy = structuredClone(message);
      queueMicrotask(() => {
        if (this.subs.get(topic)?.has(s)) s.callback(copy);
      });
    }
  }

  serviceRegistered(): void {
    for (const w of [...this.#serviceWaiters]) w();
  }

  waitForRegistration(listener: () => void): () => void {
    this.#serviceWaiters.add(listener);
    return () => this.#serviceWaiters.delete(listener);
  }
}

class FakeNode implements Ros2Node {
  readonly #mine = new Set<Sub>();
  readonly #services = new Set<string>();
  #destroyed = false;

  constructor(
    readonly graph: FakeRos2Graph,
    readonly name: string,
    readonly namespace: string,
  ) {}

  #check(): void {
    if (this.#destroyed)
      throw new OpenpiEdgeError('CLOSED', `node ${this.name} destroyed`, { node: this.name });
  }

  createSubscription(
    type: string,
    topic: string,
    options: Ros2SubscriptionOptions,
    callback: (message: unknown) => void,
  ): Ros2Subscription {
    this.#check();
    const name = resolveRosName(this.namespace, topic);
    const s: Sub = { handle: { topic: name }, type, options, callback, node: this };
    let set = this.graph.subs.get(name);
    if (set === undefined) {
      set = new Set();
      this.graph.subs.set(name, set);
    }
    set.add(s);
    this.#mine.add(s);
    const kept = this.graph.retained(name);
    if (kept !== undefined && kept.type === type) {
      queueMicrotask(() => {
        if (this.graph.subs.get(name)?.has(s)) s.callback(kept.message);
      });
    }
    return s.handle;
  }

  destroySubscription(subscription: Ros2Subscription): void {
    for (const s of this.#mine) {
      if (s.handle !== subscription) continue;
      this.#mine.delete(s);
      this.graph.subs.get(s.handle.topic)?.delete(s);
    }
  }

  createPublisher(type: string, topic: string): Ros2Publisher {
    this.#check();
    const name = resolveRosName(this.namespace, topic);
    return {
      topic: name,
      publish: (message) => {
        if (this.#destroyed) return;
        this.graph.publications.push({
          topic: name,
          type,
          message: structuredClone(message),
          node: this.name,
        });
        this.graph.route(name, type, message);
      },
    };
  }

  createClient(type: string, service: string): Ros2ServiceClient {
    this.#check();
    const name = resolveRosName(this.namespace, service);
    const graph = this.graph;
    return {
      service: name,
      waitForService(timeoutMs: number): Promise<boolean> {
        if (graph.services.has(name)) return Promise.resolve(true);
        return new Promise((resolve) => {
          const t = setTimeout(() => {
            off();
            resolve(false);
          }, timeoutMs);
          const off = graph.waitForRegistration(() => {
            if (!graph.services.has(name)) return;
            clearTimeout(t);
            off();
            resolve(true);
          });
        });
      },
      async call(request: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
        const s = graph.services.get(name);
        graph.calls.push({ service: name, type, request: structuredClone(request) });
        if (s === undefined) {
          throw new OpenpiEdgeError('REQUEST_TIMEOUT', `service ${name} did not answer`, {
            service: name,
            type,
            timeoutMs,
          });
        }
        if (s.type !== type) {
          throw new OpenpiEdgeError('BAD_MESSAGE', `service ${name} is ${s.type}, called as ${type}`, {
            service: name,
            type,
          });
        }
        await Promise.resolve();
        return structuredClone(await s.handler(structuredClone(request)));
      },
    };
  }

  createService(type: string, service: string, handler: Ros2ServiceHandler): Ros2Service {
    this.#check();
    const name = resolveRosName(this.namespace, service);
    this.graph.services.set(name, { type, handler });
    this.#services.add(name);
    this.graph.serviceRegistered();
    return { service: name };
  }

  /** Parameters declared on this node, by name (what a parameter client would list). */
  readonly parameters = new Map<string, Ros2Parameter>();

  declareParameters(parameters: readonly Ros2Parameter[]): void {
    for (const [i, p] of parameters.entries()) {
      if (this.parameters.has(p.name) || parameters.findIndex((q) => q.name === p.name) !== i) {
        throw new OpenpiEdgeError('BAD_ARGUMENT', `node ${this.name}: parameter ${p.name} already declared`, {
          node: this.name,
          parameter: p.name,
        });
      }
    }
    for (const p of parameters) this.parameters.set(p.name, { ...p });
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const s of [...this.#mine]) this.destroySubscription(s.handle);
    for (const name of this.#services) this.graph.services.delete(name);
    this.graph.nodes.delete(this);
  }
}
