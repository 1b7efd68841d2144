import { realClock } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.js';

describe('Runtime on the real clock', () => {
  it('runs a 50 Hz loop for ~300 ms and stops from outside', async () => {
    let applied = 0;
    const ac = new AbortController();
    const rt = new Runtime({
      environment: {
        reset: () => {},
        isEpisodeComplete: () => false,
        getObservation: () => ({ t: realClock.now() }),
        applyAction: () => {
          applied += 1;
        },
      },
      agent: { getAction: (o) => o, reset: () => {} },
      maxHz: 50,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 300);
    const summary = await rt.run();
    expect(summary.stopped).toBe(true);
    // Loose bounds only: ~15 steps expected; a loaded machine may run fewer, never more than the rate allows.
    expect(summary.totalSteps).toBeGreaterThan(3);
    expect(summary.totalSteps).toBeLessThan(40);
    expect(applied).toBe(summary.totalSteps);
  });
});
