/**
 * openpi's `PolicyRecorder` (`serve_policy.py --record`) for any {@link BasePolicy}: after each `infer(obs)` it
 * saves `<dir>/step_<n>.npy`, a 0-d numpy object array holding the flattened dict
 * `{"inputs/<key path>": ..., "outputs/<key path>": ...}` (`/`-joined keys, as `flax.traverse_util.flatten_dict`
 * makes them). Read one back in Python with `np.load(path, allow_pickle=True).item()`.
 *
 * Differences from openpi's, all on the side of keeping data:
 * - numbering continues after the highest `step_<n>.npy` already in the directory (openpi restarts at 0 and
 *   overwrites); a file is never overwritten (opened with O_EXCL);
 * - the file is written off the request path: `infer` encodes the record (one copy of the array bytes, well under a
 *   millisecond for an ALOHA observation) and returns the result; the bytes go to disk through `fs.promises`, one
 *   file at a time in step order. `close()` / `flush()` wait for them;
 * - a failed write (disk full, permission, a missing directory) or a value that cannot be pickled logs a warning
 *   naming the file and is counted in {@link RecorderStats}; the request is still answered. A failed file is
 *   removed, so every `step_<n>.npy` in the directory loads; its number is not reused (a gap is a lost record).
 * - records waiting for the disk are capped (`maxPendingBytes`); past it a record is dropped (counted, warned)
 *   rather than letting memory grow behind a slow disk.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type BasePolicy, type Obs, OpenpiEdgeError } from '@openpi-edge/client';
import { flattenDict, npyObjectFile } from './npy-pickle.js';

export interface PolicyRecorderOptions {
  /** Warnings (lost records). Default: `console.warn` with an `[openpi-edge] recording:` prefix. */
  warn?: (message: string, context?: Record<string, unknown>) => void;
  /** Encoded records waiting to be written, in bytes, beyond which new records are dropped. Default 256 MiB. */
  maxPendingBytes?: number;
}

/** What the recorder did so far. */
export interface RecorderStats {
  /** The directory (absolute). */
  readonly dir: string;
  /** The number the first record of this run got (after the highest step file already there). */
  readonly firstStep: number;
  /** The number the next record will get. */
  readonly nextStep: number;
  /** Step files written completely. */
  readonly stepsWritten: number;
  /** Bytes in those files. */
  readonly bytesWritten: number;
  /** Writes that failed (the file was removed; the request was served). */
  readonly writeFailures: number;
  /** Records whose values could not be pickled (ENCODE_FAILED). */
  readonly encodeFailures: number;
  /** Records dropped because `maxPendingBytes` were already waiting, or because the recorder was closed. */
  readonly dropped: number;
  /** Records encoded and not yet on disk. */
  readonly pendingWrites: number;
  readonly pendingBytes: number;
}

const STEP_FILE = /^step_(\d+)\.npy$/;
const DEFAULT_MAX_PENDING = 256 * 2 ** 20;

/** The number after the highest `step_<n>.npy` in `dir` (0 when there is none). */
export async function nextStepNumber(dir: string): Promise<number> {
  let next = 0;
  for (const name of await readdir(dir)) {
    const m = STEP_FILE.exec(name);
    if (m !== null) next = Math.max(next, Number(m[1]) + 1);
  }
  return next;
}

/** The file name of record `n`: `step_<n>.npy`, as openpi names them. */
export function stepFileName(n: number): string {
  return `step_${n}.npy`;
}

export class PolicyRecorder implements BasePolicy {
  private next: number;
  private readonly firstStep: number;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly warnSink: (message: string, context?: Record<string, unknown>) => void;
  private readonly maxPendingBytes: number;
  private counts = {
    stepsWritten: 0,
    bytesWritten: 0,
    writeFailures: 0,
    encodeFailures: 0,
    dropped: 0,
    pendingWrites: 0,
    pendingBytes: 0,
  };
  private lost = 0;

  private constructor(
    readonly policy: BasePolicy,
    readonly dir: string,
    firstStep: number,
    options: PolicyRecorderOptions,
  ) {
    this.next = firstStep;
    this.firstStep = firstStep;
    this.warnSink = options.warn ?? ((message) => console.warn(`[openpi-edge] recording: ${message}`));
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING;
  }

