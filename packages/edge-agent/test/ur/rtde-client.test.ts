/**
 * RtdeClient errors name what failed: a controller that refuses protocol 2, a variable it reports NOT_FOUND, a
 * frequency above what it streams, inputs before start, a link that drops (the close listener gets the reason,
 * later sends fail with NOT_CONNECTED). A raw TCP peer for the refusal, the UR controller emulator for the rest.
 */
import { createServer, type Server } from 'node:net';
import type { OpenpiEdgeError } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { UrControllerEmulator } from '../../src/robots/ur/emulator/emulator.js';
import { encodePackage, RTDE_PACKAGE, RtdeFramer } from '../../src/robots/ur/rtde/codec.js';
import { RtdeClient } from '../../src/robots/ur/rtde/rtde-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function emulator(): Promise<UrControllerEmulator> {
  const emu = await UrControllerEmulator.start({
    ports: { rtde: 0, dashboard: 0, primary: 0, secondary: 0, realtime: 0 },
    series: 'cb3',
  });
  cleanups.push(() => emu.close());
  return emu;
}

describe('RtdeClient errors', () => {
  it('a controller refusing protocol version 2', async () => {
    const server: Server = createServer((s) => {
      const f = new RtdeFramer();
      s.on('data', (chunk) => {
        for (const p of f.push(chunk)) {
          if (p.type === RTDE_PACKAGE.REQUEST_PROTOCOL_VERSION) {
            s.write(encodePackage(RTDE_PACKAGE.REQUEST_PROTOCOL_VERSION, Buffer.of(0)));
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    await expect(RtdeClient.connect({ host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'RTDE_ERROR',
      message: expect.stringMatching(/refused protocol version 2/),
      context: { stage: 'protocol_version', version: 2 },
    });
  });

  it('nothing listening: names host and port', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    await expect(RtdeClient.connect({ host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'RTDE_ERROR',
      message: expect.stringContaining(`127.0.0.1:${port}`),
      context: { stage: 'connect' },
    });
  });

  it('unknown variable, frequency above the controller, inputs before start, a dropped link', async () => {
    const emu = await emulator();
    const c = await RtdeClient.connect({ host: '127.0.0.1', port: emu.ports.rtde });
    cleanups.push(() => c.close());
    expect(c.maxFrequencyHz).toBe(125);
    await expect(c.setupOutputs(['timestamp', 'actual_qq'])).rejects.toMatchObject({
      code: 'RTDE_ERROR',
      message: expect.stringMatching(/'actual_qq' as NOT_FOUND/),
      context: { stage: 'setup_outputs', variable: 'actual_qq', reason: 'NOT_FOUND' },
    });
    await expect(c.setupOutputs(['timestamp'], 500)).rejects.toMatchObject({
      code: 'RTDE_ERROR',
      message: expect.stringMatching(/500 Hz outside \(0, 125\]/),
    });
    const out = await c.setupOutputs(['timestamp', 'actual_q']);
    const inputs = await c.setupInputs(['input_int_register_30']);
    expect(() => c.send(inputs, [1])).toThrow(/after start/);
    let closed: OpenpiEdgeError | null | undefined;
    c.onClose((e) => {
      closed = e;
    });
    let got = 0;
    c.onData((v, r) => {
      if (r.id === out.id && typeof v[0] === 'number') got++;
    });
    await c.start();
    c.send(inputs, [7]);
    const t0 = Date.now();
    while (got < 5 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    expect(got).toBeGreaterThanOrEqual(5);
    emu.dropRtdeConnections();
    while (closed === undefined && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    expect(closed).toMatchObject({ code: 'RTDE_ERROR', context: { stage: 'link' } });
    expect(() => c.send(inputs, [8])).toThrow(expect.objectContaining({ code: 'NOT_CONNECTED' }));
  });
});
