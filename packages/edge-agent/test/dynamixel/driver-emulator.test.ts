/** DynamixelBus (driver) against the bus emulator over an in-memory link: no real timers, time injected. */
import { describe, expect, it } from 'vitest';
import { DynamixelBus, type DynamixelTimer } from '../../src/robots/dynamixel/bus.js';
import { OperatingMode, XRegister } from '../../src/robots/dynamixel/control-table.js';
import {
  createViperXBusEmulator,
  VIPERX_SLEEP_POSE,
} from '../../src/robots/dynamixel/emulator/viperx-bus.js';
import { DynamixelError } from '../../src/robots/dynamixel/errors.js';
import { HARDWARE_ERROR_BITS } from '../../src/robots/dynamixel/packet.js';
import { type ByteTransport, createMemoryLink } from '../../src/robots/dynamixel/transport.js';
import {
  countsToRadians,
  gripperAngleToFinger,
  radiansToCounts,
  VIPERX_ARM_IDS,
  ViperXArm,
} from '../../src/robots/dynamixel/viperx.js';

/** Timeouts without waiting: a sleep "expires" after a few macrotasks, long after in-memory replies arrive. */
class InstantTimer implements DynamixelTimer {
  sleeps = 0;
  sleep(_ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps += 1;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new Error('aborted'));
        return;
      }
      let n = 0;
      const spin = (): void => {
        if (signal?.aborted) reject(new Error('aborted'));
        else if (++n >= 5) resolve();
        else setImmediate(spin);
      };
      setImmediate(spin);
    });
  }
}

function setup(options: { maxChunk?: number; retries?: number } = {}) {
  let t = 0;
  const clock = { now: () => t };
  const emulator = createViperXBusEmulator({ clock });
  const [driverEnd, busEnd] = createMemoryLink(
    options.maxChunk === undefined ? {} : { maxChunk: options.maxChunk },
  );
  emulator.attach(busEnd);
  const timer = new InstantTimer();
  const bus = new DynamixelBus(driverEnd, { timer, retries: options.retries ?? 2 });
  return { emulator, bus, timer, advance: (ms: number) => (t += ms) };
}

