/**
 * Code we did not write drives the UR controller emulator: SDU's ur_rtde 1.6.5 (PyPI ur-rtde, installed into .venv
 * by scripts/python-env.sh) runs test/python/ur_rtde_peer.py — RTDEReceiveInterface reads the state,
 * RTDEControlInterface uploads its own control script and runs moveJ, a 500 Hz servoJ stream (initPeriod /
 * waitPeriod), servoStop, stopScript, reuploadScript, a command the emulator does not implement (moveL), and
 * sees a protective stop injected during a servo stream.
 *
 * ur_rtde's ports are fixed (30004, 29999, 30003): the emulator listens on a loopback address of its own,
 * 127.x.y.z (Linux routes all of 127.0.0.0/8 to lo), so parallel tests and a local emulator on 127.0.0.1 do not
 * collide. ur_rtde has no reply timeouts: the script runs under `timeout 60`. Assertions are on states and
 * counts, not on timing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { UrControllerEmulator } from '../packages/edge-agent/src/robots/ur/emulator/emulator.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const peer = join(root, 'test', 'python', 'ur_rtde_peer.py');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The emulator on ur_rtde's standard ports, on a random 127.x.y.z; a clear error when none can be had. */
async function startOnStandardPorts(trace: (line: string) => void): Promise<UrControllerEmulator> {
  const errors: string[] = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    const host = `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;
    try {
      return await UrControllerEmulator.start({ host, startMode: 'running', unlockDelayMs: 0, trace });
    } catch (e) {
      errors.push(`${host}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `ur_rtde needs the UR standard ports (RTDE 30004, dashboard 29999, scripts 30001-30003) and none of 8 loopback addresses had them free:\n${errors.join('\n')}`,
  );
}

type PeerEvent = { event: string } & Record<string, unknown>;

describe("SDU's ur_rtde ↔ UR controller emulator", () => {
  it('receive + control interfaces: moveJ, 500 Hz servoJ, servoStop, stopScript, reupload, protective stop', async () => {
    expect(existsSync(python), `${python} missing: run scripts/python-env.sh`).toBe(true);
    const traces: string[] = [];
    const emu = await startOnStandardPorts((l) => traces.push(l));
    cleanups.push(() => emu.close());
    const targets: number[][] = [];
    emu.onTarget((q) => targets.push([...q]));

    const child = spawn('timeout', ['60', python, peer, emu.host], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const events: PeerEvent[] = [];
    const marks: Record<string, number> = {};
    const snapshots: Record<string, ReturnType<UrControllerEmulator['snapshot']>> = {};
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let e: PeerEvent;
      try {
        e = JSON.parse(line) as PeerEvent;
      } catch {
        stderr += `[stdout] ${line}\n`;
        return;
      }
      events.push(e);
      marks[e.event] = targets.length;
      snapshots[e.event] = emu.snapshot();
      if (e.event === 'await_protective_stop') emu.injectProtectiveStop('ur_rtde peer test');
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code, `ur_rtde peer exited ${code}; stderr:\n${stderr}\nevents:\n${JSON.stringify(events)}`).toBe(
      0,
    );
    const ev = (name: string): PeerEvent => {
      const e = events.find((x) => x.event === name);
      if (e === undefined)
        throw new Error(`no '${name}' event; got ${events.map((x) => x.event).join(', ')}`);
      return e;
    };

    // RTDEReceiveInterface: ur_rtde's 58-variable output recipe; the emulator's initial state
    const rx = ev('receive');
    expect(rx.q).toEqual([0, -1.57, 1.57, -1.57, -1.57, 0]);
    expect(rx).toMatchObject({ robot_mode: 7, safety_mode: 1 });
    expect((rx.tcp_pose as number[]).length).toBe(6);

    // RTDEControlInterface: dashboard checks, its script on 30003, program running
    expect(ev('control')).toMatchObject({ connected: true, program_running: true });
    expect(traces.some((t) => /^script port \d+: def rtde_control\(\)/.test(t))).toBe(true);
    expect(traces).toEqual(expect.arrayContaining(['dashboard: get serial number -> 20205500001']));

    // moveJ: the emulator's q arrived at the target, and the receive interface read it
    const mj = ev('movej');
    expect(mj.ok).toBe(true);
    const target = mj.target as number[];
    for (const [i, v] of (mj.q as number[]).entries()) expect(v).toBeCloseTo(target[i] as number, 9);
    expect(targets[0]).toEqual(target);

    // servoJ stream: new targets applied by the emulator, following the stream to (near) its end
    const sv = ev('servo');
    expect(sv.all_ok).toBe(true);
    const streamed = targets.slice(marks.movej, marks.servo);
    expect(streamed.length).toBeGreaterThan(250); // of 500 (two in one 2 ms cycle count once)
    const last = sv.last_target as number[];
    expect(Math.max(...streamed.map((q) => q[0] as number))).toBeGreaterThan((last[0] as number) - 0.02);
    expect((sv.q as number[])[0] as number).toBeGreaterThan((target[0] as number) + 0.1); // the arm followed
    expect(ev('servo_stop').ok).toBe(true);

    // stopScript ends the program; reuploadScript runs it again
    expect(ev('stop_script')).toMatchObject({ program_running: false, runtime_state: 1 });
    const reuploads = events.filter((e) => e.event === 'reupload');
    expect(reuploads.map((e) => [e.ok, e.program_running])).toEqual([
      [true, true],
      [true, true],
    ]);

    // moveL is not emulated: an error text, the program ends, ur_rtde returns False instead of hanging
    expect(ev('unemulated')).toMatchObject({ ok: false, program_running: false });
    expect(
      traces.some((t) => /text error \[rtde_control\].*command 3 \(movel\) is not emulated/.test(t)),
    ).toBe(true);

    // protective stop during a servo stream: ur_rtde reports it, servoJ fails afterwards
    const ps = ev('protective_stop');
    expect(ps).toMatchObject({ seen: true, safety_mode: 3, program_running: false, servo_ok_after: false });
    expect(((ps.safety_status_bits as number) >> 2) & 1).toBe(1);
    expect(snapshots.protective_stop).toMatchObject({ safetyMode: 3, program: null });
    expect(ev('done')).toBeDefined();
  }, 90_000);
});
