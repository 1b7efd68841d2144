import { describe, expect, it } from 'vitest';
import { isOpenpiEdgeError, ManualClock } from '../src/index.js';

describe('ManualClock.runUntil deadlock detection', () => {
  it('declares a deadlock when nothing is pending and the promise never settles', async () => {
    const clock = new ManualClock(0);
    const never = new Promise<void>(() => {});
    const err = await clock.runUntil(never, { maxIdleTurns: 50, minIdleMs: 0 }).catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'BAD_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('deadlock');
  });

  it('waits for real I/O the virtual clock cannot see (no virtual timers pending meanwhile)', async () => {
    const clock = new ManualClock(0);
    // A real 200 ms wait stands in for native work (an onnxruntime session being created).
    const realWork = new Promise<string>((resolve) => setTimeout(() => resolve('done'), 200));
    await expect(clock.runUntil(realWork, { maxIdleTurns: 10, minIdleMs: 2_000 })).resolves.toBe('done');
  });

  it('still drives virtual timers while waiting', async () => {
    const clock = new ManualClock(0);
    const slept = clock.sleep(1_000).then(() => clock.now());
    await expect(clock.runUntil(slept)).resolves.toBe(1_000);
  });
});
