/**
 * End to end on the emulated ALOHA with the demo π0 bundle (onnxruntime CPU), at 50 Hz on the real clock:
 * - in process: the EdgeAgent over the ALOHA plugin's real serial path (socat ptys, serialport, Dynamixel driver,
 *   bus emulator; cameras: ffmpeg's test source through the MJPEG pipe a webcam uses), one 150-step episode; the
 *   servos move, every present position and every command (reset moves included) stays inside the limits;
 * - the CLI: `edge-agent emulate aloha` in one process, `edge-agent start --transport serial` on its ports in another;
 * - the CLI's Ctrl-C: SIGINT mid-episode gives an e-stop, a hold, the summary and exit 0.
 * No timing is asserted (50 Hz is the target; the figures are in bench/aloha-loop.bench.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { resolveConfig } from '../packages/edge-agent/src/config/load.js';
import type { AlohaCameraConfig } from '../packages/edge-agent/src/robots/aloha/config.js';
import { type EmulatedAloha, emulateAloha } from '../packages/edge-agent/src/robots/aloha/emulate.js';
import { alohaPlugin } from '../packages/edge-agent/src/robots/aloha/plugin.js';
import { ALOHA_SAFETY_DEFAULTS } from '../packages/edge-agent/src/robots/aloha/safety-defaults.js';
import { XRegister } from '../packages/edge-agent/src/robots/dynamixel/control-table.js';
import { countsToRadians, VIPERX_ARM_IDS } from '../packages/edge-agent/src/robots/dynamixel/viperx.js';
import type { GateDecision } from '../packages/edge-agent/src/safety/gate.js';
import { type CliProcess, runCli, stopChild } from '../packages/edge-agent/test/agent/helpers.js';

const limits = ALOHA_SAFETY_DEFAULTS.joints;
const children: CliProcess[] = [];
let emulated: EmulatedAloha | undefined;
let agent: EdgeAgent | undefined;

afterEach(async () => {
  await agent?.close();
  agent = undefined;
  await emulated?.close();
  emulated = undefined;
  for (const c of children.splice(0)) {
    await stopChild(c);
  }
});

/** Present positions (rad) of the six arm joints of one emulated arm. */
function armPositions(aloha: EmulatedAloha, side: 'left' | 'right'): number[] {
  const bus = aloha[side].emulator;
  return VIPERX_ARM_IDS.map((id) => countsToRadians(bus.servo(id)?.positionAt(bus.now) as number));
}

/** Goal positions (rad) of the six arm joints of one emulated arm. */
function armGoals(aloha: EmulatedAloha, side: 'left' | 'right'): number[] {
  return VIPERX_ARM_IDS.map((id) =>
    countsToRadians(aloha[side].emulator.servo(id)?.get(XRegister.GoalPosition) as number),
  );
}

/** One encoder count (rad): the resolution positions are stored with. */
const COUNT = Math.PI / 2048;

function expectInsideLimits(positions: readonly number[], side: 'left' | 'right', what: string): void {
  positions.forEach((x, j) => {
    const lim = limits[(side === 'left' ? 0 : 7) + j];
    if (lim === undefined) throw new Error('no limit');
    expect(x, `${what} ${lim.name}`).toBeGreaterThanOrEqual(lim.min - 2 * COUNT);
    expect(x, `${what} ${lim.name}`).toBeLessThanOrEqual(lim.max + 2 * COUNT);
  });
}

