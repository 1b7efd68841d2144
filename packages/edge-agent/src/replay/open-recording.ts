/**
 * Opens what `edge-agent replay <path>` is given, by what the path is: a file ending `.mcap` is an MCAP log of
 * `start --record-mcap` (mcap-recording.ts); a directory is a LeRobot v2.x dataset (dataset-recording.ts;
 * BAD_DATASET when it is not one). BAD_ARGUMENT naming the path otherwise.
 */
import { stat } from 'node:fs/promises';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { openDatasetRecording } from './dataset-recording.js';
import { openMcapRecording } from './mcap-recording.js';
import type { RecordingSource } from './recorded-episode.js';

export async function openRecording(path: string): Promise<RecordingSource> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `recording ${path}: ${code === 'ENOENT' ? 'no such file or directory' : `cannot be read (${(e as Error).message})`}`,
      { file: path, reason: code ?? 'unreadable' },
    );
  }
  if (isDir) return openDatasetRecording(path);
  if (path.toLowerCase().endsWith('.mcap')) return openMcapRecording(path);
  throw new OpenpiEdgeError(
    'BAD_ARGUMENT',
    `recording ${path}: unknown format (expected an MCAP file ending .mcap or a LeRobot dataset directory)`,
    { file: path, reason: 'unknown format' },
  );
}
