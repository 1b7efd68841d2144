/**
 * `edge-agent serve --bundle <dir> [--host 127.0.0.1] [--port 8000] ...`: serves a bundle over openpi's protocol.
 * A non-loopback `--host` needs `--api-key` or `--allow-unauthenticated`: exposing an open server is deliberate.
 * Once listening it prints one line on stdout, `listening on ws://<host>:<port> port=<port>`, for scripts and tests;
 * the provider report goes to stdout before it, warnings to stderr. SIGINT/SIGTERM close it cleanly.
 * The model runs in a worker thread (WorkerPolicy): crashes, hangs and restarts are reported on stderr.
 * `--record <dir>` saves each request and reply as openpi's `serve_policy.py --record` does (`<dir>/step_<n>.npy`,
 * see PolicyRecorder); a `recording ... to <dir>` line comes before the listening line, counts on shutdown.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { type ProviderConfig, parseProviderList } from '../model/execution-providers.js';
import { ORT_PATH_ENV } from '../model/ort-binding.js';
import { RTC_SCHEDULES, type RtcSchedule } from '../model/rtc.js';
import { formatRecorderStats } from '../server/policy-recorder.js';
import { serveBundle } from '../server/serve-bundle.js';
import { numberFlag } from './flags.js';
import type { CliCommand } from './main.js';

/** The committed demo bundle (tiny random-weight π0, ALOHA): the default model. */
export const DEFAULT_BUNDLE = fileURLToPath(new URL('../../assets/demo-bundle-pi0', import.meta.url));

const HELP = `usage: edge-agent serve [options]

Serves a model bundle over openpi's websocket protocol (openpi clients work unchanged).

  --bundle <dir>          bundle directory (default: the demo π0 bundle, ${DEFAULT_BUNDLE})
  --host <addr>           interface to bind (default 127.0.0.1; 0.0.0.0 = every interface, as openpi's
                          serve_policy.py, needs --api-key or --allow-unauthenticated)
  --allow-unauthenticated serve a non-loopback address without --api-key (anyone on the network can connect)
  --max-message-mb <n>    largest incoming message, MiB; a bigger one closes that connection (default 64; 0 =
                          unlimited, like openpi)
  --error-detail <d>      error frames carry a traceback (default, like openpi) or only the message (no
                          source paths): traceback | message
  --port <n>              TCP port, 0 = any free port (default 8000)
  --handshake-timeout-s <s>  close a TCP connection that has not completed the websocket handshake in this
                          long (default 10)
  --idle-timeout-s <s>    close a connection that sends no request for this long, counted from its last reply
                          (default 0 = never: openpi's client does not reconnect after a close)
  --providers <list>      execution providers in priority order (default tensorrt,cuda,cpu;
                          env OPENPI_EDGE_PROVIDERS)
  --device-id <n>         CUDA/TensorRT device (default 0)
  --threads <n>           CPU intra-op threads, 0 = onnxruntime's choice (default 0)
  --trt-fp16 / --no-trt-fp16   TensorRT fp16 engines (default on)
  --trt-cache <dir>       TensorRT engine + timing cache directory (default none)
  --ort-path <path>       onnxruntime Node package with GPU providers (default $${ORT_PATH_ENV},
                          else the npm onnxruntime-node, CPU only)
  --num-steps <n>         Euler steps per chunk (default: the manifest's)
  --seed <n>              noise seed (default random)
  --rtc <mode>            requests carrying an 'rtc' entry (real-time chunking, docs/rtc.md): auto (default:
                          guidance when the bundle has the graph, else inpaint) | guidance | inpaint | off (ignore)
  --rtc-schedule <s>      soft mask over the overlap: exp (default) | linear | ones | zeros
  --rtc-max-guidance <b>  cap on the guidance weight (default 5)
  --api-key <key>         require 'Authorization: Api-Key <key>' (default none, like openpi)
  --no-warmup             skip the warm-up chunk
  --hang-timeout-ms <n>   a chunk not computed within this time restarts the policy worker (default 30000)
  --record <dir>          save every request and reply as <dir>/step_<n>.npy, like openpi's serve_policy.py
                          --record (created if needed; numbering continues after the highest step file there).
                          Python: np.load(path, allow_pickle=True).item() -> {"inputs/...": ..., "outputs/...": ...}
  -h, --help`;

