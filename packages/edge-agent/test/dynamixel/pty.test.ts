/**
 * Real serial I/O: the driver (serialport) and ROBOTIS' Python SDK against the emulator over socat pty pairs.
 * Needs `socat` (CI installs it with apt) and .venv with dynamixel-sdk (scripts/python-env.sh).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { emulateAloha } from '../../src/robots/aloha/emulate.js';
import { DynamixelBus } from '../../src/robots/dynamixel/bus.js';
import { XRegister } from '../../src/robots/dynamixel/control-table.js';
import { VIPERX_SLEEP_POSE } from '../../src/robots/dynamixel/emulator/viperx-bus.js';
import { openSerialTransport } from '../../src/robots/dynamixel/serial-transport.js';
import { radiansToCounts, ViperXArm } from '../../src/robots/dynamixel/viperx.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('driver over serialport ↔ emulator over a socat pty pair', () => {
  it('emulateAloha: two buses; ping, sync read, setup, sync write, timeouts, over real ptys', async () => {
    const aloha = await emulateAloha();
    cleanups.push(() => aloha.close());
    expect(aloha.left.devicePath).not.toBe(aloha.right.devicePath);
    expect(existsSync(aloha.left.devicePath)).toBe(true);

    const left = new DynamixelBus(await openSerialTransport({ path: aloha.left.devicePath }), {
      timeoutMs: 500,
    });
    cleanups.push(() => left.close());
    const right = new DynamixelBus(await openSerialTransport({ path: aloha.right.devicePath }), {
      timeoutMs: 500,
    });
    cleanups.push(() => right.close());

    expect((await left.scan()).map((p) => p.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await right.ping(8)).modelNumber).toBe(1020);
    const positions = await left.syncReadRegister(XRegister.PresentPosition, [1, 2, 4, 6, 7, 8]);
    expect([...positions.values()]).toEqual(VIPERX_SLEEP_POSE.map(radiansToCounts));

    const arm = new ViperXArm(left);
    await arm.setupFollower();
    await arm.writeArmPositions([0.1, -0.96, 1.16, 0, -0.3, 0]);
    // the emulator runs on real time here: wait until the servos arrive (a state check, not a timing assertion)
    let state = await arm.readState();
    // Until both joints sit on their goal counts (the last step of a move is smaller than 0.002 rad: waiting only
    // that close and then asserting the exact count failed on a loaded machine).
    const arrived = (): boolean =>
      Math.abs(state.position[0]! - countsRad(0.1)) < 1e-6 &&
      Math.abs(state.position[1]! - countsRad(-0.96)) < 1e-6;
    for (let i = 0; i < 500 && !arrived(); i++) {
      await new Promise((r) => setTimeout(r, 20));
      state = await arm.readState();
    }
    expect(state.position[0]).toBeCloseTo(countsRad(0.1), 6);
    expect(state.position[1]).toBeCloseTo(countsRad(-0.96), 6);
    // right arm untouched
    expect(aloha.right.emulator.servo(1)!.torqueEnabled).toBe(false);

    await right.close(); // a port opens once at a time (serialport locks it)
    const quick = new DynamixelBus(await openSerialTransport({ path: aloha.right.devicePath }), {
      timeoutMs: 100,
      retries: 1,
    });
    cleanups.push(() => quick.close());
    await expect(quick.ping(77)).rejects.toMatchObject({
      code: 'SERVO_TIMEOUT',
      context: { port: aloha.right.devicePath, missingIds: [77], attempts: 2 },
    });
    expect((await quick.ping(1)).modelNumber).toBe(1120);
  });
});

function countsRad(rad: number): number {
  return ((radiansToCounts(rad) - 2048) * Math.PI) / 2048;
}

describe("ROBOTIS' dynamixel-sdk (Python) ↔ emulator runner over a pty", () => {
  it('pings, sync reads present positions, writes a goal and sees the servo move there', async () => {
    const runner = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        'packages/edge-agent/src/robots/dynamixel/emulator/run-viperx.ts',
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    cleanups.push(async () => {
      if (runner.exitCode === null) {
        const done = new Promise((r) => runner.once('exit', r));
        runner.kill('SIGTERM');
        await done;
      }
    });
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: runner.stdout! }).once('line', res);
      runner.once('exit', (code) => rej(new Error(`runner exited ${code}`)));
    });
    const { devicePath } = JSON.parse(line) as { devicePath: string };

    const py = spawn(
      resolve(ROOT, '.venv/bin/python'),
      [resolve(ROOT, 'test/python/dynamixel_sdk_peer.py'), devicePath],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    py.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const code = await new Promise((r) => py.once('exit', r));
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as {
      ping: Record<string, { model: number; comm: string; error: number }>;
      sync_read_comm: string;
      sync_read: Record<string, number>;
      torque: { comm: string; error: number };
      write_goal: { comm: string; error: number };
      goal_readback: number;
      trace: number[];
      limit_write: { error: number; error_text: string };
    };
    expect(Object.values(out.ping).map((p) => p.model)).toEqual([
      1120, 1120, 1120, 1120, 1120, 1120, 1120, 1020, 1020,
    ]);
    expect(out.ping['1']!.comm).toBe('[TxRxResult] Communication success!');
    expect(out.sync_read_comm).toBe('[TxRxResult] Communication success!');
    expect(['1', '2', '4', '6', '7', '8'].map((k) => out.sync_read[k])).toEqual(
      VIPERX_SLEEP_POSE.map(radiansToCounts),
    );
    expect(out.torque.error).toBe(0);
    expect(out.write_goal.error).toBe(0);
    expect(out.goal_readback).toBe(2548);
    expect(out.trace.at(-1)).toBe(2548);
    expect(out.trace.length).toBeGreaterThan(1); // it moved over time, not in one jump
    expect(out.trace[0]).toBeLessThan(2548);
    expect(out.limit_write.error).toBe(6);
    expect(out.limit_write.error_text).toContain('limit');
  });
});
