/**
 * Virtual serial cable: `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B`. Bytes written to one end come
 * out of the other; both ends open with serialport like a real adapter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenpiEdgeError } from '@openpi-edge/client';

export interface PtyPair {
  /** The end a driver (or ROBOTIS' SDK) opens, a symlink to a /dev/pts device. */
  devicePath: string;
  /** The end the emulator serves. */
  emulatorPath: string;
  /** Stops socat and removes the links. Idempotent. */
  close(): Promise<void>;
}

export interface PtyPairOptions {
  /** Folder for the two links. Default: a fresh temp folder (removed on close). */
  dir?: string;
  /** Link names. Default `device` and `emulator`. */
  names?: { device: string; emulator: string };
  /** How long to wait for socat to create both links. Default 5000 (ms). */
  startTimeoutMs?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Spawns socat and resolves once both links exist. Rejects with `NOT_CONNECTED` if socat is missing or fails. */
export async function createPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'dxl-pty-')));
  const devicePath = join(dir, options.names?.device ?? 'device');
  const emulatorPath = join(dir, options.names?.emulator ?? 'emulator');
  const timeoutMs = options.startTimeoutMs ?? 5000;
  const child: ChildProcess = spawn(
    'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${emulatorPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `socat exited (code ${code}, signal ${signal})`;
      resolve();
    });
    child.once('error', (e) => {
      exited = `socat could not start: ${e.message} (install it: apt-get install socat)`;
      resolve();
    });
  });
  const close = async (): Promise<void> => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      await exitPromise;
    }
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  const started = performance.now();
  for (;;) {
    // socat prints "starting data transfer loop" once both ptys are open and linked
    if (
      stderr.includes('starting data transfer loop') &&
      (await exists(devicePath)) &&
      (await exists(emulatorPath))
    ) {
      return { devicePath, emulatorPath, close };
    }
    if (exited !== undefined || performance.now() - started > timeoutMs) {
      await close();
      throw new OpenpiEdgeError('NOT_CONNECTED', `socat pty pair did not start: ${exited ?? 'timeout'}`, {
        port: devicePath,
        stderr,
        timeoutMs,
      });
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
