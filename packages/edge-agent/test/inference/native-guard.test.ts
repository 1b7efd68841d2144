/**
 * The native-call guard word (native-guard.ts), on one thread: STOP refuses new native calls, counts in and out,
 * `onStopped` once when the last call leaves after STOP, and the waits for "no native call in progress".
 */
import { describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import {
  createGuardBuffer,
  guardOrt,
  NativeGuard,
  nativeCalls,
  requestStop,
  waitNativeIdle,
  waitNativeIdleSync,
} from '../../src/inference/native-guard.js';
import type { Ort } from '../../src/model/ort-binding.js';

function setup(): { g: Int32Array; guard: NativeGuard; stopped: number[] } {
  const buf = createGuardBuffer();
  const stopped: number[] = [];
  const guard = new NativeGuard(buf, () => stopped.push(1));
  return { g: new Int32Array(buf), guard, stopped };
}

describe('NativeGuard', () => {
  it('counts native calls in and out; STOP with none in progress: safe at once, new calls refused', () => {
    const { g, guard, stopped } = setup();
    guard.enter();
    guard.enter();
    expect(nativeCalls(g)).toBe(2);
    guard.leave();
    guard.leave();
    expect(nativeCalls(g)).toBe(0);
    expect(requestStop(g)).toBe(0);
    expect(guard.stopping).toBe(true);
    expect(() => guard.enter()).toThrow(OpenpiEdgeError);
    expect(nativeCalls(g)).toBe(0);
    expect(stopped).toEqual([]); // stopped outside a native call: the supervisor terminates, no self-exit
  });

  it('STOP inside a native call: reports it, and the last call out runs onStopped once', async () => {
    const { g, guard, stopped } = setup();
    guard.enter();
    guard.enter();
    expect(requestStop(g)).toBe(2);
    expect(await waitNativeIdle(g, 20)).toBe(false);
    expect(waitNativeIdleSync(g, 5)).toBe(false);
    guard.leave();
    expect(stopped).toEqual([]);
    const idle = waitNativeIdle(g, 5_000);
    setTimeout(() => guard.leave(), 10);
    expect(await idle).toBe(true);
    expect(stopped).toEqual([1]);
    expect(waitNativeIdleSync(g, 0)).toBe(true);
  });

  it('run() brackets an async call until it settles, also when it rejects', async () => {
    const { g, guard } = setup();
    let release!: () => void;
    const p = guard.run(() => new Promise<string>((r) => (release = () => r('done'))));
    expect(nativeCalls(g)).toBe(1);
    release();
    expect(await p).toBe('done');
    expect(nativeCalls(g)).toBe(0);
    await expect(guard.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(nativeCalls(g)).toBe(0);
    requestStop(g);
    await expect(guard.run(async () => 'never')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('guardOrt wraps InferenceSession.create / run / release (once per module)', async () => {
    const { g, guard } = setup();
    const seen: number[] = [];
    class FakeSession {
      static async create(): Promise<FakeSession> {
        seen.push(nativeCalls(g));
        return new FakeSession();
      }
      async run(): Promise<Record<string, never>> {
        seen.push(nativeCalls(g));
        return {};
      }
      async release(): Promise<void> {
        seen.push(nativeCalls(g));
      }
    }
    const ort = { InferenceSession: FakeSession } as unknown as Ort;
    guardOrt(ort, guard);
    guardOrt(ort, guard); // idempotent: still one count per call
    const s = (await (ort.InferenceSession as unknown as typeof FakeSession).create()) as FakeSession;
    await s.run();
    await s.release();
    expect(seen).toEqual([1, 1, 1]);
    expect(nativeCalls(g)).toBe(0);
    requestStop(g);
    await expect(s.run()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(seen).toHaveLength(3);
  });
});
