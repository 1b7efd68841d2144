import { describe, expect, it } from 'vitest';
import { ActionChunkBroker, sliceChunk } from '../src/action-chunk-broker.js';
import { isOpenpiEdgeError, OpenpiEdgeError } from '../src/errors.js';
import { type NDArray, ndarray, npScalar } from '../src/ndarray.js';
import type { BasePolicy, Obs } from '../src/policy.js';

/** Chunk c has actions[k] = [100c + k]. Records the observation of every inference. */
class CountingPolicy implements BasePolicy {
  seen: Obs[] = [];
  resets = 0;
  constructor(
    private readonly rows: number,
    private readonly make?: (c: number) => Obs,
  ) {}
  async infer(obs: Obs): Promise<Obs> {
    const c = this.seen.length;
    this.seen.push(obs);
    if (this.make) return this.make(c);
    return {
      actions: ndarray(
        'float32',
        [this.rows, 1],
        Float32Array.from({ length: this.rows }, (_, k) => 100 * c + k),
      ),
    };
  }
  reset(): void {
    this.resets++;
  }
}

const first = (o: Obs): number => ((o.actions as NDArray).data as Float32Array)[0] as number;

describe('ActionChunkBroker', () => {
  it('infers on steps 0, N, 2N with that step observation and returns rows in order', async () => {
    const policy = new CountingPolicy(5);
    const broker = new ActionChunkBroker(policy, 3);
    const out: number[] = [];
    for (let t = 0; t < 7; t++) out.push(first(await broker.infer({ t })));
    expect(out).toEqual([0, 1, 2, 100, 101, 102, 200]);
    expect(policy.seen.map((o) => o.t)).toEqual([0, 3, 6]);
  });

  it('slices every array leaf through dicts and lists and keeps other leaves as they are', () => {
    const scalar = npScalar('float32', 1.5);
    const bytes = new Uint8Array([1, 2]);
    const chunk: Obs = {
      a: ndarray('int32', [2, 2], Int32Array.from([1, 2, 3, 4])),
      nested: { list: [ndarray('uint8', [2], Uint8Array.from([7, 8])), 'x', 3], scalar, bytes },
      timing: { ms: 4.5 },
    };
    const row = sliceChunk(chunk, 1);
    expect(row.a).toEqual({ dtype: 'int32', shape: [2], data: Int32Array.from([3, 4]) });
    const nested = row.nested as { list: unknown[]; scalar: unknown; bytes: unknown };
    expect(nested.list[0]).toEqual({ dtype: 'uint8', shape: [], data: Uint8Array.from([8]) });
    expect(nested.list.slice(1)).toEqual(['x', 3]);
    expect(nested.scalar).toBe(scalar);
    expect(nested.bytes).toBe(bytes);
    expect(row.timing).toEqual({ ms: 4.5 });
  });

  it('reset resets the inner policy and drops the chunk', async () => {
    const policy = new CountingPolicy(4);
    const broker = new ActionChunkBroker(policy, 4);
    await broker.infer({ t: 0 });
    await broker.infer({ t: 1 });
    await broker.reset();
    expect(policy.resets).toBe(1);
    expect(first(await broker.infer({ t: 2 }))).toBe(100);
    expect(policy.seen.map((o) => o.t)).toEqual([0, 2]);
  });

  it('names the key of a leaf shorter than the horizon', async () => {
    const policy = new CountingPolicy(0, () => ({
      actions: ndarray('float32', [4, 2], new Float32Array(8)),
      extra: { short: ndarray('float32', [2, 3], new Float32Array(6)) },
    }));
    const err = await new ActionChunkBroker(policy, 3).infer({}).catch((e: unknown) => e);
    expect(isOpenpiEdgeError(err, 'BAD_SHAPE')).toBe(true);
    expect((err as OpenpiEdgeError).context).toMatchObject({
      key: 'extra.short',
      shape: [2, 3],
      actionHorizon: 3,
    });
  });

  it('names the key of a 0-d leaf, inside a list', async () => {
    const policy = new CountingPolicy(0, () => ({
      actions: ndarray('float32', [4, 2], new Float32Array(8)),
      l: [ndarray('float32', [4], new Float32Array(4)), ndarray('float64', [], new Float64Array(1))],
    }));
    const err = await new ActionChunkBroker(policy, 2).infer({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenpiEdgeError);
    expect((err as OpenpiEdgeError).context).toMatchObject({ key: 'l[1]', shape: [] });
    expect((err as Error).message).toContain('0-d');
  });

  it('rejects a horizon that is not a positive integer', () => {
    const policy = new CountingPolicy(1);
    expect(() => new ActionChunkBroker(policy, 0)).toThrow(/actionHorizon/);
    expect(() => new ActionChunkBroker(policy, 1.5)).toThrow(/actionHorizon/);
  });
});
