/**
 * The 2F-85 emulator on a manual clock (deterministic): activation, motion speed, object detection, faults,
 * automatic release, and its Modbus slave behaviour (exceptions, other slave ids, broadcast), frame by frame.
 */
import { describe, expect, it } from 'vitest';
import { RobotiqEmulator } from '../../src/robots/robotiq/emulator.js';
import { speedUnitsPerMs } from '../../src/robots/robotiq/emulator-model.js';
import {
  decodeFrame,
  encodeFrame,
  readRegistersRequest,
  readReplyValues,
  writeMultipleRequest,
  writeSingleRequest,
} from '../../src/robots/robotiq/modbus-rtu.js';
import {
  decodeStatus,
  encodeCommand,
  INPUT_REGISTER_BASE,
  OUTPUT_REGISTER_BASE,
  type RobotiqStatus,
} from '../../src/robots/robotiq/registers.js';

function setup(activationMs = 1000) {
  const clock = { t: 0, now: () => clock.t };
  const emu = new RobotiqEmulator({ clock, activationMs });
  const send = (frame: ReturnType<typeof readRegistersRequest>) => {
    const reply = emu.handle(frame);
    return reply === undefined ? undefined : decodeFrame(reply);
  };
  const status = (): RobotiqStatus => {
    const reply = send(readRegistersRequest(9, 0x04, INPUT_REGISTER_BASE, 3))!;
    return decodeStatus(readReplyValues(reply.data, 3)!, clock.t);
  };
  const command = (action: number, position = 0, speed = 0, force = 0) =>
    send(writeMultipleRequest(9, OUTPUT_REGISTER_BASE, encodeCommand({ action, position, speed, force })));
  const activate = () => {
    command(0);
    command(0x01);
    clock.t += activationMs;
  };
  return { clock, emu, send, status, command, activate };
}

describe('RobotiqEmulator model', () => {
  it('activates in activationMs: reset → activating → complete (0x31), fingers sweep meanwhile', () => {
    const { clock, status, command } = setup(1000);
    expect(status()).toMatchObject({ activated: false, activation: 'reset', position: 0 });
    command(0x00);
    command(0x01);
    clock.t += 250;
    expect(status()).toMatchObject({ activated: true, activation: 'activating', goTo: false });
    expect(status().position).toBeGreaterThan(100); // halfway through closing
    clock.t += 750;
    const s = status();
    expect(s).toMatchObject({
      activated: true,
      activation: 'complete',
      object: 'moving',
      position: 0,
      fault: null,
    });
  });

  it('moves at the speed the speed byte maps to (20..150 mm/s over 85 mm), then reports at-position', () => {
    const { clock, status, command, activate } = setup();
    activate();
    expect(speedUnitsPerMs(0)).toBeCloseTo((20 * 3) / 1000, 9);
    expect(speedUnitsPerMs(255)).toBeCloseTo((150 * 3) / 1000, 9);
    command(0x09, 255, 255, 100);
    clock.t += 100; // 150 mm/s → 45 units in 100 ms
    expect(status()).toMatchObject({ goTo: true, object: 'moving', position: 45, positionRequest: 255 });
    expect(status().currentMa).toBe(200);
    clock.t += 1000;
    expect(status()).toMatchObject({ object: 'at-position', position: 255, currentMa: 0 });
    command(0x09, 0, 0, 100); // slowest: 20 mm/s = 0.06 units/ms
    clock.t += 1000;
    expect(status().position).toBe(255 - 60);
    expect(status().object).toBe('moving');
  });

  it('stops on an injected object: closing → object-closing, opening → object-opening', () => {
    const { clock, emu, status, command, activate } = setup();
    activate();
    emu.injectObject({ position: 120, direction: 'closing' });
    command(0x09, 255, 255, 200);
    clock.t += 2000;
    expect(status()).toMatchObject({ object: 'object-closing', position: 120, positionRequest: 255 });
    expect(status().currentMa).toBe((30 + (200 >> 2)) * 10);
    command(0x09, 0, 255, 200); // opening away from it is free
    clock.t += 2000;
    expect(status()).toMatchObject({ object: 'at-position', position: 0 });
    emu.injectObject({ position: 40, direction: 'opening' });
    command(0x09, 100, 255, 200);
    clock.t += 2000;
    expect(status().position).toBe(100);
    command(0x09, 0, 255, 200);
    clock.t += 2000;
    expect(status()).toMatchObject({ object: 'object-opening', position: 40 });
    emu.injectObject(undefined);
    command(0x09, 0, 255, 200);
    clock.t += 2000;
    expect(status()).toMatchObject({ object: 'at-position', position: 0 });
  });

  it('rGTO=0 stops the fingers where they are', () => {
    const { clock, status, command, activate } = setup();
    activate();
    command(0x09, 255, 255, 0);
    clock.t += 100;
    command(0x01, 255, 255, 0);
    clock.t += 1000;
    expect(status()).toMatchObject({ goTo: false, position: 45, object: 'moving' });
  });

  it('faults: 0x07 without rACT, 0x05 during activation (then runs), injected minor and major faults', () => {
    const { clock, emu, status, command, activate } = setup(1000);
    command(0x08, 100, 255, 0);
    expect(status().fault?.name).toBe('ACTIVATION_BIT_NOT_SET');
    command(0x01);
    command(0x09, 100, 255, 0);
    expect(status()).toMatchObject({ activation: 'activating', fault: { code: 5, name: 'ACTION_DELAYED' } });
    clock.t += 1000;
    expect(status()).toMatchObject({ activation: 'complete', fault: null, goTo: true });
    clock.t += 1000;
    expect(status()).toMatchObject({ object: 'at-position', position: 100 });

    emu.injectFault(0x08);
    command(0x09, 200, 255, 0);
    clock.t += 1000;
    expect(status()).toMatchObject({ position: 100, fault: { name: 'OVER_TEMPERATURE' } });
    emu.clearFault();
    command(0x09, 200, 255, 0);
    clock.t += 1000;
    expect(status()).toMatchObject({ position: 200, fault: null });

    emu.injectFault(0x0e);
    emu.clearFault(); // major: stays
    command(0x09, 0, 255, 0);
    clock.t += 1000;
    expect(status()).toMatchObject({ position: 200, fault: { code: 0x0e, name: 'OVERCURRENT' } });
    activate(); // reset + activation clears it
    expect(status()).toMatchObject({ activation: 'complete', fault: null });
  });

  it('a major fault during activation stalls it', () => {
    const { clock, emu, status, command } = setup(1000);
    command(0x01);
    clock.t += 100;
    emu.injectFault(0x0d);
    clock.t += 5000;
    expect(status()).toMatchObject({ activation: 'activating', fault: { name: 'ACTIVATION_FAULT' } });
  });

  it('automatic release moves slowly open, then reports 0x0F until a reset', () => {
    const { clock, status, command, activate } = setup();
    activate();
    command(0x09, 150, 255, 0);
    clock.t += 1000;
    command(0x01 | 0x10 | 0x20);
    clock.t += 100;
    expect(status().fault?.name).toBe('AUTO_RELEASE_IN_PROGRESS');
    clock.t += 5000;
    expect(status()).toMatchObject({ position: 0, fault: { name: 'AUTO_RELEASE_COMPLETED' } });
  });
});

