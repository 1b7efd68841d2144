/**
 * The MCAP recorder's worker thread (see mcap-recorder.ts): owns the file, the `@mcap/core` writer, the JPEG
 * encoding and, with `--foxglove-port`, the Foxglove WebSocket live view (live/foxglove-server.ts), which gets
 * every message written (the same topics, schemas and JSON) while a viewer subscribes, and with `--status-port` the
 * status page (live/status-page-server.ts), which gets the same messages as objects (no JSON) while a page is
 * connected and posts its e-stop requests back ('estop-request'); any sink may be absent. Messages from the loop are
 * handled one at a time in arrival order (the writer needs its calls serialized), so each topic's log times are written in order. The file is written with blocking `writeSync` calls
 * on this thread: every completed MCAP chunk is in the OS's hands as soon as it is written, and ending the file at
 * process exit needs no event-loop turn of the main thread.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { type IWritable, McapWriter } from '@mcap/core';
import { OpenpiEdgeError } from '@openpi-edge/client';
import { resizedSize } from '@openpi-edge/client/node';
import sharp from 'sharp';
import { setThreadNice } from '../inference/thread-nice.js';
import type { CameraFrame } from '../io/cameras/camera-source.js';
import { frameToRgb } from '../io/cameras/frame-convert.js';
import { FoxgloveServer } from '../live/foxglove-server.js';
import { StatusPageServer } from '../live/status-page-server.js';
import { DatasetSink } from './dataset-sink.js';
import { type DatasetWriteResult, LeRobotDatasetWriter } from './lerobot-dataset-writer.js';
import {
  type CameraUpdate,
  type FromRecorder,
  faultCodesOf,
  type LoopSideStats,
  type RecorderInit,
  type RecorderResult,
  TICK,
  TICK_HEADER,
  TOPICS,
  type ToRecorder,
  tickLength,
} from './mcap-protocol.js';
import {
  COMPRESSED_IMAGE_SCHEMA,
  ESTOP_SCHEMA,
  FAULTS_SCHEMA,
  GATE_DECISION_SCHEMA,
  JOINT_STATES_SCHEMA,
  LOOP_EVENT_SCHEMA,
  LOOP_TIMING_SCHEMA,
  POLICY_CHUNK_SCHEMA,
  RESET_DECISION_SCHEMA,
} from './mcap-schemas.js';

/** An MCAP output on a file descriptor, written synchronously. */
class SyncFileWritable implements IWritable {
  readonly #fd: number;
  #position = 0n;
  bytes = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  async write(buffer: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buffer.byteLength) off += writeSync(this.#fd, buffer, off, buffer.byteLength - off);
    this.#position += BigInt(buffer.byteLength);
    this.bytes += buffer.byteLength;
  }

  position(): bigint {
    return this.#position;
  }
}

interface Time {
  sec: number;
  nsec: number;
}

const init = workerData as RecorderInit;
const port = parentPort;
const encoder = new TextEncoder();
const done = new Int32Array(init.doneFlag);
/** The live view's address once it listens. */
let liveUrl: string | null = null;
/** The status page's address once it listens. */
let statusUrl: string | null = null;

function post(m: FromRecorder): void {
  port?.postMessage(m);
}

/** Agent-clock ms -> Foxglove time (epoch). */
function timeOf(ms: number): Time {
  const epoch = init.clockOriginMs + (Number.isFinite(ms) ? ms : 0);
  let sec = Math.floor(epoch / 1000);
  let nsec = Math.round((epoch - sec * 1000) * 1e6);
  if (nsec >= 1e9) {
    sec += 1;
    nsec -= 1e9;
  }
  return { sec: Math.max(0, sec), nsec: Math.max(0, nsec) };
}

const nsOf = (t: Time): bigint => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);

/** NaN / infinities as null (what JSON.stringify would write anyway). */
const num = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);

/** The shortest decimal that reads back as the same float32 (at most 9 significant digits). */
function shortestFloat32(v: number): number {
  for (let p = 1; p < 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === v) return x;
  }
  return Number(v.toPrecision(9));
}

