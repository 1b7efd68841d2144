/**
 * The status page inside the recorder's worker (record/mcap-recorder.ts with `status` only: no file, no Foxglove):
 * the page is served from the worker, an e-stop request reaches `onEstop` on this (the loop's) thread, the e-stop
 * event posted back reaches the page, and the close reports the page's counters. Plus the config key and flags.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { formatRecording } from '../../src/agent/edge-agent.js';
import { flagsToConfig } from '../../src/cli/start.js';
import { parseConfigFile, resolveConfig } from '../../src/config/load.js';
import { McapRecorder } from '../../src/record/mcap-recorder.js';

const recorders: McapRecorder[] = [];
afterEach(async () => {
  for (const r of recorders.splice(0)) await r.close();
});

describe('McapRecorder with only the status page', () => {
  it('serves the page from the worker and posts its e-stop requests to onEstop on the loop thread', async () => {
    let onEstop: (reason: string) => void = () => {};
    const requested = new Promise<string>((resolve) => {
      onEstop = resolve;
    });
    const rec = await McapRecorder.open({
      status: { port: 0 },
      joints: ['j0', 'j1'],
      cameras: ['cam'],
      onEstop: (r) => onEstop(r),
      metadata: { robot: 'unit' },
    });
    recorders.push(rec);
    expect(rec.file).toBeNull();
    expect(rec.liveUrl).toBeNull();
    expect(rec.statusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const html = await (await fetch(`${rec.statusUrl}/`)).text();
    expect(html).toContain('"joints":["j0","j1"]');

    const ws = new WebSocket(`${rec.statusUrl?.replace('http', 'ws')}/ws`);
    const got: Record<string, unknown>[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'estop', reason: 'unit test' }));
    expect(await requested).toBe('unit test');
    // the agent's latch event goes back through the recorder to the page
    rec.estop({
      type: 'triggered',
      cause: { source: 'status-page', reason: 'unit test', atMs: performance.now() },
      first: true,
    });
    const t0 = Date.now();
    while (!got.some((m) => m.type === 'estop' && m.latched === true) && Date.now() - t0 < 3000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(got.find((m) => m.type === 'estop' && m.latched === true)).toMatchObject({
      source: 'status-page',
      reason: 'unit test',
    });
    ws.close();
    const result = await rec.close();
    expect(result?.file).toBeNull();
    expect(result?.status).toMatchObject({ url: rec.statusUrl, estops: 1, dropped: 0 });
    expect(formatRecording(result as NonNullable<typeof result>)).toMatch(
      /^status page http:\/\/127\.0\.0\.1:\d+: \d+ updates sent, 0 dropped for slow pages, 1 e-stop requests; /,
    );
  });

  it('names --status-port when the port cannot be bound', async () => {
    const first = await McapRecorder.open({ status: { port: 0 }, joints: ['j'], cameras: [] });
    recorders.push(first);
    const port = Number(new URL(first.statusUrl ?? '').port);
    await expect(McapRecorder.open({ status: { port }, joints: ['j'], cameras: [] })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining(`--status-port ${port}: status page: cannot listen`),
    });
  });
});

describe('status page config', () => {
  it('takes statusPage from the config file (host default loopback) and --status-port / --status-host', () => {
    const file = parseConfigFile({ statusPage: { port: 8090 } }, 'test');
    expect(resolveConfig(file, {}).statusPage).toEqual({ host: '127.0.0.1', port: 8090 });
    const flags = flagsToConfig({ 'status-port': '0', 'status-host': '0.0.0.0' } as never);
    expect(resolveConfig(file, flags).statusPage).toEqual({ host: '0.0.0.0', port: 0 });
    expect(resolveConfig({}, {}).statusPage).toBeUndefined();
    expect(() => flagsToConfig({ 'status-host': '127.0.0.1' } as never)).toThrow(
      '--status-host needs --status-port',
    );
    expect(() => flagsToConfig({ 'status-port': '-1' } as never)).toThrow(/status-port/);
    expect(() => parseConfigFile({ statusPage: { port: 1, extra: true } }, 'test')).toThrow();
  });
});
