/**
 * Worker-thread entry of {@link startUrEmulatorThread} (emulator-thread.ts): runs one UrControllerEmulator on this thread's
 * event loop and answers the parent's requests (emulator-thread-messages.ts).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { UrControllerEmulator, type UrEmulatorSnapshot } from './emulator.js';
import type { FromThread, ThreadData, ToThread } from './emulator-thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('emulator-thread-entry.ts runs as a worker thread only');
const data = workerData as ThreadData;
const post = (m: FromThread): void => port.postMessage(m);

async function main(): Promise<void> {
  let emu: UrControllerEmulator;
  try {
    emu = await UrControllerEmulator.start({
      timing: 'precise', // this thread is the emulator's own: Atomics.wait blocks nothing else
      ...data.options,
      ...(data.trace ? { trace: (line: string) => post({ kind: 'trace', line }) } : {}),
    });
  } catch (e) {
    const err = e as Error;
    post({
      kind: 'start-failed',
      message: err.message,
      ...(e instanceof OpenpiEdgeError ? { code: e.code, context: { ...e.context } } : {}),
    });
    port?.close();
    return;
  }
  let unsubscribe: (() => void) | undefined;
  port?.on('message', (msg: ToThread) => {
    const reply = (value?: UrEmulatorSnapshot | string | null): void =>
      post({ kind: 'reply', id: msg.id, ok: true, ...(value === undefined ? {} : { value }) });
    try {
      switch (msg.op) {
        case 'snapshot':
          return reply(emu.snapshot());
        case 'lastScript':
          return reply(emu.lastScript());
        case 'injectProtectiveStop':
          emu.injectProtectiveStop(msg.reason);
          return reply();
        case 'injectEmergencyStop':
          emu.injectEmergencyStop();
          return reply();
        case 'releaseEmergencyStop':
          emu.releaseEmergencyStop();
          return reply();
        case 'setRemoteControl':
          emu.setRemoteControl(msg.on);
          return reply();
        case 'dropRtdeConnections':
          emu.dropRtdeConnections();
          return reply();
        case 'subscribeTargets':
          unsubscribe?.();
          unsubscribe = msg.on
            ? emu.onTarget((q, at) =>
                post({ kind: 'target', q: [...q], atEpochMs: performance.timeOrigin + at }),
              )
            : undefined;
          return reply();
        case 'close':
          void emu.close().then(() => {
            reply();
            port?.close();
          });
          return;
      }
    } catch (e) {
      post({ kind: 'reply', id: msg.id, ok: false, message: (e as Error).message });
    }
  });
  post({ kind: 'ready', ports: { ...emu.ports } });
}

void main();
