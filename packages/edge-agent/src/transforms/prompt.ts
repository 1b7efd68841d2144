/**
 * Prompt handling before tokenization: openpi's `InjectDefaultPrompt`, the `.item()` of non-str prompts in
 * `TokenizePrompt`, and the tokenizer's text cleaning.
 */
import { isNDArray, isNumpyScalar, type Value } from '@openpi-edge/client';
import { badObservation, describeValue } from './obs-access.js';

/**
 * openpi's `InjectDefaultPrompt`: returns `obs` with `prompt` set to `defaultPrompt` only when the key is absent
 * (a present `prompt`, even None, is kept) and a default exists. Does not mutate `obs`.
 */
export function injectDefaultPrompt<T extends { readonly [key: string]: Value }>(
  obs: T,
  defaultPrompt: string | null | undefined,
): T {
  if (defaultPrompt == null || 'prompt' in obs) return obs;
  return { ...obs, prompt: defaultPrompt };
}

/**
 * The prompt as a string, as `TokenizePrompt` reads it: a str, or a numpy unicode scalar / 0-d array (`.item()`).
 * BAD_OBSERVATION when absent or None ("Prompt is required") or of another type.
 */
export function promptText(prompt: Value | undefined): string {
  if (prompt === undefined || prompt === null)
    return badObservation('prompt', 'missing (a prompt is required)');
  if (typeof prompt === 'string') return prompt;
  if (isNumpyScalar(prompt) && prompt.dtype === 'unicode' && typeof prompt.value === 'string')
    return prompt.value;
  if (isNDArray(prompt) && prompt.dtype === 'unicode' && prompt.shape.length === 0) {
    return (prompt.data as string[])[0] ?? '';
  }
  return badObservation('prompt', `expected a string, got ${describeValue(prompt)}`);
}

/** Characters Python's `str.strip()` removes (`str.isspace()`); JS `trim()` differs (it strips U+FEFF, keeps U+001C-U+001F and U+0085). */
const PY_WHITESPACE = new Set(
  [
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f,
    0x205f, 0x3000,
  ]
    .concat(Array.from({ length: 11 }, (_, i) => 0x2000 + i))
    .map((c) => String.fromCharCode(c)),
);

/** Python's `str.strip()` with no arguments. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_WHITESPACE.has(s[start] as string)) start++;
  while (end > start && PY_WHITESPACE.has(s[end - 1] as string)) end--;
  return s.slice(start, end);
}

/** openpi's prompt cleaning for pi0/pi05: `prompt.strip().replace("_", " ").replace("\n", " ")` (no lower-casing). */
export function cleanPrompt(prompt: string): string {
  return pyStrip(prompt).replaceAll('_', ' ').replaceAll('\n', ' ');
}
