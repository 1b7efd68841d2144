/**
 * `edge-agent replay <run.mcap> --dry-run`: a real 40-step recording (`start --record-mcap`, emulated ALOHA, demo
 * bundle) replayed through the SafetyGate into the emulated ALOHA:
 * - the CLI: every step through the gate, all moves, the emulator tracks the recorded joints;
 * - a recording edited to hold a NaN and an out-of-range command: those two ticks hold with ACTION_NON_FINITE /
 *   ACTION_OUT_OF_RANGE naming the joint, the others move, the replay goes on to the end;
 * - an e-stop latched between ticks: the very next tick holds with E_STOP and the replay stops there;
 * - a robot whose joints differ from the recording: CONFIG_MISMATCH naming both.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DryRunSummary, dryRun } from '../../src/replay/dry-run.js';
import { McapRecording } from '../../src/replay/mcap-recording.js';
import type { RecordedEpisode, RecordingSource } from '../../src/replay/recorded-episode.js';
import { findRobot } from '../../src/robots/registry.js';
import type { GateDecision, SafetyGate } from '../../src/safety/gate.js';
import { runCli } from '../agent/helpers.js';
import { recordRun, rewriteMcap } from './helpers.js';

const STEPS = 40;
const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-dry-run-'));
const file = join(dir, 'run.mcap');
const aloha = findRobot('aloha');

beforeAll(async () => {
  await recordRun(file, STEPS);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay --dry-run', () => {
  it('sends every recorded command through the gate into the emulator, which tracks the recording', async () => {
    const json = join(dir, 'dry.json');
    const c = runCli(['replay', file, '--dry-run', '--json', json]);
    const { code } = await c.exited;
    const out = c.stdout.join('\n');
    expect(code, `${out}\n${c.stderr.join('\n')}`).toBe(0);
    expect(out).toMatch(
      new RegExp(
        `steps {5}${STEPS} through the gate \\(0 without a recorded command\\), ${STEPS} moves, 0 holds`,
      ),
    );
    expect(out).toMatch(/holds {5}none/);
    const s = JSON.parse(readFileSync(json, 'utf8')) as DryRunSummary & { mode: string };
    expect(s).toMatchObject({
      mode: 'dry-run',
      robot: 'aloha',
      hz: 50,
      steps: STEPS,
      moves: STEPS,
      holds: 0,
      estop: null,
    });
    expect(s.positioningMoves).toBeGreaterThan(0);
    // Already gated once when recorded: replayed from the same pose they need no clamping.
    expect(s.clamps.position).toBe(0);
    expect(s.tracking.rows).toBe(STEPS);
    expect(s.tracking.values).toBe(STEPS * 14);
    // The emulator follows the same commands from the same pose: within a few hundredths of a radian.
    expect(s.tracking.maxAbs).toBeLessThan(0.1);
  }, 60_000);

  it('a NaN and an out-of-range command hold with their fault codes; the replay goes on', async () => {
    const edited = join(dir, 'edited.mcap');
    await rewriteMcap(file, edited, (topic, body) => {
      if (topic !== '/safety/decision') return body;
      const command = body.command as (number | null)[];
      if (body.step === 5) command[1] = null; // JSON has no NaN: a null value reads back as NaN
      if (body.step === 10) command[0] = 10; // left_waist: 10 rad, far beyond [-3.14, 3.14] + 0.5
      return body;
    });
    const decisions: [number, GateDecision][] = [];
    const s = await dryRun(await McapRecording.open(edited), {
      plugin: aloha,
      onStep: (_, i, d) => decisions.push([i, d]),
    });
    expect(s.steps).toBe(STEPS);
    expect(s.holds).toBe(2);
    expect(s.moves).toBe(STEPS - 2);
    expect(s.holdsByFault).toEqual({ ACTION_NON_FINITE: 1, ACTION_OUT_OF_RANGE: 1 });
    const at = (i: number) => decisions.find(([k]) => k === i)?.[1];
    const d5 = at(5);
    expect(d5?.kind).toBe('hold');
    expect(d5?.kind === 'hold' && d5.faults.map((f) => [f.code, f.name])).toEqual([
      ['ACTION_NON_FINITE', 'left_shoulder'],
    ]);
    const d10 = at(10);
    expect(d10?.kind === 'hold' && d10.faults.map((f) => [f.code, f.name, f.value])).toEqual([
      ['ACTION_OUT_OF_RANGE', 'left_waist', 10],
    ]);
    // A hold re-sends the last safe command; the next recorded command moves again.
    expect(d10?.command).not.toBeNull();
    expect(at(6)?.kind).toBe('move');
    expect(at(11)?.kind).toBe('move');
    expect(decisions).toHaveLength(STEPS);
  }, 60_000);

  it('an e-stop latched between ticks holds on the very next tick and stops the replay', async () => {
    let gate: SafetyGate | null = null;
    let stepsAtTrigger = -1;
    const decisions: GateDecision[] = [];
    const s = await dryRun(await McapRecording.open(file), {
      plugin: aloha,
      moveToStart: false,
      onReady: (p) => {
        gate = p.gate;
      },
      onStep: (_, i, d) => {
        decisions.push(d);
        if (i === 10) {
          setTimeout(() => {
            stepsAtTrigger = decisions.length;
            (gate as SafetyGate | null)?.estop.trigger('api', 'replay test');
          }, 0);
        }
      },
    });
    expect(stepsAtTrigger).toBeGreaterThan(10);
    // Every tick before the latch moved; the first tick after it held on E_STOP, and it was the last one.
    expect(decisions).toHaveLength(stepsAtTrigger + 1);
    expect(decisions.slice(0, stepsAtTrigger).every((d) => d.kind === 'move')).toBe(true);
    const last = decisions.at(-1);
    expect(last?.kind === 'hold' && last.faults.map((f) => f.code)).toEqual(['E_STOP']);
    expect(s).toMatchObject({ steps: stepsAtTrigger + 1, stoppedEarly: true, holdsByFault: { E_STOP: 1 } });
    expect(s.estop).toMatchObject({ source: 'api', reason: 'replay test' });
  }, 60_000);

  it('a robot whose joints differ from the recording is CONFIG_MISMATCH naming both', async () => {
    const rec = await McapRecording.open(file);
    await expect(dryRun(rec, { plugin: findRobot('ur5') })).rejects.toMatchObject({
      code: 'CONFIG_MISMATCH',
      message: expect.stringMatching(/recorded on robot 'aloha', --robot is 'ur5'/),
    });
    // Same robot name, other joints (e.g. a recording of a modified plugin).
    const eps: RecordedEpisode[] = [];
    for await (const ep of rec.episodes()) eps.push({ ...ep, joints: ep.joints.slice(0, 13) });
    const renamed: RecordingSource = {
      description: 'edited recording',
      robot: 'aloha',
      prompt: null,
      async *episodes() {
        yield* eps;
      },
      async close() {},
    };
    await expect(dryRun(renamed, { plugin: aloha })).rejects.toMatchObject({
      code: 'CONFIG_MISMATCH',
      context: { what: 'joints' },
      message: expect.stringMatching(
        /the recording's joints \(13: left_waist.*are not the aloha robot's \(14: /,
      ),
    });
  }, 60_000);
});