describe('DynamixelBus ↔ emulated ViperX bus (in memory)', () => {
  it('pings every servo with its model number; an absent id times out after all retries', async () => {
    const { bus, timer } = setup({ maxChunk: 3 });
    const models = [];
    for (let id = 1; id <= 9; id++) models.push((await bus.ping(id)).modelNumber);
    expect(models).toEqual([1120, 1120, 1120, 1120, 1120, 1120, 1120, 1020, 1020]);
    const err = await bus.ping(42).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'SERVO_TIMEOUT',
      context: { missingIds: [42], attempts: 3, instruction: 'Ping' },
    });
    expect(timer.sleeps).toBeGreaterThanOrEqual(3);
    expect(bus.stats.timeouts).toBe(3);
    expect(bus.stats.retries).toBe(2);
    expect((await bus.scan()).map((p) => p.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('retries through dropped and corrupted replies, and after a CRC_ERROR status', async () => {
    const { bus, emulator } = setup();
    emulator.injectFault({ kind: 'drop', count: 1, id: 1 });
    emulator.injectFault({ kind: 'corrupt', count: 1, id: 1 });
    expect((await bus.ping(1)).modelNumber).toBe(1120);
    expect(bus.stats.retries).toBe(2);
    emulator.injectFault({ kind: 'drop', count: 3, id: 2 });
    await expect(bus.ping(2)).rejects.toMatchObject({ code: 'SERVO_TIMEOUT' });
  });

  it('a servo that received a corrupt instruction answers CRC_ERROR; the driver resends', async () => {
    const emulator = createViperXBusEmulator({ clock: { now: () => 0 } });
    const [driverEnd, busEnd] = createMemoryLink();
    emulator.attach(busEnd);
    let corruptNext = 1;
    const noisy: ByteTransport = {
      description: 'noisy',
      write: (b) => {
        const out = b.slice();
        if (corruptNext-- > 0) out[out.length - 1]! ^= 0x40; // line noise on the instruction's CRC
        return driverEnd.write(out);
      },
      onData: (l) => driverEnd.onData(l),
      close: () => driverEnd.close(),
    };
    const bus = new DynamixelBus(noisy, { timer: new InstantTimer() });
    expect(await bus.readRegister(4, XRegister.DriveMode)).toBe(1);
    expect(bus.stats).toMatchObject({ sent: 2, retries: 1, timeouts: 0 });
    corruptNext = 3;
    await expect(bus.readRegister(4, XRegister.DriveMode)).rejects.toMatchObject({
      id: 4,
      errorName: 'CRC_ERROR',
    });
  });

  it('reads the control table: Present Position of the sleep pose, EEPROM as configured', async () => {
    const { bus } = setup();
    expect(await bus.readRegister(2, XRegister.PresentPosition)).toBe(radiansToCounts(VIPERX_SLEEP_POSE[1]!));
    expect(await bus.readRegister(2, XRegister.DriveMode)).toBe(1);
    expect(await bus.readRegister(3, XRegister.SecondaryId)).toBe(2);
    expect(await bus.readRegister(9, XRegister.CurrentLimit)).toBe(200);
    expect(await bus.readRegister(1, XRegister.BaudRate)).toBe(3);
  });

  it('surfaces status error bits as DynamixelError with the id and error name', async () => {
    const { bus } = setup();
    await bus.setTorque(1, true);
    // EEPROM while torque is on
    const access = await bus.setOperatingMode(1, OperatingMode.Velocity).catch((e: unknown) => e);
    expect(access).toBeInstanceOf(DynamixelError);
    expect(access).toMatchObject({ id: 1, errorName: 'ACCESS_ERROR', code: 'SERVO_ERROR' });
    // goal outside Min/Max Position Limit of the shoulder (841..2867)
    await expect(bus.writeRegister(2, XRegister.GoalPosition, 4000)).rejects.toMatchObject({
      id: 2,
      errorName: 'DATA_LIMIT_ERROR',
    });
    // read-only item
    await expect(bus.writeRegister(4, XRegister.PresentPosition, 1)).rejects.toMatchObject({
      errorName: 'ACCESS_ERROR',
    });
    // out of range value
    await expect(bus.writeRegister(4, XRegister.TorqueEnable, 2)).rejects.toMatchObject({
      errorName: 'DATA_RANGE_ERROR',
    });
    // partial item
    await expect(bus.write(4, 116, Uint8Array.of(1, 2))).rejects.toMatchObject({
      errorName: 'DATA_LENGTH_ERROR',
    });
  });

  it('torque off = no motion; torque on moves toward the goal at the profile speed', async () => {
    const { bus, advance } = setup();
    await bus.writeRegister(1, XRegister.GoalPosition, 2548);
    advance(2000);
    expect(await bus.readRegister(1, XRegister.PresentPosition)).toBe(2048);
    await bus.setTorque(1, true);
    expect(await bus.readRegister(1, XRegister.GoalPosition)).toBe(2048); // torque on holds position
    await bus.writeRegister(1, XRegister.ProfileVelocity, 100); // 22.9 rpm ≈ 1563 counts/s
    await bus.writeRegister(1, XRegister.GoalPosition, 2548);
    advance(100);
    const mid = await bus.readRegister(1, XRegister.PresentPosition);
    expect(mid).toBeGreaterThan(2048 + 100);
    expect(mid).toBeLessThan(2048 + 200);
    expect(await bus.readRegister(1, XRegister.Moving)).toBe(1);
    expect(await bus.readRegister(1, XRegister.PresentVelocity)).toBe(100);
    advance(1000);
    expect(await bus.readRegister(1, XRegister.PresentPosition)).toBe(2548);
    expect(await bus.readRegister(1, XRegister.Moving)).toBe(0);
  });

  it('operating mode needs torque off; switching resets the profile', async () => {
    const { bus } = setup();
    await bus.writeRegister(9, XRegister.ProfileVelocity, 50);
    await bus.setOperatingMode(9, OperatingMode.CurrentBasedPosition);
    expect(await bus.readRegister(9, XRegister.OperatingMode)).toBe(5);
    expect(await bus.readRegister(9, XRegister.ProfileVelocity)).toBe(0);
    await bus.setTorque(9, true);
    // current-based position allows goals beyond one turn
    await bus.writeRegister(9, XRegister.GoalPosition, 5000);
  });

  it('hardware error: alert bit → DynamixelError HARDWARE_ALERT naming the bits; torque off until reboot', async () => {
    const { bus, emulator } = setup();
    await bus.setTorque(9, true);
    emulator.servo(9)!.injectHardwareError(HARDWARE_ERROR_BITS.OVERLOAD, emulator.now);
    const err = await bus.readRegister(9, XRegister.PresentPosition).catch((e: unknown) => e);
    expect(err).toMatchObject({ id: 9, errorName: 'HARDWARE_ALERT', hardwareErrors: ['OVERLOAD'] });
    expect((await bus.ping(9)).alert).toBe(true);
    await expect(bus.setTorque(9, true)).rejects.toMatchObject({ errorName: 'RESULT_FAIL' });
    await bus.reboot(9);
    expect(await bus.readRegister(9, XRegister.HardwareErrorStatus)).toBe(0);
    expect(await bus.readRegister(9, XRegister.TorqueEnable)).toBe(0);
    await bus.setTorque(9, true);
    // alerts: 'ignore' returns data despite the alert
    emulator.servo(9)!.injectHardwareError(HARDWARE_ERROR_BITS.OVERHEATING, emulator.now);
    const [driverEnd, busEnd] = createMemoryLink();
    emulator.attach(busEnd);
    const lenient = new DynamixelBus(driverEnd, { timer: new InstantTimer(), alerts: 'ignore' });
    expect(await lenient.readRegister(9, XRegister.HardwareErrorStatus)).toBe(
      HARDWARE_ERROR_BITS.OVERHEATING,
    );
  });

  it('sync read of present position for all arm servos, sync write of goal positions; shadows follow', async () => {
    const { bus, emulator, advance } = setup({ maxChunk: 5 });
    const ids = [1, 2, 4, 6, 7, 8];
    for (const id of [...ids, 9]) await bus.setTorque(id, true);
    const before = await bus.syncReadRegister(XRegister.PresentPosition, ids);
    expect([...before.values()]).toEqual(VIPERX_SLEEP_POSE.map(radiansToCounts));
    const goals: Array<[number, number]> = ids.map((id, i) => [id, 2048 + 10 * i]);
    await bus.syncWriteRegister(XRegister.GoalPosition, goals);
    advance(5000);
    const after = await bus.syncReadRegister(XRegister.PresentPosition, ids);
    expect([...after.entries()]).toEqual(goals);
    // shadows got the goal through Secondary ID (they were not in the Sync Write) and torque from their masters
    expect(emulator.servo(3)!.torqueEnabled).toBe(true);
    expect(Math.round(emulator.servo(3)!.positionAt(emulator.now))).toBe(2058);
    expect(Math.round(emulator.servo(5)!.positionAt(emulator.now))).toBe(2068);
    // only the master answered: one status per listed id
    await expect(bus.syncRead(132, 4, [2, 42])).rejects.toMatchObject({
      code: 'SERVO_TIMEOUT',
      context: { missingIds: [42] },
    });
  });

  it('EEPROM via a Secondary ID is ignored: operating mode must be written to shadows directly', async () => {
    const { bus, emulator } = setup();
    await bus.setOperatingMode(2, OperatingMode.ExtendedPosition);
    expect(emulator.servo(2)!.get(XRegister.OperatingMode)).toBe(4);
    expect(emulator.servo(3)!.get(XRegister.OperatingMode)).toBe(3);
  });
});

describe('ViperXArm on the emulated bus', () => {
  it('follower setup, joint state in radians, arm and gripper commands', async () => {
    const { bus, emulator, advance } = setup();
    const arm = new ViperXArm(bus);
    await arm.verify();
    await arm.configure();
    await arm.setupFollower();
    for (const id of [1, 2, 3, 4, 5, 6, 7, 8])
      expect(emulator.servo(id)!.get(XRegister.OperatingMode)).toBe(3);
    expect(emulator.servo(9)!.get(XRegister.OperatingMode)).toBe(5);
    for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9]) expect(emulator.servo(id)!.torqueEnabled).toBe(true);

    const s0 = await arm.readState();
    expect(Array.from(s0.position.subarray(0, 6)).map((r) => r.toFixed(2))).toEqual(
      VIPERX_SLEEP_POSE.map((r) => countsToRadians(radiansToCounts(r)).toFixed(2)),
    );
    const home = [0, -0.96, 1.16, 0, -0.3, 0];
    await arm.writeArmPositions(home);
    await arm.writeGripper(0.6197);
    advance(200);
    const moving = await arm.readState();
    expect(moving.velocity[1]).toBeGreaterThan(0); // shoulder going up from -2.05 toward -0.96
    advance(5000);
    const s1 = await arm.readState();
    for (let i = 0; i < 6; i++) expect(Math.abs(s1.position[i]! - home[i]!)).toBeLessThan(0.002);
    expect(Math.abs(s1.position[6]! - 0.6197)).toBeLessThan(0.002);
    expect(s1.fingerPosition).toBeCloseTo(gripperAngleToFinger(s1.position[6]!), 9);
    expect(Math.abs(s1.velocity[1]!)).toBe(0);
    // out-of-limit goals are refused before reaching the bus (the servo would drop them silently)
    await expect(arm.writeArmPositions([0, -2.5, 0, 0, 0, 0])).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { joint: 'shoulder' },
    });
    expect(emulator.received.filter((p) => p.instruction === 0x83).length).toBe(1);
    expect(VIPERX_ARM_IDS).not.toContain(3);
  });
});

describe('unit conversions', () => {
  it('counts ↔ radians around 2048 and the gripper geometry', () => {
    expect(countsToRadians(2048)).toBe(0);
    expect(countsToRadians(0)).toBeCloseTo(-Math.PI, 12);
    expect(countsToRadians(3072)).toBeCloseTo(Math.PI / 2, 12);
    expect(radiansToCounts(-0.96)).toBe(1422);
    expect(radiansToCounts(countsToRadians(1234))).toBe(1234);
    // r·sinθ + √(L² − r²cos²θ) at θ = π/2 is r + L
    expect(gripperAngleToFinger(Math.PI / 2)).toBeCloseTo(0.0275 + 0.035, 12);
  });
});
