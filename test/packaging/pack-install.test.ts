/**
 * The packages as a user outside this repo gets them: `pnpm pack` of each workspace package (its `prepack` builds
 * dist/), `npm install` of the three tarballs into a fresh folder outside the workspace (with
 * ONNXRUNTIME_NODE_INSTALL=skip, the setting the README documents for machines that cannot reach onnxruntime's
 * download host), then from that folder only:
 * - every public entry point imports from plain ESM (`node`, no tsx, no `source` condition);
 * - a small consumer TypeScript file type-checks against the installed `.d.ts` files with `skipLibCheck: false`,
 *   and a browser consumer of the client's root entry type-checks with the DOM library and no Node types at all;
 * - a robot app runs the agent (emulated ALOHA, the bundled demo model in its inference worker) on them;
 * - the installed `edge-agent` bin runs from dist/ (`--help`, then `serve` on the bundled demo model, answered by
 *   openpi's own Python client from .venv).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServeProcess } from '../serve-process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = join(root, '.venv', 'bin', 'python');
const driver = join(root, 'test', 'python', 'openpi_edge_serve_driver.py');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const run = promisify(execFile);
const PACKAGES = ['client', 'runtime', 'edge-agent'] as const;

/** A folder outside the workspace (no parent node_modules can leak workspace packages into resolution). */
let work: string;
let app: string;

