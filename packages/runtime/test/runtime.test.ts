import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AsyncActionChunkBroker,
  type AsyncBrokerEvent,
  type BasePolicy,
  type Clock,
  isOpenpiEdgeError,
  ManualClock,
  type Obs,
  type OpenpiEdgeError,
} from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import {
  type Agent,
  type Environment,
  type OverrunEvent,
  PolicyAgent,
  Runtime,
  type RuntimeOptions,
  type StepTelemetry,
  type Subscriber,
} from '../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const python = join(root, '.venv', 'bin', 'python');
const script = join(root, 'packages', 'runtime', 'test', 'python', 'openpi_runtime.py');

interface TraceSpec {
  num_episodes: number;
  max_episode_steps: number;
  complete_after?: number | null;
  mark_after?: number | null;
  subscribers?: number;
}

/** The same recording environment, agent and subscribers as openpi_runtime.py's trace mode. */
function traceSetup(spec: TraceSpec) {
  const log: string[] = [];
  let episode = -1;
  let step = 0;
  const holder: { rt?: Runtime } = {};
  const environment: Environment = {
    reset() {
      log.push('env.reset');
      episode += 1;
      step = 0;
    },
    async isEpisodeComplete() {
      log.push(`env.complete:${episode}:${step - 1}`);
      return spec.complete_after != null && step >= spec.complete_after;
    },
    getObservation() {
      log.push(`env.obs:${episode}:${step}`);
      return { episode, step };
    },
    async applyAction(action: Obs) {
      log.push(`env.apply:${action.episode}:${action.step}`);
      step += 1;
    },
  };
  const agent: Agent = {
    async getAction(obs: Obs) {
      log.push(`agent.act:${obs.episode}:${obs.step}`);
      return { ...obs };
    },
    reset() {
      log.push('agent.reset');
    },
  };
  const subscribers: Subscriber[] = Array.from({ length: spec.subscribers ?? 1 }, (_, i) => ({
    onEpisodeStart: () => {
      log.push(`sub${i}.start`);
    },
    onStep: (obs: Obs) => {
      log.push(`sub${i}.step:${obs.episode}:${obs.step}`);
      if (i === 0 && spec.mark_after != null && (obs.step as number) + 1 >= spec.mark_after) {
        holder.rt?.markEpisodeComplete();
      }
    },
    onEpisodeEnd: async () => {
      log.push(`sub${i}.end`);
    },
  }));
  return { log, environment, agent, subscribers, holder };
}

function openpiTrace(spec: TraceSpec): string[] {
  const out = execFileSync(python, [script, 'trace', JSON.stringify(spec)], { encoding: 'utf8' });
  return (JSON.parse(out) as { log: string[] }).log;
}

async function ourTrace(spec: TraceSpec, stepCount: 'exact' | 'openpi') {
  const { log, environment, agent, subscribers, holder } = traceSetup(spec);
  const rt = new Runtime({
    environment,
    agent,
    subscribers,
    numEpisodes: spec.num_episodes,
    maxEpisodeSteps: spec.max_episode_steps,
    stepCount,
    clock: new ManualClock(),
  });
  holder.rt = rt;
  const summary = await rt.run();
  return { log, summary };
}

describe('Runtime vs openpi Runtime: call order and step counts', () => {
  const specs: [string, TraceSpec][] = [
    ['max steps, 2 episodes, 2 subscribers', { num_episodes: 2, max_episode_steps: 3, subscribers: 2 }],
    ['environment completes', { num_episodes: 2, max_episode_steps: 0, complete_after: 4 }],
    [
      'environment completes before the step budget',
      { num_episodes: 1, max_episode_steps: 9, complete_after: 2 },
    ],
    ['markEpisodeComplete from a subscriber', { num_episodes: 3, max_episode_steps: 0, mark_after: 2 }],
  ];
  it.each(specs)("stepCount 'openpi' reproduces openpi exactly: %s", async (_n, spec) => {
    const expected = openpiTrace(spec);
    expect(expected.length).toBeGreaterThan(10);
    const { log } = await ourTrace(spec, 'openpi');
    expect(log).toEqual(expected);
  });

  it("stepCount 'exact' runs N steps where openpi runs N + 1", async () => {
    const n = 4;
    const { log, summary } = await ourTrace(
      { num_episodes: 2, max_episode_steps: n, subscribers: 1 },
      'exact',
    );
    expect(summary.episodes.map((e) => [e.steps, e.endReason])).toEqual([
      [n, 'max-steps'],
      [n, 'max-steps'],
    ]);
    expect(log).toEqual(openpiTrace({ num_episodes: 2, max_episode_steps: n - 1, subscribers: 1 }));
    const openpi = await ourTrace({ num_episodes: 1, max_episode_steps: n }, 'openpi');
    expect(openpi.summary.totalSteps).toBe(n + 1);
  });
});

