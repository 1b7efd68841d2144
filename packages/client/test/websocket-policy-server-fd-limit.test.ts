/**
 * WebsocketPolicyServer out of file descriptors: the server runs in a child process under `ulimit -n 256`, 300
 * silent TCP sockets (connected, never sending a byte) take every descriptor it has, and a real client then
 * tries to connect. Checks that the server process survives accept() failing with EMFILE (libuv closes the
 * connections it cannot accept and keeps listening), that new clients are locked out only until the silent
 * sockets reach `handshakeTimeoutMs`, and that the first client after that is served. Without the handshake
 * timeout the silent sockets were kept forever and every new client stayed locked out (issue 11). Linux/macOS
 * only (bash's `ulimit`); loopback only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { packNumpy, unpackNumpy } from '../src/msgpack-numpy.js';

const FD_LIMIT = 256;
const SILENT = 300;
const HANDSHAKE_TIMEOUT_MS = 1_500;

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const serverModule = pathToFileURL(
  fileURLToPath(new URL('../src/node/websocket-policy-server.ts', import.meta.url)),
).href;
/** The child: the server with a short handshake timeout; prints its port, then its stats every 100 ms. */
const childSource = `
import { WebsocketPolicyServer } from ${JSON.stringify(serverModule)};
const server = new WebsocketPolicyServer({ infer: () => ({ actions: [1, 2, 3] }), reset: () => {} }, {
  port: 0,
  handshakeTimeoutMs: ${HANDSHAKE_TIMEOUT_MS},
  logger: { warn: (m) => process.stderr.write('warn: ' + m + '\\n') },
});
const { port } = await server.listen();
process.stdout.write(JSON.stringify({ port }) + '\\n');
setInterval(() => process.stdout.write(JSON.stringify({ stats: server.stats() }) + '\\n'), 100);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

const children: ChildProcess[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) {
    c.stdin?.end();
    c.kill();
  }
});

interface Child {
  child: ChildProcess;
  port: number;
  exited: () => boolean;
  stderr: () => string;
  lastStats: () => Record<string, number> | undefined;
}

async function startLimitedServer(): Promise<Child> {
  const file = join(tmpdir(), `openpi-edge-fd-limit-server-${process.pid}.mts`);
  writeFileSync(file, childSource);
  // `--import tsx` resolves from the cwd: the repository root, where tsx is a dev dependency.
  const child = spawn(
    'bash',
    [
      '-c',
      `ulimit -n ${FD_LIMIT} && exec "$0" --conditions=source --import tsx "$1"`,
      process.execPath,
      file,
    ],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  let exited = false;
  let stderr = '';
  let stats: Record<string, number> | undefined;
  child.on('exit', () => {
    exited = true;
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { port?: number; stats?: Record<string, number> };
      if (msg.port !== undefined) resolve(msg.port);
      if (msg.stats !== undefined) stats = msg.stats;
    });
  });
  return { child, port, exited: () => exited, stderr: () => stderr, lastStats: () => stats };
}

/** One websocket attempt: 'served' after metadata + one answered request, else why it failed. */
function attempt(port: number, timeoutMs: number): Promise<'served' | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('timeout');
    }, timeoutMs);
    const done = (outcome: string): void => {
      clearTimeout(timer);
      ws.terminate();
      resolve(outcome);
    };
    let frames = 0;
    ws.on('message', (data: Buffer) => {
      frames++;
      if (frames === 1) ws.send(packNumpy({ x: 1 }));
      else {
        const reply = unpackNumpy(new Uint8Array(data)) as Record<string, unknown>;
        done('actions' in reply && 'server_timing' in reply ? 'served' : 'bad reply');
      }
    });
    ws.on('error', (err) => done(`error: ${err.message}`));
    ws.on('close', (code) => done(`closed ${code}`));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(process.platform === 'win32')('WebsocketPolicyServer under ulimit -n 256', () => {
  it('survives EMFILE from 300 silent sockets and serves a new client once they reach handshakeTimeoutMs', async () => {
    const server = await startLimitedServer();
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: SILENT }, () => {
        const s = tcpConnect({ host: '127.0.0.1', port: server.port });
        s.on('error', () => {});
        sockets.push(s);
        return new Promise<void>((r) => {
          s.once('connect', () => r());
          s.once('close', () => r());
        });
      }),
    );
    await sleep(200);
    // Out of descriptors: a client now is closed by libuv or waits in the backlog, not served.
    const during = await attempt(server.port, 500);
    expect(during).not.toBe('served');
    expect(Date.now() - t0).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
    // Once the silent sockets time out, the next client is served (retry like a robot reconnecting).
    let after = '';
    while (Date.now() - t0 < HANDSHAKE_TIMEOUT_MS + 8_000) {
      after = await attempt(server.port, 1_000);
      if (after === 'served') break;
      await sleep(100);
    }
    expect(after).toBe('served');
    await sleep(250); // one more stats line
    expect(server.exited()).toBe(false);
    const stats = server.lastStats();
    // About FD_LIMIT minus the server's own descriptors were accepted and timed out; libuv closed the rest.
    expect(stats?.handshakeTimeouts).toBeGreaterThan(FD_LIMIT / 2);
    expect(stats?.handshakeTimeouts).toBeLessThan(SILENT);
    expect(stats?.requests).toBeGreaterThanOrEqual(1);
    expect(server.stderr()).not.toMatch(/Uncaught|triggerUncaughtException/);
  }, 30_000);
});
