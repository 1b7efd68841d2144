/**
 * `pnpm bench`: runs every benchmark module in bench/ (files named *.bench.ts) in sequence and writes the
 * combined tables to bench/results/latest.md. Pass names to run a subset: `pnpm bench codec image`.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
const out: string[] = [`# openpi-edge benchmarks (${new Date().toISOString()}, node ${process.version})`];
for (const f of files) {
  console.log(`\n## ${f}`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { run: () => Promise<string[]> };
  out.push(`\n## ${f}`, ...(await mod.run()));
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.md'), `${out.join('\n')}\n`);
