/**
 * The byte pipe under a Dynamixel bus: a serial port, a pty, or an in-memory link. Tiny on purpose so the driver
 * and the emulator run over any of them.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';

export interface ByteTransport {
  /** What this is (port path, `memory:a`...), used in error context. */
  readonly description: string;
  /** Sends bytes. Resolves once handed to the OS or the peer; rejects with `NOT_CONNECTED` after close. */
  write(bytes: Uint8Array): Promise<void>;
  /** Adds a listener for received bytes (chunks of any size); returns a function that removes it. */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Closes the transport; later writes reject, no data is delivered after it resolves. Idempotent. */
  close(): Promise<void>;
}

export interface MemoryLinkOptions {
  /** Split every write into chunks of at most this many bytes, delivered separately. Default: whole writes. */
  maxChunk?: number;
}

class MemoryEnd implements ByteTransport {
  peer: MemoryEnd | undefined;
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();
  private closed = false;

  constructor(
    readonly description: string,
    private readonly maxChunk: number,
  ) {}

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new OpenpiEdgeError('NOT_CONNECTED', `write on closed transport ${this.description}`, {
          port: this.description,
          byteCount: bytes.length,
        }),
      );
    }
    const copy = bytes.slice();
    const peer = this.peer;
    // Delivery on a later microtask, as real I/O would be: never re-entrant into the writer.
    queueMicrotask(() => {
      for (let i = 0; i < copy.length; i += this.maxChunk) peer?.deliver(copy.subarray(i, i + this.maxChunk));
    });
    return Promise.resolve();
  }

  deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    for (const l of this.listeners) l(bytes);
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    return Promise.resolve();
  }
}

/** Two connected in-memory transports: what one writes, the other receives (asynchronously, in order). */
export function createMemoryLink(options: MemoryLinkOptions = {}): [ByteTransport, ByteTransport] {
  const maxChunk = options.maxChunk ?? Number.POSITIVE_INFINITY;
  if (!(maxChunk >= 1)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `maxChunk must be >= 1, got ${maxChunk}`, { maxChunk });
  }
  const a = new MemoryEnd('memory:a', maxChunk);
  const b = new MemoryEnd('memory:b', maxChunk);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
