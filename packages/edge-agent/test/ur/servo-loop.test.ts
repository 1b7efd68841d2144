import { describe, expect, it } from 'vitest';
import type { RtdeValue } from '../../src/robots/ur/rtde/types.js';
import { CycleStats, outputFaults, ServoLoop } from '../../src/robots/ur/servo-loop.js';
import {
  DEFAULT_SERVO_PARAMS,
  parseServoHeader,
  SERVO_MODE,
  SERVO_STATE,
  servoProgram,
} from '../../src/robots/ur/servo-program.js';
import { ARM_FAULT, emptyArmState, faultNames, ServoShared } from '../../src/robots/ur/servo-shared.js';
import { armSafety, UR5_SAFETY_DEFAULTS } from '../../src/robots/ur5/safety-defaults.js';
import { applySafetyOverrides } from '../../src/safety/config.js';

const HOME = [0, -1.57, 1.57, -1.57, -1.57, 0];

/** An in-thread servo loop at 500 Hz on a manual clock, recording what it sends. */
function rig(opts: { linkTimeoutMs?: number; commandStaleMs?: number } = {}) {
  let t = 1000;
  const sent: RtdeValue[][] = [];
  const shared = new ServoShared();
  const loop = new ServoLoop({
    shared,
    safety: applySafetyOverrides(armSafety(UR5_SAFETY_DEFAULTS), { controlRateHz: 500 }),
    now: () => t,
    epochOffsetMs: 0,
    send: (v) => sent.push([...v]),
    linkTimeoutMs: opts.linkTimeoutMs ?? 100,
    commandStaleMs: opts.commandStaleMs ?? 250,
  });
  const out = {
    q: [...HOME],
    robotMode: 7,
    safetyMode: 1,
    safetyBits: 1,
    runtime: 2,
    servoState: SERVO_STATE.HOLDING as number,
  };
  const feed = (): void =>
    loop.applyOutputs([
      t / 1000,
      out.q,
      [0, 0, 0, 0, 0, 0],
      out.q,
      out.robotMode,
      out.safetyMode,
      out.safetyBits,
      out.runtime,
      3,
      out.servoState,
    ]);
  const cycle = (n = 1): void => {
    for (let i = 0; i < n; i++) {
      feed();
      loop.tick();
      // The emulated arm tracks the setpoint exactly.
      const last = sent.at(-1);
      if (last !== undefined && last[7] === SERVO_MODE.SERVO) out.q = last.slice(0, 6) as number[];
      t += 2;
    }
  };
  return { loop, shared, sent, out, cycle, feed, advance: (ms: number) => (t += ms) };
}

describe('ServoLoop (one controller cycle)', () => {
  it('holds and bumps the keepalive every cycle until the program runs', () => {
    const r = rig();
    r.shared.writeCommand(
      SERVO_MODE.SERVO,
      HOME.map((x) => x + 0.1),
      50,
    );
    r.cycle(5);
    expect(r.sent.map((v) => v[7])).toEqual([0, 0, 0, 0, 0]);
    expect(r.sent.map((v) => v[6])).toEqual([1, 2, 3, 4, 5]);
    expect(r.loop.armed).toBe(false);
  });

  it('interpolates a command over the loop period, within the per-cycle step', () => {
    const r = rig();
    r.loop.expectProgram();
    r.cycle(1);
    expect(r.loop.armed).toBe(true);
    const target = [...HOME];
    target[0] = 0.1; // 0.1 rad over 50 ms: 4 mrad per 2 ms cycle (the per-cycle limit is pi * 2 ms = 6.3 mrad)
    r.shared.writeCommand(SERVO_MODE.SERVO, target, 50);
    r.sent.length = 0;
    r.cycle(30);
    const j0 = r.sent.map((v) => v[0] as number);
    expect(r.sent.every((v) => v[7] === SERVO_MODE.SERVO)).toBe(true);
    for (let i = 1; i < j0.length; i++) {
      const step = (j0[i] as number) - (j0[i - 1] as number);
      expect(step).toBeGreaterThanOrEqual(0);
      expect(step).toBeLessThanOrEqual(Math.PI * 0.002 + 1e-12);
    }
    expect(j0.at(-1)).toBeCloseTo(0.1, 12);
    // Linear, the first step on the first cycle: after 13 cycles (26 ms of 50) 26/50 of the way.
    expect(j0[0]).toBeCloseTo(0.1 * (2 / 50), 6);
    expect(j0[12]).toBeCloseTo(0.1 * (26 / 50), 6);
  });

  it('rate-limits a far target per cycle at the servo rate', () => {
    const r = rig();
    r.loop.expectProgram();
    r.cycle(1);
    const far = [...HOME];
    far[2] = 1.57 - 1; // 1 rad in one 20 ms period: far beyond pi rad/s
    r.shared.writeCommand(SERVO_MODE.SERVO, far, 20);
    r.sent.length = 0;
    r.cycle(20);
    const j2 = r.sent.map((v) => v[2] as number);
    for (let i = 1; i < j2.length; i++) {
      expect(Math.abs((j2[i] as number) - (j2[i - 1] as number))).toBeLessThanOrEqual(
        Math.PI * 0.002 + 1e-12,
      );
    }
    expect(j2.at(-1)).toBeGreaterThan(1.57 - 1 + 0.5); // still on its way after 40 ms
  });

  it('a protective stop holds from the next cycle and stays latched until cleared', () => {
    const r = rig();
    r.loop.expectProgram();
    r.cycle(1);
    r.shared.writeCommand(
      SERVO_MODE.SERVO,
      HOME.map((x) => x + 0.05),
      50,
    );
    r.cycle(3);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.SERVO);
    r.out.safetyMode = 3;
    r.out.safetyBits = 1 << 2;
    r.out.runtime = 1;
    r.cycle(1);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.HOLD);
    const s = r.shared.readState();
    expect(faultNames(s.faults)).toEqual(expect.arrayContaining(['PROTECTIVE_STOP', 'PROGRAM_STOPPED']));
    // The controller clears it; the program is still gone; nothing moves by itself.
    r.out.safetyMode = 1;
    r.out.safetyBits = 1;
    r.shared.writeCommand(
      SERVO_MODE.SERVO,
      HOME.map((x) => x + 0.1),
      50,
    );
    r.cycle(10);
    expect(r.sent.slice(-10).every((v) => v[7] === SERVO_MODE.HOLD)).toBe(true);
    expect(r.shared.readState().faults & ARM_FAULT.PROTECTIVE_STOP).not.toBe(0);
    // The user's resume: program re-sent and running again, then the latch clears.
    r.loop.disarm();
    r.loop.expectProgram();
    r.out.runtime = 2;
    r.out.servoState = SERVO_STATE.HOLDING;
    r.cycle(1);
    expect(r.loop.clearLatched()).toBe(0);
    r.shared.writeCommand(
      SERVO_MODE.SERVO,
      HOME.map((x) => x + 0.1),
      50,
    );
    r.cycle(2);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.SERVO);
  });

  it('no output package within the link timeout: LINK_LOST, hold', () => {
    const r = rig({ linkTimeoutMs: 20 });
    r.loop.expectProgram();
    r.cycle(1);
    r.shared.writeCommand(SERVO_MODE.SERVO, HOME, 50);
    r.advance(30);
    r.loop.tick();
    expect(faultNames(r.shared.readState().faults)).toContain('LINK_LOST');
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.HOLD);
  });

  it('a stale command (the loop stopped sending) holds until the next one', () => {
    const r = rig({ commandStaleMs: 30 });
    r.loop.expectProgram();
    r.cycle(1);
    r.shared.writeCommand(SERVO_MODE.SERVO, HOME, 50);
    r.cycle(5);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.SERVO);
    r.cycle(20);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.HOLD);
    expect(r.shared.readState().faults).toBe(0);
    r.shared.writeCommand(SERVO_MODE.SERVO, HOME, 50);
    r.cycle(1);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.SERVO);
  });

  it('END asks the program to stop', () => {
    const r = rig();
    r.loop.expectProgram();
    r.cycle(1);
    r.shared.writeCommand(SERVO_MODE.END, HOME, 0);
    r.cycle(1);
    expect(r.sent.at(-1)?.[7]).toBe(SERVO_MODE.END);
  });
});

