/**
 * Binding the live servers' HTTP listeners (foxglove-server.ts, status-page-server.ts): one place that turns a
 * failed bind into BAD_ARGUMENT naming the address and the errno (EADDRINUSE, EADDRNOTAVAIL, ...).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenpiEdgeError } from '@openpi-edge/client';

/** Listens on `host:port`; resolves with the bound address (the real port when `port` was 0). */
export async function listenHttp(http: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(
        new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `cannot listen on ${host}:${port}: ${err.message}`,
          { host, port, errno: err.code },
          { cause: err },
        ),
      );
    http.once('error', onError);
    http.listen(port, host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  return http.address() as AddressInfo;
}

/** `host` as it goes into a URL: an IPv6 address in brackets. */
export const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);
