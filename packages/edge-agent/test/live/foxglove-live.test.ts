/**
 * `edge-agent start --foxglove-port 0` end to end: the real CLI on the emulated ALOHA with the demo π0 bundle serves
 * its topics live (from the recorder worker, live/foxglove-server.ts) and Foxglove's own protocol client
 * (`FoxgloveClient` of @foxglove/ws-protocol) subscribes mid-run: the advertised channels and schemas are the MCAP
 * log's, joint states carry the ALOHA joint names, gate decisions count up step by step, camera frames are JPEG
 * (foxglove.CompressedImage, base64 in JSON), policy chunks are [50, 14]; SIGINT then stops the run cleanly and the
 * CLI reports what the live view sent. Loopback only.
 */
import { FoxgloveClient } from '@foxglove/ws-protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type CliProcess, CPU_QUIET_FLAGS, runCli } from '../agent/helpers.js';

const running: CliProcess[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
});

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('edge-agent start --foxglove-port (live view, no file)', () => {
  it('streams the run to a Foxglove client that subscribes mid-run, and stops cleanly on SIGINT', async () => {
    const c = runCli([
      'start',
      '--robot',
      'aloha',
      ...CPU_QUIET_FLAGS,
      '--max-steps',
      '0',
      '--no-reset',
      '--foxglove-port',
      '0',
    ]);
    running.push(c);
    const m = await c.waitForLine(/^foxglove live view on (ws:\/\/127\.0\.0\.1:\d+)/);
    const ws = new WebSocket(m[1] as string, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
    sockets.push(ws);
    const client = new FoxgloveClient({ ws: ws as never });
    const channels = new Map<number, { topic: string; schemaName: string }>();
    const byTopic = new Map<string, Record<string, unknown>[]>();
    const subs = new Map<number, string>();
    client.on('advertise', (list) => {
      for (const ch of list) {
        channels.set(ch.id, { topic: ch.topic, schemaName: ch.schemaName });
        subs.set(client.subscribe(ch.id), ch.topic);
      }
    });
    client.on('message', (msg) => {
      const topic = subs.get(msg.subscriptionId) ?? '?';
      const body = JSON.parse(
        new TextDecoder().decode(new Uint8Array(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength)),
      ) as Record<string, unknown>;
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), body]);
    });
    const count = (t: string): number => byTopic.get(t)?.length ?? 0;
    await until(
      () => count('/safety/decision') >= 60 && count('/policy/chunk') >= 2 && count('/camera/cam_high') >= 2,
      60_000,
      'decisions, chunks and frames',
    );

    const topics = new Map([...channels.values()].map((ch) => [ch.topic, ch.schemaName]));
    expect(topics.get('/camera/cam_high')).toBe('foxglove.CompressedImage');
    expect(topics.get('/joint_states')).toBe('foxglove.JointStates');
    expect([...topics.keys()]).toEqual(
      expect.arrayContaining(['/policy/chunk', '/safety/decision', '/safety/faults', '/loop/timing']),
    );

    const decisions = byTopic.get('/safety/decision') ?? [];
    const steps = decisions.map((d) => d.step as number);
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBe((steps[i - 1] as number) + 1);
    expect(decisions.some((d) => d.decision === 'move')).toBe(true);

    const joints = (byTopic.get('/joint_states') ?? [])[0]?.joints as { name: string }[];
    expect(joints.map((j) => j.name)).toContain('left_waist');
    expect(joints).toHaveLength(14);

    const frame = (byTopic.get('/camera/cam_high') ?? [])[0] as {
      format: string;
      data: string;
      frame_id: string;
    };
    expect(frame.format).toBe('jpeg');
    expect(frame.frame_id).toBe('cam_high');
    expect([...Buffer.from(frame.data, 'base64').subarray(0, 2)]).toEqual([0xff, 0xd8]);

    const chunk = (byTopic.get('/policy/chunk') ?? [])[0] as { shape: number[]; actions: number[][] };
    expect(chunk.shape).toEqual([50, 14]);
    expect(chunk.actions).toHaveLength(50);

    c.child.kill('SIGINT');
    const { code } = await c.exited;
    expect(code).toBe(0);
    const out = c.stdout.join('\n');
    expect(out).toMatch(
      /live view ws:\/\/127\.0\.0\.1:\d+: \d+ message frames sent, \d+ dropped for slow viewers/,
    );
    expect(out).toContain('record   live ws://127.0.0.1:');
  }, 90_000);

  it('refuses --foxglove-host without --foxglove-port, naming both', async () => {
    const c = runCli(['start', '--robot', 'aloha', '--foxglove-host', '127.0.0.1']);
    running.push(c);
    const { code } = await c.exited;
    expect(code).not.toBe(0);
    expect(c.stderr.join('\n')).toContain('--foxglove-host needs --foxglove-port');
  }, 60_000);
});
