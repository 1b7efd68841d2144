/**
 * Stopping a policy worker while it runs onnxruntime must not abort the process. Terminating a worker thread inside
 * a native onnxruntime-node call (a hang timeout, close() after its grace period, the process exiting) used to
 * abort the whole process when the call returned (`terminate called after throwing an instance of 'Napi::Error'`),
 * most of the time; the supervisor now stops a thread only while it runs JavaScript (native-guard.ts). Each case
 * runs in a child process (teardown-child.mts), so an abort is the child's SIGABRT, not this test process's.
 *
 * The abort itself is timing-dependent (a stop that lands between two graph runs was always safe); the order of
 * thread starts and exits on a hang is not: the replacement starts only after the old thread has exited.
 * bench/worker-teardown-stress.ts repeats these and the other teardown paths many times.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEMO_BUNDLES, REPO_ROOT } from '../model/helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  log: string[];
  stderr: string;
}

function runChild(mode: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', join(here, 'teardown-child.mts'), mode, DEMO_BUNDLES.pi0],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => c.kill('SIGKILL'), 100_000);
    c.on('error', reject);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1) ?? '';
      let log: string[] = [];
      try {
        log = JSON.parse(last) as string[];
      } catch {
        // no log line: the child died before its exit listener ran
      }
      resolve({ code, signal, log, stderr: err });
    });
  });
}

function expectCleanExit(r: ChildResult): void {
  expect(r.stderr).not.toMatch(/terminate called|Napi::Error|FATAL ERROR/);
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
}

describe('stopping a policy worker inside an onnxruntime call', () => {
  it('hang mid-chunk: WORKER_HUNG, the old thread exits before the new one starts, no abort', async () => {
    const r = await runChild('hang');
    expectCleanExit(r);
    const starts = r.log.flatMap((e, i) => (e === 'worker start' ? [i] : []));
    const exits = r.log.flatMap((e, i) => (e === 'worker exit' ? [i] : []));
    expect(r.log).toContain('infer WORKER_HUNG');
    expect(starts).toHaveLength(2);
    expect(exits).toHaveLength(2);
    expect(exits[0] as number).toBeLessThan(starts[1] as number); // one thread with sessions at a time
    expect(r.log.indexOf('hung')).toBeLessThan(r.log.indexOf('restarted'));
    expect(r.log.at(-1)).toBe('closed');
  }, 120_000);

  it('close() with a short grace period mid-chunk: the request rejects with CLOSED, no abort', async () => {
    const r = await runChild('close');
    expectCleanExit(r);
    expect(r.log).toEqual(['worker start', 'worker exit', 'infer CLOSED', 'closed']);
  }, 120_000);

  it('process.exit mid-chunk: the process exits with its code, no abort', async () => {
    const r = await runChild('exit');
    expectCleanExit(r);
    expect(r.log).toEqual(['worker start']);
  }, 120_000);
});
