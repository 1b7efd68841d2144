/**
 * Serves a bundle over openpi's websocket protocol: an {@link OnnxPolicy} behind the client package's
 * WebsocketPolicyServer, with the manifest's `metadata` (e.g. ALOHA `reset_pose`) as the first frame, so openpi's
 * own clients (ALOHA, LIBERO, DROID examples, simple_client) talk to it unchanged.
 */
import {
  type ServerLogger,
  WebsocketPolicyServer,
  type WebsocketPolicyServerAddress,
  type WebsocketPolicyServerOptions,
} from '@openpi-edge/client/node';
import { OnnxPolicy, type OnnxPolicyOptions } from '../policy/onnx-policy.js';

export interface ServeBundleOptions extends OnnxPolicyOptions {
  /** Bundle directory. Required. */
  bundle: string;
  /** Interface to bind. Default `'0.0.0.0'` (openpi's `serve_policy.py`: every IPv4 interface). */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8000 (openpi's). */
  port?: number;
  /** Further server options (API key, ping timing, size cap, logger); `metadata`, `host`, `port` come from above. */
  server?: Omit<WebsocketPolicyServerOptions, 'metadata' | 'host' | 'port'>;
  /** Server logger. Default: warnings to `console.warn`. */
  logger?: ServerLogger;
}

/** A running server and its policy. `close()` stops both. */
export interface ServingBundle {
  readonly policy: OnnxPolicy;
  readonly server: WebsocketPolicyServer;
  readonly address: WebsocketPolicyServerAddress;
  close(): Promise<void>;
}

/**
 * Loads the bundle (errors as {@link OnnxPolicy.load}), then binds (BAD_ARGUMENT when the port is taken).
 * The policy is released if binding fails.
 */
export async function serveBundle(options: ServeBundleOptions): Promise<ServingBundle> {
  const { bundle, host, port, server: serverOptions, logger, ...policyOptions } = options;
  const policy = await OnnxPolicy.load(bundle, policyOptions);
  const server = new WebsocketPolicyServer(policy, {
    ...serverOptions,
    metadata: policy.metadata,
    host: host ?? '0.0.0.0',
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
