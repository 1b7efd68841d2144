/**
 * Child script of worker-faults.test.ts, run under plain `node --conditions=source --import tsx`: loads a
 * WorkerPolicy, infers once, closes, and must then exit by itself (nothing may keep the process alive). Every
 * worker thread's start and exit is recorded by wrapping node:worker_threads' Worker before the policy module loads.
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
    this.on('exit', (code: number) => log.push(`worker exit ${code}`));
  }
}
(workerThreads as { Worker: typeof Original }).Worker = Recorded;
syncBuiltinESMExports();

const bundle = process.argv[2] as string;
const { WorkerPolicy } = await import('../../src/inference/worker-policy.js');
const { readGolden } = await import('../../src/model/golden.js');
const policy = await WorkerPolicy.load(bundle, {
  executionProviders: [{ name: 'cpu', threads: 1 }],
  seed: 0,
});
const golden = await readGolden(`${bundle}/golden.json`);
const out = await policy.infer(golden.rawObservation);
log.push(`actions ${(out.actions as { shape: number[] }).shape.join('x')}`);
await policy.close();
log.push('closed');
process.on('exit', () => console.log(JSON.stringify(log)));
