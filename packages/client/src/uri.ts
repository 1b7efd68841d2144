import { OpenpiEdgeError } from './errors.js';

/**
 * The websocket URI exactly as openpi's `WebsocketClientPolicy` builds it: a host starting with `ws` (`ws://`,
 * `wss://`) is used verbatim, anything else gets `ws://` in front; `:port` is appended when a port is given
 * (even after a verbatim URI, as openpi does). Defaults: host `0.0.0.0` (reaches the local machine on Linux and
 * macOS), no port.
 */
export function buildUri(host = '0.0.0.0', port?: number | null): string {
  if (typeof host !== 'string' || host === '') {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `host must be a non-empty string, got ${JSON.stringify(host)}`,
      {
        host,
      },
    );
  }
  let uri = host.startsWith('ws') ? host : `ws://${host}`;
  if (port !== undefined && port !== null) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `port must be an integer in 0..65535, got ${port}`, { port });
    }
    uri += `:${port}`;
  }
  return uri;
}
