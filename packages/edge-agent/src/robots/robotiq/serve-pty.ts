/**
 * Serves a {@link RobotiqEmulator} on a serial path: one end of a socat pty pair (a virtual RS-485 line whose other
 * end a driver, or pymodbus, opens like a USB adapter), or a real port wired to a master under test.
 *
 * Run standalone (prints one JSON line `{"devicePath": ...}` with the end to open, serves until SIGINT/SIGTERM):
 *   node --conditions=source --import tsx packages/edge-agent/src/robots/robotiq/serve-pty.ts [activationMs]
 */
import { fileURLToPath } from 'node:url';
import { createPtyPair, type PtyPairOptions } from '../dynamixel/emulator/pty.js';
import { openSerialTransport } from '../dynamixel/serial-transport.js';
import { RobotiqEmulator, type RobotiqEmulatorOptions } from './emulator.js';
import { ROBOTIQ_BAUD_RATE } from './registers.js';

export interface ServedRobotiq {
  /** Stops answering and closes the port. Idempotent. */
  close(): Promise<void>;
}

/** Opens `path` and answers Modbus RTU requests on it from `emulator` (the rate is irrelevant on a pty). */
export async function serveRobotiqOnPort(
  emulator: RobotiqEmulator,
  path: string,
  baudRate = ROBOTIQ_BAUD_RATE,
): Promise<ServedRobotiq> {
  const transport = await openSerialTransport({ path, baudRate });
  const detach = emulator.attach(transport);
  let closed: Promise<void> | undefined;
  return {
    close: () => {
      closed ??= (async () => {
        detach();
        await transport.close();
      })();
      return closed;
    },
  };
}

export interface EmulatedRobotiq {
  /** The pty end a driver opens. */
  devicePath: string;
  emulator: RobotiqEmulator;
  /** Stops serving and removes the pty pair. Idempotent. */
  close(): Promise<void>;
}

/** A fresh pty pair with an emulator (built from `options`) serving its emulator end. */
export async function emulateRobotiqOnPty(
  options: RobotiqEmulatorOptions & { pty?: PtyPairOptions } = {},
): Promise<EmulatedRobotiq> {
  const pty = await createPtyPair(options.pty);
  const emulator = new RobotiqEmulator(options);
  let served: ServedRobotiq;
  try {
    served = await serveRobotiqOnPort(emulator, pty.emulatorPath);
  } catch (e) {
    await pty.close();
    throw e;
  }
  let closed: Promise<void> | undefined;
  return {
    devicePath: pty.devicePath,
    emulator,
    close: () => {
      closed ??= (async () => {
        await served.close();
        await pty.close();
      })();
      return closed;
    },
  };
}

async function main(): Promise<void> {
  const activationMs = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const served = await emulateRobotiqOnPty(activationMs === undefined ? {} : { activationMs });
  process.stdout.write(`${JSON.stringify({ devicePath: served.devicePath })}\n`);
  const stop = (): void => {
    void served.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
