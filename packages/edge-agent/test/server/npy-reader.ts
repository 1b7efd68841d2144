/**
 * Runs test/python/npy_record_reader.py with the repository's .venv numpy (scripts/python-env.sh builds it) and
 * returns the JSON it prints: what `np.load(path, allow_pickle=True).item()` gave, described exactly.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const READER = join(ROOT, 'test', 'python', 'npy_record_reader.py');
const run = promisify(execFile);

/** A Python value as the reader describes it. */
export type Described =
  | { type: 'None' }
  | { type: 'bool'; value: boolean }
  | { type: 'int'; value: string }
  | { type: 'float'; value: number | string }
  | { type: 'str'; value: string }
  | { type: 'bytes'; hex: string }
  | { type: 'list'; items: Described[] }
  | { type: 'dict'; keys: string[]; items: Record<string, Described> }
  | { type: 'npscalar'; class: string; dtype: string; value: boolean | number | string }
  | {
      type: 'ndarray';
      dtype: string;
      shape: number[];
      c_contiguous: boolean;
      writeable: boolean;
      values: (boolean | number | string)[];
    };

export interface DescribedFile {
  file: string;
  array: { type: string; dtype: string; shape: number[] };
  item: Described;
}

/** Runs the reader (`describe FILE...` or `aloha --dir ...`); parses its stdout. */
export async function runReader(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(PYTHON, [READER, ...args], {
    cwd: ROOT,
    timeout: 60_000,
    maxBuffer: 64 * 2 ** 20,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** `np.load(f, allow_pickle=True)` of each file: the array's type and the item, described. */
export async function describeFiles(files: string[]): Promise<DescribedFile[]> {
  return (await runReader(['describe', ...files])).files as DescribedFile[];
}
