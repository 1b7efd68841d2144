/**
 * Soak test: does the agent's memory stay flat on a long run? Spawns the CLI on the emulated ALOHA with no step
 * limit (`edge-agent start --robot aloha --max-steps 0 --status-interval 0`, the demo π0 bundle), samples the
 * child's resident set (VmRSS in /proc/<pid>/status, Linux only) every `--interval` seconds for `--minutes`, then
 * sends SIGINT (the CLI's Ctrl-C: e-stop, hold, summary, exit 0) and waits for it to exit.
 *
 * Prints, and writes to bench/results/soak.md: RSS after the warm-up (default 1 min: model load, JIT, first
 * chunks), RSS at the end, the maximum, and the slope (MiB/hour) of a least-squares line through the samples after
 * the warm-up; the raw samples go to bench/results/soak-samples.csv. A flat agent has a slope near 0; one that keeps
 * something per step grows linearly (a number[] entry per step at 50 Hz is ~1.4 MiB/hour per array, more with
 * objects).
 *
 * Not part of `pnpm bench` (it runs for an hour by default; bench/run.ts only picks up *.bench.ts):
 *   node --conditions=source --import tsx bench/soak.ts [--minutes 60] [--interval 5] [--warmup 1] [-- <start flags>]
 * Flags after `--` are passed on to `edge-agent start` (e.g. `-- --broker sync --hz 30`). Ctrl-C ends the soak
 * early (the table covers what was sampled).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OpenpiEdgeError } from '../packages/client/src/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const MIB = 1024 * 1024;
/** Lines of the child's output kept for the report and for errors (bounded: the soak itself must not grow). */
const TAIL_LINES = 40;
/** How long the child may take to exit after SIGINT (it finishes the tick, holds, prints its summary). */
const EXIT_TIMEOUT_MS = 30_000;

interface Sample {
  /** Seconds since the child was spawned. */
  t: number;
  /** Resident set size (bytes). */
  rss: number;
}

export interface SoakResult {
  samples: Sample[];
  warmupS: number;
  durationS: number;
  exitCode: number | null;
  signal: string | null;
  /** The CLI's `summary:` line, if it printed one. */
  summary: string | undefined;
  tail: string[];
}

function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
  const v = raw === undefined ? fallback : Number(raw);
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `soak: --${name} must be a positive number, got ${raw}`, {
      [name]: raw,
    });
  }
  return v;
}