/** A trivial environment whose calls take virtual time: observe `observeMs`, apply `applyMs(step)`. */
function timedEnv(clock: Clock, observeMs = 3, applyMs: (step: number) => number = () => 1) {
  let step = 0;
  const calls: string[] = [];
  const env: Environment = {
    reset() {
      calls.push('reset');
      step = 0;
    },
    isEpisodeComplete: () => false,
    async getObservation() {
      await clock.sleep(observeMs);
      return { step };
    },
    async applyAction() {
      await clock.sleep(applyMs(step));
      step += 1;
    },
  };
  return { env, calls };
}

const echo: Agent = { getAction: (o) => o, reset: () => {} };

function collect(rt: Runtime) {
  const steps: StepTelemetry[] = [];
  const overruns: OverrunEvent[] = [];
  const episodes: string[] = [];
  rt.telemetry.steps$.subscribe((s) => steps.push(s));
  rt.telemetry.overruns$.subscribe((o) => overruns.push(o));
  rt.telemetry.episodes$.subscribe((e) => episodes.push(e.type));
  return { steps, overruns, episodes };
}

describe('Runtime rate control (virtual clock)', () => {
  it('starts step k at exactly start + k * period', async () => {
    const clock = new ManualClock(500);
    const { env } = timedEnv(clock, 3, () => 4);
    const rt = new Runtime({ environment: env, agent: echo, maxHz: 50, maxEpisodeSteps: 10, clock });
    const t = collect(rt);
    const summary = await clock.runUntil(rt.run());
    const start = t.steps[0]!.startedAt;
    expect(t.steps.map((s) => s.startedAt - start)).toEqual(Array.from({ length: 10 }, (_, k) => 20 * k));
    expect(
      t.steps.every((s) => s.jitterMs === 0 && s.observeMs === 3 && s.applyMs === 4 && s.stepMs === 7),
    ).toBe(true);
    expect(t.steps.slice(1).every((s) => s.periodMs === 20)).toBe(true);
    expect(summary).toMatchObject({ totalSteps: 10, overruns: 0, stopped: false });
  });

  it('skips forward after an overrun instead of bursting, and counts it', async () => {
    const clock = new ManualClock();
    const { env } = timedEnv(clock, 0, (step) => (step === 2 ? 45 : 1));
    const rt = new Runtime({ environment: env, agent: echo, maxHz: 50, maxEpisodeSteps: 6, clock });
    const t = collect(rt);
    const summary = await clock.runUntil(rt.run());
    // step 2 starts at 40 and ends at 85, past the deadline of tick 3 (60) and 4 (80): next tick is 5 (100).
    expect(t.steps.map((s) => s.startedAt)).toEqual([0, 20, 40, 100, 120, 140]);
    expect(t.steps.map((s) => s.tick)).toEqual([0, 1, 2, 5, 6, 7]);
    expect(t.overruns).toEqual([{ episode: 0, step: 2, lateMs: 25, skippedTicks: 2 }]);
    expect(summary).toMatchObject({ overruns: 1, skippedTicks: 2, totalSteps: 6 });
  });
});

