/**
 * DashboardClient and bringUp against the UR controller emulator (every command, bring-up from power off, local
 * mode, protective-stop unlock too early / in time, CB3), and against small fake servers for the failure paths
 * (no reply → timeout naming the command, a closed link, no banner, nothing listening). State-based only.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type BringUpStep, bringUp, DashboardClient } from '../../src/robots/ur/dashboard-client.js';
import { LOCAL_MODE_REFUSAL, UNLOCK_TOO_EARLY } from '../../src/robots/ur/emulator/dashboard-server.js';
import { UrControllerEmulator, type UrEmulatorOptions } from '../../src/robots/ur/emulator/emulator.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const EPHEMERAL = { rtde: 0, dashboard: 0, primary: 0, secondary: 0, realtime: 0 };

async function setup(
  options: UrEmulatorOptions = {},
): Promise<{ emu: UrControllerEmulator; d: DashboardClient }> {
  const emu = await UrControllerEmulator.start({
    ports: EPHEMERAL,
    unlockDelayMs: 0,
    modeTransitionMs: 20,
    ...options,
  });
  cleanups.push(() => emu.close());
  const d = await DashboardClient.connect({ host: '127.0.0.1', port: emu.ports.dashboard, timeoutMs: 5000 });
  cleanups.push(() => d.close());
  return { emu, d };
}

async function fakeServer(onConnection: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const addr = server.address();
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

describe('DashboardClient ↔ UR emulator', () => {
  it('banner, queries and every typed command with its expected reply', async () => {
    const { emu, d } = await setup({ startMode: 'running', serialNumber: '20235500042' });
    expect(d.banner).toBe('Connected: Universal Robots Dashboard Server');
    expect(await d.polyscopeVersion()).toBe('URSoftware 5.11.1.108 (Jan 01 2023)');
    expect(await d.serialNumber()).toBe('20235500042');
    expect(await d.isInRemoteControl()).toBe(true);
    expect(await d.robotMode()).toBe('RUNNING');
    expect(await d.safetyMode()).toBe('NORMAL');
    expect(await d.safetyStatus()).toBe('NORMAL');
    expect(await d.running()).toBe(false);
    expect(await d.loadedProgram()).toBeNull();
    await expect(d.play()).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'play', reply: 'Failed to execute: play' },
    });
    await d.load('/programs/pick.urp');
    expect(await d.loadedProgram()).toBe('/programs/pick.urp');
    await d.play();
    expect(await d.running()).toBe(true);
    expect(await d.programState()).toEqual({ state: 'PLAYING', program: '/programs/pick.urp' });
    await d.pause();
    expect((await d.programState()).state).toBe('PAUSED');
    await d.play();
    await d.stop();
    expect((await d.programState()).state).toBe('STOPPED');
    await d.closePopup();
    await d.closeSafetyPopup();
    await d.unlockProtectiveStop();
    await expect(d.load('notes.txt')).rejects.toMatchObject({
      context: { reply: 'File not found: notes.txt' },
    });
    expect(await d.command('make coffee')).toBe("could not understand: 'make coffee'");
    await d.restartSafety();
    expect(await d.robotMode()).toBe('POWER_OFF');
    await d.powerOn();
    await d.powerOff();
    expect(emu.snapshot().robotMode).toBe(3);
    // commands queue: many at once, replies in order
    const modes = await Promise.all([d.robotMode(), d.safetyMode(), d.serialNumber(), d.robotMode()]);
    expect(modes).toEqual(['POWER_OFF', 'NORMAL', '20235500042', 'POWER_OFF']);
    await d.close();
    await d.close();
    await expect(d.robotMode()).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'robotmode' },
    });
  });

  it('bringUp from power off: power on → IDLE → brake release → RUNNING, every step reported', async () => {
    const { emu, d } = await setup();
    expect(await d.robotMode()).toBe('POWER_OFF');
    const steps: BringUpStep[] = [];
    const mode = await bringUp(d, { timeoutMs: 10_000, pollMs: 10, onStep: (s) => steps.push(s) });
    expect(mode).toBe('RUNNING');
    expect(emu.snapshot().robotMode).toBe(7);
    const names = steps.map((s) => s.step);
    expect(names).toEqual(
      expect.arrayContaining(['remote control', 'close popups', 'power on', 'brake release']),
    );
    expect(names.indexOf('power on')).toBeLessThan(names.indexOf('brake release'));
    expect(steps.find((s) => s.step === 'remote control')?.detail).toBe('yes');
    // already running: only the checks
    const again: BringUpStep[] = [];
    await bringUp(d, { onStep: (s) => again.push(s) });
    expect(again.map((s) => s.step)).not.toContain('power on');
  });

  it('bringUp fails naming the step and the last robot mode (emergency stop, slow brake release)', async () => {
    const { emu, d } = await setup({ modeTransitionMs: 60_000 });
    emu.injectEmergencyStop();
    await expect(bringUp(d, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { step: 'safety mode', robotMode: 'POWER_OFF', reply: 'ROBOT_EMERGENCY_STOP' },
    });
    emu.releaseEmergencyStop();
    // the emulated power-on stage takes 60 s here: the 300 ms bring-up times out in 'power on'
    const err = await bringUp(d, { timeoutMs: 300, pollMs: 20 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { step: 'power on', robotMode: 'POWER_ON' },
    });
    expect((err as Error).message).toMatch(/power on.*robot mode POWER_ON/);
  });

  it('local mode: robot commands refused with PolyScope’s reply; bringUp stops at remote control', async () => {
    const { emu, d } = await setup({ remoteControl: false });
    expect(await d.isInRemoteControl()).toBe(false);
    for (const f of [() => d.powerOn(), () => d.brakeRelease(), () => d.play(), () => d.load('a.urp')]) {
      await expect(f()).rejects.toMatchObject({
        code: 'DASHBOARD_ERROR',
        context: { reply: LOCAL_MODE_REFUSAL },
      });
    }
    expect(await d.robotMode()).toBe('POWER_OFF'); // queries still answer
    await d.closePopup();
    await expect(bringUp(d)).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { step: 'remote control', reply: 'false' },
    });
    emu.setRemoteControl(true);
    expect(await bringUp(d, { pollMs: 10 })).toBe('RUNNING');
  });

  it('unlock protective stop: refused too early with PolyScope’s text, accepted after the delay', async () => {
    const early = await setup({ startMode: 'running', unlockDelayMs: 60_000 });
    early.emu.injectProtectiveStop();
    expect(await early.d.safetyMode()).toBe('PROTECTIVE_STOP');
    await expect(early.d.unlockProtectiveStop()).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'unlock protective stop', reply: UNLOCK_TOO_EARLY },
    });
    expect(await early.d.safetyMode()).toBe('PROTECTIVE_STOP');

    const ok = await setup({ startMode: 'running', unlockDelayMs: 0 });
    ok.emu.injectProtectiveStop();
    await ok.d.unlockProtectiveStop();
    expect(await ok.d.safetyMode()).toBe('NORMAL');
    expect(await ok.d.robotMode()).toBe('RUNNING');
  });

  it('CB3: no remote control command (bringUp skips the check), 3.x version string', async () => {
    const { d } = await setup({ series: 'cb3' });
    expect(await d.polyscopeVersion()).toMatch(/^URSoftware 3\.15/);
    await expect(d.isInRemoteControl()).rejects.toMatchObject({ code: 'DASHBOARD_ERROR' });
    const steps: BringUpStep[] = [];
    expect(await bringUp(d, { pollMs: 10, onStep: (s) => steps.push(s) })).toBe('RUNNING');
    expect(steps[0]).toEqual({ step: 'remote control', detail: 'not applicable (CB3)' });
  });

  it('quit: "Disconnected" and the server closes the link', async () => {
    const { d } = await setup();
    expect(await d.command('quit')).toBe('Disconnected');
    await expect(d.robotMode()).rejects.toMatchObject({ code: 'DASHBOARD_ERROR' });
  });
});

describe('DashboardClient failure paths', () => {
  it('no reply: DASHBOARD_ERROR naming the command, the link closes, later commands fail at once', async () => {
    const port = await fakeServer((s) => s.write('Connected: Universal Robots Dashboard Server\n'));
    const d = await DashboardClient.connect({ host: '127.0.0.1', port, timeoutMs: 200 });
    cleanups.push(() => d.close());
    // the first command times out; the one queued behind it fails as soon as the link is closed
    const first = d.safetyMode();
    const queued = d.robotMode();
    await expect(first).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'safetymode', reply: null, timeoutMs: 200 },
    });
    await expect(first).rejects.toThrow(/no reply to 'safetymode' within 200 ms/);
    await expect(queued).rejects.toThrow(
      /'robotmode' not sent: the link is closed after 'safetymode' got no reply/,
    );
    await expect(d.powerOn()).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'power on' },
    });
  });

  it('the server closes while a command waits: rejected, no hang', async () => {
    const port = await fakeServer((s) => {
      s.write('Connected: Universal Robots Dashboard Server\n');
      s.on('data', () => s.destroy());
    });
    const d = await DashboardClient.connect({ host: '127.0.0.1', port, timeoutMs: 30_000 });
    cleanups.push(() => d.close());
    await expect(d.robotMode()).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { command: 'robotmode' },
    });
    expect(d.closed).toBe(true);
  });

  it('an unexpected reply throws with the reply text', async () => {
    const port = await fakeServer((s) => {
      s.write('Connected: Universal Robots Dashboard Server\n');
      s.on('data', () => s.write('Robotmode: \n'));
    });
    const d = await DashboardClient.connect({ host: '127.0.0.1', port });
    cleanups.push(() => d.close());
    await expect(d.robotMode()).rejects.toMatchObject({
      context: { command: 'robotmode', reply: 'Robotmode: ' },
    });
    await expect(d.running()).rejects.toMatchObject({ context: { command: 'running' } });
  });

  it('connect: nothing listening, no banner in time, closed before the banner', async () => {
    const dead = await fakeServer(() => {});
    await cleanups.pop()?.();
    await expect(DashboardClient.connect({ host: '127.0.0.1', port: dead })).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
      context: { port: dead },
    });
    const silent = await fakeServer(() => {});
    await expect(
      DashboardClient.connect({ host: '127.0.0.1', port: silent, timeoutMs: 150 }),
    ).rejects.toThrow(/no banner within 150 ms/);
    const rude = await fakeServer((s) => s.destroy());
    await expect(DashboardClient.connect({ host: '127.0.0.1', port: rude })).rejects.toMatchObject({
      code: 'DASHBOARD_ERROR',
    });
  });

  it('multi-line commands are refused before anything is sent', async () => {
    const { d } = await setup();
    await expect(d.command('stop\npower off')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(await d.robotMode()).toBe('POWER_OFF');
  });
});
