/**
 * Runner: one emulated ViperX follower bus on a fresh socat pty pair, for peers in other languages (ROBOTIS'
 * Python SDK in the tests). Prints one JSON line `{"devicePath": ...}` on stdout once ready, serves until SIGTERM
 * or stdin closes. Run: `node --conditions=source --import tsx packages/edge-agent/src/sim/dynamixel-emulator/run-viperx.ts`.
 * Option `--initial-gripper <rad>`.
 */
import { createPtyPair } from './pty.js';
import { serveEmulatorOnPort } from './serve-pty.js';
import { createViperXBusEmulator } from './viperx-bus.js';

const gi = process.argv.indexOf('--initial-gripper');
const emulator = createViperXBusEmulator({ initialGripper: gi > 0 ? Number(process.argv[gi + 1]) : 0 });
const pty = await createPtyPair();
const served = await serveEmulatorOnPort(emulator, pty.emulatorPath);
process.stdout.write(`${JSON.stringify({ devicePath: pty.devicePath })}\n`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await served.close();
  await pty.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
