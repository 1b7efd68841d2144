/**
 * openpi's `ActionChunkBroker`: serves a policy's action chunk one row per `infer` call and calls the inner policy
 * only when the chunk is used up (on steps 0, N, 2N, ... with that step's observation).
 */
import { OpenpiEdgeError } from './errors.js';
import { indexFirstAxis, isNDArray, isNumpyScalar, type Value } from './ndarray.js';
import type { BasePolicy, Obs } from './policy.js';

function isTree(v: Value): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !isNumpyScalar(v);
}

function mapValue(v: Value, row: number): Value {
  if (isNDArray(v)) return indexFirstAxis(v, row);
  if (Array.isArray(v)) return v.map((x) => mapValue(x, row));
  if (isTree(v)) {
    const out: { [key: string]: Value } = {};
    for (const [k, x] of Object.entries(v)) out[k] = mapValue(x, row);
    return out;
  }
  return v;
}

/**
 * Copy of `results` in which every NDArray leaf (recursing through dicts and lists) is replaced by `x[row]`;
 * every other leaf is returned unchanged, as openpi's `tree.map_structure(slicer, ...)` does.
 */
export function sliceChunk(results: Obs, row: number): Obs {
  return mapValue(results, row) as Obs;
}

function checkValue(v: Value, path: string, rows: number): void {
  if (isNDArray(v)) {
    const first = v.shape[0];
    if (first === undefined || first < rows) {
      throw new OpenpiEdgeError(
        'BAD_SHAPE',
        first === undefined
          ? `policy result '${path}' is a 0-d array; an action chunk needs a leading time axis of >= ${rows} rows`
          : `policy result '${path}' has ${first} rows (shape [${v.shape.join(', ')}]) but actionHorizon is ${rows}`,
        { key: path, shape: v.shape, dtype: v.dtype, actionHorizon: rows },
      );
    }
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      checkValue(x, `${path}[${i}]`, rows);
    });
    return;
  }
  if (isTree(v)) {
    for (const [k, x] of Object.entries(v)) checkValue(x, path === '' ? k : `${path}.${k}`, rows);
  }
}

/**
 * Throws BAD_SHAPE naming the key (dotted path, `[i]` for list items) of the first NDArray leaf that is 0-d or has
 * fewer than `rows` rows along its first axis.
 */
export function checkChunk(results: Obs, rows: number): void {
  checkValue(results, '', rows);
}

export function checkHorizon(actionHorizon: number, where: string): void {
  if (!Number.isInteger(actionHorizon) || actionHorizon < 1) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${where}: actionHorizon must be an integer >= 1, got ${actionHorizon}`,
      {
        actionHorizon,
      },
    );
  }
}

/**
 * Wraps a policy to return its action chunk one row at a time (openpi_client's ActionChunkBroker semantics: the
 * next chunk is requested once `actionHorizon` rows of the previous one are used).
 * The first axis of every array in the result is the chunk's time axis; `actionHorizon` is how many rows are
 * executed before the next inference (the execution horizon, not the model's). Calls must not overlap.
 * Unlike openpi, a result with an array shorter than `actionHorizon` (or 0-d) fails at inference time with
 * BAD_SHAPE naming the key, instead of an IndexError some steps later.
 */
export class ActionChunkBroker implements BasePolicy {
  readonly #policy: BasePolicy;
  readonly #actionHorizon: number;
  #curStep = 0;
  #lastResults: Obs | null = null;

  /** @param actionHorizon rows of each chunk executed before re-inferring (integer >= 1). */
  constructor(policy: BasePolicy, actionHorizon: number) {
    checkHorizon(actionHorizon, 'ActionChunkBroker');
    this.#policy = policy;
    this.#actionHorizon = actionHorizon;
  }

  async infer(obs: Obs): Promise<Obs> {
    if (this.#lastResults === null) {
      const results = await this.#policy.infer(obs);
      checkChunk(results, this.#actionHorizon);
      this.#lastResults = results;
      this.#curStep = 0;
    }
    const out = sliceChunk(this.#lastResults, this.#curStep);
    this.#curStep += 1;
    if (this.#curStep >= this.#actionHorizon) this.#lastResults = null;
    return out;
  }

  /** Resets the inner policy, then drops the current chunk: the next `infer` calls the inner policy. */
  async reset(): Promise<void> {
    await this.#policy.reset();
    this.#lastResults = null;
    this.#curStep = 0;
  }
}
