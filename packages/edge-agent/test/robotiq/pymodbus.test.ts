/**
 * Independent peer, both directions, over socat ptys, with PyPI pymodbus in .venv (scripts/python-env.sh):
 * (1) pymodbus' serial RTU client drives our emulator; (2) our driver drives a pymodbus RTU serial server that holds
 * the gripper's registers in pymodbus' datastore (test/python/robotiq_pymodbus_server.py). The peers' timeouts and
 * the hang guards are generous; assertions are on register values and states only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPtyPair } from '../../src/robots/dynamixel/emulator/pty.js';
import { RobotiqGripper } from '../../src/robots/robotiq/gripper.js';
import { emulateRobotiqOnPty } from '../../src/robots/robotiq/serve-pty.js';
import { startPythonPeer } from './python-peer.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("pymodbus' serial RTU client ↔ our emulator", () => {
  it('reads the status registers, activates, moves, reads commands back, gets exceptions', async () => {
    const em = await emulateRobotiqOnPty({ activationMs: 200 });
    cleanups.push(() => em.close());
    const peer = startPythonPeer('robotiq_pymodbus_client.py', [em.devicePath], 60_000);
    cleanups.push(() => peer.stop());
    expect(await peer.exited).toBe(0);
    const byStep = (step: string) => peer.lines.find((l) => l.step === step);

    expect(peer.lines.at(-1)).toEqual({ event: 'done' });
    expect(byStep('initial')).toMatchObject({ registers: [0, 0, 0], gACT: 0, gSTA: 0 });
    expect(byStep('reset')).toMatchObject({ event: 'write', address: 0x03e8, count: 3 });
    // 0x31 00: gACT, gSTA=3, as the manual shows after activation
    expect(byStep('activated')).toMatchObject({ registers: [0x3100, 0, 0], gACT: 1, gSTA: 3, fault: 0 });
    expect(byStep('activated')!.polls as number).toBeGreaterThanOrEqual(1);
    // 0xF9: gACT, gGTO, gSTA=3, gOBJ=3 (at position); echo 200, position 200
    expect(byStep('moved')).toMatchObject({
      registers: [0xf900, 200, 200 << 8],
      gGTO: 1,
      gOBJ: 3,
      position_request: 200,
      position: 200,
    });
    const trace = byStep('moved')!.trace as number[];
    expect(trace.at(-1)).toBe(200);
    expect(trace.every((p, i) => i === 0 || p >= trace[i - 1]!)).toBe(true); // closing, never back
    expect(peer.lines.find((l) => l.event === 'command_readback')).toMatchObject({
      registers: [0x0900, 200, (255 << 8) | 128],
    });
    const exceptions = peer.lines.filter((l) => l.event === 'exception');
    expect(exceptions).toEqual([
      { event: 'exception', step: 'read address 0', is_error: true, function_code: 0x84, exception_code: 2 },
      { event: 'exception', step: 'write address 0', is_error: true, function_code: 0x90, exception_code: 2 },
    ]);
    expect(em.emulator.stats.exceptions).toBe(2);
    expect(em.emulator.framerStats.crcErrors).toBe(0);
  });
});

describe('our driver ↔ pymodbus RTU serial server (register map in its datastore)', () => {
  it('activates, moves, stops, reads status, and names the exception pymodbus answers', async () => {
    const pty = await createPtyPair();
    cleanups.push(() => pty.close());
    const server = startPythonPeer('robotiq_pymodbus_server.py', [pty.emulatorPath], 60_000);
    cleanups.push(() => server.stop());
    await server.waitFor((l) => l.event === 'listening');

    const gripper = await RobotiqGripper.open({ path: pty.devicePath, timeoutMs: 2000, retries: 1 });
    cleanups.push(() => gripper.close());

    expect(await gripper.status()).toMatchObject({ activated: false, activation: 'reset', fault: null });
    const active = await gripper.activate({ timeoutMs: 20_000 });
    expect(active).toMatchObject({ activated: true, activation: 'complete', object: 'moving', goTo: false });

    await gripper.move({ position: 77, speed: 10, force: 20 });
    expect(await gripper.status()).toMatchObject({
      goTo: true,
      object: 'at-position',
      positionRequest: 77,
      position: 77,
      currentMa: 0,
    });
    await gripper.moveNormalized(1);
    expect((await gripper.status()).position).toBe(255);
    await gripper.stop();
    expect(await gripper.status()).toMatchObject({ goTo: false, activated: true });

    await expect(gripper.modbus.readInputRegisters(9, 0x0000, 1)).rejects.toMatchObject({
      code: 'GRIPPER_FAULT',
      context: { fault: 'ILLEGAL_DATA_ADDRESS', exceptionCode: 2, slaveId: 9 },
    });
    expect(await gripper.modbus.readHoldingRegisters(9, 0x03e8, 3)).toEqual([0x0100, 255, (255 << 8) | 128]);
    expect(gripper.modbus.stats).toMatchObject({ timeouts: 0, retries: 0, unexpectedFrames: 0 });
    expect(gripper.modbus.framerStats.crcErrors).toBe(0);

    await gripper.close();
    await server.stop();
    // what pymodbus decoded from our frames, in order
    const writes = server.lines.filter((l) => l.event === 'write').map((l) => [l.address, l.values]);
    expect(writes).toEqual([
      [0x03e8, [0x0000, 0, 0]],
      [0x03e8, [0x0100, 0, 0]],
      [0x03e8, [0x0900, 77, (10 << 8) | 20]],
      [0x03e8, [0x0900, 255, (255 << 8) | 128]],
      [0x03e8, [0x0100]],
    ]);
  });
});
