/**
 * GatedEnvironment over the real AlohaEnvironment on the in-memory bus emulator (real driver, packets, CRC): the
 * gate decides, and what reaches the servos is exactly the gate's command or the last safe one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { realClock } from '../../../client/src/clock.js';
import { ndarray } from '../../../client/src/ndarray.js';
import { GatedEnvironment } from '../../src/agent/gated-environment.js';
import { NO_ACTION } from '../../src/agent/guarded-agent.js';
import { PolicyMonitor } from '../../src/agent/policy-monitor.js';
import { type CreatedAloha, createAlohaEnvironment } from '../../src/robots/aloha/create.js';
import { safetyConfigFor } from '../../src/safety/config.js';
import { type GateDecision, SafetyGate } from '../../src/safety/gate.js';

let created: CreatedAloha | undefined;
afterEach(async () => {
  await created?.close();
  created = undefined;
});

const POSE = [0, -0.96, 1.16, 0, -0.3, 0];

async function setup() {
  created = await createAlohaEnvironment({
    transport: 'emulator',
    resetTiming: { armMs: 40, gripperCloseMs: 40, gripperOpenMs: 40 },
  });
  const monitor = new PolicyMonitor(realClock);
  const gate = new SafetyGate(safetyConfigFor('aloha'), { clock: realClock });
  const env = new GatedEnvironment(created.environment, gate, monitor, { prompt: 'fold' });
  const decisions: GateDecision[] = [];
  env.onDecision = (d) => decisions.push(d);
  return {
    env,
    gate,
    monitor,
    decisions,
    emulators: (created.transport as unknown as { emulators: unknown }).emulators,
  };
}

const act = (v: number[]) => ({ actions: ndarray('float64', [v.length], Float64Array.from(v)) });

describe('GatedEnvironment', () => {
  it('observes state and prompt without images, with measured joints in action units', async () => {
    const { env } = await setup();
    await env.reset();
    // Let the emulated grippers finish their travel to OPEN (the reset above is shortened to 3 x 40 ms).
    await new Promise((r) => setTimeout(r, 800));
    const obs = await env.getObservation();
    expect(Object.keys(obs).sort()).toEqual(['prompt', 'state']);
    expect(obs.prompt).toBe('fold');
    const m = env.measured;
    expect(m).not.toBeNull();
    // After reset the arms are at the home pose and the grippers open (1.0 normalised).
    for (const k of [0, 7]) {
      POSE.forEach((p, j) => {
        expect(m?.positions[k + j]).toBeCloseTo(p, 2);
      });
      expect(m?.positions[k + 6]).toBeCloseTo(1, 1);
    }
  });

  it('sends moves within one step unchanged, holds on a NaN with the last safe command, sends nothing before a move', async () => {
    const { env, decisions } = await setup();
    await env.reset();
    await env.getObservation();
    await env.applyAction(NO_ACTION as never);
    expect(decisions[0]).toMatchObject({ kind: 'hold', command: null });
    expect(env.lastSent).toBeNull();

    const measured = Array.from(env.measured?.positions ?? []);
    const target = measured.map((x, i) => (i === 0 ? x + 0.01 : x));
    await env.getObservation();
    await env.applyAction(act(target));
    expect(decisions[1]?.kind).toBe('move');
    const sent = Array.from(env.lastSent ?? []);
    expect(sent[0]).toBeCloseTo(target[0] as number, 9);

    await env.getObservation();
    await env.applyAction(act(target.map((x, i) => (i === 3 ? Number.NaN : x))));
    expect(decisions[2]).toMatchObject({ kind: 'hold' });
    expect((decisions[2] as { faults: readonly { code: string }[] }).faults.map((f) => f.code)).toContain(
      'ACTION_NON_FINITE',
    );
    expect(Array.from(env.lastSent ?? [])).toEqual(sent);
    expect(env.tally).toMatchObject({ moves: 1, holds: 2, holdsSent: 1 });
    expect(env.tally.lastFaults).toContain('ACTION_NON_FINITE');
  });

  it('rate-limits a far target to one step per tick and reaches it over ticks; the servos follow', async () => {
    const { env } = await setup();
    await env.reset();
    await env.getObservation();
    const start = Array.from(env.measured?.positions ?? []);
    const target = start.map((x, i) => (i === 0 ? x + 0.3 : x));
    const step = Math.PI / 50;
    const sent: number[] = [];
    for (let t = 0; t < 8; t++) {
      await env.getObservation();
      await env.applyAction(act(target));
      sent.push(env.lastSent?.[0] as number);
    }
    sent.forEach((x, i) => {
      expect(x).toBeCloseTo(Math.min((start[0] as number) + step * (i + 1), target[0] as number), 6);
    });
    // The emulated waist servo moves towards the command (its motion model needs a little time).
    await new Promise((r) => setTimeout(r, 300));
    await env.getObservation();
    expect(env.measured?.positions[0]).toBeGreaterThan((start[0] as number) + 0.2);
  });

  it('with the e-stop latched, holds every tick and reset() holds in place instead of moving home', async () => {
    const { env, gate, decisions } = await setup();
    await env.reset();
    await env.getObservation();
    const start = Array.from(env.measured?.positions ?? []);
    const moved = start.map((x, i) => (i === 1 ? x + 0.05 : x));
    await env.applyAction(act(moved));
    await new Promise((r) => setTimeout(r, 200));
    gate.estop.trigger('api', 'test');
    await env.getObservation();
    await env.applyAction(act(start.map((x, i) => (i === 1 ? x + 0.1 : x))));
    expect(decisions.at(-1)).toMatchObject({ kind: 'hold' });
    expect((decisions.at(-1) as { faults: readonly { code: string }[] }).faults[0]?.code).toBe('E_STOP');
    const before = Array.from((await created?.environment.measure())?.positions ?? []);
    await env.reset();
    await new Promise((r) => setTimeout(r, 200));
    const after = Array.from((await created?.environment.measure())?.positions ?? []);
    // Still at the moved shoulder, not back at the home pose.
    expect(after[1]).toBeCloseTo(before[1] as number, 2);
    expect(Math.abs((after[1] as number) - POSE[1]!)).toBeGreaterThan(0.03);
  });
});
