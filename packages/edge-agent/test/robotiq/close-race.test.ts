/**
 * Closing the gripper while a request's bytes are still being written, on a link that then fails the write:
 * the request rejects once, with one error, and nothing is left as an unhandled rejection (which ended the agent's
 * process at exit before the fix in robotiq/rtu-master.ts).
 */
import { describe, expect, it } from 'vitest';
import type { ByteTransport } from '../../src/robots/dynamixel/transport.js';
import { RobotiqGripper } from '../../src/robots/robotiq/gripper.js';

/** A link whose writes hang until the test fails them. */
function stuckLink(): { transport: ByteTransport; failWrite: () => void; writes: () => number } {
  let fail: ((e: Error) => void) | undefined;
  let writes = 0;
  return {
    transport: {
      description: 'stuck',
      write: () => {
        writes++;
        return new Promise<void>((_, reject) => {
          fail = reject;
        });
      },
      onData: () => () => {},
      close: async () => {},
    },
    failWrite: () => fail?.(new Error('port gone')),
    writes: () => writes,
  };
}

describe('Robotiq close during a write', () => {
  it('rejects the request once and leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => {
      unhandled.push(e);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const link = stuckLink();
      const g = RobotiqGripper.overTransport(link.transport, { path: 'stuck', timeoutMs: 50 });
      const status = g.status();
      const settled = status.then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
      while (link.writes() === 0) await new Promise((r) => setTimeout(r, 1));
      await g.close();
      link.failWrite();
      expect(await settled).toBe('NOT_CONNECTED');
      // Give a stray rejection a few turns of the event loop to surface.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
