/**
 * Helpers for the agent's end-to-end tests: child processes of the real CLI (`edge-agent emulate`, `serve`, `start`)
 * with line-by-line stdout, and waiting on conditions without sleeping a fixed time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const CLI_MAIN = join(REPO_ROOT, 'packages', 'edge-agent', 'src', 'cli', 'main.ts');

export interface CliProcess {
  readonly child: ChildProcess;
  /** Every stdout / stderr line so far. */
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first stdout line matching `re` (rejects if the process exits first). */
  waitForLine(re: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or 128 + signal number style: null code -> -1). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `start` flags of the end-to-end runs: the local bundle on one CPU thread, no live status line. */
export const CPU_QUIET_FLAGS = ['--providers', 'cpu', '--threads', '1', '--status-interval', '0'] as const;

/** Runs `edge-agent <args>` from the TypeScript sources (tsx, `source` condition), like the package scripts. */
export function runCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI_MAIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: { re: RegExp; stream: 'stdout' | 'stderr'; resolve: (m: RegExpMatchArray) => void }[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    let buf = '';
    child[stream]?.setEncoding('utf8');
    child[stream]?.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines[stream].push(line);
        for (const w of [...waiters]) {
          const m = w.stream === stream ? line.match(w.re) : null;
          if (m !== null) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    stdout: lines.stdout,
    stderr: lines.stderr,
    exited,
    waitForLine(re, stream = 'stdout') {
      const seen = lines[stream].map((l) => l.match(re)).find((m) => m !== null);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ re, stream, resolve });
        void exited.then(({ code, signal }) =>
          reject(
            new Error(
              `edge-agent ${args.join(' ')} exited (${code ?? signal}) before printing ${re}\n` +
                `stdout:\n${lines.stdout.join('\n')}\nstderr:\n${lines.stderr.join('\n')}`,
            ),
          ),
        );
      });
    },
  };
}

/** Resolves once `predicate()` holds (checked every 20 ms); rejects after `timeoutMs` naming `what`. */
export function waitUntil(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const timer = setInterval(() => {
      if (predicate()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - t0 > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

/**
 * Ends a child still running: SIGTERM first (the CLI's commands close what they opened, e.g. `emulate`'s socat
 * processes), SIGKILL after 5 s.
 */
export async function stopChild(c: CliProcess): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill('SIGTERM');
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 5000);
  await c.exited;
  clearTimeout(timer);
}
