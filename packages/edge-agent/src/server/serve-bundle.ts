/**
 * Serves a bundle over openpi's websocket protocol: a {@link WorkerPolicy} (the bundle's OnnxPolicy in a worker
 * thread) behind the client package's WebsocketPolicyServer, with the manifest's `metadata` (e.g. ALOHA
 * `reset_pose`) as the first frame, so openpi's own clients (ALOHA, LIBERO, DROID examples, simple_client) talk to it
 * unchanged. onnxruntime-node blocks the thread that runs a graph (up to ~0.5 s per graph for deep models); in the
 * worker, the server's event loop keeps answering handshakes, `/healthz` and pings while a chunk is computed.
 * With `record`, a {@link PolicyRecorder} between the two saves each request and reply as openpi's
 * `serve_policy.py --record` does (`<dir>/step_<n>.npy`).
 */
import {
  type ServerLogger,
  WebsocketPolicyServer,
  type WebsocketPolicyServerAddress,
  type WebsocketPolicyServerOptions,
} from '@openpi-edge/client/node';
import { WorkerPolicy, type WorkerPolicyOptions } from '../inference/worker-policy.js';
import { PolicyRecorder, type PolicyRecorderOptions } from './policy-recorder.js';

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
  /**
   * Record every request and reply like openpi's `serve_policy.py --record`: the directory (created if needed;
   * numbering continues after its highest `step_<n>.npy`), or the directory with recorder options. Lost records
   * are warned through `logger` (or the recorder's `warn`). See {@link PolicyRecorder}.
   */
  record?: string | ({ dir: string } & PolicyRecorderOptions);
}

/** A running server and its policy. `close()` stops both (the worker thread included). */
export interface ServingBundle {
  /** The policy the server runs: its `manifest`, `report`, `dir`, `stats` (restarts, crashes, hangs). */
  readonly policy: WorkerPolicy;
  readonly server: WebsocketPolicyServer;
  readonly address: WebsocketPolicyServerAddress;
  /** The recorder between server and policy when `record` was given: its `stats` count steps, bytes, failures. */
  readonly recorder?: PolicyRecorder;
  /** Stops the server, then waits for the recorder's pending writes, then stops the policy. */
  close(): Promise<void>;
}

/**
 * Loads the bundle in a worker (errors as `OnnxPolicy.load`, see {@link WorkerPolicy.load}), then binds
 * (BAD_ARGUMENT when the port is taken, or when the `record` directory cannot be created or written). The policy
 * and its thread are released if either fails.
 */
export async function serveBundle(options: ServeBundleOptions): Promise<ServingBundle> {
  const { bundle, host, port, server: serverOptions, logger, record, ...policyOptions } = options;
  const policy = await WorkerPolicy.load(bundle, policyOptions);
  let recorder: PolicyRecorder | undefined;
  if (record !== undefined) {
    const { dir, ...recordOptions } = typeof record === 'string' ? { dir: record } : record;
    const warn =
      logger === undefined
        ? undefined
        : (m: string, c?: Record<string, unknown>) => logger.warn(`recording: ${m}`, c);
    try {
      recorder = await PolicyRecorder.open(policy, dir, {
        ...(warn === undefined ? {} : { warn }),
        ...recordOptions,
      });
    } catch (e) {
      await policy.close();
      throw e;
    }
  }
  const server = new WebsocketPolicyServer(recorder ?? policy, {
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
    ...(recorder === undefined ? {} : { recorder }),
    close: () => {
      closing ??= server
        .close()
        .then(() => recorder?.close())
        .then(() => policy.close());
      return closing;
    },
  };
}
