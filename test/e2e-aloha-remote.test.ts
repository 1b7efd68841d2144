/**
 * The EdgeAgent on the emulated ALOHA with a remote policy over real websockets:
 * - an in-process `serveBundle` server (WebsocketPolicyServer + the demo OnnxPolicy): a 150-step episode at 50 Hz
 *   with the sync broker (openpi's);
 * - `edge-agent serve` in a child process, killed (SIGKILL) mid-episode: the gate reports a policy fault and every
 *   command sent while the server is gone equals the last safe one; the server restarts on the same port, the
 *   client reconnects and the arms move again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../packages/edge-agent/src/agent/edge-agent.js';
import { DEMO_BUNDLE_DIR, resolveConfig } from '../packages/edge-agent/src/config/load.js';
import { alohaPlugin } from '../packages/edge-agent/src/robots/aloha/plugin.js';
import type { GateDecision } from '../packages/edge-agent/src/safety/gate.js';
import { type ServingBundle, serveBundle } from '../packages/edge-agent/src/server/serve-bundle.js';
import { type CliProcess, runCli, stopChild, waitUntil } from '../packages/edge-agent/test/agent/helpers.js';

let agent: EdgeAgent | undefined;
let serving: ServingBundle | undefined;
const children: CliProcess[] = [];

afterEach(async () => {
  await agent?.close();
  agent = undefined;
  await serving?.close();
  serving = undefined;
  for (const c of children.splice(0)) {
    await stopChild(c);
  }
});

const FAST_RESET = alohaPlugin.with({ resetTiming: { armMs: 200, gripperCloseMs: 100, gripperOpenMs: 100 } });

function serveChild(port: number): CliProcess {
  const c = runCli([
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--providers',
    'cpu',
    '--threads',
    '1',
    '--seed',
    '0',
  ]);
  children.push(c);
  return c;
}

describe('ALOHA agent with a remote openpi server', () => {
  it('runs a 150-step episode at 50 Hz against WebsocketPolicyServer + demo OnnxPolicy (sync broker)', async () => {
    serving = await serveBundle({
      bundle: DEMO_BUNDLE_DIR,
      host: '127.0.0.1',
      port: 0,
      executionProviders: [{ name: 'cpu', threads: 1 }],
      seed: 0,
      onProviderWarning: () => {},
    });
    let requests = 0;
    serving.server.on('request', () => {
      requests += 1;
    });
    const config = resolveConfig({}, { remote: { url: serving.address.url }, broker: 'sync', maxSteps: 150 });
    agent = await EdgeAgent.create(config, { plugins: [FAST_RESET] });
    expect(agent.report.model).toContain(`remote ${serving.address.url}`);
    // The start-up check: one inference from a real observation.
    expect(agent.policy.inferences).toBe(1);
    expect(requests).toBe(1);
    const summary = await agent.run();
    expect(summary.run.totalSteps).toBe(150);
    // Sync broker: one inference per 25 executed rows -> 6 chunks for 150 steps (more only after a missed
    // deadline), plus the start-up check.
    expect(summary.inferences).toBeGreaterThanOrEqual(1 + 6);
    if (summary.policyTimeouts === 0) expect(summary.inferences).toBe(1 + 6);
    expect(summary.policyFailures).toBe(0);
    expect(summary.gate.moves).toBeGreaterThan(75);
    expect(agent.monitor.connection).toBe('connected');
    expect(requests).toBe(summary.inferences);
  }, 120_000);

  it('server killed mid-episode: arms hold on the last safe command; restarted: the client reconnects, motion resumes', async () => {
    let server = serveChild(0);
    const port = Number((await server.waitForLine(/port=(\d+)/))[1]);
    const config = resolveConfig(
      {},
      { remote: { url: `ws://127.0.0.1:${port}` }, maxSteps: 0, reset: false, statusIntervalMs: 0 },
    );
    agent = await EdgeAgent.create(config, { plugins: [FAST_RESET] });
    const a = agent;
    const decisions: { d: GateDecision; phase: 'before' | 'killed' | 'restarted' }[] = [];
    let phase: 'before' | 'killed' | 'restarted' = 'before';
    a.environment.onDecision = (d, p) => {
      if (p === 'step') decisions.push({ d, phase });
    };
    const run = a.run();
    const moves = (p: typeof phase) => decisions.filter((x) => x.phase === p && x.d.kind === 'move').length;

    await waitUntil(() => moves('before') >= 30, '30 moves before the kill');
    server.child.kill('SIGKILL');
    await server.exited;
    phase = 'killed';
    const policyFault = (x: (typeof decisions)[number]) =>
      x.d.kind === 'hold' && x.d.faults.some((f) => f.code === 'POLICY_ERROR' || f.code === 'POLICY_STALL');
    await waitUntil(() => decisions.some((x) => x.phase === 'killed' && policyFault(x)), 'a policy fault');
    const firstFault = decisions.findIndex((x) => x.phase === 'killed' && policyFault(x));
    await waitUntil(() => decisions.length >= firstFault + 25, '25 ticks with the server gone');
    const lastMove = [...decisions.slice(0, firstFault)].reverse().find((x) => x.d.kind === 'move');
    if (lastMove?.d.kind !== 'move') throw new Error('no move before the fault');
    const held = decisions.slice(firstFault, firstFault + 25);
    for (const x of held) {
      expect(x.d.kind).toBe('hold');
      expect(Array.from(x.d.command ?? [])).toEqual(Array.from(lastMove.d.command));
    }
    expect(Array.from(a.environment.lastSent ?? [])).toEqual(Array.from(lastMove.d.command));
    expect(a.monitor.connection).not.toBe('connected');

    server = serveChild(port);
    await server.waitForLine(/listening on .* port=\d+/);
    phase = 'restarted';
    await waitUntil(() => moves('restarted') >= 30, '30 moves after the restart');
    expect(a.monitor.connection).toBe('connected');
    a.stop();
    const summary = await run;
    expect(summary.run.stopped).toBe(true);
    expect(summary.gate.faults.POLICY_ERROR + summary.gate.faults.POLICY_STALL).toBeGreaterThan(0);
    expect(summary.lastPolicyError).toBeDefined();
  }, 120_000);
});
