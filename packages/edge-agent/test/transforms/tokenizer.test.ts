import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cleanPrompt,
  discretizeState,
  discretizeValue,
  loadSentencePiece,
  PromptTokenizer,
  pyStrip,
} from '../../src/index.js';
import { thrown } from './fixtures.js';
import { TOKENIZER_DIR, V } from './vectors.js';

interface Case {
  prompt: string;
  max_len: number;
  state: number[] | null;
  tokens: number[];
  mask: boolean[];
  text: string;
  length: number;
}

describe('discretizeState (np.digitize(x, linspace(-1, 1, 257)[:-1]) - 1)', () => {
  it('matches numpy on edges, neighbours of edges, NaN, +-inf and random values', () => {
    const x = V.digitize.x as number[];
    expect(Array.from(discretizeState(x))).toEqual(V.digitize.bins);
  });

  it('hand-checked values', () => {
    expect(discretizeValue(-1)).toBe(0);
    expect(discretizeValue(-1.0000001)).toBe(-1);
    expect(discretizeValue(0)).toBe(128);
    expect(discretizeValue(-1e-17)).toBe(127); // floor((x + 1) * 128) would say 128
    expect(discretizeValue(0.9921875)).toBe(255);
    expect(discretizeValue(1)).toBe(255);
    expect(discretizeValue(Number.NaN)).toBe(255);
    expect(discretizeValue(Number.NEGATIVE_INFINITY)).toBe(-1);
  });
});

describe('prompt cleaning', () => {
  it('strips what Python str.strip() strips, then "_" and "\\n" -> " "', () => {
    expect(cleanPrompt('  fold_the_towel\n')).toBe('fold the towel');
    expect(cleanPrompt('a_b\nc')).toBe('a b c');
    expect(pyStrip('\u001c\u0085 x \u3000')).toBe('x');
    expect(pyStrip('\ufeffx')).toBe('\ufeffx'); // JS trim() would remove the BOM; Python keeps it
    expect(cleanPrompt('Pick UP')).toBe('Pick UP'); // no lower-casing for pi0/pi05
  });
});

for (const name of ['gemma_like', 'unigram'] as const) {
  describe(`PromptTokenizer parity with Python sentencepiece (${name}.model)`, async () => {
    const T = V.tokenizer[name];
    const modelPath = join(TOKENIZER_DIR, `${name}.model`);
    const model = await loadSentencePiece(modelPath);

    it('reads BOS and EOS from the model', () => {
      expect(model.bosId).toBe(T.bos_id);
      expect(model.eosId).toBe(T.eos_id);
    });

    it('encodes plain text (ASCII, underscores, newlines, unicode, emoji, empty) to the same ids', () => {
      for (const p of T.plain as { text: string; ids: number[] }[])
        expect(model.encode(p.text), JSON.stringify(p.text)).toEqual(p.ids);
    });

    it('tokenize() gives openpi ids, masks and text for pi0 and pi05 formats, padded and truncated', () => {
      for (const c of T.cases as Case[]) {
        const tok = new PromptTokenizer(model, { maxLen: c.max_len, onTruncate: () => {} });
        const out = tok.tokenize(c.prompt, c.state ?? undefined);
        const label = `${JSON.stringify(c.prompt)} max_len=${c.max_len} state=${c.state !== null}`;
        expect(Array.from(out.tokens.data), label).toEqual(c.tokens);
        expect(
          Array.from(out.mask.data, (b) => b === 1),
          label,
        ).toEqual(c.mask);
        expect(out.text, label).toBe(c.text);
        expect(out.length, label).toBe(c.length);
        expect(out.tokens.dtype).toBe('int32');
        expect(out.mask.dtype).toBe('bool');
      }
    });

    it('loads from bytes as well as from a path', async () => {
      const fromBytes = await loadSentencePiece(readFileSync(modelPath));
      expect(fromBytes.bosId).toBe(T.bos_id);
      expect(fromBytes.encode('pick up the red cube')).toEqual(model.encode('pick up the red cube'));
    });
  });
}

describe('PromptTokenizer behaviour', async () => {
  const model = await loadSentencePiece(join(TOKENIZER_DIR, 'gemma_like.model'));

  it('pi0 format: [bos] + encode(cleaned) + encode("\\n"), zero padding with mask false', () => {
    const out = new PromptTokenizer(model, { maxLen: 16 }).tokenize('pick_up');
    const ids = [model.bosId, ...model.encode('pick up'), ...model.encode('\n')];
    expect(Array.from(out.tokens.data)).toEqual([...ids, ...new Array(16 - ids.length).fill(0)]);
    expect(Array.from(out.mask.data)).toEqual([...ids.map(() => 1), ...new Array(16 - ids.length).fill(0)]);
  });

  it('pi05 format writes the discretized state into the text', () => {
    const out = new PromptTokenizer(model, { maxLen: 64 }).tokenize(' open_drawer ', [
      -1,
      0,
      0.5,
      2,
      Number.NaN,
      -3,
    ]);
    expect(out.text).toBe('Task: open drawer, State: 0 128 192 255 255 -1;\nAction: ');
    expect(out.tokens.data[0]).toBe(model.bosId);
  });

  it('truncates to maxLen with a warning carrying the token count', () => {
    const seen: { tokens: number; maxLen: number }[] = [];
    const out = new PromptTokenizer(model, { maxLen: 4, onTruncate: (i) => seen.push(i) }).tokenize(
      'pick up the red cube',
    );
    expect(out.mask.data.every((b) => b === 1)).toBe(true);
    expect(out.tokens.data).toHaveLength(4);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.maxLen).toBe(4);
    expect(seen[0]?.tokens).toBe(out.length);
    expect(out.length).toBeGreaterThan(4);
  });

  it('checks the manifest ids against the model', () => {
    expect(() => new PromptTokenizer(model, { maxLen: 8, expectedBosId: 2, expectedEosId: 1 })).not.toThrow();
    const e = thrown(() => new PromptTokenizer(model, { maxLen: 8, expectedBosId: 1 }));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toMatch(/tokenizer.bos_id is 1 but the sentencepiece model says 2/);
  });

  it('rejects a non-positive maxLen and a file that is not a model', async () => {
    expect(thrown(() => new PromptTokenizer(model, { maxLen: 0 })).code).toBe('BAD_ARGUMENT');
    await expect(loadSentencePiece(join(TOKENIZER_DIR, 'corpus.txt'))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    await expect(loadSentencePiece(join(TOKENIZER_DIR, 'missing.model'))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
  });
});
