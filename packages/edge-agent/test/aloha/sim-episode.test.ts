/**
 * One short episode end to end on the ALOHA `sim` transport (gym-aloha in MuJoCo through the bridge process) with
 * the demo π0 bundle (onnxruntime CPU) at 50 Hz on the real clock, the SafetyGate and the brokers in the loop:
 * - in process: EdgeAgent over the plugin, 100 steps; the reset and the policy move the simulated arms, the sim
 *   stepped at least once per tick (lock-step), every command inside the limits;
 * - the CLI: `edge-agent start --robot aloha --transport sim --rtc guidance --max-steps 100` (real-time chunking
 *   against the physics) exits 0 with its report and summary.
 * No timing is asserted (bench/aloha-sim.bench.ts has the figures). Needs `bash scripts/sim-env.sh`.
 */
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../src/agent/edge-agent.js';
import { resolveConfig } from '../../src/config/load.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import { ALOHA_SAFETY_DEFAULTS } from '../../src/robots/aloha/safety-defaults.js';
import { resolveSimPython, type SimAlohaArms } from '../../src/robots/aloha/sim-transport.js';
import type { GateDecision } from '../../src/safety/gate.js';
import { type CliProcess, CPU_QUIET_FLAGS, runCli, stopChild } from '../agent/helpers.js';

const children: CliProcess[] = [];
let agent: EdgeAgent | undefined;

beforeAll(() => {
  const py = resolveSimPython();
  if (!existsSync(py))
    throw new Error(`needs .venv-sim (no interpreter at ${py}): run \`bash scripts/sim-env.sh\``);
});

afterEach(async () => {
  await agent?.close();
  agent = undefined;
  for (const c of children.splice(0)) await stopChild(c);
});

describe('ALOHA sim episode end to end (gym-aloha, demo bundle)', () => {
  it('in process: a 100-step episode moves the simulated arms, one sim step per tick, all inside the limits', async () => {
    const config = resolveConfig(
      {},
      {
        aloha: { transport: 'sim' },
        bundle: { providers: ['cpu'], threads: 1, seed: 0 },
        maxSteps: 100,
        statusIntervalMs: 0,
      },
    );
    agent = await EdgeAgent.create(config, {
      plugins: [alohaPlugin.with({ resetTiming: { armMs: 300, gripperCloseMs: 100, gripperOpenMs: 100 } })],
      warn: () => {},
    });
    const a = agent;
    const sim = (a.robot as unknown as { environment: { transport: SimAlohaArms } }).environment.transport;
    expect(sim.kind).toBe('sim');
    const moves: { command: Float64Array; phase: 'step' | 'reset' }[] = [];
    const arms: number[][] = [];
    a.environment.onDecision = (d: GateDecision, phase) => {
      if (d.kind === 'move') moves.push({ command: d.command, phase });
      if (phase === 'step') void sim.read().then((s) => arms.push([...s.left.arm, ...s.right.arm]));
    };
    const stepsBefore = sim.episode?.steps ?? 0;
    const summary = await a.run();

    expect(summary.run.totalSteps).toBe(100);
    expect(summary.run.episodes).toEqual([expect.objectContaining({ steps: 100, endReason: 'max-steps' })]);
    expect(summary.inferences).toBeGreaterThanOrEqual(2);
    expect(summary.policyFailures).toBe(0);
    expect(moves.filter((m) => m.phase === 'step').length).toBeGreaterThan(50);
    expect(moves.filter((m) => m.phase === 'reset').length).toBeGreaterThan(0);
    // Lock-step: every move written became a sim step of 20 ms (idle steps add more while nothing commands).
    const stepped = (sim.episode?.steps ?? 0) - stepsBefore;
    expect(stepped + sim.stats().coalesced).toBeGreaterThanOrEqual(moves.length);
    expect(sim.faults()).toEqual([]);
    // The policy moved the simulated arms.
    const first = arms[0] ?? [];
    const travelled = Math.max(...arms.flatMap((p) => p.map((x, i) => Math.abs(x - (first[i] as number)))));
    expect(travelled).toBeGreaterThan(0.02);
    // Every command inside the limits.
    const limits = ALOHA_SAFETY_DEFAULTS.joints;
    for (const { command } of moves) {
      command.forEach((x, i) => {
        const lim = limits[i];
        if (lim === undefined) throw new Error('no limit');
        expect(x).toBeGreaterThanOrEqual(lim.min);
        expect(x).toBeLessThanOrEqual(lim.max);
      });
    }
    // The cameras the watchdog requires came from the renderer.
    for (const name of ['cam_high', 'cam_left_wrist', 'cam_right_wrist']) {
      expect(sim.stats().frames[name] ?? 0, name).toBeGreaterThan(0);
    }
  }, 180_000);

  it('CLI: `start --robot aloha --transport sim --rtc guidance --max-steps 100` runs the episode and exits 0 with a summary', async () => {
    const start = runCli([
      'start',
      '--robot',
      'aloha',
      '--transport',
      'sim',
      // Real-time chunking against the physics: each background chunk continues the executing one (docs/rtc.md).
      '--rtc',
      'guidance',
      '--max-steps',
      '100',
      ...CPU_QUIET_FLAGS,
    ]);
    children.push(start);
    const { code } = await start.exited;
    const out = start.stdout.join('\n');
    expect(code, `${out}\n${start.stderr.join('\n')}`).toBe(0);
    expect(out).toMatch(/^openpi-edge agent: aloha$/m);
    expect(out).toMatch(/transport +sim: gym-aloha transfer_cube \(MuJoCo\)/);
    expect(out).toMatch(/cam_high: sim:top 640x480 \(gym-aloha bridge\)/);
    expect(out).toMatch(/model +pi0 bundle .*demo-bundle-pi0/);
    expect(out).toMatch(/async broker, real-time chunking guidance \(exp mask, max guidance 5\)/);
    expect(out).toMatch(/^summary: 100 steps, episodes [\d.]+ s/m);
    expect(Number(out.match(/safety +(\d+) moves/)?.[1])).toBeGreaterThan(0);
  }, 180_000);
});
