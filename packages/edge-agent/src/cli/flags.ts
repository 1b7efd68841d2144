import { OpenpiEdgeError } from '@openpi-edge/client';

/** Bounds of a numeric flag: `min` inclusive unless `exclusive`; `integer` refuses fractions. */
export interface NumberFlagBounds {
  min: number;
  integer?: boolean;
  exclusive?: boolean;
}

/**
 * Parses a numeric CLI flag. `undefined` when the flag was not given; BAD_ARGUMENT naming the flag and the text
 * for an empty, non-finite, fractional (with `integer`) or too small value.
 */
export function numberFlag(
  flag: string,
  text: string | undefined,
  opts: NumberFlagBounds,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  const low = opts.exclusive === true ? n <= opts.min : n < opts.min;
  if (text.trim() === '' || !Number.isFinite(n) || low || (opts.integer === true && !Number.isInteger(n))) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `--${flag} must be ${opts.integer === true ? 'an integer' : 'a number'} ${opts.exclusive === true ? '>' : '>='} ${opts.min}, got '${text}'`,
      { option: flag, value: text },
    );
  }
  return n;
}