async function sh(cmd: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}) {
  try {
    return await run(cmd, args, {
      cwd,
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...env },
    });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${err.stdout}\n${err.stderr}`,
    );
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'openpi-edge-pack-'));
  const packs = join(work, 'packs');
  await mkdir(packs);
  for (const p of PACKAGES) {
    await sh('pnpm', ['pack', '--pack-destination', packs], join(root, 'packages', p), 180_000);
  }
  const tarballs = (await readdir(packs)).filter((f) => f.endsWith('.tgz')).sort();
  expect(tarballs).toEqual([
    'openpi-edge-client-0.1.0.tgz',
    'openpi-edge-edge-agent-0.1.0.tgz',
    'openpi-edge-runtime-0.1.0.tgz',
  ]);
  app = join(work, 'robot-app');
  await mkdir(app);
  const dep = (name: string) => `file:${join(packs, `openpi-edge-${name}-0.1.0.tgz`)}`;
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'robot-app',
      private: true,
      type: 'module',
      dependencies: {
        '@openpi-edge/client': dep('client'),
        '@openpi-edge/runtime': dep('runtime'),
        '@openpi-edge/edge-agent': dep('edge-agent'),
      },
      // edge-agent's own dependency on client/runtime 0.1.0 must take these tarballs, never the registry.
      overrides: {
        '@openpi-edge/client': '$@openpi-edge/client',
        '@openpi-edge/runtime': '$@openpi-edge/runtime',
      },
    }),
  );
  await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app, 600_000, {
    ONNXRUNTIME_NODE_INSTALL: 'skip',
  });
}, 900_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('the packed packages installed with npm outside the workspace', () => {
  it('ship dist/ with JS, declarations and source maps, and no build info', async () => {
    for (const p of PACKAGES) {
      const dir = join(app, 'node_modules', '@openpi-edge', p);
      const files = await readdir(join(dir, 'dist'), { recursive: true });
      expect(files).toContain('index.js');
      expect(files).toContain('index.d.ts');
      expect(files).toContain('index.js.map');
      expect(files.some((f) => f.endsWith('.tsbuildinfo'))).toBe(false);
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      for (const spec of Object.values(pkg.dependencies ?? {})) expect(spec).not.toMatch(/^workspace:/);
    }
  });

  it('import from plain ESM: every public entry point, and a codec round trip', async () => {
    const script = `
      const client = await import('@openpi-edge/client');
      const node = await import('@openpi-edge/client/node');
      const runtime = await import('@openpi-edge/runtime');
      const agent = await import('@openpi-edge/edge-agent');
      const robot = await import('@openpi-edge/edge-agent/robot');
      const a = client.ndarray('float32', [2], new Float32Array([1.5, -2]));
      const back = client.unpackNumpy(client.packNumpy({ a }));
      console.log(JSON.stringify({
        client: typeof client.WebsocketClientPolicy,
        server: typeof node.WebsocketPolicyServer,
        resize: typeof node.resizeWithPad,
        runtime: typeof runtime.Runtime,
        agentKeys: Object.keys(agent).length,
        robotKeys: Object.keys(robot).length,
        roundTrip: Array.from(back.a.data),
        conditions: process.execArgv,
      }));`;
    await writeFile(join(app, 'imports.mjs'), script);
    const { stdout } = await sh(process.execPath, ['imports.mjs'], app, 60_000);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      client: 'function',
      server: 'function',
      resize: 'function',
      runtime: 'function',
      roundTrip: [1.5, -2],
      conditions: [],
    });
    expect(out.agentKeys as number).toBeGreaterThan(20);
    expect(out.robotKeys as number).toBeGreaterThan(5);
  });

  it('run a robot app on the installed packages: the agent on the emulated ALOHA with the bundled demo model', async () => {
    // The model runs in the agent's inference worker, so this also starts worker threads from the installed dist/.
    await writeFile(
      join(app, 'robot-app.mjs'),
      `import { EdgeAgent, resolveConfig } from '@openpi-edge/edge-agent';
const config = resolveConfig({}, { robot: 'aloha', maxSteps: 40, prompt: 'pick up the cube' });
const agent = await EdgeAgent.create(config);
try {
  const s = await agent.run();
  console.log(JSON.stringify({ steps: s.run.totalSteps, inferences: s.inferences, moves: s.gate.moves,
    failures: s.policyFailures, estop: s.estop }));
} finally {
  await agent.close();
}
`,
    );
    const { stdout } = await sh(process.execPath, ['robot-app.mjs'], app, 120_000);
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    expect(out.steps).toBe(40);
    expect(out.inferences as number).toBeGreaterThanOrEqual(1);
    expect(out.moves as number).toBeGreaterThan(0);
    expect(out.failures).toBe(0);
    expect(out.estop).toBeNull();
  }, 180_000);

  it('type-check a Node consumer and a browser consumer against the installed declarations', async () => {
    await writeFile(
      join(app, 'consumer.ts'),
      `import { ActionChunkBroker, type BasePolicy, type Obs, ndarray, packNumpy, WebsocketClientPolicy } from '@openpi-edge/client';
import { resizeWithPad, WebsocketPolicyServer } from '@openpi-edge/client/node';
import { Runtime } from '@openpi-edge/runtime';
import * as agent from '@openpi-edge/edge-agent';
import * as robot from '@openpi-edge/edge-agent/robot';

class Zero implements BasePolicy {
  async infer(_obs: Obs): Promise<Obs> {
    return { actions: ndarray('float32', [10, 14], new Float32Array(140)) };
  }
  reset(): void {}
}
const broker = new ActionChunkBroker(new Zero(), 5);
const server = new WebsocketPolicyServer(new Zero(), { port: 0 });
const client = new WebsocketClientPolicy({ host: '127.0.0.1', port: 1 });
const bytes: Uint8Array = packNumpy({ x: 1 });
const img = resizeWithPad(ndarray('uint8', [2, 2, 3], new Uint8Array(12)), 4, 4);
// @ts-expect-error the installed types are strict: a string is not a policy
new ActionChunkBroker('not a policy', 5);
export { agent, broker, bytes, client, img, robot, Runtime, server };
`,
    );
    await writeFile(
      join(app, 'browser.ts'),
      `import { type Obs, unpackNumpy, WebsocketClientPolicy } from '@openpi-edge/client';
const policy = new WebsocketClientPolicy({ host: location.hostname, port: 8000 });
export async function once(obs: Obs): Promise<unknown> {
  const reply = await policy.infer(obs);
  return unpackNumpy(new Uint8Array(0)) ?? reply;
}
`,
    );
    const base = {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      noEmit: true,
    };
    await writeFile(
      join(app, 'tsconfig.node.json'),
      JSON.stringify({
        compilerOptions: {
          ...base,
          // onnxruntime-common's own declarations (reached through the model types edge-agent exports) name DOM
          // types such as ImageBitmap, so a consumer that checks libraries needs the DOM lib beside Node's.
          lib: ['ES2023', 'DOM'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    await writeFile(
      join(app, 'tsconfig.browser.json'),
      JSON.stringify({
        compilerOptions: { ...base, lib: ['ES2023', 'DOM'], types: [] },
        files: ['browser.ts'],
      }),
    );
    await sh(process.execPath, [tsc, '-p', 'tsconfig.node.json'], app, 180_000);
    await sh(process.execPath, [tsc, '-p', 'tsconfig.browser.json'], app, 180_000);
  }, 400_000);

  it('run the installed edge-agent bin from dist/: --help, and serve answered by openpi-client', async () => {
    const bin = join(app, 'node_modules', '.bin', 'edge-agent');
    const help = await sh(bin, ['--help'], app, 60_000);
    expect(help.stdout).toContain('usage: edge-agent <command>');
    expect(help.stdout).toContain('serve');

    const served = await startServeProcess(bin, ['serve', '--port', '0', '--seed', '1'], {
      cwd: app,
      env: { ...process.env, EDGE_AGENT_FROM: '' },
    });
    try {
      const port = served.port;
      expect(port).toBeGreaterThan(0);
      // Ran from the installed dist/, not through tsx.
      const ps = await readFile(`/proc/${served.proc.pid}/cmdline`, 'utf8');
      expect(ps).not.toContain('tsx');
      const { stdout } = await sh(
        python,
        [driver, 'layout', '--layout', 'aloha', '--n', '2', '--port', String(port)],
        root,
        120_000,
      );
      const out = JSON.parse(stdout) as { replies: { shape: number[] | null; finite: boolean }[] };
      expect(out.replies).toHaveLength(2);
      for (const r of out.replies) {
        expect(r.shape).toEqual([50, 14]);
        expect(r.finite).toBe(true);
      }
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 180_000);
});
