/**
 * `edge-agent emulate ur5` as a process: prints `ready` with its ports, serves the dashboard and RTDE, exits 0 on
 * SIGTERM; option errors exit 2 before listening.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardClient } from '../../src/robots/ur/dashboard-client.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '../..');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function cli(args: string[]): { child: ChildProcess; lines: string[]; exit: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'src/cli/main.ts', ...args],
    {
      cwd: pkg,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exit };
}

describe('edge-agent emulate ur5', () => {
  it('prints ready with the ports, answers the dashboard, stops cleanly on SIGTERM', async () => {
    const run = cli([
      'emulate',
      'ur5',
      '--rtde-port',
      '0',
      '--dashboard-port',
      '0',
      '--script-ports',
      '0,0,0',
      '--start-mode',
      'running',
      '--unlock-delay-ms',
      '0',
    ]);
    const deadline = Date.now() + 30_000;
    let ready: string | undefined;
    while (ready === undefined) {
      ready = run.lines.find((l) => l.startsWith('ready '));
      if (ready === undefined) {
        if (Date.now() > deadline) throw new Error(`no ready line: ${run.lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const port = Number(/dashboard=(\d+)/.exec(ready)?.[1]);
    expect(ready).toMatch(
      /^ready 127\.0\.0\.1 rtde=\d+ dashboard=\d+ primary=\d+ secondary=\d+ realtime=\d+ /,
    );
    const d = await DashboardClient.connect({ host: '127.0.0.1', port });
    expect(await d.robotMode()).toBe('RUNNING');
    await d.close();
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.lines.some((l) => /SIGTERM: stopping the emulated UR controller/.test(l))).toBe(true);
  }, 60_000);

  it('bad options exit 2 with the reason', async () => {
    const bad = cli(['emulate', 'ur5', '--series', 'cb2']);
    expect(await bad.exit).toBe(2);
    expect(bad.lines.join('\n')).toMatch(/--series must be e-series or cb3, got 'cb2'/);
    const mixed = cli(['emulate', 'aloha', '--rtde-port', '1']);
    expect(await mixed.exit).toBe(2);
    expect(mixed.lines.join('\n')).toMatch(/--rtde-port apply to ur5 only/);
  }, 60_000);
});