class Recording {
  /** Null without a file (live view only). */
  readonly writer: McapWriter | null;
  readonly out: SyncFileWritable | null;
  readonly fd: number | null;
  readonly live: FoxgloveServer | null;
  readonly status: StatusPageServer | null;
  /** topic -> MCAP channel id (-1 without a file). */
  readonly channels = new Map<string, number>();
  /** topic -> Foxglove channel id. */
  readonly liveChannels = new Map<string, number>();
  readonly counts = new Map<string, number>();
  readonly sequence = new Map<number, number>();
  framesWritten = 0;
  frameErrors = 0;
  chunks = 0;
  firstMs = Number.NaN;
  lastMs = Number.NaN;

  constructor(fd: number | null, live: FoxgloveServer | null, status: StatusPageServer | null) {
    this.fd = fd;
    this.live = live;
    this.status = status;
    this.out = fd === null ? null : new SyncFileWritable(fd);
    this.writer =
      this.out === null
        ? null
        : new McapWriter({ writable: this.out, chunkSize: init.chunkBytes, useChunks: true });
  }

  /**
   * Whether a message on `topic` goes anywhere now: a file, a live viewer subscribed to it, a connected status
   * page, or (status page on) the decisions and e-stop events the page's hold measurement needs.
   */
  wanted(topic: string): boolean {
    return this.#encoded(topic) || this.#toStatus(topic);
  }

