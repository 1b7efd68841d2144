/**
 * How to start a worker entry of this directory under plain node, wherever the caller runs (a CLI, vitest's
 * forked test processes, a bench), since a worker never inherits the parent's TypeScript transform:
 * - from built `.js` (dist/): the `.js` sibling of this module, no extra flags;
 * - from `.ts` sources (this repo: `node --conditions=source --import tsx`, vitest): a small eval'd bootstrap that
 *   registers tsx's ESM hooks inside the worker, then imports the `.ts` entry, with `--conditions=source` so the
 *   workspace packages resolve to their sources. `--import tsx` in a worker's `execArgv` is not enough on Node 20:
 *   the hooks it registers do not apply to the worker's own entry (ERR_UNKNOWN_FILE_EXTENSION), and a bare `tsx`
 *   specifier there resolves from the working directory, not from this package.
 * tsx is a root devDependency of the monorepo; it resolves from here through the parent node_modules.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OpenpiEdgeError } from '@openpi-edge/client';

/** The worker entries of src/inference. */
export type WorkerEntryName = 'policy-worker-entry' | 'image-prep-entry';

export interface WorkerLaunch {
  /** First argument of `new Worker`: the entry file, or the bootstrap code when `eval`. */
  readonly filename: URL | string;
  readonly eval: boolean;
  readonly execArgv: string[];
}

/** Whether this module runs from its TypeScript source (tsx, vitest) rather than compiled JavaScript. */
export const RUNNING_FROM_SOURCES = import.meta.url.endsWith('.ts');

let tsxApi: string | undefined;

/**
 * File URL of tsx's ESM-hooks API, the `import` build of its `./esm/api` export (the CommonJS build cannot
 * register the hooks from an eval'd worker: it resolves its ESM half relative to the wrong directory).
 */
function tsxApiUrl(): string {
  if (tsxApi !== undefined) return tsxApi;
  try {
    const pkgJson = createRequire(import.meta.url).resolve('tsx/package.json');
    const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as {
      exports?: Record<string, { import?: { default?: string } } | string>;
    };
    const entry = pkg.exports?.['./esm/api'];
    const rel = typeof entry === 'object' ? entry.import?.default : undefined;
    if (rel === undefined) throw new Error(`${pkgJson} has no "./esm/api" import export`);
    tsxApi = pathToFileURL(join(dirname(pkgJson), rel)).href;
  } catch (e) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `worker threads from TypeScript sources need tsx, which does not resolve from ${fileURLToPath(import.meta.url)}: ${(e as Error).message}`,
      { module: 'tsx' },
      { cause: e },
    );
  }
  return tsxApi;
}

/** How to start `name` (see the module comment). */
export function workerLaunch(name: WorkerEntryName): WorkerLaunch {
  return workerLaunchOf(new URL(`./${name}.ts`, import.meta.url));
}

/**
 * How to start the worker entry `entry`, given as the URL of its `.ts` source next to the caller
 * (`new URL('./servo-worker-entry.ts', import.meta.url)`): from compiled JavaScript its `.js` sibling is started.
 */
export function workerLaunchOf(entry: URL): WorkerLaunch {
  if (!RUNNING_FROM_SOURCES) {
    return { filename: new URL(entry.href.replace(/\.ts$/, '.js')), eval: false, execArgv: [] };
  }
  // Eval'd worker code (a script): register tsx's hooks, then import the entry through them. A failure rejects
  // the promise, which surfaces as the worker's 'error' event.
  const code = `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });\n`;
  return { filename: code, eval: true, execArgv: ['--conditions=source'] };
}
