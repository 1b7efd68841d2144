import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { EStop, type EStopEvent } from '../../src/safety/estop.js';
import { attachKeyboard, attachSignals } from '../../src/safety/estop-inputs.js';
import type { SafetyFault } from '../../src/safety/faults.js';
import { SafetyGate } from '../../src/safety/gate.js';

class StepClock {
  t = 0;
  now(): number {
    return this.t;
  }
}

/** Lets the stream deliver what was written (PassThrough emits 'data' asynchronously). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const stale: SafetyFault = { code: 'JOINT_STATE_STALE', message: 'old', atMs: 0, value: 200, limit: 100 };

describe('EStop latch', () => {
  it('latches on trigger, keeps the first cause, and reports every trigger', () => {
    const clock = new StepClock();
    const estop = new EStop({ clock });
    const events: EStopEvent[] = [];
    estop.events$.subscribe((e) => events.push(e));
    expect(estop.latched).toBe(false);
    clock.t = 5;
    estop.trigger('ros2', '/estop true');
    clock.t = 6;
    estop.trigger('keyboard', 'space key');
    expect(estop.latched).toBe(true);
    expect(estop.cause).toEqual({ source: 'ros2', reason: '/estop true', atMs: 5 });
    expect(estop.triggerCount).toBe(2);
    expect(events).toEqual([
      { type: 'triggered', cause: { source: 'ros2', reason: '/estop true', atMs: 5 }, first: true },
      { type: 'triggered', cause: { source: 'keyboard', reason: 'space key', atMs: 6 }, first: false },
    ]);
  });

  it('stays latched until reset; reset of a clear latch is a no-op', () => {
    const estop = new EStop({ clock: new StepClock() });
    expect(estop.reset()).toEqual({ ok: true, wasLatched: false });
    estop.trigger('api', 'test');
    expect(estop.latched).toBe(true);
    expect(estop.reset('api')).toEqual({ ok: true, wasLatched: true });
    expect(estop.latched).toBe(false);
    expect(estop.cause).toBeNull();
  });

  it('refuses a reset while a fault persists, and allows it once the fault is gone', () => {
    let faults: SafetyFault[] = [stale];
    const estop = new EStop({ clock: new StepClock(), blockingFaults: () => faults });
    const events: EStopEvent[] = [];
    estop.events$.subscribe((e) => events.push(e));
    estop.trigger('signal', 'SIGINT');
    expect(estop.reset('keyboard')).toEqual({ ok: false, faults: [stale] });
    expect(estop.latched).toBe(true);
    faults = [{ code: 'E_STOP', message: 'latched', atMs: 0, source: 'signal' }]; // the latch itself never blocks
    expect(estop.reset('keyboard')).toEqual({ ok: true, wasLatched: true });
    expect(events.map((e) => e.type)).toEqual(['triggered', 'reset_refused', 'reset']);
  });
});

describe('keyboard source', () => {
  it('space, e and E trigger; r resets', async () => {
    const estop = new EStop({ clock: new StepClock() });
    const input = new PassThrough();
    const detach = attachKeyboard(estop, input, { rawMode: 'off' });
    for (const [key, reason] of [
      [' ', 'space key'],
      ['e', "'e' key"],
      ['E', "'E' key"],
    ] as const) {
      input.write(key);
      await settle();
      expect(estop.cause).toMatchObject({ source: 'keyboard', reason });
      input.write('r');
      await settle();
      expect(estop.latched).toBe(false);
    }
    detach();
  });

  it('ignores other keys and an r inside an escape sequence', async () => {
    const estop = new EStop({ clock: new StepClock() });
    const input = new PassThrough();
    attachKeyboard(estop, input, { rawMode: 'off' });
    input.write('xyzq\n');
    await settle();
    expect(estop.latched).toBe(false);
    input.write(' ');
    await settle();
    input.write('\u001b[r');
    await settle();
    expect(estop.latched).toBe(true);
  });

  it('Ctrl-C triggers and calls onInterrupt; reset results reach onReset', async () => {
    let faults: SafetyFault[] = [stale];
    const estop = new EStop({ clock: new StepClock(), blockingFaults: () => faults });
    const input = new PassThrough();
    let interrupts = 0;
    const resets: unknown[] = [];
    attachKeyboard(estop, input, {
      rawMode: 'off',
      onInterrupt: () => interrupts++,
      onReset: (r) => resets.push(r),
    });
    input.write(Buffer.from([0x03]));
    await settle();
    expect(estop.cause).toMatchObject({ source: 'keyboard', reason: 'Ctrl-C' });
    expect(interrupts).toBe(1);
    input.write('r');
    await settle();
    expect(estop.latched).toBe(true);
    faults = [];
    input.write('r');
    await settle();
    expect(estop.latched).toBe(false);
    expect(resets).toEqual([
      { ok: false, faults: [stale] },
      { ok: true, wasLatched: true },
    ]);
  });

  it('detach stops listening and restores raw mode on a TTY', async () => {
    const estop = new EStop({ clock: new StepClock() });
    const rawCalls: boolean[] = [];
    const input = Object.assign(new PassThrough(), {
      isTTY: true,
      setRawMode(mode: boolean) {
        rawCalls.push(mode);
      },
    });
    const detach = attachKeyboard(estop, input);
    expect(rawCalls).toEqual([true]);
    detach();
    expect(rawCalls).toEqual([true, false]);
    expect(input.listenerCount('data')).toBe(0);
    input.resume();
    input.write(' ');
    await settle();
    expect(estop.latched).toBe(false);
  });

  it('leaves a non-TTY stream alone in auto mode', () => {
    const rawCalls: boolean[] = [];
    const input = Object.assign(new PassThrough(), { setRawMode: (m: boolean) => rawCalls.push(m) });
    attachKeyboard(new EStop({ clock: new StepClock() }), input)();
    expect(rawCalls).toEqual([]);
  });
});

describe('signal source', () => {
  it('SIGINT and SIGTERM on the given emitter trigger; detach removes exactly its listeners', () => {
    const estop = new EStop({ clock: new StepClock() });
    const proc = new EventEmitter();
    const other = (): void => {};
    proc.on('SIGINT', other);
    const seen: string[] = [];
    const detach = attachSignals(estop, proc, { onSignal: (s) => seen.push(s) });
    expect(proc.listenerCount('SIGINT')).toBe(2);
    proc.emit('SIGTERM', 'SIGTERM');
    expect(estop.cause).toMatchObject({ source: 'signal', reason: 'SIGTERM' });
    estop.reset();
    proc.emit('SIGINT', 'SIGINT');
    expect(estop.cause).toMatchObject({ source: 'signal', reason: 'SIGINT' });
    expect(seen).toEqual(['SIGTERM', 'SIGINT']);
    detach();
    expect(proc.listeners('SIGINT')).toEqual([other]);
    expect(proc.listenerCount('SIGTERM')).toBe(0);
    estop.reset();
    proc.emit('SIGINT', 'SIGINT');
    expect(estop.latched).toBe(false);
  });

  it('listens only to the signals it is given', () => {
    const estop = new EStop({ clock: new StepClock() });
    const proc = new EventEmitter();
    attachSignals(estop, proc, { signals: ['SIGHUP'] });
    proc.emit('SIGINT', 'SIGINT');
    expect(estop.latched).toBe(false);
    proc.emit('SIGHUP', 'SIGHUP');
    expect(estop.cause?.reason).toBe('SIGHUP');
  });
});

describe('e-stop inside the gate', () => {
  it('holds while latched; reset is refused while joints are stale, accepted once fresh', () => {
    const clock = new StepClock();
    const gate = new SafetyGate(safetyConfigFor('ur5', { watchdog: { requiredCameras: [] } }), { clock });
    const action = Float64Array.of(0.1, 0, 0, 0, 0, 0, 0.5);
    const joints = (stampMs: number) => ({ positions: new Float64Array(7), stampMs });
    const first = gate.step({ action, joints: joints(0) });
    expect(first.kind).toBe('move');
    const sent = Array.from(first.command ?? []);

    gate.estop.trigger('ros2', '/e_stop');
    const held = gate.step({ action, joints: joints(0) });
    expect(held).toMatchObject({
      kind: 'hold',
      faults: [{ code: 'E_STOP', source: 'ros2', message: 'e-stop latched by ros2: /e_stop' }],
    });
    expect(Array.from(held.command ?? [])).toEqual(sent);

    clock.t = 500;
    gate.step({ action, joints: joints(0) }); // stale joints now
    const refused = gate.estop.reset('keyboard');
    expect(refused).toMatchObject({ ok: false, faults: [{ code: 'JOINT_STATE_STALE' }] });
    expect(gate.step({ action, joints: joints(500) }).kind).toBe('hold'); // still latched
    expect(gate.estop.reset('keyboard')).toEqual({ ok: true, wasLatched: true });
    const resumed = gate.step({ action, joints: joints(500) });
    expect(resumed.kind).toBe('move');
    // Resumes from the held command, one step at a time.
    expect(resumed.command?.[0]).toBeCloseTo(Math.min(0.1, 2 * (Math.PI / 50)), 12);
  });
});
