/**
 * RobotiqGripper (serialport) ↔ RobotiqEmulator over socat pty pairs: activation, moves, object detection, faults,
 * Modbus exceptions, timeouts, corrupt replies, a dead link. Needs `socat`. Assertions are on states and counts;
 * times only bound the polls (hang guards), nothing is timed.
 */
import { isOpenpiEdgeError } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { createPtyPair } from '../../src/robots/dynamixel/emulator/pty.js';
import { openSerialTransport } from '../../src/robots/dynamixel/serial-transport.js';
import { RobotiqEmulator } from '../../src/robots/robotiq/emulator.js';
import { RobotiqGripper } from '../../src/robots/robotiq/gripper.js';
import { encodeFrame, readRegistersRequest } from '../../src/robots/robotiq/modbus-rtu.js';
import type { RobotiqStatus } from '../../src/robots/robotiq/registers.js';
import { ModbusRtuMaster } from '../../src/robots/robotiq/rtu-master.js';
import {
  type EmulatedRobotiq,
  emulateRobotiqOnPty,
  serveRobotiqOnPort,
} from '../../src/robots/robotiq/serve-pty.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  opts: {
    activationMs?: number;
    timeoutMs?: number;
    retries?: number;
    slaveId?: number;
    clock?: { now(): number };
  } = {},
): Promise<{ em: EmulatedRobotiq; gripper: RobotiqGripper }> {
  const em = await emulateRobotiqOnPty({
    activationMs: opts.activationMs ?? 100,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  cleanups.push(() => em.close());
  const gripper = await RobotiqGripper.open({
    path: em.devicePath,
    // generous per-attempt timeout: the machine is shared; nothing here measures time
    timeoutMs: opts.timeoutMs ?? 1000,
    retries: opts.retries ?? 1,
    ...(opts.slaveId === undefined ? {} : { slaveId: opts.slaveId }),
  });
  cleanups.push(() => gripper.close());
  return { em, gripper };
}

/** Polls until `done(status)` (hang guard: `maxPolls`). */
async function pollUntil(
  gripper: RobotiqGripper,
  done: (s: RobotiqStatus) => boolean,
  maxPolls = 500,
): Promise<RobotiqStatus> {
  let s = await gripper.status();
  for (let i = 0; i < maxPolls && !done(s); i++) {
    await new Promise((r) => setTimeout(r, 10));
    s = await gripper.status();
  }
  return s;
}

describe('RobotiqGripper ↔ emulator over a socat pty', () => {
  it('activates, moves, reports at-position, stops; requests are serialized', async () => {
    const { em, gripper } = await setup();
    expect(gripper.description).toBe(`Robotiq 2F-85 (slave 9) on ${em.devicePath}`);
    expect(await gripper.status()).toMatchObject({ activated: false, activation: 'reset', fault: null });

    const active = await gripper.activate();
    expect(active).toMatchObject({
      activated: true,
      activation: 'complete',
      goTo: false,
      fault: null,
      position: 0,
    });

    await gripper.move({ position: 200, speed: 255, force: 50 });
    const arrived = await pollUntil(gripper, (s) => s.object !== 'moving');
    expect(arrived).toMatchObject({ goTo: true, object: 'at-position', position: 200, positionRequest: 200 });

    await gripper.moveNormalized(0.5, { speed: 10, force: 20 });
    const half = await pollUntil(gripper, (st) => st.object !== 'moving');
    expect(half).toMatchObject({ object: 'at-position', position: 128, positionRequest: 128 });
    expect(em.emulator.model.readOutput(0, 3)).toEqual([0x0900, 128, (10 << 8) | 20]);
    await gripper.stop();
    expect(await gripper.status()).toMatchObject({ goTo: false, position: 128 });
    expect(em.emulator.model.readOutput(0, 3)).toEqual([0x0100, 128, (10 << 8) | 20]);

    // ten concurrent calls: one request at a time on the line, every reply matched to its request
    const before = em.emulator.stats.requests;
    const results = await Promise.all(Array.from({ length: 10 }, () => gripper.status()));
    expect(results.every((st) => st.positionRequest === 128)).toBe(true);
    expect(em.emulator.stats.requests - before).toBe(10);
    expect(gripper.modbus.stats).toMatchObject({ timeouts: 0, retries: 0, unexpectedFrames: 0 });
    expect(gripper.modbus.framerStats).toMatchObject({ crcErrors: 0 });
  });

  it('stop() halts the fingers mid-stroke (emulator time frozen and stepped by the test)', async () => {
    const clock = { frozen: undefined as number | undefined, now: () => clock.frozen ?? performance.now() };
    const { gripper } = await setup({ clock });
    await gripper.activate();
    clock.frozen = performance.now();
    await gripper.move({ position: 255, speed: 255 });
    clock.frozen += 100; // 150 mm/s = 0.45 units/ms
    expect(await gripper.status()).toMatchObject({ goTo: true, object: 'moving', position: 45 });
    await gripper.stop();
    clock.frozen += 1000;
    expect(await gripper.status()).toMatchObject({ goTo: false, position: 45, positionRequest: 255 });
  });

  it('reports an injected object as object-closing at its position', async () => {
    const { em, gripper } = await setup();
    await gripper.activate();
    em.emulator.injectObject({ position: 120, direction: 'closing' });
    await gripper.move({ position: 255, speed: 255, force: 200 });
    const s = await pollUntil(gripper, (st) => st.object !== 'moving');
    expect(s).toMatchObject({ object: 'object-closing', position: 120, positionRequest: 255 });
    expect(s.currentMa).toBeGreaterThan(0);
    em.emulator.injectObject({ position: 60, direction: 'opening' });
    await gripper.move({ position: 0 });
    expect(await pollUntil(gripper, (st) => st.object !== 'moving')).toMatchObject({
      object: 'object-opening',
      position: 60,
    });
  });

  it('surfaces faults: in the status, and as GRIPPER_FAULT when activation fails or does not finish', async () => {
    const { em, gripper } = await setup({ activationMs: 600_000 });
    // activation never finishes by itself here: a fault during it fails activate() naming the fault
    const activating = gripper.activate({ timeoutMs: 60_000, pollMs: 5 });
    const s = await pollUntil(gripper, (st) => st.activation === 'activating');
    expect(s.activated).toBe(true);
    em.emulator.injectFault(0x0d);
    await expect(activating).rejects.toMatchObject({
      code: 'GRIPPER_FAULT',
      context: { fault: 'ACTIVATION_FAULT', faultCode: 0x0d, slaveId: 9, port: em.devicePath },
    });
    await expect(gripper.activate({ timeoutMs: 200 })).rejects.toMatchObject({
      code: 'GRIPPER_FAULT',
      message: expect.stringContaining('did not complete within 200 ms'),
      context: { fault: 'ACTIVATION_TIMEOUT', status: { activation: 'activating' } },
    });
    em.emulator.injectFault(0x08);
    expect((await gripper.status()).fault).toEqual({
      code: 8,
      name: 'OVER_TEMPERATURE',
      message: expect.stringContaining('temperature'),
    });
  });

  it('a fault after activation shows in the status; re-activation clears it', async () => {
    const { em, gripper } = await setup();
    await gripper.activate();
    em.emulator.injectFault(0x0e);
    await gripper.move({ position: 255 });
    expect(await gripper.status()).toMatchObject({ fault: { code: 0x0e, name: 'OVERCURRENT' }, position: 0 });
    expect(await gripper.activate()).toMatchObject({ activation: 'complete', fault: null });
  });

  it('names Modbus exceptions (the emulator answers them like the real slave)', async () => {
    const { em, gripper } = await setup();
    await expect(gripper.modbus.readInputRegisters(9, 0x0000, 3)).rejects.toMatchObject({
      code: 'GRIPPER_FAULT',
      message: expect.stringContaining('ILLEGAL_DATA_ADDRESS'),
      context: { fault: 'ILLEGAL_DATA_ADDRESS', exceptionCode: 2, function: 'READ_INPUT_REGISTERS (0x04)' },
    });
    // an unknown function (0x2B): the emulator takes the frame at the silence and answers ILLEGAL_FUNCTION
    await expect(
      gripper.modbus.rawRequest({ slaveId: 9, fn: 0x2b, data: Uint8Array.of(0x0e, 0x01, 0x00) }, 10),
    ).rejects.toMatchObject({ context: { fault: 'ILLEGAL_FUNCTION', exceptionCode: 1 } });
    expect(em.emulator.stats.exceptions).toBe(2);
    expect(gripper.modbus.stats.retries).toBe(0); // exceptions are not retried
    expect((await gripper.status()).activation).toBe('reset'); // the line is fine afterwards
  });

  it('times out naming slave, function and path when the gripper is silent, then recovers', async () => {
    const { em, gripper } = await setup({ timeoutMs: 100, retries: 1 });
    em.emulator.silent = true;
    const err = await gripper.status().catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'GRIPPER_FAULT')).toBe(true);
    expect(err).toMatchObject({
      message: expect.stringMatching(/READ_INPUT_REGISTERS \(0x04\) to slave 9 on .*device: no reply/),
      context: {
        fault: 'NO_REPLY',
        slaveId: 9,
        function: 'READ_INPUT_REGISTERS (0x04)',
        port: em.devicePath,
        attempts: 2,
        crcErrors: 0,
      },
    });
    expect(gripper.modbus.stats).toMatchObject({ timeouts: 2, retries: 1 });
    em.emulator.silent = false;
    expect((await gripper.status()).activation).toBe('reset');
  });

  it('a gripper at another slave id never answers', async () => {
    const { em, gripper } = await setup({ slaveId: 10, timeoutMs: 100, retries: 0 });
    await expect(gripper.status()).rejects.toMatchObject({
      code: 'GRIPPER_FAULT',
      context: { fault: 'NO_REPLY', slaveId: 10, attempts: 1 },
    });
    expect(em.emulator.stats.otherSlaves).toBe(1);
  });

  it('drops corrupt replies (retrying), resyncs past noise, and says so when every reply is corrupt', async () => {
    const { em, gripper } = await setup({ timeoutMs: 300, retries: 1 });
    em.emulator.corruptReplies(1);
    expect((await gripper.status()).activation).toBe('reset'); // second attempt
    expect(gripper.modbus.stats.retries).toBe(1);
    expect(gripper.modbus.framerStats.crcErrors).toBe(1);

    em.emulator.noiseBeforeReplies(1, Uint8Array.of(0x09, 0x04, 0xff, 0x00, 0x13));
    expect((await gripper.status()).activation).toBe('reset'); // same attempt: resynced
    expect(gripper.modbus.stats.retries).toBe(1);
    expect(gripper.modbus.framerStats.discardedBytes).toBeGreaterThanOrEqual(5);

    em.emulator.corruptReplies(2);
    await expect(gripper.status()).rejects.toMatchObject({
      code: 'GRIPPER_FAULT',
      message: expect.stringContaining('failed CRC'),
      context: { fault: 'CORRUPT_REPLY', crcErrors: 2, attempts: 2 },
    });
    expect((await gripper.status()).activation).toBe('reset');
  });

  it('the emulator resyncs past noise on the line and ignores frames with a bad CRC', async () => {
    const pty = await createPtyPair();
    cleanups.push(() => pty.close());
    const emulator = new RobotiqEmulator();
    const served = await serveRobotiqOnPort(emulator, pty.emulatorPath);
    cleanups.push(() => served.close());
    const transport = await openSerialTransport({ path: pty.devicePath, baudRate: 115_200 });
    const master = new ModbusRtuMaster(transport, { timeoutMs: 1000, retries: 0 });
    cleanups.push(() => master.close());
    const request = encodeFrame(readRegistersRequest(9, 0x04, 0x07d0, 3));
    const corrupt = request.slice();
    corrupt[3]! ^= 0x01;
    await transport.write(new Uint8Array([0x00, 0xff, 0x13, ...corrupt]));
    expect(await master.readInputRegisters(9, 0x07d0, 3)).toEqual([0, 0, 0]);
    expect(emulator.stats.requests).toBe(1); // only the valid one was answered
    expect(emulator.framerStats.discardedBytes).toBeGreaterThanOrEqual(3 + corrupt.length);
  });

  it('rejects bad arguments naming the value, without touching the line', async () => {
    const { em, gripper } = await setup();
    const before = em.emulator.stats.requests;
    for (const bad of [256, -1, 1.5, Number.NaN]) {
      await expect(gripper.move({ position: bad })).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        context: { position: bad },
      });
    }
    await expect(gripper.move({ position: 10, speed: 300 })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { speed: 300 },
    });
    await expect(gripper.move({ position: 10, force: 2.5 })).rejects.toMatchObject({
      context: { force: 2.5 },
    });
    await expect(gripper.moveNormalized(1.2)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { value: 1.2 },
    });
    await expect(gripper.moveNormalized(Number.POSITIVE_INFINITY)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    expect(em.emulator.stats.requests).toBe(before);
    await expect(RobotiqGripper.open({ path: em.devicePath, slaveId: 0 })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    await expect(RobotiqGripper.open({ path: '/nonexistent/ttyUSB9' })).rejects.toMatchObject({
      code: 'NOT_CONNECTED',
      context: { port: '/nonexistent/ttyUSB9' },
    });
  });

  it('a dead link fails requests instead of hanging; close is idempotent and final', async () => {
    const { em, gripper } = await setup({ timeoutMs: 200, retries: 1 });
    await gripper.status();
    await em.close(); // socat gone: the pty disappears under the open port
    const err = await gripper.status().catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err)).toBe(true);
    expect(['NOT_CONNECTED', 'GRIPPER_FAULT']).toContain((err as { code: string }).code);
    await gripper.close();
    await gripper.close();
    await expect(gripper.status()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(gripper.move({ position: 1 })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('close() rejects a request in flight with CLOSED', async () => {
    const { em, gripper } = await setup({ timeoutMs: 10_000, retries: 0 });
    em.emulator.silent = true;
    const pending = gripper.status().catch((e: unknown) => e);
    const queued = gripper.status().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    await gripper.close();
    expect(await pending).toMatchObject({ code: 'CLOSED' });
    expect(await queued).toMatchObject({ code: 'CLOSED' });
  });
});
