/**
 * Guards the split between the browser-safe root entry and the Node-only subpath: bundling the root entry for
 * the browser must not pull in Node built-ins or native modules (sharp), and must not statically import `ws`.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));

describe('root entry of @openpi-edge/client', () => {
  it('bundles for the browser without Node built-ins or native modules', async () => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      // `ws` may only be reached through a guarded dynamic import (Node fallback when no global WebSocket).
      external: ['ws'],
    });
    const inputs = Object.keys(result.metafile.inputs);
    const offenders = inputs.filter((p) => /(^|\/)(node:|sharp|onnxruntime|serialport)/.test(p));
    expect(offenders).toEqual([]);
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
    const staticImports = imports.filter((i) => i.kind === 'import-statement').map((i) => i.path);
    expect(staticImports).toEqual([]);
    for (const i of imports) expect(i.path.startsWith('node:')).toBe(false);
  });

  it('keeps Node-only code behind the ./node subpath', async () => {
    const nodeEntry = fileURLToPath(new URL('../src/node/index.ts', import.meta.url));
    const result = await build({
      entryPoints: [nodeEntry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      packages: 'external',
    });
    expect(Object.keys(result.metafile.inputs).length).toBeGreaterThan(0);
  });
});
