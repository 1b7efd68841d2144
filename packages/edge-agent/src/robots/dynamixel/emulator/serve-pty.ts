/**
 * Serves an emulated bus on a serial path (one end of a pty pair, or a real port wired to a driver under test).
 */
import { openSerialTransport } from '../serial-transport.js';
import type { DynamixelBusEmulator } from './bus-emulator.js';

export interface ServedBus {
  /** Stops serving and closes the port. */
  close(): Promise<void>;
}

/** Opens `path` (baud rate is irrelevant on a pty) and answers instruction packets from `emulator` on it. */
export async function serveEmulatorOnPort(
  emulator: DynamixelBusEmulator,
  path: string,
  baudRate = 1_000_000,
): Promise<ServedBus> {
  const transport = await openSerialTransport({ path, baudRate });
  const detach = emulator.attach(transport);
  return {
    close: async () => {
      detach();
      await transport.close();
    },
  };
}
