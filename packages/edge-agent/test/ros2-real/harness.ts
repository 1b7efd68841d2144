/**
 * What every real-DDS test (`*.ros2.test.ts`, run by scripts/test-ros2.sh) stands on: a check that it runs where it
 * must (a private network namespace with only loopback, ROS 2 sourced, rclnodejs built), rclpy peer processes from
 * .venv-ros2 with a readiness file and a hang guard, and one rclnodejs context per test file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRclnodejsContext } from '../../src/ros2/rclnodejs-adapter.js';
import type { Ros2Context } from '../../src/ros2/surface.js';
import { REPO_ROOT } from '../agent/helpers.js';

export const ROS2_PYTHON = join(REPO_ROOT, '.venv-ros2', 'bin', 'python');

/** Interfaces of the current network namespace (from /proc/self/net/dev, which follows the namespace). */
export function networkInterfaces(): string[] {
  return readFileSync('/proc/self/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]?.trim() ?? '')
    .filter((n) => n !== '');
}

/**
 * Throws, naming what is missing, unless this process runs inside scripts/ros2-netns.sh (only loopback) with the
 * ROS 2 environment of scripts/test-ros2.sh. Called at the top of every real-DDS test file: such a test must never
 * run on a host network (DDS discovery multicasts), and must fail, not skip, where ROS 2 is missing.
 */
export function requireRealRos2(): void {
  const problems: string[] = [];
  if (process.env.OPENPI_EDGE_ROS2_NETNS !== '1') problems.push('not inside scripts/ros2-netns.sh');
  const ifaces = networkInterfaces();
  if (ifaces.some((i) => i !== 'lo')) problems.push(`network interfaces besides lo: ${ifaces.join(', ')}`);
  if (!process.env.ROS_DISTRO || !process.env.AMENT_PREFIX_PATH) problems.push('ROS 2 is not sourced');
  if (!existsSync(ROS2_PYTHON)) problems.push(`${ROS2_PYTHON} missing (scripts/ros2-env.sh)`);
  if (problems.length > 0) {
    throw new Error(
      `real-DDS test outside its environment (${problems.join('; ')}): run bash scripts/test-ros2.sh`,
    );
  }
}

export interface RclpyPeer {
  readonly child: ChildProcess;
  /** stdout so far (the peers print one JSON summary line on SIGTERM). */
  stdout(): string;
  /** Last 8 KB of stderr. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the peer's last JSON stdout line (or null). */
  stop(graceMs?: number): Promise<Record<string, unknown> | null>;
  /** Resolves when the peer exits by itself: its code and last JSON stdout line (or null). */
  finished(): Promise<{ code: number | null; json: Record<string, unknown> | null }>;
}

export interface StartRclpyPeerOptions {
  /** Longest wait for the ready file (ms). Default 30 000. */
  readyTimeoutMs?: number;
  /** Hang guard: the peer is killed after this long (ms). Default 300 000. */
  maxLifeMs?: number;
  env?: Record<string, string>;
}

/**
 * Starts `.venv-ros2/bin/python test/python/<script> --ready-file <f> ...args` and resolves once the peer touched
 * its ready file (all its endpoints exist). Rejects with the peer's stderr when it exits or times out first.
 */
export async function startRclpyPeer(
  script: string,
  args: string[],
  options: StartRclpyPeerOptions = {},
): Promise<RclpyPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'openpi-ros2-peer-'));
  const ready = join(dir, 'ready');
  const child = spawn(
    ROS2_PYTHON,
    [join(REPO_ROOT, 'test', 'python', script), '--ready-file', ready, ...args],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...options.env },
    },
  );
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-8192);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const guard = setTimeout(() => child.kill('SIGKILL'), options.maxLifeMs ?? 300_000);
  guard.unref();
  void exited.then(() => {
    clearTimeout(guard);
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!existsSync(ready)) {
    if (gone || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${script} did not become ready (${gone ? 'exited' : 'timed out'}); stderr:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const lastJson = (): Record<string, unknown> | null => {
    const last = out.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(last) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      return lastJson();
    },
    async finished() {
      const code = await exited;
      return { code, json: lastJson() };
    },
  };
}

let shared: Promise<Ros2Context> | undefined;

/**
 * The test file's rclnodejs context (rclnodejs initialises once per process; test files run in their own
 * processes). Shut it down in `afterAll` with {@link shutdownRealContext}.
 */
export function realContext(): Promise<Ros2Context> {
  shared ??= createRclnodejsContext();
  return shared;
}

export async function shutdownRealContext(): Promise<void> {
  const ctx = shared;
  shared = undefined;
  await (await ctx)?.shutdown();
}

/** Resolves once `predicate` holds (polled every 10 ms); rejects naming `what` after `ms`. */
export async function until(predicate: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
