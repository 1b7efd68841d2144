/**
 * The depth-realistic π0 ALOHA bundle (18 Gemma layers, reduced widths; test/python/edge_model_tools.py `--size
 * deep`): exported once per exporter version into a cache directory and reused by the benchmarks that need it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run$ = promisify(execFile);
const trainerPython = join(root, 'trainer', '.venv', 'bin', 'python');
const tools = join(root, 'test', 'python', 'edge_model_tools.py');
/** Where the exported bundle is kept between runs (keyed by the exporter's sources). */
export const DEEP_CACHE = process.env.OPENPI_EDGE_BENCH_CACHE ?? join(tmpdir(), 'openpi-edge-bench-cache');

/** The bundle's directory, exporting it first (minutes) when the cache has none for these exporter sources. */
export async function deepBundle(): Promise<string> {
  const h = createHash('sha256').update(readFileSync(tools));
  const exportDir = join(root, 'trainer', 'openpi_edge_export');
  for (const f of readdirSync(exportDir)
    .filter((x) => x.endsWith('.py'))
    .sort()) {
    h.update(f).update(readFileSync(join(exportDir, f)));
  }
  const dir = join(DEEP_CACHE, `deep-pi0-aloha-${h.digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  await run$('bash', [join(root, 'scripts', 'trainer-env.sh')], { cwd: root, timeout: 600_000 });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  console.log(`exporting the 18-layer bundle to ${dir} (once) ...`);
  await run$(
    trainerPython,
    [tools, 'export', '--robot', 'aloha', '--model-type', 'pi0', '--size', 'deep', '--out', tmp],
    { cwd: root, timeout: 1_800_000 },
  );
  renameSync(tmp, dir);
  return dir;
}