  /** Whether the file or a Foxglove viewer needs `topic` (as JSON bytes). */
  #encoded(topic: string): boolean {
    if (this.writer !== null) return true;
    const id = this.liveChannels.get(topic);
    return id !== undefined && this.live?.hasSubscribers(id) === true;
  }

  #toStatus(topic: string): boolean {
    const s = this.status;
    if (s === null) return false;
    return s.connected() || topic === TOPICS.decision || topic === TOPICS.estop;
  }

  async start(): Promise<void> {
    const writer = this.writer;
    await writer?.start({ profile: '', library: 'openpi-edge edge-agent (@mcap/core)' });
    const schemas = new Map<number, Record<string, unknown>>();
    const schema = async (s: Record<string, unknown>): Promise<number> => {
      const id =
        writer === null
          ? schemas.size + 1
          : await writer.registerSchema({
              name: String(s.title),
              encoding: 'jsonschema',
              data: encoder.encode(JSON.stringify(s)),
            });
      schemas.set(id, s);
      return id;
    };
    const channel = async (topic: string, schemaId: number): Promise<void> => {
      const id =
        writer === null
          ? -1
          : await writer.registerChannel({ topic, schemaId, messageEncoding: 'json', metadata: new Map() });
      this.channels.set(topic, id);
      this.counts.set(topic, 0);
      const s = schemas.get(schemaId);
      if (this.live !== null && s !== undefined) {
        this.liveChannels.set(
          topic,
          this.live.addChannel({ topic, schemaName: String(s.title), schema: JSON.stringify(s) }),
        );
      }
    };
    const image = await schema(COMPRESSED_IMAGE_SCHEMA);
    for (const cam of init.cameras) await channel(TOPICS.camera(cam), image);
    await channel(TOPICS.jointStates, await schema(JOINT_STATES_SCHEMA));
    await channel(TOPICS.chunk, await schema(POLICY_CHUNK_SCHEMA));
    await channel(TOPICS.decision, await schema(GATE_DECISION_SCHEMA));
    await channel(TOPICS.reset, await schema(RESET_DECISION_SCHEMA));
    await channel(TOPICS.faults, await schema(FAULTS_SCHEMA));
    await channel(TOPICS.estop, await schema(ESTOP_SCHEMA));
    await channel(TOPICS.timing, await schema(LOOP_TIMING_SCHEMA));
    await channel(TOPICS.loopEvents, await schema(LOOP_EVENT_SCHEMA));
    await writer?.addMetadata({
      name: 'openpi_edge.run',
      metadata: new Map(Object.entries({ ...init.metadata, joints: init.joints.join(',') })),
    });
  }

  /** Writes `body` on `topic`, logged at `logMs` (agent clock); `timestamp` added when absent. */
  async write(topic: string, logMs: number, body: Record<string, unknown>): Promise<void> {
    const id = this.channels.get(topic);
    if (id === undefined || !this.wanted(topic)) return;
    if (this.#toStatus(topic)) this.status?.write(topic, logMs, body);
    if (!this.#encoded(topic)) {
      this.counts.set(topic, (this.counts.get(topic) ?? 0) + 1);
      return;
    }
    const t = timeOf(logMs);
    const data = encoder.encode(JSON.stringify({ timestamp: t, ...body }));
    const stamp = body.timestamp as Time | undefined;
    if (this.writer !== null) {
      const seq = (this.sequence.get(id) ?? 0) + 1;
      this.sequence.set(id, seq);
      await this.writer.addMessage({
        channelId: id,
        sequence: seq,
        logTime: nsOf(t),
        publishTime: stamp === undefined ? nsOf(t) : nsOf(stamp),
        data,
      });
    }
    const liveId = this.liveChannels.get(topic);
    if (liveId !== undefined) this.live?.publish(liveId, nsOf(t), data);
    this.counts.set(topic, (this.counts.get(topic) ?? 0) + 1);
    if (Number.isFinite(logMs)) {
      if (!(logMs >= this.firstMs)) this.firstMs = logMs;
      if (!(logMs <= this.lastMs)) this.lastMs = logMs;
    }
  }

  async tick(a: Float64Array): Promise<void> {
    const dim = init.joints.length;
    const at = a[TICK.startedAt] ?? 0;
    const episode = a[TICK.episode] ?? -1;
    const step = a[TICK.step] ?? -1;
    const jointStamp = a[TICK.jointStampMs] ?? Number.NaN;
    if (Number.isFinite(jointStamp)) {
      await this.write(TOPICS.jointStates, at, {
        timestamp: timeOf(jointStamp),
        joints: init.joints.map((name, i) => ({ name, position: num(a[TICK_HEADER + i]) })),
      });
    }
    const kind = a[TICK.kind];
    const sent = a[TICK.sent] === 1;
    const clamped: string[] = [];
    const rateLimited: string[] = [];
    for (let i = 0; i < dim; i++) {
      const f = a[TICK_HEADER + 2 * dim + i] ?? 0;
      if (f % 2 === 1) clamped.push(init.joints[i] ?? String(i));
      if (f >= 2) rateLimited.push(init.joints[i] ?? String(i));
    }
    const command: (number | null)[] = [];
    for (let i = 0; i < dim; i++) command.push(num(a[TICK_HEADER + dim + i]));
    await this.write(TOPICS.decision, at, {
      episode,
      step,
      decision: kind === 1 ? 'move' : kind === 2 ? 'hold' : 'none',
      faults: faultCodesOf(a[TICK.faultMask] ?? 0),
      sent,
      command: command.every((x) => x === null) ? null : command,
      position_clamps: a[TICK.positionClamps] ?? 0,
      rate_limits: a[TICK.rateLimits] ?? 0,
      clamped,
      rate_limited: rateLimited,
    });
    await this.write(TOPICS.timing, at, {
      episode,
      step,
      tick: a[TICK.tick],
      scheduled_at: timeOf(a[TICK.scheduledAt] ?? at),
      period_ms: num(a[TICK.periodMs]),
      jitter_ms: num(a[TICK.jitterMs]),
      observe_ms: num(a[TICK.observeMs]),
      act_ms: num(a[TICK.actMs]),
      apply_ms: num(a[TICK.applyMs]),
      step_ms: num(a[TICK.stepMs]),
    });
  }

  async frames(m: Extract<ToRecorder, { type: 'frames' }>): Promise<void> {
    for (const [name, frame] of Object.entries(m.frames)) {
      if (!this.wanted(TOPICS.camera(name))) continue;
      let jpeg: Buffer;
      try {
        jpeg = await encodeFrame(frame, name, m.height, m.width);
      } catch {
        this.frameErrors += 1;
        continue;
      }
      await this.write(TOPICS.camera(name), m.at, {
        timestamp: timeOf(frame.stampMs),
        frame_id: name,
        data: jpeg.toString('base64'),
        format: 'jpeg',
      });
      this.framesWritten += 1;
    }
  }

  async chunk(m: Extract<ToRecorder, { type: 'chunk' }>): Promise<void> {
    this.chunks += 1;
    let rows: (number | null)[][] | null = null;
    if (m.actions !== null && m.shape !== null && m.shape.length === 2) {
      const [h, d] = m.shape as [number, number];
      // float32 values printed with the fewest digits that identify them, not a double's 17
      const f32 = m.actions instanceof Float32Array;
      rows = [];
      for (let r = 0; r < h; r++) {
        const row: (number | null)[] = [];
        for (let c = 0; c < d; c++) {
          const v = num(m.actions[r * d + c]);
          row.push(f32 && v !== null ? shortestFloat32(v) : v);
        }
        rows.push(row);
      }
    }
    await this.write(TOPICS.chunk, m.at, {
      index: m.index,
      episode: m.episode,
      step: m.step,
      requested_at: timeOf(m.requestedAt),
      latency_ms: m.latencyMs,
      shape: m.shape,
      actions: rows,
      error: m.error,
    });
  }

  async end(loop: LoopSideStats, dataset: DatasetWriteResult | null): Promise<RecorderResult> {
    const topics = Object.fromEntries(this.counts);
    const messages = [...this.counts.values()].reduce((a, b) => a + b, 0);
    const durationS = Number.isFinite(this.firstMs) ? (this.lastMs - this.firstMs) / 1000 : 0;
    await this.writer?.addMetadata({
      name: 'openpi_edge.recording',
      metadata: new Map(
        Object.entries({
          frames_written: String(this.framesWritten),
          frames_dropped: String(loop.framesDropped),
          frame_sets_dropped: String(loop.frameSetsDropped),
          ticks_dropped: String(loop.ticksDropped),
          frame_errors: String(this.frameErrors),
          chunks: String(this.chunks),
        }),
      ),
    });
    await this.writer?.end();
    if (this.fd !== null) closeSync(this.fd);
    let live: RecorderResult['live'] = null;
    if (this.live !== null) {
      const st = this.live.stats();
      live = { url: liveUrl ?? '', sent: st.sent, dropped: st.dropped };
      await this.live.close();
    }
    let status: RecorderResult['status'] = null;
    if (this.status !== null) {
      const st = this.status.stats();
      status = {
        url: statusUrl ?? '',
        sent: st.sent,
        dropped: st.dropped,
        estops: st.estops,
        workMs: st.workMs,
        handled: st.handled,
      };
      await this.status.close();
    }
    return {
      file: init.file,
      live,
      dataset,
      status,
      bytes: this.out?.bytes ?? 0,
      messages,
      topics,
      framesWritten: this.framesWritten,
      framesDropped: loop.framesDropped,
      ticksDropped: loop.ticksDropped,
      frameErrors: this.frameErrors,
      chunks: this.chunks,
      durationS,
    };
  }
}

