#!/usr/bin/env node
// The `edge-agent` command. An installed package runs the compiled CLI (dist/, made by `pnpm build` or packing).
// Inside the workspace checkout (a tsconfig.json beside this folder, which the published package does not ship)
// it runs the TypeScript sources through tsx with the `source` export condition, so a stale dist/ is never what
// runs there; EDGE_AGENT_FROM=dist or =src picks one explicitly. Sources run in a child process that receives the
// same arguments, stdio and termination signals.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/cli/main.js', import.meta.url);
const inWorkspace = existsSync(fileURLToPath(new URL('../tsconfig.json', import.meta.url)));
const from = process.env.EDGE_AGENT_FROM || (inWorkspace ? 'src' : 'dist');
if (from !== 'src' && from !== 'dist') {
  console.error(`edge-agent: EDGE_AGENT_FROM must be 'src' or 'dist', got '${from}'`);
  process.exit(2);
}
if (from === 'dist') {
  if (!existsSync(fileURLToPath(dist))) {
    console.error(`edge-agent: ${fileURLToPath(dist)} is missing; build the package first (pnpm build)`);
    process.exit(2);
  }
  const { main } = await import(dist.href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const src = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', src, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === null ? 1 : 128);
  });
}
