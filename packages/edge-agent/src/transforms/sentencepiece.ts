/**
 * The one file that touches `@sctg/sentencepiece-js` (a WASM build of sentencepiece that reproduces Python's ids).
 * Its `cleanText()` is deliberately not used: it rewrites the input.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { SentencePieceProcessor } from '@sctg/sentencepiece-js';

/** The slice of the embind surface used here (the package types it as `any`). */
interface EmbindStatus {
  ToString(): string;
}
interface EmbindProcessor {
  SetEncodeExtraOptions(view: unknown): EmbindStatus;
}
interface EmbindModule {
  StringView: new (s: string) => { getView(): { delete(): void }; delete(): void };
}

/** A loaded sentencepiece model: plain encoding plus the special ids the model defines. */
export interface SentencePieceModel {
  /** `sp.encode(text)` without BOS/EOS. */
  encode(text: string): number[];
  /** The model's BOS id (what `encode(text, add_bos=True)` prepends). */
  readonly bosId: number;
  /** The model's EOS id. */
  readonly eosId: number;
}

/**
 * Loads a `.model` file (path) or its bytes. BAD_ARGUMENT naming the source if the model cannot be read or defines
 * no BOS piece (openpi's prompt formats all start with BOS).
 */
export async function loadSentencePiece(
  model: string | Uint8Array,
  source = typeof model === 'string' ? model : '<bytes>',
): Promise<SentencePieceModel> {
  const sp = new SentencePieceProcessor();
  try {
    if (typeof model === 'string') await sp.load(model);
    else await sp.loadFromB64StringModel(Buffer.from(model).toString('base64'));
  } catch (e) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `cannot load sentencepiece model ${source}: ${(e as Error).message}`,
      { source },
      { cause: e },
    );
  }
  const module = sp.sentencepiece as EmbindModule;
  const processor = sp.processor as EmbindProcessor | undefined;
  if (processor === undefined) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `cannot load sentencepiece model ${source}`, { source });
  }
  const setExtra = (opts: string): void => {
    const sv = new module.StringView(opts);
    const view = sv.getView();
    const status = processor.SetEncodeExtraOptions(view);
    view.delete();
    sv.delete();
    const text = status.ToString();
    if (text !== 'OK')
      throw new OpenpiEdgeError('BAD_ARGUMENT', `sentencepiece ${source}: ${text}`, { source });
  };
  // A model that failed to load encodes nothing; probe a character every model covers (via unk at worst).
  if (sp.encodeIds('a').length === 0) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `cannot load sentencepiece model ${source}: not a sentencepiece model`,
      { source },
    );
  }
  const special = (opts: 'bos' | 'eos'): number => {
    setExtra(opts);
    try {
      const ids = sp.encodeIds('');
      if (ids.length !== 1 || ids[0] === undefined) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `sentencepiece model ${source} defines no ${opts.toUpperCase()} piece`,
          { source },
        );
      }
      return ids[0];
    } finally {
      setExtra('');
    }
  };
  const bosId = special('bos');
  const eosId = special('eos');
  return { encode: (text) => sp.encodeIds(text), bosId, eosId };
}