  /**
   * Creates `dir` (with parents) if needed, checks it is a writable directory and finds the first free step number.
   * Throws BAD_ARGUMENT (context: dir, cause) when the directory cannot be created, read or written.
   */
  static async open(
    policy: BasePolicy,
    dir: string,
    options: PolicyRecorderOptions = {},
  ): Promise<PolicyRecorder> {
    const abs = resolve(dir);
    if (options.maxPendingBytes !== undefined && !(options.maxPendingBytes >= 0)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `maxPendingBytes must be >= 0, got ${options.maxPendingBytes}`,
        {
          option: 'maxPendingBytes',
        },
      );
    }
    let first: number;
    try {
      await mkdir(abs, { recursive: true });
      await access(abs, constants.W_OK | constants.X_OK);
      first = await nextStepNumber(abs);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `cannot record to ${abs}: ${err.message}`,
        { option: 'record', dir: abs, cause: err.code },
        { cause: e },
      );
    }
    return new PolicyRecorder(policy, abs, first, options);
  }

  /** Runs the wrapped policy, queues the record of `{inputs: obs, outputs: result}`, returns the result. */
  async infer(obs: Obs): Promise<Obs> {
    const result = await this.policy.infer(obs);
    this.record(obs, result);
    return result;
  }

  reset(): Promise<void> | void {
    return this.policy.reset();
  }

  /** Counters so far (a snapshot). */
  get stats(): RecorderStats {
    return { dir: this.dir, firstStep: this.firstStep, nextStep: this.next, ...this.counts };
  }

  /** Resolves once every record queued so far is on disk (or counted as failed). Never rejects. */
  flush(): Promise<void> {
    return this.tail;
  }

  /**
   * Stops recording (later `infer` calls still run the policy; their records are dropped and counted) and waits
   * for the queued writes. The wrapped policy is not closed: it is the caller's.
   */
  async close(): Promise<RecorderStats> {
    this.closed = true;
    await this.tail;
    return this.stats;
  }

  /** Encodes one record now (so later changes to `obs`/`result` cannot reach it) and queues its write. */
  private record(obs: Obs, result: Obs): void {
    const n = this.next++;
    const file = join(this.dir, stepFileName(n));
    if (this.closed) {
      this.counts.dropped++;
      this.warnLost(`${file} not written: the recorder is closed`, { file, reason: 'closed' });
      return;
    }
    let bytes: Buffer;
    try {
      bytes = npyObjectFile(flattenDict({ inputs: obs, outputs: result }));
    } catch (e) {
      this.counts.encodeFailures++;
      this.warnLost(`${file} not written: ${(e as Error).message}`, { file, reason: 'encode', error: e });
      return;
    }
    if (this.counts.pendingBytes > 0 && this.counts.pendingBytes + bytes.byteLength > this.maxPendingBytes) {
      this.counts.dropped++;
      this.warnLost(
        `${file} dropped: ${this.counts.pendingWrites} records (${mib(this.counts.pendingBytes)}) are still ` +
          'waiting for the disk',
        { file, reason: 'backlog', pendingBytes: this.counts.pendingBytes },
      );
      return;
    }
    this.counts.pendingWrites++;
    this.counts.pendingBytes += bytes.byteLength;
    this.tail = this.tail.then(() => this.write(file, bytes));
  }

  /** Writes one file with O_EXCL; on failure removes what was written and warns. Never rejects. */
  private async write(file: string, bytes: Buffer): Promise<void> {
    try {
      await writeFile(file, bytes, { flag: 'wx' });
      this.counts.stepsWritten++;
      this.counts.bytesWritten += bytes.byteLength;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.counts.writeFailures++;
      if (err.code !== 'EEXIST') await unlink(file).catch(() => {});
      const why =
        err.code === 'EEXIST'
          ? 'it already exists (another process recording to the same directory?); not overwritten'
          : err.message;
      this.warnLost(`could not write ${file}: ${why}; the request was served, this record is lost`, {
        file,
        reason: 'write',
        code: err.code,
      });
    } finally {
      this.counts.pendingWrites--;
      this.counts.pendingBytes -= bytes.byteLength;
    }
  }

  /** Warns for the first 5 lost records, then every 100th (a full disk fails every request). */
  private warnLost(message: string, context: Record<string, unknown>): void {
    this.lost++;
    if (this.lost <= 5 || this.lost % 100 === 0) {
      const more = this.lost === 5 ? ' (further losses: every 100th is reported)' : '';
      this.warnSink(`${message} [${this.lost} lost so far]${more}`, { ...context, lost: this.lost });
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** One line for logs: `recorded 12 steps (7.3 MiB) to <dir>; 0 write failures ...`. */
export function formatRecorderStats(s: RecorderStats): string {
  const lost = s.writeFailures + s.encodeFailures + s.dropped;
  return (
    `recorded ${s.stepsWritten} step${s.stepsWritten === 1 ? '' : 's'} (${mib(s.bytesWritten)}) to ${s.dir}` +
    (s.stepsWritten > 0 ? ` from step_${s.firstStep}.npy` : '') +
    `; ${s.writeFailures} write failure${s.writeFailures === 1 ? '' : 's'}` +
    (lost > s.writeFailures ? `, ${s.encodeFailures} unencodable, ${s.dropped} dropped` : '')
  );
}
