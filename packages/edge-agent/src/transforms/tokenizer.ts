/**
 * openpi's `PaligemmaTokenizer.tokenize` + `TokenizePrompt` for pi0 and pi05 prompts with the bundle's sentencepiece
 * model: cleaning, the pi0 / pi05 (discrete state) text formats, right padding with id 0 or truncation.
 */
import { type NDArray, OpenpiEdgeError } from '@openpi-edge/client';
import { discretizeState } from './discretize.js';
import { cleanPrompt } from './prompt.js';
import { loadSentencePiece, type SentencePieceModel } from './sentencepiece.js';

/** `pi0`: `[bos] + encode(cleaned) + encode("\n")`; `pi05`: state in the text (needs a state). Manifest `tokenizer.prompt_format`. */
export type PromptFormat = 'pi0' | 'pi05';

/** Options of {@link PromptTokenizer.load}. */
export interface PromptTokenizerOptions {
  /** Token slots L (manifest `max_token_len`; openpi: pi0 48, pi05 200). Required. */
  maxLen: number;
  /** Manifest `tokenizer.bos_id`: when given, the model's own BOS must equal it (BAD_ARGUMENT otherwise). */
  expectedBosId?: number;
  /** Manifest `tokenizer.eos_id`: when given, the model's own EOS must equal it. */
  expectedEosId?: number;
  /** Called when a prompt is truncated to maxLen (openpi logs a warning). Default: `console.warn`. */
  onTruncate?: (info: { tokens: number; maxLen: number; text: string }) => void;
}

/** Tokenizer output: ids right-padded with 0 and the matching mask, both `[maxLen]`. */
export interface TokenizedPrompt {
  /** int32 `[maxLen]` (openpi's `tokenized_prompt`). */
  readonly tokens: NDArray<'int32'>;
  /** bool `[maxLen]`, true for real tokens (openpi's `tokenized_prompt_mask`). */
  readonly mask: NDArray<'bool'>;
  /** The exact text given to the tokenizer (pi05: with the state string; pi0: the cleaned prompt). */
  readonly text: string;
  /** Token count before padding/truncation. */
  readonly length: number;
}

/** The pi05 text for a cleaned prompt and a normalized, unpadded state. */
export function pi05PromptText(cleaned: string, normalizedState: ArrayLike<number>): string {
  return `Task: ${cleaned}, State: ${Array.from(discretizeState(normalizedState)).join(' ')};\nAction: `;
}

export class PromptTokenizer {
  readonly maxLen: number;
  readonly model: SentencePieceModel;
  private readonly onTruncate: NonNullable<PromptTokenizerOptions['onTruncate']>;

  /** Prefer {@link PromptTokenizer.load}; this wraps an already loaded model. */
  constructor(model: SentencePieceModel, options: PromptTokenizerOptions) {
    if (!Number.isInteger(options.maxLen) || options.maxLen <= 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `tokenizer maxLen must be a positive integer, got ${options.maxLen}`,
        {
          maxLen: options.maxLen,
        },
      );
    }
    for (const [name, expected, actual] of [
      ['bos_id', options.expectedBosId, model.bosId],
      ['eos_id', options.expectedEosId, model.eosId],
    ] as const) {
      if (expected !== undefined && expected !== actual) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `tokenizer.${name} is ${expected} but the sentencepiece model says ${actual}`,
          {
            field: `tokenizer.${name}`,
            expected,
            actual,
          },
        );
      }
    }
    this.model = model;
    this.maxLen = options.maxLen;
    this.onTruncate =
      options.onTruncate ??
      ((i) =>
        console.warn(
          `Token length (${i.tokens}) exceeds max length (${i.maxLen}), truncating. Prompt: ${i.text}`,
        ));
  }

  /** Loads the sentencepiece model from a path or bytes. */
  static async load(model: string | Uint8Array, options: PromptTokenizerOptions): Promise<PromptTokenizer> {
    return new PromptTokenizer(await loadSentencePiece(model), options);
  }

  /**
   * openpi's `tokenize(prompt, state)`: with `normalizedState` (pi05 discrete-state input) the pi05 format, without
   * it the pi0 format. `prompt` is the raw prompt (cleaned here).
   */
  tokenize(prompt: string, normalizedState?: ArrayLike<number>): TokenizedPrompt {
    const cleaned = cleanPrompt(prompt);
    let ids: number[];
    let text: string;
    if (normalizedState !== undefined) {
      text = pi05PromptText(cleaned, normalizedState);
      ids = [this.model.bosId, ...this.model.encode(text)];
    } else {
      text = cleaned;
      ids = [this.model.bosId, ...this.model.encode(cleaned), ...this.model.encode('\n')];
    }
    const n = ids.length;
    if (n > this.maxLen) this.onTruncate({ tokens: n, maxLen: this.maxLen, text });
    const tokens = new Int32Array(this.maxLen);
    const mask = new Uint8Array(this.maxLen);
    const kept = Math.min(n, this.maxLen);
    for (let i = 0; i < kept; i++) {
      tokens[i] = ids[i] as number;
      mask[i] = 1;
    }
    return {
      tokens: { dtype: 'int32', shape: [this.maxLen], data: tokens },
      mask: { dtype: 'bool', shape: [this.maxLen], data: mask },
      text,
      length: n,
    };
  }
}