describe('Runtime lifecycle', () => {
  it('stop() during the sleep ends the episode, calls onEpisodeEnd and the final reset, and resolves', async () => {
    const clock = new ManualClock();
    const { env, calls } = timedEnv(clock);
    const ends: number[] = [];
    const rt = new Runtime({
      environment: env,
      agent: echo,
      maxHz: 50,
      clock,
      subscribers: [{ onEpisodeEnd: () => void ends.push(rt.episodeSteps) }],
    });
    const t = collect(rt);
    const run = rt.run();
    await clock.advance(70); // steps at 0, 20, 40, 60; now sleeping until 80
    rt.stop();
    const summary = await clock.runUntil(run);
    expect(summary.stopped).toBe(true);
    expect(summary.episodes).toEqual([{ index: 0, steps: 4, durationMs: 70, endReason: 'stopped' }]);
    expect(ends).toEqual([4]);
    expect(calls).toEqual(['reset', 'reset']);
    expect(t.episodes).toEqual(['start', 'end']);
  });

  it('an aborted signal lets the step in progress finish, including its onStep', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const seen: string[] = [];
    const env: Environment = {
      reset: () => void seen.push('reset'),
      isEpisodeComplete: () => false,
      getObservation: () => ({}),
      async applyAction() {
        seen.push('apply-start');
        ac.abort();
        await clock.sleep(5);
        seen.push('apply-end');
      },
    };
    const rt = new Runtime({
      environment: env,
      agent: echo,
      clock,
      numEpisodes: 3,
      signal: ac.signal,
      subscribers: [{ onStep: () => void seen.push('step'), onEpisodeEnd: () => void seen.push('end') }],
    });
    const summary = await clock.runUntil(rt.run());
    expect(seen).toEqual(['reset', 'apply-start', 'apply-end', 'step', 'end', 'reset']);
    expect(summary).toMatchObject({ stopped: true, totalSteps: 1 });
    expect(summary.episodes).toHaveLength(1);
  });

  it('an environment error rejects with STEP_FAILED naming phase, episode and step, after onEpisodeEnd', async () => {
    const clock = new ManualClock();
    const boom = new Error('servo 3 unreachable');
    const { env, calls } = timedEnv(clock);
    const failing: Environment = {
      ...env,
      reset: () => env.reset(),
      async applyAction(a) {
        if (rt.episodeSteps === 3) throw boom;
        await env.applyAction(a);
      },
    };
    const seen: string[] = [];
    const rt = new Runtime({
      environment: failing,
      agent: echo,
      maxHz: 100,
      numEpisodes: 2,
      clock,
      subscribers: [{ onStep: () => void seen.push('step'), onEpisodeEnd: () => void seen.push('end') }],
    });
    const t = collect(rt);
    const err = await clock.runUntil(rt.run()).catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'STEP_FAILED')).toBe(true);
    const e = err as OpenpiEdgeError;
    expect(e.context).toEqual({ phase: 'applyAction', episode: 0, step: 3 });
    expect(e.cause).toBe(boom);
    expect(e.message).toContain('servo 3 unreachable');
    expect(seen).toEqual(['step', 'step', 'step', 'end']);
    expect(calls).toEqual(['reset']); // no second episode, no final reset after a failure
    expect(t.episodes).toEqual(['start', 'end']);
  });

  it('rejects bad options and a second run()', async () => {
    const clock = new ManualClock();
    const base: RuntimeOptions = { environment: timedEnv(clock).env, agent: echo };
    expect(() => new Runtime({ ...base, maxHz: -1 })).toThrow(/maxHz/);
    expect(() => new Runtime({ ...base, maxEpisodeSteps: 1.5 })).toThrow(/maxEpisodeSteps/);
    const rt = new Runtime({ ...base, clock, maxEpisodeSteps: 1 });
    await clock.runUntil(rt.run());
    await expect(rt.run()).rejects.toThrow(/only once/);
  });
});

describe('Runtime with a policy', () => {
  it('runs an AsyncActionChunkBroker through PolicyAgent and forwards its events on policy$', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const policy: BasePolicy = {
      async infer() {
        const c = calls++;
        await clock.sleep(25);
        const data = Float64Array.from({ length: 8 }, (_, k) => 100 * c + k);
        return { actions: { dtype: 'float64', shape: [8, 1], data } };
      },
      reset: () => {},
    };
    const broker = new AsyncActionChunkBroker(policy, { actionHorizon: 8, controlHz: 100, clock });
    const applied: number[] = [];
    const env: Environment = {
      reset: () => {},
      isEpisodeComplete: () => false,
      getObservation: () => ({}),
      applyAction: (a) => {
        applied.push(((a.actions as { data: Float64Array }).data[0] ?? Number.NaN) as number);
      },
    };
    const rt = new Runtime({
      environment: env,
      agent: new PolicyAgent(broker),
      maxHz: 100,
      maxEpisodeSteps: 30,
      clock,
      policyEvents: broker,
    });
    const events: AsyncBrokerEvent[] = [];
    let completed = false;
    rt.telemetry.policy$.subscribe({ next: (e) => events.push(e), complete: () => (completed = true) });
    const t = collect(rt);
    await clock.runUntil(rt.run());
    expect(applied).toHaveLength(30);
    // Chunk 0 is requested after row 4 (3 rows left <= 25 + 10 ms) at t=60 and used at t=90: row 3 of chunk 1.
    expect(applied.slice(0, 9)).toEqual([0, 1, 2, 3, 4, 5, 6, 103, 104]);
    expect(events.filter((e) => e.type === 'chunk').length).toBeGreaterThan(3);
    expect(completed).toBe(true);
    // Only the first step waited for inference (25 ms); the timeline shows no overrun afterwards.
    expect(t.overruns.map((o) => o.step)).toEqual([0]);
    expect(broker.stats().stalls).toBe(0);
  });
});