/** One camera frame -> JPEG at the policy's input size (openpi's resize_with_pad geometry, libvips resampling). */
async function encodeFrame(frame: CameraFrame, name: string, height: number, width: number): Promise<Buffer> {
  const rgb = await frameToRgb(frame, name);
  const [h, w] = rgb.shape as [number, number, number];
  let img = sharp(rgb.data as Uint8Array, { raw: { width: w, height: h, channels: 3 } });
  if (h !== height || w !== width) {
    const r = resizedSize(h, w, height, width);
    img = img.resize(r.width, r.height, { kernel: 'linear', fit: 'fill' }).extend({
      top: r.padTop,
      bottom: height - r.height - r.padTop,
      left: r.padLeft,
      right: width - r.width - r.padLeft,
      background: { r: 0, g: 0, b: 0 },
    });
  }
  return img.jpeg({ quality: init.jpegQuality }).toBuffer();
}

async function main(): Promise<void> {
  setThreadNice(init.threadNice);
  let fd: number | null = null;
  try {
    if (init.file !== null) fd = openSync(init.file, 'w');
  } catch (e) {
    post({ type: 'failed', code: (e as NodeJS.ErrnoException).code ?? 'EIO', message: (e as Error).message });
    return;
  }
  let live: FoxgloveServer | null = null;
  if (init.live !== null) {
    try {
      live = new FoxgloveServer({
        host: init.live.host,
        port: init.live.port,
        name: 'openpi-edge agent',
        metadata: { ...init.metadata, joints: init.joints.join(',') },
      });
      liveUrl = (await live.listen()).url;
    } catch (e) {
      if (fd !== null) closeSync(fd);
      const code = e instanceof OpenpiEdgeError ? String(e.context.errno ?? e.code) : 'EIO';
      post({ type: 'failed', code, message: `foxglove live view: ${(e as Error).message}` });
      return;
    }
  }
  let status: StatusPageServer | null = null;
  if (init.status !== null) {
    try {
      status = new StatusPageServer({
        host: init.status.host,
        port: init.status.port,
        joints: init.joints,
        cameras: init.cameras,
        metadata: init.metadata,
        clockOriginMs: init.clockOriginMs,
        onEstop: (reason) => post({ type: 'estop-request', source: 'status-page', reason }),
      });
      statusUrl = (await status.listen()).url;
    } catch (e) {
      if (fd !== null) closeSync(fd);
      await live?.close();
      const code = e instanceof OpenpiEdgeError ? String(e.context.errno ?? e.code) : 'EIO';
      post({ type: 'failed', code, message: `status page: ${(e as Error).message}` });
      return;
    }
  }
  let dataset: DatasetSink | null = null;
  if (init.dataset !== null) {
    try {
      const writer = LeRobotDatasetWriter.open(init.dataset);
      dataset = new DatasetSink(writer, init.cameras, init.joints.length);
    } catch (e) {
      if (fd !== null) closeSync(fd);
      await live?.close();
      await status?.close();
      const code = e instanceof OpenpiEdgeError ? e.code : ((e as NodeJS.ErrnoException).code ?? 'EIO');
      post({ type: 'failed', code, message: `dataset: ${(e as Error).message}` });
      return;
    }
  }
  const rec = new Recording(fd, live, status);
  await rec.start();
  let chain: Promise<void> = Promise.resolve();
  let ended = false;
  let previous: readonly string[] = [];
  const handle = async (m: ToRecorder): Promise<void> => {
    switch (m.type) {
      case 'ticks': {
        const n = tickLength(init.joints.length);
        const updates = m.frames ?? [];
        let u = 0;
        for (let i = 0; i < m.count; i++) {
          const t = m.data.subarray(i * n, (i + 1) * n);
          await rec.tick(t);
          if (dataset === null) continue;
          for (; u < updates.length && (updates[u]?.row ?? -1) <= i; u++)
            dataset.frame(updates[u] as CameraUpdate);
          await dataset.tick(t);
        }
        post({ type: 'ack', frameSets: 0, ticks: m.count });
        return;
      }
      case 'frames':
        await rec.frames(m);
        post({ type: 'ack', frameSets: 1, ticks: 0 });
        return;
      case 'chunk':
        return rec.chunk(m);
      case 'reset':
        return rec.write(TOPICS.reset, m.at, {
          decision: m.kind,
          faults: m.faults,
          command: m.command === null ? null : Array.from(m.command, num),
        });
      case 'faults': {
        // raised / cleared against the previous set (messages are handled in arrival order)
        const now = [...new Set(m.faults.map((f) => f.code))];
        const raised = now.filter((c) => !previous.includes(c));
        const cleared = previous.filter((c) => !now.includes(c));
        previous = now;
        return rec.write(TOPICS.faults, m.at, {
          episode: m.episode,
          step: m.step,
          active: m.faults,
          raised,
          cleared,
        });
      }
      case 'estop':
        return rec.write(TOPICS.estop, m.at, { event: m.event, source: m.source, reason: m.reason });
      case 'loop-event':
        await rec.write(TOPICS.loopEvents, m.at, { event: m.event, episode: m.episode, fields: m.fields });
        if (m.event === 'episode-end') await dataset?.episodeEnd();
        return;
      case 'end': {
        if (ended) return;
        ended = true;
        const written = dataset === null ? null : await dataset.close();
        const result = await rec.end(m.stats, written);
        Atomics.store(done, 0, 1);
        Atomics.notify(done, 0);
        post({ type: 'closed', result });
        port?.close();
        return;
      }
    }
  };
  port?.on('message', (m: ToRecorder) => {
    chain = chain.then(() => handle(m));
    chain = chain.catch((e: unknown) => {
      const code = e instanceof OpenpiEdgeError ? e.code : ((e as NodeJS.ErrnoException).code ?? 'EIO');
      post({ type: 'failed', code, message: e instanceof Error ? e.message : String(e) });
      port?.close();
    });
  });
  post({ type: 'ready', liveUrl, statusUrl });
}

void main().catch((e: unknown) => {
  post({ type: 'failed', code: 'EIO', message: e instanceof Error ? e.message : String(e) });
});
