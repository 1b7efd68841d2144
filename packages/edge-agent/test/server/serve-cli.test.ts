/**
 * `edge-agent serve` as a network service: loopback by default; a non-loopback address only with a key or a
 * deliberate --allow-unauthenticated (refused before anything binds); the message size cap, the error detail and
 * the handshake / idle timeouts from the command line. Loopback only: no test binds another interface.
 */
import { connect as tcpConnect } from 'node:net';
import { packNumpy } from '@openpi-edge/client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { isLoopback } from '../../src/cli/serve.js';
import { type CliProcess, runCli } from '../agent/helpers.js';

const running: CliProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }
});

async function serve(args: string[]): Promise<{ url: string }> {
  const p = runCli(['serve', '--port', '0', '--providers', 'cpu', '--no-warmup', ...args]);
  running.push(p);
  const m = await p.waitForLine(/^listening on (ws:\/\/\S+) port=\d+/);
  return { url: m[1] as string };
}

/** Opens a socket, skips the metadata frame, sends `frame`; resolves with the first reply or the close. */
function exchange(url: string, frame: Uint8Array): Promise<{ text?: string; closeCode?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let first = true;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (first) {
        first = false;
        ws.send(frame);
        return;
      }
      if (!isBinary) resolve({ text: data.toString() });
    });
    ws.on('close', (code) => resolve({ closeCode: code }));
    ws.on('error', reject);
  });
}

describe('edge-agent serve: where it listens and what it accepts', () => {
  it('binds loopback by default', async () => {
    const { url } = await serve([]);
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
  }, 60_000);

  it('refuses a non-loopback --host without --api-key or --allow-unauthenticated, naming both', async () => {
    const p = runCli(['serve', '--host', '0.0.0.0', '--port', '0']);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    const err = p.stderr.join('\n');
    expect(err).toContain('--host 0.0.0.0 exposes the policy server');
    expect(err).toContain('--api-key');
    expect(err).toContain('--allow-unauthenticated');
    expect(p.stdout.join('\n')).not.toContain('listening on');
  }, 60_000);

  it('--max-message-mb closes a connection that sends more (1009); --error-detail message sends no source paths', async () => {
    const { url } = await serve(['--max-message-mb', '1', '--error-detail', 'message']);
    const big = packNumpy({
      blob: { dtype: 'uint8', shape: [2 * 2 ** 20], data: new Uint8Array(2 * 2 ** 20) },
    });
    expect(await exchange(url, big)).toEqual({ closeCode: 1009 });
    const reply = await exchange(url, packNumpy({ not: 'an observation' }));
    expect(reply.text).toBeDefined();
    const paths = /\.ts:\d+|\.js:\d+|node_modules|\n\s+at /;
    expect(reply.text).not.toMatch(paths);
    // The default (openpi's) carries the traceback: the flag is what removed it.
    const { url: tracing } = await serve([]);
    expect((await exchange(tracing, packNumpy({ not: 'an observation' }))).text).toMatch(paths);
  }, 60_000);

  it('--handshake-timeout-s closes a silent TCP socket; --idle-timeout-s closes an unused websocket with 1000', async () => {
    const { url } = await serve(['--handshake-timeout-s', '0.3', '--idle-timeout-s', '0.5']);
    const port = Number(new URL(url).port);
    const silent = tcpConnect(port, '127.0.0.1');
    const t0 = Date.now();
    await new Promise<void>((resolve) => silent.on('close', () => resolve()));
    const silentMs = Date.now() - t0;
    expect(silentMs).toBeGreaterThanOrEqual(250);
    expect(silentMs).toBeLessThan(5_000);
    // A websocket that reads the metadata frame and then sends nothing.
    const ws = new WebSocket(url);
    const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', reject);
    });
    expect(closed).toEqual({ code: 1000, reason: 'idle timeout' });
  }, 60_000);

  it('refuses a bad timeout value by flag name', async () => {
    const p = runCli(['serve', '--port', '0', '--idle-timeout-s', 'soon']);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.stderr.join('\n')).toContain("--idle-timeout-s must be a number >= 0, got 'soon'");
  }, 60_000);

  it('isLoopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.10', 'gpu-box']) expect(isLoopback(h), h).toBe(false);
  });
});