/** VmRSS of `pid` in bytes; undefined once the process is gone (no file) or a zombie (no VmRSS line). */
function readRss(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** Least-squares slope of y over x (units of y per unit of x); NaN with fewer than two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

/** Keeps the last TAIL_LINES lines of a stream. */
function collectTail(stream: NodeJS.ReadableStream | null, into: string[]): void {
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    into.push(...lines);
    if (into.length > TAIL_LINES) into.splice(0, into.length - TAIL_LINES);
  });
  stream?.on('end', () => {
    if (partial !== '') into.push(partial);
    if (into.length > TAIL_LINES) into.splice(0, into.length - TAIL_LINES);
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Runs the agent for `durationS` seconds, sampling its RSS every `intervalS` seconds (on an absolute schedule, so
 * sampling delays do not accumulate). `stop` ends the sampling early. Rejects with WORKER_CRASHED when the agent
 * exits before it is told to, and WORKER_HUNG when it does not exit within 30 s of SIGINT (it is killed then).
 */
export async function soak(opts: {
  durationS: number;
  intervalS: number;
  warmupS: number;
  agentArgs: readonly string[];
  stop?: AbortSignal;
}): Promise<SoakResult> {
  const args = [
    '--conditions=source',
    '--import',
    'tsx',
    'packages/edge-agent/src/cli/main.ts',
    'start',
    '--robot',
    'aloha',
    '--max-steps',
    '0',
    '--status-interval',
    '0',
    ...opts.agentArgs,
  ];
  // process.execPath directly (not through pnpm or a shell), so child.pid is the agent's own process.
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  collectTail(child.stdout, tail);
  collectTail(child.stderr, tail);
  const exit = exited(child);
  let gone = false;
  void exit.then(() => {
    gone = true;
  });
  const pid = child.pid;
  if (pid === undefined) {
    throw new OpenpiEdgeError('WORKER_CRASHED', 'soak: could not spawn the agent', {
      command: process.execPath,
      args,
    });
  }
  const samples: Sample[] = [];
  const t0 = performance.now();
  const crashed = async (): Promise<never> => {
    const { code, signal } = await exit;
    throw new OpenpiEdgeError(
      'WORKER_CRASHED',
      `soak: the agent exited on its own after ${((performance.now() - t0) / 1000).toFixed(0)} s (code ${code}, signal ${signal})`,
      { exitCode: code, signal, samples: samples.length, outputTail: tail.join('\n') },
    );
  };
  for (let k = 0; ; k++) {
    const due = t0 + k * opts.intervalS * 1000;
    if (due - t0 > opts.durationS * 1000 || opts.stop?.aborted) break;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait, undefined, opts.stop ? { signal: opts.stop } : {}).catch(() => {});
    if (opts.stop?.aborted) break;
    const rss = gone ? undefined : readRss(pid);
    if (rss === undefined) return crashed();
    samples.push({ t: (performance.now() - t0) / 1000, rss });
  }
  if (gone) return crashed();
  child.kill('SIGINT');
  const timeout = sleep(EXIT_TIMEOUT_MS).then(() => 'timeout' as const);
  const outcome = await Promise.race([exit, timeout]);
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exit;
    throw new OpenpiEdgeError('WORKER_HUNG', 'soak: the agent did not exit after SIGINT and was killed', {
      op: 'SIGINT',
      timeoutMs: EXIT_TIMEOUT_MS,
      outputTail: tail.join('\n'),
    });
  }
  // let the pipes drain so the summary line is in the tail
  await sleep(100);
  return {
    samples,
    warmupS: opts.warmupS,
    durationS: (samples.at(-1)?.t ?? 0) - (samples[0]?.t ?? 0),
    exitCode: outcome.code,
    signal: outcome.signal,
    summary: [...tail].reverse().find((l) => l.startsWith('summary:')),
    tail,
  };
}

const mib = (bytes: number | undefined): string =>
  bytes === undefined ? 'n/a' : `${(bytes / MIB).toFixed(1)} MiB`;
const minutes = (s: number): string => `${(s / 60).toFixed(1)} min`;

