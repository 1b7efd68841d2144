/**
 * One listening TCP port of the emulator, with its connections tracked so `close` frees the port at once (a
 * net.Server only closes after its last connection ends). Connections get TCP_NODELAY: RTDE packages and dashboard
 * lines are small and latency matters more than packing.
 */
import { createServer, type Server, type Socket } from 'node:net';

export class TcpService {
  readonly name: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #closed = false;

  constructor(name: string, onConnection: (socket: Socket) => void) {
    this.name = name;
    this.#server = createServer((socket) => {
      if (this.#closed) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      // A socket error (ECONNRESET from a vanished client) must not become an uncaught exception.
      socket.on('error', () => {});
      onConnection(socket);
    });
  }

  get port(): number {
    return this.#port;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Listens on host:port (0 = an ephemeral port); resolves with the port. EADDRINUSE etc. reject. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.#server.once('error', onError);
      this.#server.listen({ host, port, exclusive: true }, () => {
        this.#server.off('error', onError);
        this.#server.on('error', () => {});
        const addr = this.#server.address();
        this.#port = typeof addr === 'object' && addr !== null ? addr.port : port;
        resolve(this.#port);
      });
    });
  }

  /** Resets every connection (RST, no FIN), keeps listening. */
  resetConnections(): void {
    for (const s of this.#sockets) s.resetAndDestroy();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#sockets) s.destroy();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
