/**
 * `edge-agent bench-client` (openpi's simple_client) against the real `edge-agent serve` (demo π0 ALOHA bundle):
 * the table and the JSON carry the client round trip and the server's timing keys; a layout the server's model
 * cannot take fails with the server's own error, exit 1. Figures are printed, never asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchObservation, timingStats } from '../../src/cli/bench-client.js';
import { type CliProcess, runCli } from '../agent/helpers.js';

let server: CliProcess;
let url = '';
beforeAll(async () => {
  server = runCli(['serve', '--port', '0', '--providers', 'cpu', '--threads', '1']);
  url = (await server.waitForLine(/^listening on (ws:\/\/\S+) port=\d+/))[1] as string;
}, 60_000);
afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
});

describe('edge-agent bench-client', () => {
  it('times aloha requests: client round trip and the server_timing keys, JSON and table', async () => {
    const json = runCli(['bench-client', url, '--steps', '4', '--warmup', '1', '--json']);
    expect((await json.exited).code, json.stderr.join('\n')).toBe(0);
    const r = JSON.parse(json.stdout.join('\n')) as {
      steps: number;
      layout: string;
      requestsPerS: number;
      timings: Record<string, { n: number; p50: number }>;
      actionsShape: number[];
    };
    expect(r).toMatchObject({ steps: 4, layout: 'aloha', actionsShape: [50, 14] });
    expect(r.requestsPerS).toBeGreaterThan(0);
    expect(Object.keys(r.timings)).toEqual(
      expect.arrayContaining(['client_infer_ms', 'server_infer_ms', 'server_prev_total_ms']),
    );
    expect(r.timings.client_infer_ms?.n).toBe(4);
    expect(r.timings.server_infer_ms?.p50).toBeLessThanOrEqual(r.timings.client_infer_ms?.p50 as number);
    const table = runCli(['bench-client', url, '--steps', '3', '--layout', 'aloha_sim']);
    expect((await table.exited).code, table.stderr.join('\n')).toBe(0);
    const out = table.stdout.join('\n');
    console.log(out);
    expect(out).toMatch(/3 aloha_sim requests after 2 warm-up; [\d.]+ requests\/s/);
    expect(out).toMatch(/^client_infer_ms(\s+[\d.]+){8}$/m);
  }, 120_000);

  it("a layout the model cannot take fails with the server's error, exit 1", async () => {
    const p = runCli(['bench-client', url, '--steps', '2', '--layout', 'libero']);
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.stderr.join('\n')).toMatch(
      /SERVER_ERROR: Error in inference server[\s\S]*observation key 'state': missing/,
    );
  }, 60_000);

  it('observations have the shapes openpi sends; percentiles interpolate like numpy', () => {
    const rng = { s: 1 };
    const aloha = benchObservation('aloha', 'x', rng) as { images: Record<string, { shape: number[] }> };
    expect(Object.keys(aloha.images)).toEqual(['cam_high', 'cam_low', 'cam_left_wrist', 'cam_right_wrist']);
    expect(aloha.images.cam_high?.shape).toEqual([3, 224, 224]);
    const droid = benchObservation('droid', 'x', rng) as Record<string, { shape?: number[] }>;
    expect(droid['observation/exterior_image_1_left']?.shape).toEqual([224, 224, 3]);
    expect(droid['observation/joint_position']?.shape).toEqual([7]);
    const s = timingStats([1, 2, 3, 4]);
    expect([s.p25, s.p50, s.p75, s.mean]).toEqual([1.75, 2.5, 3.25, 2.5]);
    expect(s.std).toBeCloseTo(Math.sqrt(1.25), 12);
  });
});
