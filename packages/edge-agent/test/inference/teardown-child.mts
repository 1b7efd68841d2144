/**
 * Child script of worker-teardown.test.ts, run under plain `node --conditions=source --import tsx`: stops a policy
 * worker while it runs a long chunk (the demo bundle with many Euler steps: ~400 short onnxruntime runs), in one of
 * three ways, then lets the process end. Before the native-call guard, each of them aborted the process most of
 * the time (`terminate called after throwing an instance of 'Napi::Error'`). Prints the recorded events (every
 * worker thread's start and exit, as close-child.mts) as one JSON line at exit.
 *   hang   hangTimeoutMs fires mid-chunk: WORKER_HUNG, the thread is stopped, a new one starts; close
 *   close  close() with a short closeGraceMs mid-chunk
 *   exit   process.exit(0) on this thread mid-chunk
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

const workerThreads = createRequire(import.meta.url)(
  'node:worker_threads',
) as typeof import('node:worker_threads');
const log: string[] = [];
const Original = workerThreads.Worker;
class Recorded extends Original {
  constructor(...args: ConstructorParameters<typeof Original>) {
    super(...args);
    log.push('worker start');
    this.on('exit', () => log.push('worker exit'));
  }
}
(workerThreads as { Worker: typeof Original }).Worker = Recorded;
syncBuiltinESMExports();

const [mode, bundle] = process.argv.slice(2) as [string, string];
const { WorkerPolicy } = await import('../../src/inference/worker-policy.js');
const { readGolden } = await import('../../src/model/golden.js');
const golden = await readGolden(`${bundle}/golden.json`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => String((e as { code?: string }).code ?? e),
  );
process.on('exit', () => console.log(JSON.stringify(log)));

const policy = await WorkerPolicy.load(bundle, {
  executionProviders: [{ name: 'cpu', threads: 1 }],
  seed: 0,
  warmup: false,
  numSteps: 400,
  hangTimeoutMs: mode === 'hang' ? 400 : 60_000,
  closeGraceMs: mode === 'close' ? 50 : 2_000,
  onEvent: (e) => log.push(e.type),
});
const inflight = codeOf(policy.infer(golden.rawObservation));
if (mode === 'hang') {
  log.push(`infer ${await inflight}`);
  while (!log.includes('restarted')) await sleep(20);
  await policy.close();
  log.push('closed');
} else if (mode === 'close') {
  await sleep(300);
  await policy.close();
  log.push(`infer ${await inflight}`);
  log.push('closed');
} else {
  await sleep(300);
  process.exit(0);
}