describe('RobotiqEmulator as a Modbus slave', () => {
  it('answers exceptions for bad addresses, quantities and functions', () => {
    const { send } = setup();
    const exc = (frame: Parameters<typeof send>[0]) => {
      const r = send(frame)!;
      return [r.fn, r.data[0]];
    };
    expect(exc(readRegistersRequest(9, 0x04, 0x0000, 1))).toEqual([0x84, 2]);
    expect(exc(readRegistersRequest(9, 0x04, INPUT_REGISTER_BASE + 1, 3))).toEqual([0x84, 2]);
    expect(exc(readRegistersRequest(9, 0x04, INPUT_REGISTER_BASE, 0))).toEqual([0x84, 3]);
    expect(exc(readRegistersRequest(9, 0x03, INPUT_REGISTER_BASE, 3))).toEqual([0x83, 2]);
    expect(exc(writeMultipleRequest(9, INPUT_REGISTER_BASE, [1]))).toEqual([0x90, 2]);
    expect(exc(writeSingleRequest(9, 0x0000, 1))).toEqual([0x86, 2]);
    expect(
      exc({ slaveId: 9, fn: 0x10, data: Uint8Array.of(0x03, 0xe8, 0x00, 0x02, 0x06, 0, 0, 0, 0, 0, 0) }),
    ).toEqual([0x90, 3]);
    expect(exc({ slaveId: 9, fn: 0x2b, data: Uint8Array.of(0x0e, 0x01, 0x00) })).toEqual([0xab, 1]);
    expect(exc({ slaveId: 9, fn: 0x01, data: Uint8Array.of(0, 0, 0, 1) })).toEqual([0x81, 1]);
  });

  it('partial writes and single-register writes, read back with function 0x03', () => {
    const { send } = setup();
    send(writeMultipleRequest(9, OUTPUT_REGISTER_BASE, [0x0900, 200, 0xff80]));
    send(writeSingleRequest(9, OUTPUT_REGISTER_BASE + 1, 77));
    const r = send(readRegistersRequest(9, 0x03, OUTPUT_REGISTER_BASE, 3))!;
    expect(readReplyValues(r.data, 3)).toEqual([0x0900, 77, 0xff80]);
    const one = send(readRegistersRequest(9, 0x03, OUTPUT_REGISTER_BASE + 2, 1))!;
    expect(readReplyValues(one.data, 1)).toEqual([0xff80]);
  });

  it('ignores other slave ids, applies broadcasts without answering, and the test knobs', () => {
    const { emu, send, status } = setup(1000);
    expect(send(readRegistersRequest(10, 0x04, INPUT_REGISTER_BASE, 3))).toBeUndefined();
    expect(emu.stats.otherSlaves).toBe(1);
    expect(send(writeMultipleRequest(0, OUTPUT_REGISTER_BASE, [0x0100, 0, 0]))).toBeUndefined();
    expect(status().activation).toBe('activating');
    emu.silent = true;
    expect(emu.handle({ slaveId: 9, fn: 0x04, data: Uint8Array.of(0x07, 0xd0, 0, 3) })).toBeUndefined();
    emu.silent = false;
    emu.corruptReplies(1);
    const bad = emu.handle({ slaveId: 9, fn: 0x04, data: Uint8Array.of(0x07, 0xd0, 0, 3) })!;
    expect(decodeFrame(bad)).toBeUndefined();
    expect(
      decodeFrame(emu.handle({ slaveId: 9, fn: 0x04, data: Uint8Array.of(0x07, 0xd0, 0, 3) })!),
    ).toBeDefined();
    emu.noiseBeforeReplies(1, Uint8Array.of(0xaa, 0xbb));
    const noisy = emu.handle({ slaveId: 9, fn: 0x04, data: Uint8Array.of(0x07, 0xd0, 0, 3) })!;
    expect([...noisy.subarray(0, 2)]).toEqual([0xaa, 0xbb]);
    expect(decodeFrame(noisy.subarray(2))).toBeDefined();
    expect(encodeFrame(readRegistersRequest(9, 0x04, INPUT_REGISTER_BASE, 3))).toHaveLength(8);
  });
});
