/**
 * UrArm (dashboard + script port + RTDE servo worker) against the UR controller emulator, in-process on ephemeral
 * loopback ports: bring-up on CB3 (125 Hz, no remote-control command), refusals that name what is wrong (local
 * mode, a protective stop at start, an input register another RTDE client owns), the servo program's own watchdog
 * when the stream stops, and a dry run that never sends. State- and count-based waits with hang guards only.
 */
import { realClock } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { UrControllerEmulator, type UrEmulatorOptions } from '../../src/robots/ur/emulator/emulator.js';
import { RtdeClient } from '../../src/robots/ur/rtde/rtde-client.js';
import { SERVO_INPUTS } from '../../src/robots/ur/servo-loop.js';
import { SERVO_STATE } from '../../src/robots/ur/servo-program.js';
import { faultNames } from '../../src/robots/ur/servo-shared.js';
import { type BringUpStep, UrArm, type UrArmOptions } from '../../src/robots/ur/ur-arm.js';
import { armSafety, UR5_SAFETY_DEFAULTS } from '../../src/robots/ur5/safety-defaults.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function emulator(options: UrEmulatorOptions = {}): Promise<UrControllerEmulator> {
  const emu = await UrControllerEmulator.start({
    ports: { rtde: 0, dashboard: 0, primary: 0, secondary: 0, realtime: 0 },
    unlockDelayMs: 0,
    modeTransitionMs: 20,
    ...options,
  });
  cleanups.push(() => emu.close());
  return emu;
}

function armOptions(emu: UrControllerEmulator, more: Partial<UrArmOptions> = {}): UrArmOptions {
  return {
    host: '127.0.0.1',
    ports: { rtde: emu.ports.rtde, dashboard: emu.ports.dashboard, script: emu.ports.secondary },
    safety: { ...armSafety(UR5_SAFETY_DEFAULTS), controlRateHz: 50 },
    clock: realClock,
    ...more,
  };
}

async function connect(emu: UrControllerEmulator, more: Partial<UrArmOptions> = {}): Promise<UrArm> {
  const arm = await UrArm.connect(armOptions(emu, more));
  cleanups.push(() => arm.close());
  return arm;
}

async function until(what: string, p: () => boolean | Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await p())) {
    if (Date.now() - t0 > 20_000) throw new Error(`hang guard: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('UrArm against the UR controller emulator', () => {
  it('CB3: 125 Hz servo, steptime 8 ms, no remote-control check; moves reach the controller', async () => {
    const emu = await emulator({ series: 'cb3' });
    const steps: BringUpStep[] = [];
    const arm = await connect(emu, { onStep: (s) => steps.push(s) });
    expect(arm.servoHz).toBe(125);
    expect(arm.params.steptime).toBeCloseTo(0.008, 12);
    const text = steps.map((s) => `${s.step}: ${s.detail}`).join('\n');
    expect(text).toMatch(/remote control: not applicable \(CB3\)/);
    expect(text).toMatch(/controller 3\.15\.7\.106 \(CB3\)/);
    expect(emu.snapshot().program).toBe('openpi_edge_servo');
    const q = Float64Array.from(arm.read().q);
    const target = q.slice();
    target[0] = (q[0] as number) + 0.05;
    const before = emu.snapshot().targets;
    arm.move(target, 20);
    await until(
      'the controller follows',
      () => Math.abs((emu.snapshot().q[0] as number) - (target[0] as number)) < 0.01,
    );
    expect(emu.snapshot().targets).toBeGreaterThan(before);
    expect(arm.faults(0)).toEqual([]);
  });

  it('local mode: bring-up refuses naming remote control, nothing powered', async () => {
    const emu = await emulator({ remoteControl: false });
    await expect(UrArm.connect(armOptions(emu))).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      message: expect.stringMatching(/remote control/i),
    });
    expect(emu.snapshot().robotMode).toBe(3); // POWER_OFF
  });

  it('a protective stop at start: refused naming the safety mode; nothing started', async () => {
    const emu = await emulator({ startMode: 'running' });
    emu.injectProtectiveStop('test');
    await expect(UrArm.connect(armOptions(emu))).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      message: expect.stringMatching(/PROTECTIVE_STOP/),
    });
    expect(emu.snapshot().program).toBeNull();
  });

  it('an input register another RTDE client owns: RTDE_ERROR naming the variable as IN_USE', async () => {
    const emu = await emulator({ startMode: 'running' });
    const other = await RtdeClient.connect({ host: '127.0.0.1', port: emu.ports.rtde });
    cleanups.push(() => other.close());
    await other.setupInputs(SERVO_INPUTS(24, 24, 25));
    await expect(UrArm.connect(armOptions(emu))).rejects.toMatchObject({
      code: 'RTDE_ERROR',
      message: expect.stringMatching(/input_double_register_24' as IN_USE/),
    });
  });

  it("the servo program's watchdog: the stream stops, the program stops the arm and ends; the fault latches", async () => {
    const emu = await emulator({ startMode: 'running' });
    const arm = await connect(emu);
    await until('holding', () => arm.read().state.servoState === SERVO_STATE.HOLDING);
    // Cut the stream without ending the program (what a crashed agent would leave behind).
    emu.dropRtdeConnections();
    await until('the program ends by its watchdog', () => emu.snapshot().program === null);
    expect(emu.snapshot().servoState).toBe(SERVO_STATE.WATCHDOG);
    expect(faultNames(arm.read().state.faults)).toContain('LINK_LOST');
    // Resume: new RTDE session, the program re-sent; the latch clears.
    await arm.resume();
    expect(arm.faults(0)).toEqual([]);
    expect(emu.snapshot().program).toBe('openpi_edge_servo');
  });

  it('dry run: reads the state, sends no program, no inputs, never powers on', async () => {
    const emu = await emulator();
    const arm = await connect(emu, { dryRun: true });
    await until('a reading', () => Number.isFinite(arm.read().stampMs));
    expect(() => arm.move(arm.read().q, 20)).toThrow(/dry run/);
    const s = emu.snapshot();
    expect(s.robotMode).toBe(3);
    expect(s.program).toBeNull();
    expect(s.inputPackets).toBe(0);
  });
});
