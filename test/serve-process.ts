/**
 * Starts `edge-agent serve` (any command line that runs it: the workspace bin through node, or an installed bin)
 * and resolves once it printed its `listening on ws://... port=N` line (packages/edge-agent/src/cli/serve.ts).
 * Rejects with the process's stderr when it exits first.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

export interface ServeProcess {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  stderr: string[];
  /** SIGTERM, then the exit code (0 after a clean shutdown). */
  stop(): Promise<number | null>;
}

export function startServeProcess(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<ServeProcess> {
  const proc = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
  const stderr: string[] = [];
  proc.stderr.setEncoding('utf8').on('data', (c: string) => stderr.push(c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      const m = /listening on ws:\/\/\S+ port=(\d+)/.exec(buf);
      if (m !== null) {
        resolve({
          proc,
          port: Number(m[1]),
          stderr,
          stop: () => {
            proc.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    void exited.then((code) =>
      reject(new Error(`serve exited (${code}) before listening: ${stderr.join('')}`)),
    );
  });
}
