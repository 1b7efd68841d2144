/**
 * openpi's `norm_stats.json` (`shared/normalize.py`, a pydantic dump):
 * `{"norm_stats": {"state": {"mean", "std", "q01"?, "q99"?}, "actions": {...}}}`. Vectors are float64, of the
 * data's dimension after the robot adapter and before padding. q01/q99 may be absent or null.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { z } from 'zod';

/** Statistics of one key (`state` or `actions`), as float64 vectors. */
export interface NormStatsEntry {
  readonly mean: Float64Array;
  readonly std: Float64Array;
  /** 1st percentile per dim; required by quantile normalization. */
  readonly q01?: Float64Array;
  /** 99th percentile per dim; required by quantile normalization. */
  readonly q99?: Float64Array;
}

/** Stats by key; openpi normalizes the data keys present here (at inference: `state` in, `actions` out). */
export type NormStats = Readonly<Record<string, NormStatsEntry>>;

const vector = z.array(z.number());
const entrySchema = z.object({
  mean: vector,
  std: vector,
  q01: vector.nullish(),
  q99: vector.nullish(),
});
const fileSchema = z.object({ norm_stats: z.record(z.string(), entrySchema) });

/**
 * Parses the text or the already-decoded JSON of a `norm_stats.json`. BAD_ARGUMENT naming the field
 * (e.g. `norm_stats.state.q01[3]`) for invalid JSON, a wrong structure, or vectors of different lengths.
 */
export function parseNormStats(input: string | unknown, source = 'norm_stats.json'): NormStats {
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${source}: not valid JSON (${(e as Error).message})`, {
        source,
      });
    }
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field =
      issue === undefined
        ? ''
        : issue.path
            .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
            .join('')
            .replace(/^\./, '');
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${source}: ${field || '(root)'}: ${issue?.message ?? 'invalid'}`,
      {
        source,
        field,
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      },
    );
  }
  const out: Record<string, NormStatsEntry> = {};
  for (const [key, e] of Object.entries(parsed.data.norm_stats)) {
    const n = e.mean.length;
    for (const name of ['std', 'q01', 'q99'] as const) {
      const v = e[name];
      if (v != null && v.length !== n) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `${source}: norm_stats.${key}.${name} has ${v.length} values but mean has ${n}`,
          { source, field: `norm_stats.${key}.${name}`, length: v.length, expected: n },
        );
      }
    }
    out[key] = {
      mean: Float64Array.from(e.mean),
      std: Float64Array.from(e.std),
      ...(e.q01 == null ? {} : { q01: Float64Array.from(e.q01) }),
      ...(e.q99 == null ? {} : { q99: Float64Array.from(e.q99) }),
    };
  }
  return out;
}