describe('outputFaults', () => {
  const base = { ...emptyArmState(), robotMode: 7, safetyMode: 1, runtimeState: 2, servoState: 1 };
  it.each([
    [{ safetyMode: 3 }, ['PROTECTIVE_STOP']],
    [{ safetyMode: 7 }, ['EMERGENCY_STOP']],
    [{ safetyStatusBits: 1 << 6 }, ['EMERGENCY_STOP']],
    [{ safetyMode: 5 }, ['SAFEGUARD_STOP']],
    [{ safetyMode: 9 }, ['SAFETY_FAULT']],
    [{ robotMode: 5 }, ['ROBOT_NOT_RUNNING']],
    [{ runtimeState: 1 }, ['PROGRAM_STOPPED']],
    [{ servoState: 3, runtimeState: 1 }, ['SERVO_WATCHDOG']],
    [{ safetyMode: 2 }, []],
  ])('%o -> %o', (change, names) => {
    expect(faultNames(outputFaults({ ...base, ...change }, true))).toEqual(names);
  });
  it('before the program is armed only safety faults count', () => {
    expect(faultNames(outputFaults({ ...base, robotMode: 3, runtimeState: 1 }, false))).toEqual([]);
  });
});

describe('servo program', () => {
  it('carries its parameters in the header, and the body uses them', () => {
    const text = servoProgram({ ...DEFAULT_SERVO_PARAMS, lookahead: 0.05, gain: 500 });
    expect(parseServoHeader(text)).toMatchObject({ lookahead: 0.05, gain: 500, targetRegister: 24 });
    expect(text).toContain('def openpi_edge_servo():');
    expect(text).toContain('servoj([read_input_float_register(24), read_input_float_register(25)');
    expect(text).toContain('0.002, 0.05, 500.0)');
    expect(text).toContain('rtde_set_watchdog("input_int_register_24", 10.0, "STOP")');
    expect(text.endsWith('end\n')).toBe(true);
    expect(parseServoHeader('def other():\nend\n')).toBeNull();
  });
  it('refuses parameters outside what servoj takes', () => {
    expect(() => servoProgram({ ...DEFAULT_SERVO_PARAMS, gain: 5000 })).toThrow(
      /gain 5000 outside \[100, 2000\]/,
    );
    expect(() => servoProgram({ ...DEFAULT_SERVO_PARAMS, lookahead: 0.01 })).toThrow(/lookahead/);
  });
});

describe('CycleStats', () => {
  it('counts deviations and missed cycles', () => {
    const s = new CycleStats(2);
    for (const t of [0, 2, 4.5, 6, 12, 14]) s.record(t, 0.1);
    const m = s.summary();
    expect(m.cycles).toBe(6);
    expect(m.missed).toBe(2); // 6 -> 12 skipped two periods
    expect(m.jitterMaxMs).toBeCloseTo(4);
  });
});
