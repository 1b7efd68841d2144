/**
 * McapRecorder on its own (synthetic ticks and frames), read back by PyPI mcap: frame sets beyond
 * `maxPendingFrameSets` are dropped and counted, not queued; fault-set changes become /safety/faults messages; a
 * process that exits without `close()` still leaves a complete file (the exit hook); a file that cannot be created
 * is BAD_ARGUMENT naming the flag.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { McapRecorder } from '../../src/record/mcap-recorder.js';
import { REPO_ROOT } from '../agent/helpers.js';
import { fakeDecision, fakeStep, patternFrame } from './fakes.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-mcap-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ReadBack {
  complete: boolean;
  error: string | null;
  topics: Record<string, { count: number; monotonic: boolean }>;
  images: Record<string, { jpeg_magic: string; size?: [number, number] }>;
  decision: { decision: string; faults: string[]; command: number[] | null } | null;
  faults: { active: { code: string; name?: string }[]; raised: string[]; cleared: string[] } | null;
  chunk: { shape: number[]; actions: number[][] } | null;
  metadata: Record<string, Record<string, string>>;
}

async function readBack(file: string): Promise<ReadBack> {
  const { stdout } = await run(resolve(REPO_ROOT, '.venv/bin/python'), [
    resolve(REPO_ROOT, 'test/python/mcap_reader.py'),
    file,
  ]);
  return JSON.parse(stdout) as ReadBack;
}

describe('McapRecorder', () => {
  it('drops frame sets beyond the pending bound, records ticks, faults and chunks', async () => {
    const file = join(dir, 'unit.mcap');
    const rec = await McapRecorder.open({
      file,
      joints: ['a', 'b'],
      cameras: ['cam'],
      maxPendingFrameSets: 2,
    });
    for (let i = 0; i < 20; i++)
      rec.tick(fakeStep(i), fakeDecision(i), { positions: [i, -i], stampMs: 1000 + i * 20 });
    // Five sets in one go: the worker cannot have acknowledged any yet.
    for (let k = 0; k < 5; k++) {
      rec.frames(k + 1, 1000 + k, { frames: { cam: patternFrame(k) }, height: 224, width: 224 });
    }
    expect(rec.stats).toEqual({ framesDropped: 3, frameSetsDropped: 3, ticksDropped: 0 });
    rec.chunk(1, 1000, 1100, 100, { shape: [2, 2], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) }, null);
    const result = await rec.close();
    expect(result).toMatchObject({ framesWritten: 2, framesDropped: 3, chunks: 1 });
    expect(result?.topics['/safety/decision']).toBe(20);

    const r = await readBack(file);
    expect(r.complete, r.error ?? '').toBe(true);
    expect(r.topics['/camera/cam']?.count).toBe(2);
    expect(r.images['/camera/cam']).toMatchObject({ jpeg_magic: 'ffd8ff', size: [224, 224] });
    expect(r.topics['/safety/decision']?.count).toBe(20);
    expect(r.topics['/joint_states']?.count).toBe(20);
    // The fault set changes on every tick (hold, move, hold, ...).
    expect(r.topics['/safety/faults']?.count).toBe(20);
    expect(r.decision).toMatchObject({ decision: 'hold', faults: ['CAMERA_STALE'], command: null });
    expect(r.faults).toMatchObject({
      active: [{ code: 'CAMERA_STALE', name: 'cam' }],
      raised: ['CAMERA_STALE'],
    });
    expect(r.chunk).toEqual(
      expect.objectContaining({
        shape: [2, 2],
        actions: [
          [0.1, 0.2],
          [0.3, 0.4],
        ],
      }),
    );
    expect(r.metadata['openpi_edge.recording']).toMatchObject({ frames_dropped: '3', frames_written: '2' });
    for (const [topic, t] of Object.entries(r.topics)) expect(t.monotonic, topic).toBe(true);
  });

  it('ends the file when the process exits without close()', async () => {
    const file = join(dir, 'exit.mcap');
    const child = run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', join(here, 'exit-child.mts'), file, '30'],
      {
        cwd: REPO_ROOT,
      },
    );
    await expect(child).rejects.toMatchObject({ code: 3 });
    const r = await readBack(file);
    expect(r.complete, r.error ?? '').toBe(true);
    expect(r.topics['/safety/decision']?.count).toBe(30);
  });

  it('refuses a file it cannot create (BAD_ARGUMENT naming --record-mcap)', async () => {
    await expect(
      McapRecorder.open({ file: join(dir, 'no', 'such', 'dir', 'x.mcap'), joints: ['a'], cameras: [] }),
    ).rejects.toMatchObject({ code: 'BAD_ARGUMENT', context: { option: 'record-mcap' } });
  });
});
