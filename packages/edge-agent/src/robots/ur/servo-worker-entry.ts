/**
 * The UR servo worker thread: owns the RTDE connection and runs the servo loop (servo-loop.ts) at the
 * controller's rate on a PreciseTicker, so the agent's control loop thread (20–50 Hz, policy chunks, cameras)
 * never delays a 2 ms cycle and a slow cycle never delays the loop. Started by servo-streamer.ts; messages in
 * servo-messages.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { setThreadNice, setThreadRealtime } from '../../inference/thread-nice.js';
import { applySafetyOverrides } from '../../safety/config.js';
import { PreciseTicker } from './precise-ticker.js';
import { RtdeClient } from './rtde/rtde-client.js';
import { CycleStats, SERVO_INPUTS, SERVO_OUTPUTS, ServoLoop } from './servo-loop.js';
import type { FromServoWorker, ServoWorkerData, ToServoWorker } from './servo-messages.js';
import { ServoShared } from './servo-shared.js';

if (parentPort === null) throw new Error('servo-worker-entry runs as a worker thread');
const port = parentPort;
const data = workerData as ServoWorkerData;
const post = (m: FromServoWorker): void => port.postMessage(m);

function errorOf(e: unknown): { code: string; message: string; context: Record<string, unknown> } {
  if (e instanceof OpenpiEdgeError) return { code: e.code, message: e.message, context: { ...e.context } };
  return { code: 'RTDE_ERROR', message: e instanceof Error ? e.message : String(e), context: {} };
}

async function main(): Promise<void> {
  // Ahead of the rest of the process where allowed (root / CAP_SYS_NICE), like ur_rtde's rt_priority.
  const nice = data.threadNice === undefined ? null : setThreadNice(data.threadNice);
  const realtime = data.realtimePriority === undefined ? false : setThreadRealtime(data.realtimePriority);
  const shared = new ServoShared(data.buffer);
  const client = await RtdeClient.connect({
    host: data.host,
    port: data.port,
    connectTimeoutMs: data.connectTimeoutMs,
  });
  const servoHz = Math.min(data.maxServoHz, client.maxFrequencyHz);
  const params = { ...data.params, steptime: 1 / servoHz };
  const outputs = await client.setupOutputs(SERVO_OUTPUTS(params.stateRegister), servoHz);
  const inputs = data.dryRun
    ? null
    : await client.setupInputs(
        SERVO_INPUTS(params.targetRegister, params.keepaliveRegister, params.modeRegister),
      );
  const safety = applySafetyOverrides(data.safety, { controlRateHz: servoHz });
  const loop = new ServoLoop({
    shared,
    safety,
    now: () => performance.now(),
    epochOffsetMs: performance.timeOrigin,
    send: inputs === null ? null : (values) => client.send(inputs, values),
    linkTimeoutMs: data.linkTimeoutMs,
    commandStaleMs: data.commandStaleMs,
  });
  client.onData((values, recipe) => {
    if (recipe.id === outputs.id) loop.applyOutputs(values);
  });
  client.onText((m) => post({ type: 'text', message: m }));
  client.onClose((error) => {
    loop.linkLost();
    if (error !== null) post({ type: 'link-lost', error: errorOf(error) });
  });
  const stats = new CycleStats(1000 / servoHz);
  const ticker = new PreciseTicker({
    periodMs: 1000 / servoHz,
    onTick: (t) => {
      loop.tick();
      stats.record(t, performance.now() - t);
    },
    onSkip: (n) => stats.skip(n),
  });
  await client.start();
  ticker.start();
  post({
    type: 'ready',
    version: client.version,
    servoHz,
    params,
    nice,
    realtime: realtime ? (data.realtimePriority ?? null) : null,
  });
  port.on('message', (m: ToServoWorker) => {
    switch (m.type) {
      case 'expect-program':
        loop.expectProgram();
        break;
      case 'clear':
        post({ type: 'cleared', id: m.id, remaining: loop.clearLatched() });
        break;
      case 'stats': {
        post({
          type: 'stats',
          id: m.id,
          stats: { ...stats.summary(), moves: loop.moves, holds: loop.holds },
        });
        if (m.reset === true) stats.reset();
        break;
      }
      case 'close':
        void ticker.stop().then(() => {
          client.close();
          post({ type: 'closed' });
          port.close();
        });
        break;
    }
  });
}

main().catch((e: unknown) => {
  post({ type: 'error', error: errorOf(e) });
});