/** Whether `host` binds only this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Applies the per-provider CLI flags to the parsed provider list. */
function withFlags(
  providers: ProviderConfig[],
  f: { deviceId?: number; threads?: number; fp16?: boolean; trtCache?: string },
): ProviderConfig[] {
  return providers.map((p) => {
    switch (p.name) {
      case 'cpu':
        return f.threads === undefined ? p : { ...p, threads: f.threads };
      case 'cuda':
        return f.deviceId === undefined ? p : { ...p, deviceId: f.deviceId };
      default:
        return {
          ...p,
          ...(f.deviceId === undefined ? {} : { deviceId: f.deviceId }),
          ...(f.fp16 === undefined ? {} : { fp16: f.fp16 }),
          ...(f.trtCache === undefined ? {} : { engineCacheDir: f.trtCache, timingCacheDir: f.trtCache }),
        };
    }
  });
}

export const serveCommand: CliCommand = {
  summary: 'serve a model bundle over the openpi websocket protocol',
  async run(argv) {
    let values: ReturnType<typeof parse>['values'];
    function parse(a: string[]) {
      return parseArgs({
        args: a,
        allowPositionals: false,
        options: {
          bundle: { type: 'string' },
          host: { type: 'string' },
          port: { type: 'string' },
          providers: { type: 'string' },
          'device-id': { type: 'string' },
          threads: { type: 'string' },
          'trt-fp16': { type: 'boolean' },
          'no-trt-fp16': { type: 'boolean' },
          'trt-cache': { type: 'string' },
          'ort-path': { type: 'string' },
          'num-steps': { type: 'string' },
          seed: { type: 'string' },
          rtc: { type: 'string' },
          'rtc-schedule': { type: 'string' },
          'rtc-max-guidance': { type: 'string' },
          'api-key': { type: 'string' },
          'allow-unauthenticated': { type: 'boolean' },
          'max-message-mb': { type: 'string' },
          'error-detail': { type: 'string' },
          'handshake-timeout-s': { type: 'string' },
          'idle-timeout-s': { type: 'string' },
          'no-warmup': { type: 'boolean' },
          'hang-timeout-ms': { type: 'string' },
          record: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    }
    try {
      values = parse(argv).values;
    } catch (e) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `${(e as Error).message}\n\n${HELP}`, {});
    }
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    const deviceId = numberFlag('device-id', values['device-id'], { min: 0, integer: true });
    const threads = numberFlag('threads', values.threads, { min: 0, integer: true });
    const numSteps = numberFlag('num-steps', values['num-steps'], { min: 1, integer: true });
    const seed = numberFlag('seed', values.seed, { min: 0, integer: true });
    const port = numberFlag('port', values.port, { min: 0, integer: true }) ?? 8000;
    const hangTimeoutMs = numberFlag('hang-timeout-ms', values['hang-timeout-ms'], { min: 1, integer: true });
    const fp16 = values['no-trt-fp16'] === true ? false : values['trt-fp16'] === true ? true : undefined;
    const providers = withFlags(
      parseProviderList(values.providers ?? process.env.OPENPI_EDGE_PROVIDERS ?? 'tensorrt,cuda,cpu'),
      {
        ...(deviceId === undefined ? {} : { deviceId }),
        ...(threads === undefined ? {} : { threads }),
        ...(fp16 === undefined ? {} : { fp16 }),
        ...(values['trt-cache'] === undefined ? {} : { trtCache: values['trt-cache'] }),
      },
    );
    const host = values.host ?? '127.0.0.1';
    if (!isLoopback(host) && values['api-key'] === undefined && values['allow-unauthenticated'] !== true) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `--host ${host} exposes the policy server beyond this machine without a key: add --api-key <key> ` +
          '(clients send Authorization: Api-Key <key>), or --allow-unauthenticated to accept anyone who can reach ' +
          'the port (openpi serve_policy.py does)',
        { option: 'host', host },
      );
    }
    const maxMb = numberFlag('max-message-mb', values['max-message-mb'], { min: 0 }) ?? 64;
    const handshakeS = numberFlag('handshake-timeout-s', values['handshake-timeout-s'], { min: 0.001 });
    const idleS = numberFlag('idle-timeout-s', values['idle-timeout-s'], { min: 0 });
    const errorDetail = values['error-detail'];
    if (errorDetail !== undefined && errorDetail !== 'traceback' && errorDetail !== 'message') {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `--error-detail must be traceback or message, got '${errorDetail}'`,
        {
          option: 'error-detail',
        },
      );
    }
    if (values.record !== undefined && values.record.trim() === '') {
      throw new OpenpiEdgeError('BAD_ARGUMENT', '--record needs a directory', { option: 'record' });
    }
    const rtcMode = values.rtc ?? 'auto';
    if (!['auto', 'off', 'guidance', 'inpaint'].includes(rtcMode)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `--rtc must be auto, off, guidance or inpaint, got '${rtcMode}'`,
        {
          option: 'rtc',
        },
      );
    }
    const rtcSchedule = values['rtc-schedule'] ?? 'exp';
    if (!(RTC_SCHEDULES as readonly string[]).includes(rtcSchedule)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `--rtc-schedule must be one of ${RTC_SCHEDULES.join(', ')}, got '${rtcSchedule}'`,
        { option: 'rtc-schedule' },
      );
    }
    const rtcMaxGuidance = numberFlag('rtc-max-guidance', values['rtc-max-guidance'], { min: 0 });
    const serving = await serveBundle({
      bundle: values.bundle ?? DEFAULT_BUNDLE,
      host,
      port,
      executionProviders: providers,
      ...(values['ort-path'] === undefined ? {} : { ortModulePath: values['ort-path'] }),
      ...(numSteps === undefined ? {} : { numSteps }),
      ...(seed === undefined ? {} : { seed }),
      loadGuidance: rtcMode === 'auto' || rtcMode === 'guidance',
      rtc: {
        ...(rtcMode === 'auto' ? {} : { mode: rtcMode as 'off' | 'guidance' | 'inpaint' }),
        schedule: rtcSchedule as RtcSchedule,
        ...(rtcMaxGuidance === undefined ? {} : { maxGuidance: rtcMaxGuidance }),
      },
      ...(values['no-warmup'] === true ? { warmup: false } : {}),
      ...(hangTimeoutMs === undefined ? {} : { hangTimeoutMs }),
      ...(values.record === undefined ? {} : { record: values.record }),
      server: {
        ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
        ...(maxMb === 0 ? {} : { maxMessageBytes: Math.floor(maxMb * 2 ** 20) }),
        ...(errorDetail === undefined ? {} : { errorDetail }),
        ...(handshakeS === undefined ? {} : { handshakeTimeoutMs: Math.ceil(handshakeS * 1000) }),
        ...(idleS === undefined ? {} : { idleTimeoutMs: Math.ceil(idleS * 1000) }),
      },
      onEvent: (e) => {
        if (e.type === 'restarted')
          console.warn(`[openpi-edge] policy worker restarted (${e.restarts} so far)`);
        else console.warn(`[openpi-edge] policy worker ${e.type}: ${e.error.message}`);
      },
    });
    const r = serving.policy.report;
    const m = serving.policy.manifest;
    console.log(
      `model ${m.model_type} ${serving.policy.dir} (robot ${m.robot.kind}, H=${m.action_horizon}, num_steps=${numSteps ?? m.num_steps})`,
    );
    console.log(
      `execution provider ${r.provider.name}` +
        (r.fallbacks.length > 0
          ? ` (fell back from ${r.fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ')})`
          : '') +
        `; onnxruntime ${r.ort.version} from ${r.ort.source}; sessions ${r.sessionMs.toFixed(0)} ms` +
        (r.warmupMs === null ? '' : `; warm-up ${r.warmupMs.toFixed(1)} ms`),
    );
    const recorder = serving.recorder;
    if (recorder !== undefined) {
      console.log(
        `recording requests and replies to ${recorder.dir} (step_<n>.npy, from step_${recorder.stats.firstStep}.npy)`,
      );
    }
    console.log(`listening on ${serving.address.url} port=${serving.address.port}`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        console.log(`${signal}: shutting down`);
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        resolve();
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    });
    await serving.close();
    if (recorder !== undefined) console.log(formatRecorderStats(recorder.stats));
    return 0;
  },
};