/** The result table (markdown). */
export function table(r: SoakResult): string[] {
  const after = r.samples.filter((s) => s.t >= r.warmupS);
  const atWarmup = after[0];
  const last = r.samples.at(-1);
  const max = r.samples.reduce<Sample | undefined>(
    (m, s) => (m === undefined || s.rss > m.rss ? s : m),
    undefined,
  );
  const perHour = slope(after.map((s) => ({ x: s.t / 3600, y: s.rss / MIB })));
  // The same fit over the second half only: V8 grows and shrinks its heap in steps (a sawtooth of tens of MiB),
  // and one step early in a short run can dominate the whole fit; two slopes that agree are more telling.
  const half = (r.warmupS + (last?.t ?? 0)) / 2;
  const perHourLate = slope(after.filter((s) => s.t >= half).map((s) => ({ x: s.t / 3600, y: s.rss / MIB })));
  const perHourText = (v: number): string =>
    Number.isNaN(v) ? 'n/a (fewer than 2 samples)' : `${v >= 0 ? '+' : ''}${v.toFixed(1)} MiB/hour`;
  const rows: [string, string][] = [
    [
      `RSS at ${minutes(r.warmupS)}`,
      atWarmup === undefined ? 'n/a (run shorter than the warm-up)' : mib(atWarmup.rss),
    ],
    ['RSS at the end', last === undefined ? 'n/a' : `${mib(last.rss)} (at ${minutes(last.t)})`],
    ['RSS max', max === undefined ? 'n/a' : `${mib(max.rss)} (at ${minutes(max.t)})`],
    [`slope after ${minutes(r.warmupS)} (least squares)`, perHourText(perHour)],
    [`slope after ${minutes(half)} (second half)`, perHourText(perHourLate)],
    ['samples (after warm-up)', `${r.samples.length} (${after.length})`],
    ['agent exit', `code ${r.exitCode}${r.signal === null ? '' : `, signal ${r.signal}`}`],
    ['agent summary', r.summary ?? 'none printed'],
  ];
  const w0 = Math.max(6, ...rows.map(([k]) => k.length));
  const w1 = Math.max(5, ...rows.map(([, v]) => v.length));
  return [
    `| ${'metric'.padEnd(w0)} | ${'value'.padEnd(w1)} |`,
    `|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|`,
    ...rows.map(([k, v]) => `| ${k.padEnd(w0)} | ${v.padEnd(w1)} |`),
  ];
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      minutes: { type: 'string' },
      interval: { type: 'string' },
      warmup: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(
      'usage: node --conditions=source --import tsx bench/soak.ts [--minutes 60] [--interval 5] [--warmup 1] [-- <edge-agent start flags>]\n' +
        '  --minutes   how long the agent runs (default 60)\n' +
        '  --interval  seconds between RSS samples (default 5)\n' +
        '  --warmup    minutes left out of the slope (default 1)',
    );
    return 0;
  }
  const durationS = positiveNumber('minutes', values.minutes, 60) * 60;
  const intervalS = positiveNumber('interval', values.interval, 5);
  const warmupS = (values.warmup === undefined ? 1 : Number(values.warmup)) * 60;
  if (!(warmupS >= 0) || !Number.isFinite(warmupS)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `soak: --warmup must be >= 0 minutes, got ${values.warmup}`, {
      warmup: values.warmup,
    });
  }
  if (process.platform !== 'linux') {
    throw new OpenpiEdgeError(
      'CONFIG_MISMATCH',
      'soak: RSS is read from /proc/<pid>/status, which needs Linux',
      {
        what: 'platform',
        expected: 'linux',
        got: process.platform,
      },
    );
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const command =
    `edge-agent start --robot aloha --max-steps 0 --status-interval 0 ${positionals.join(' ')}`.trim();
  console.log(`soak: ${command} for ${minutes(durationS)}, RSS every ${intervalS} s (Ctrl-C ends early)`);
  const result = await soak({ durationS, intervalS, warmupS, agentArgs: positionals, stop: stop.signal });
  const lines = [
    `# openpi-edge soak (${new Date().toISOString()}, node ${process.version})`,
    '',
    `\`${command}\`, ${minutes(result.durationS)} sampled every ${intervalS} s; RSS = VmRSS of the agent process.`,
    '',
    ...table(result),
  ];
  const text = lines.join('\n');
  console.log(`\n${text}`);
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'soak.md'), `${text}\n`);
  writeFileSync(
    join(dir, 'soak-samples.csv'),
    `t_s,rss_mib\n${result.samples.map((s) => `${s.t.toFixed(1)},${(s.rss / MIB).toFixed(2)}`).join('\n')}\n`,
  );
  console.log(`\nwrote ${join('bench', 'results', 'soak.md')} and soak-samples.csv`);
  return result.exitCode === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof OpenpiEdgeError) {
        console.error(`soak: ${e.code}: ${e.message}`);
        const tail = e.context.outputTail;
        if (typeof tail === 'string' && tail !== '')
          console.error(`--- agent output (last lines) ---\n${tail}`);
      } else console.error(e);
      process.exitCode = 1;
    },
  );
}
