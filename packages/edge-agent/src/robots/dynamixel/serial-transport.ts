/**
 * {@link ByteTransport} over a serial device (U2D2/FTDI adapter, or one end of a socat pty pair) using the
 * `serialport` package, loaded lazily so importing the library never loads the native binding.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { ByteTransport } from './transport.js';

export interface SerialTransportOptions {
  /** Device path, e.g. `/dev/ttyDXL` or a pty link. */
  path: string;
  /** Line rate. Default 1_000_000 (bit/s), what Interbotix/ALOHA configure (Baud_Rate 3). */
  baudRate?: number;
}

type SerialPortInstance = import('serialport').SerialPort;

class SerialTransport implements ByteTransport {
  private closed = false;

  constructor(
    private readonly port: SerialPortInstance,
    readonly description: string,
  ) {}

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed || !this.port.isOpen) {
      return Promise.reject(
        new OpenpiEdgeError('NOT_CONNECTED', `serial port ${this.description} is closed`, {
          port: this.description,
          byteCount: bytes.length,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
        if (err) {
          reject(
            new OpenpiEdgeError('NOT_CONNECTED', `write to ${this.description} failed: ${err.message}`, {
              port: this.description,
              byteCount: bytes.length,
            }),
          );
          return;
        }
        this.port.drain(() => resolve());
      });
    });
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    const handler = (chunk: Buffer): void =>
      listener(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    this.port.on('data', handler);
    return () => {
      this.port.off('data', handler);
    };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.port.removeAllListeners('data');
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => {
      this.port.close(() => resolve());
    });
  }
}

/** Opens `path` and resolves once the port is open. Rejects with `NOT_CONNECTED` naming the path. */
export async function openSerialTransport(options: SerialTransportOptions): Promise<ByteTransport> {
  const { path, baudRate = 1_000_000 } = options;
  let mod: typeof import('serialport');
  try {
    mod = await import('serialport');
  } catch (e) {
    throw new OpenpiEdgeError(
      'NOT_CONNECTED',
      `the serialport package could not be loaded (install it: pnpm add serialport): ${String(e)}`,
      { port: path },
    );
  }
  const port = new mod.SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (err) {
        reject(
          new OpenpiEdgeError('NOT_CONNECTED', `cannot open serial port ${path}: ${err.message}`, {
            port: path,
            baudRate,
          }),
        );
        return;
      }
      resolve();
    });
  });
  // Errors after open (device unplugged) must not crash the process; writes then reject.
  port.on('error', () => {});
  return new SerialTransport(port, path);
}
