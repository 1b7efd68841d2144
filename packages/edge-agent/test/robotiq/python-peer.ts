/**
 * Runs a Python peer script from .venv (scripts/python-env.sh builds it) and collects the JSON lines it prints.
 * Every run has a hang guard: past `timeoutMs` the process is killed and the wait rejects, so a hung peer fails the
 * test instead of hanging it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const PYTHON = resolve(ROOT, '.venv/bin/python');

export type PeerLine = Record<string, unknown> & { event: string };

export interface PythonPeer {
  readonly child: ChildProcess;
  /** Every JSON line so far, in order. */
  readonly lines: PeerLine[];
  /** Resolves with the first line (already printed or to come) for which `match` holds; rejects on exit/guard. */
  waitFor(match: (line: PeerLine) => boolean): Promise<PeerLine>;
  /** Resolves with the exit code; rejects when the hang guard fires first. */
  exited: Promise<number | null>;
  /** Closes stdin (the peers' signal to stop), then kills after `graceMs`. Resolves on exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `.venv/bin/python test/python/<script> ...args`. */
export function startPythonPeer(script: string, args: string[], timeoutMs: number): PythonPeer {
  const child = spawn(PYTHON, [resolve(ROOT, 'test/python', script), ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: PeerLine[] = [];
  const waiters = new Set<{ match: (l: PeerLine) => boolean; resolve: (l: PeerLine) => void }>();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: PeerLine;
    try {
      line = JSON.parse(text) as PeerLine;
    } catch {
      line = { event: 'non-json', text };
    }
    lines.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  let failure: Error | undefined;
  const failWaiters = new Set<(e: Error) => void>();
  const fail = (e: Error): void => {
    failure ??= e;
    for (const f of failWaiters) f(failure);
    failWaiters.clear();
  };
  const guard = setTimeout(() => {
    fail(new Error(`python peer ${script} still running after ${timeoutMs} ms (killed); stderr:\n${stderr}`));
    child.kill('SIGKILL');
  }, timeoutMs);
  const exited = new Promise<number | null>((res, rej) => {
    failWaiters.add(rej);
    child.once('exit', (code) => {
      clearTimeout(guard);
      if (failure) rej(failure);
      else res(code);
      fail(new Error(`python peer ${script} exited (code ${code}); stderr:\n${stderr}`));
    });
  });
  exited.catch(() => {});
  return {
    child,
    lines,
    exited,
    waitFor: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      if (failure) return Promise.reject(failure);
      return new Promise((res, rej) => {
        waiters.add({ match, resolve: res });
        failWaiters.add(rej);
      });
    },
    stop: async (graceMs = 3000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.stdin?.end();
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(kill);
    },
  };
}
