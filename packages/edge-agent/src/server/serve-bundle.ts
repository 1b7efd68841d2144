/**
 * Serves a bundle over openpi's websocket protocol: a {@link WorkerPolicy} (the bundle's OnnxPolicy in a worker
 * thread) behind the client package's WebsocketPolicyServer, with the manifest's `metadata` (e.g. ALOHA
 * `reset_pose`) as the first frame, so openpi's own clients (ALOHA, LIBERO, DROID examples, simple_client) talk to it
 * unchanged. onnxruntime-node blocks the thread that runs a graph (up to ~0.5 s per graph for deep models); in the
 * worker, the server's event loop keeps answering handshakes, `/healthz` and pings while a chunk is computed.
 */
import {
  type ServerLogger,
  WebsocketPolicyServer,
  type WebsocketPolicyServerAddress,
  type WebsocketPolicyServerOptions,
} from '@openpi-edge/client/node';
import { WorkerPolicy, type WorkerPolicyOptions } from '../inference/worker-policy.js';

export interface ServeBundleOptions extends WorkerPolicyOptions {
  /** Bundle directory. Required. */
  bundle: string;
  /**
   * Interface to bind. Default `'127.0.0.1'` (loopback, as `WebsocketPolicyServer`); openpi's `serve_policy.py`
   * binds `'0.0.0.0'`: pass it, with `server.apiKey`, to serve robots on the network.
   */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8000 (openpi's). */
  port?: number;
  /** Further server options (API key, ping timing, size cap, logger); `metadata`, `host`, `port` come from above. */
  server?: Omit<WebsocketPolicyServerOptions, 'metadata' | 'host' | 'port'>;
  /** Server logger. Default: warnings to `console.warn`. */
  logger?: ServerLogger;
}

/** A running server and its policy. `close()` stops both (the worker thread included). */
export interface ServingBundle {
  /** The policy the server runs: its `manifest`, `report`, `dir`, `stats` (restarts, crashes, hangs). */
  readonly policy: WorkerPolicy;
  readonly server: WebsocketPolicyServer;
  readonly address: WebsocketPolicyServerAddress;
  close(): Promise<void>;
}

/**
 * Loads the bundle in a worker (errors as `OnnxPolicy.load`, see {@link WorkerPolicy.load}), then binds
 * (BAD_ARGUMENT when the port is taken). The policy and its thread are released if binding fails.
 */
export async function serveBundle(options: ServeBundleOptions): Promise<ServingBundle> {
  const { bundle, host, port, server: serverOptions, logger, ...policyOptions } = options;
  const policy = await WorkerPolicy.load(bundle, policyOptions);
  const server = new WebsocketPolicyServer(policy, {
    ...serverOptions,
    metadata: policy.metadata,
    host: host ?? '127.0.0.1',
    port: port ?? 8000,
    ...(logger === undefined ? {} : { logger }),
  });
  let address: WebsocketPolicyServerAddress;
  try {
    address = await server.listen();
  } catch (e) {
    await policy.close();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    policy,
    server,
    address,
    close: () => {
      closing ??= server.close().then(() => policy.close());
      return closing;
    },
  };
}
