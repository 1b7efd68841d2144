/**
 * `edge-agent start --record-mcap`: the real CLI on the emulated ALOHA with the demo bundle, the file read back by
 * PyPI `mcap` (test/python/mcap_reader.py, .venv from scripts/python-env.sh):
 * - a 60-step episode: channels and schemas, one frame per camera per inference (the summary's count), one joint
 *   state, gate decision and timing per step, log times increasing per topic, a 224x224 JPEG, a joint state;
 * - SIGINT mid-episode: the file is complete (footer, summary) and has the e-stop event;
 * - SIGKILL mid-episode: no footer, but the completed chunks read with the stream reader.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliProcess, CPU_QUIET_FLAGS, REPO_ROOT, runCli, stopChild } from '../agent/helpers.js';

const PY = resolve(REPO_ROOT, '.venv/bin/python');
const READER = resolve(REPO_ROOT, 'test/python/mcap_reader.py');
const CAMERAS = ['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist'];

interface TopicStats {
  count: number;
  first_log_time: number | null;
  last_log_time: number | null;
  monotonic: boolean;
}

interface ReadBack {
  complete: boolean;
  error: string | null;
  channels: {
    topic: string;
    schema: string;
    schema_encoding: string;
    message_encoding: string;
    count: number;
  }[];
  topics: Record<string, TopicStats>;
  first_log_time: number;
  last_log_time: number;
  metadata: Record<string, Record<string, string>>;
  images: Record<
    string,
    { format: string; jpeg_magic: string; size?: [number, number]; decode_error?: string }
  >;
  joint_state: {
    timestamp: { sec: number; nsec: number };
    joints: { name: string; position: number }[];
  } | null;
  decision: { decision: string; faults: string[]; command: number[] | null } | null;
  chunk: { shape: number[]; actions: number[][]; latency_ms: number } | null;
  estop: { event: string; source: string; reason: string } | null;
}

async function readBack(file: string): Promise<ReadBack> {
  const { stdout } = await promisify(execFile)(PY, [READER, file], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as ReadBack;
}

const count = (r: ReadBack, topic: string): number => r.topics[topic]?.count ?? 0;

const dir = mkdtempSync(join(tmpdir(), 'openpi-edge-mcap-'));
const children: CliProcess[] = [];
afterAll(async () => {
  await Promise.all(children.map(stopChild));
  rmSync(dir, { recursive: true, force: true });
});

function start(file: string, extra: string[]): CliProcess {
  const c = runCli(['start', '--robot', 'aloha', ...CPU_QUIET_FLAGS, '--record-mcap', file, ...extra]);
  children.push(c);
  return c;
}

describe('edge-agent start --record-mcap', () => {
  it('records a 60-step episode that PyPI mcap reads back', async () => {
    const file = join(dir, 'run.mcap');
    const c = start(file, ['--max-steps', '60']);
    const { code } = await c.exited;
    const out = c.stdout.join('\n');
    expect(code, `${out}\n${c.stderr.join('\n')}`).toBe(0);
    const inferences = Number(out.match(/policy {3}(\d+) inferences/)?.[1]);
    expect(inferences).toBeGreaterThan(1);
    expect(out).toMatch(/record {3}.*run\.mcap: frames dropped 0, ticks dropped 0/);
    expect(out).toMatch(/^recording .*run\.mcap: \d+ messages, [\d.]+ MiB/m);

    const r = await readBack(file);
    expect(r.complete, r.error ?? '').toBe(true);
    const schemaOf = Object.fromEntries(r.channels.map((ch) => [ch.topic, ch.schema]));
    for (const cam of CAMERAS) expect(schemaOf[`/camera/${cam}`]).toBe('foxglove.CompressedImage');
    expect(schemaOf).toMatchObject({
      '/joint_states': 'foxglove.JointStates',
      '/policy/chunk': 'openpi_edge.PolicyChunk',
      '/safety/decision': 'openpi_edge.GateDecision',
      '/safety/faults': 'openpi_edge.Faults',
      '/loop/timing': 'openpi_edge.LoopTiming',
    });
    for (const ch of r.channels) {
      expect(ch.message_encoding).toBe('json');
      expect(ch.schema_encoding).toBe('jsonschema');
    }
    // One frame per camera per inference (the start-up check's included), nothing dropped.
    for (const cam of CAMERAS) expect(count(r, `/camera/${cam}`)).toBe(inferences);
    expect(count(r, '/policy/chunk')).toBe(inferences);
    expect(count(r, '/safety/decision')).toBe(60);
    expect(count(r, '/loop/timing')).toBe(60);
    expect(count(r, '/joint_states')).toBeGreaterThanOrEqual(59);
    expect(count(r, '/joint_states')).toBeLessThanOrEqual(60);
    expect(count(r, '/safety/reset')).toBeGreaterThan(0); // the home moves before and after
    for (const [topic, t] of Object.entries(r.topics)) expect(t.monotonic, topic).toBe(true);
    expect(r.last_log_time).toBeGreaterThan(r.first_log_time);
    // Log times are epoch nanoseconds near now.
    expect(Math.abs(r.first_log_time / 1e6 - Date.now())).toBeLessThan(10 * 60_000);

    for (const cam of CAMERAS) {
      const img = r.images[`/camera/${cam}`];
      expect(img?.format).toBe('jpeg');
      expect(img?.jpeg_magic).toBe('ffd8ff');
      expect(img?.size, img?.decode_error).toEqual([224, 224]);
    }
    const js = r.joint_state;
    expect(js?.joints.map((j) => j.name)).toEqual(r.metadata['openpi_edge.run']?.joints?.split(','));
    expect(js?.joints).toHaveLength(14);
    for (const j of js?.joints ?? []) expect(Number.isFinite(j.position)).toBe(true);
    expect(r.decision?.decision).toBe('move');
    expect(r.decision?.command).toHaveLength(14);
    expect(r.chunk?.shape).toEqual([50, 14]);
    expect(r.chunk?.actions).toHaveLength(50);
    expect(r.metadata['openpi_edge.recording']).toMatchObject({ frames_dropped: '0', ticks_dropped: '0' });
  }, 60_000);

  it('Ctrl-C (SIGINT) mid-episode leaves a complete file with the e-stop in it', async () => {
    const file = join(dir, 'sigint.mcap');
    const c = start(file, ['--max-steps', '0', '--no-reset']);
    await c.waitForLine(/^ {2}stop /);
    // Let the loop run a little (the report is printed right before it starts).
    await new Promise((r) => setTimeout(r, 1500));
    c.child.kill('SIGINT');
    const { code } = await c.exited;
    expect(code, `${c.stdout.join('\n')}\n${c.stderr.join('\n')}`).toBe(0);
    const r = await readBack(file);
    expect(r.complete, r.error ?? '').toBe(true);
    expect(count(r, '/safety/decision')).toBeGreaterThan(10);
    expect(count(r, '/safety/estop')).toBeGreaterThanOrEqual(1);
    expect(r.estop).toMatchObject({ event: 'triggered', source: 'signal', reason: 'SIGINT' });
    expect(r.metadata['openpi_edge.recording']).toMatchObject({ frames_dropped: '0' });
    for (const [topic, t] of Object.entries(r.topics)) expect(t.monotonic, topic).toBe(true);
  }, 60_000);

  it('SIGKILL mid-episode leaves the header and the completed chunks (no footer)', async () => {
    const file = join(dir, 'sigkill.mcap');
    const c = start(file, ['--max-steps', '0', '--no-reset']);
    await c.waitForLine(/^ {2}stop /);
    await new Promise((r) => setTimeout(r, 3000));
    c.child.kill('SIGKILL');
    await c.exited;
    expect(statSync(file).size).toBeGreaterThan(64 * 1024);
    const r = await readBack(file);
    expect(r.complete).toBe(false);
    expect(r.channels.length).toBeGreaterThan(0);
    expect(count(r, '/safety/decision')).toBeGreaterThan(10);
    expect(count(r, '/camera/cam_high')).toBeGreaterThan(0);
  }, 60_000);
});
