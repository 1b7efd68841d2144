/**
 * Emulated ALOHA follower arms for `edge-agent emulate aloha`: two ViperX 300 6DOF buses (left, right), each on
 * its own socat pty pair. Users (or the agent's driver) open the returned device paths at 1 Mbps as if they were
 * the U2D2 adapters `/dev/ttyDXL_puppet_left` / `_right`.
 */
import type { DynamixelBusEmulator } from '../dynamixel/emulator/bus-emulator.js';
import { createPtyPair, type PtyPair } from '../dynamixel/emulator/pty.js';
import { type ServedBus, serveEmulatorOnPort } from '../dynamixel/emulator/serve-pty.js';
import { createViperXBusEmulator, type ViperXBusOptions } from '../dynamixel/emulator/viperx-bus.js';

export interface EmulateAlohaOptions {
  /** Folder for the device links (`follower_left`, `follower_right` + emulator ends). Default: a fresh temp folder. */
  dir?: string;
  /** Emulator options for both arms (initial pose, clock). */
  arm?: ViperXBusOptions;
}

export interface EmulatedAlohaArm {
  /** Path to open with the driver (a symlink to a /dev/pts device). */
  devicePath: string;
  /** The emulated bus, for inspection and fault injection. */
  emulator: DynamixelBusEmulator;
}

export interface EmulatedAloha {
  left: EmulatedAlohaArm;
  right: EmulatedAlohaArm;
  /** Stops both emulators and socat processes. */
  close(): Promise<void>;
}

/** Starts both follower arms; resolves once both device paths can be opened. */
export async function emulateAloha(options: EmulateAlohaOptions = {}): Promise<EmulatedAloha> {
  const pairs: PtyPair[] = [];
  const served: ServedBus[] = [];
  const close = async (): Promise<void> => {
    for (const s of served.splice(0)) await s.close();
    for (const p of pairs.splice(0)) await p.close();
  };
  try {
    const arms: EmulatedAlohaArm[] = [];
    for (const side of ['left', 'right'] as const) {
      const pair = await createPtyPair({
        ...(options.dir === undefined ? {} : { dir: options.dir }),
        names: { device: `follower_${side}`, emulator: `follower_${side}.emulator` },
      });
      pairs.push(pair);
      const emulator = createViperXBusEmulator(options.arm);
      served.push(await serveEmulatorOnPort(emulator, pair.emulatorPath));
      arms.push({ devicePath: pair.devicePath, emulator });
    }
    return { left: arms[0]!, right: arms[1]!, close };
  } catch (e) {
    await close();
    throw e;
  }
}