describe('ALOHA agent end to end (serial emulator, demo bundle)', () => {
  it('runs a 150-step episode at 50 Hz over socat ptys: arms move, all inside the limits', async () => {
    // Start away from home so the reset visibly moves the arms (the ViperX sleep pose is outside the servo limits).
    emulated = await emulateAloha({ arm: { initialArm: [0.2, -1.2, 1.0, 0.1, -0.5, 0.1] } });
    // The serial transport has no default cameras (and no generated ones): ffmpeg's testsrc stands in for webcams.
    const testsrc: AlohaCameraConfig = { kind: 'testsrc', width: 320, height: 240, fps: 30 };
    const config = resolveConfig(
      {},
      {
        aloha: {
          transport: 'serial',
          serial: { portLeft: emulated.left.devicePath, portRight: emulated.right.devicePath },
          cameras: { cam_high: testsrc, cam_left_wrist: testsrc, cam_right_wrist: testsrc },
        },
        bundle: { providers: ['cpu'], threads: 1, seed: 0 },
        maxSteps: 150,
        statusIntervalMs: 0,
        // Real clock over socat ptys on a shared machine: a bus read can take > 100 ms; a stale joint state would
        // end the reset early with a hold (the watchdog has its own tests), and the reset is checked below.
        safety: { watchdog: { jointStaleMs: 1000 } },
      },
    );
    agent = await EdgeAgent.create(config, {
      plugins: [alohaPlugin.with({ resetTiming: { armMs: 300, gripperCloseMs: 100, gripperOpenMs: 100 } })],
      warn: () => {},
    });
    const a = agent;
    const aloha = emulated;
    const moves: Float64Array[] = [];
    const allMoves: { command: Float64Array; phase: 'step' | 'reset' }[] = [];
    const samples: { left: number[]; right: number[]; goals: number[][] }[] = [];
    a.environment.onDecision = (d: GateDecision, phase) => {
      if (d.kind === 'move') allMoves.push({ command: d.command, phase });
      if (phase !== 'step') return;
      if (d.kind === 'move') moves.push(d.command);
      samples.push({
        left: armPositions(aloha, 'left'),
        right: armPositions(aloha, 'right'),
        goals: [armGoals(aloha, 'left'), armGoals(aloha, 'right')],
      });
    };
    const home = [...armPositions(aloha, 'left'), ...armPositions(aloha, 'right')];
    const summary = await a.run();

    expect(a.environment.lastResetOutcome).toMatchObject({ kind: 'done' }); // the final reset
    expect(summary.run.totalSteps).toBe(150);
    expect(summary.run.episodes).toEqual([expect.objectContaining({ steps: 150, endReason: 'max-steps' })]);
    expect(summary.inferences).toBeGreaterThanOrEqual(2);
    expect(summary.policyFailures).toBe(0);
    expect(moves.length).toBeGreaterThan(75);
    expect(samples).toHaveLength(150);
    // The policy moved the arms away from where the episode started.
    const firstSample = samples[0];
    if (firstSample === undefined) throw new Error('no samples');
    const start = [...firstSample.left, ...firstSample.right];
    const travelled = Math.max(
      ...samples.flatMap((s) => [...s.left, ...s.right].map((x, i) => Math.abs(x - (start[i] as number)))),
    );
    expect(travelled).toBeGreaterThan(0.02);
    // The reset moved the arms from their initial pose to home before the episode.
    expect(Math.abs((home[1] as number) - (start[1] as number))).toBeGreaterThan(0.1);
    // Every present position and every goal register, at every tick, inside the URDF limits.
    for (const s of samples) {
      expectInsideLimits(s.left, 'left', 'present');
      expectInsideLimits(s.right, 'right', 'present');
      expectInsideLimits(s.goals[0] ?? [], 'left', 'goal');
      expectInsideLimits(s.goals[1] ?? [], 'right', 'goal');
    }
    // Every command (the resets' and the policy's) inside the limits and within one per-tick step of the previous
    // one; a reset starts from the measured position (the limiter is re-anchored there), the policy's first command
    // from the reset's last.
    const step = limits.map((j) => j.maxVelocity / 50);
    expect(allMoves.filter((m) => m.phase === 'reset').length).toBeGreaterThan(0);
    allMoves.forEach(({ command: m, phase }, t) => {
      const prev = allMoves[t - 1];
      m.forEach((x, i) => {
        const lim = limits[i];
        if (lim === undefined) throw new Error('no limit');
        expect(x).toBeGreaterThanOrEqual(lim.min);
        expect(x).toBeLessThanOrEqual(lim.max);
        if (prev !== undefined && !(phase === 'reset' && prev.phase === 'step'))
          expect(Math.abs(x - (prev.command[i] as number))).toBeLessThanOrEqual((step[i] as number) + 1e-12);
      });
    });
  }, 120_000);

  it('CLI: `emulate aloha` serves ptys, `start --transport serial --camera ...=testsrc` drives them and exits 0 with a summary', async () => {
    const emu = runCli(['emulate', 'aloha']);
    children.push(emu);
    const left = (await emu.waitForLine(/^left (\S+)$/))[1] as string;
    const right = (await emu.waitForLine(/^right (\S+)$/))[1] as string;
    await emu.waitForLine(/^ready/);
    const start = runCli([
      'start',
      '--robot',
      'aloha',
      '--transport',
      'serial',
      '--port-left',
      left,
      '--port-right',
      right,
      '--camera',
      'cam_high=testsrc',
      '--camera',
      'cam_left_wrist=testsrc',
      '--camera',
      'cam_right_wrist=testsrc',
      '--max-steps',
      '100',
      '--providers',
      'cpu',
      '--threads',
      '1',
      '--status-interval',
      '0',
    ]);
    children.push(start);
    const { code } = await start.exited;
    const out = start.stdout.join('\n');
    expect(code, `${out}\n${start.stderr.join('\n')}`).toBe(0);
    expect(out).toMatch(/^openpi-edge agent: aloha$/m);
    expect(out).toMatch(/transport +serial: serial .*follower_left.*follower_right/);
    expect(out).toMatch(/cam_high: ffmpeg:lavfi testsrc/);
    expect(out).toMatch(/model +pi0 bundle .*demo-bundle-pi0/);
    expect(out).toMatch(/^summary: 100 steps, episodes [\d.]+ s/m);
    const moves = Number(out.match(/safety +(\d+) moves/)?.[1]);
    expect(moves).toBeGreaterThan(0);
    emu.child.kill('SIGINT');
    expect((await emu.exited).code).toBe(0);
    expect(emu.stdout.join('\n')).toMatch(/SIGINT: stopping the emulated arms/);
  }, 120_000);

  it('CLI: Ctrl-C (SIGINT) mid-episode latches the e-stop, holds, prints the summary and exits 0', async () => {
    const start = runCli([
      'start',
      '--robot',
      'aloha',
      '--max-steps',
      '0',
      '--providers',
      'cpu',
      '--threads',
      '1',
      '--status-interval',
      '100',
    ]);
    children.push(start);
    // Non-TTY status lines come every 2 s once the loop runs.
    await start.waitForLine(/^status: ep 1\/1 step \d+/, 'stderr');
    start.child.kill('SIGINT');
    const { code } = await start.exited;
    const out = start.stdout.join('\n');
    expect(code, `${out}\n${start.stderr.join('\n')}`).toBe(0);
    expect(start.stderr.join('\n')).toMatch(/SIGINT: e-stop, holding the robot, stopping/);
    expect(out).toMatch(/^summary: \d+ steps, .* \(stopped early\); episodes: #1 \d+ steps stopped/m);
    expect(out).toMatch(/e-stop by signal \(SIGINT\)/);
  }, 120_000);
});
