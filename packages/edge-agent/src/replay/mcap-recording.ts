/**
 * An MCAP log of `edge-agent start --record-mcap` (docs/agent.md "Recording an MCAP log") as a
 * {@link RecordingSource}. The file is read once, front to back, with @mcap/core's stream reader, so a file without
 * a footer (the agent was SIGKILLed) still yields every completed chunk; the description then says `incomplete`.
 *
 * What is taken from which topic:
 * - `/safety/decision` (one per control step, log time = step start): the episode and step numbers, and the
 *   command sent (`sent` + `command`) as the step's action;
 * - `/joint_states` (same log time as the step's decision): the measured joints, the step's state;
 * - `/policy/chunk` (one per inference): the chunk (`actions`, `shape`) or `error`, `requested_at`, `episode` /
 *   `step` of the asking tick; inferences asked before an episode's first step (`episode` -1: the start-up check
 *   and the episode's first chunk) belong to the next episode;
 * - `/camera/<name>` (one per camera per inference, log time = `requested_at` of its chunk): the JPEG frames;
 * - metadata `openpi_edge.run`: robot, control rate, prompt, joint names.
 *
 * The observation's state of an inference is not in the log; it is taken from the joint state of the tick that
 * asked (the newest one at or before `requested_at`), or for an inference asked before the episode clock from the
 * episode's first joint state (the robot holds still between the reset and the first step); `stateGapMs` says how
 * far that reading is from the request. A `state` array in a `/policy/chunk` message, when a recorder writes one,
 * is used as it is (gap 0).
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { McapStreamReader } from '@mcap/core';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { CameraFrame } from '../io/cameras/camera-source.js';
import type {
  RecordedChunk,
  RecordedEpisode,
  RecordedInference,
  RecordedStep,
  RecordingSource,
} from './recorded-episode.js';

/** The MCAP magic bytes (`\x89MCAP0\r\n`, MCAP spec). */
const MAGIC = [0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a];

interface Time {
  sec: number;
  nsec: number;
}

interface DecisionMsg {
  episode: number;
  step: number;
  sent: boolean;
  command: (number | null)[] | null;
}

interface ChunkMsg {
  index: number;
  episode: number;
  step: number;
  requested_at: Time;
  shape: number[] | null;
  actions: (number | null)[][] | null;
  error: string | null;
  state?: (number | null)[];
}

interface JointStatesMsg {
  joints: { name: string; position: number | null }[];
}

interface LoopEventMsg {
  event: string;
  episode: number;
}

const ns = (t: Time): bigint => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
/** JSON numbers (null = absent) as doubles, NaN where absent: the recorded commands keep their exact values. */
const f64 = (values: readonly (number | null)[]): Float64Array =>
  Float64Array.from(values, (v) => (v === null ? Number.NaN : v));

function bad(file: string, message: string, context: Record<string, unknown> = {}): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_ARGUMENT', `recording ${file}: ${message}`, { file, ...context });
}

/** What one pass over the file collects. Times: bigint epoch ns (the log times). */
interface Collected {
  complete: boolean;
  run: Map<string, string> | null;
  decisions: { at: bigint; m: DecisionMsg }[];
  joints: Map<bigint, Float64Array>;
  jointNames: string[] | null;
  chunks: ChunkMsg[];
  frames: Map<bigint, Record<string, CameraFrame>>;
  cameras: Set<string>;
  episodeStarts: Map<number, bigint>;
}

async function checkMagic(file: string): Promise<void> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw bad(file, 'not a file', { reason: 'not a file' });
    size = s.size;
  } catch (e) {
    if (e instanceof OpenpiEdgeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw bad(file, code === 'ENOENT' ? 'no such file' : `cannot be read (${(e as Error).message})`, {
      reason: code ?? 'unreadable',
    });
  }
  const head = Buffer.alloc(MAGIC.length);
  const fh = await open(file, 'r');
  try {
    await fh.read(head, 0, MAGIC.length, 0);
  } finally {
    await fh.close();
  }
  if (size < MAGIC.length || MAGIC.some((b, i) => head[i] !== b)) {
    throw bad(file, 'not an MCAP file (no MCAP magic at the start)', { reason: 'not mcap' });
  }
}

async function collect(file: string): Promise<Collected> {
  await checkMagic(file);
  const reader = new McapStreamReader({ validateCrcs: true });
  const topics = new Map<number, string>();
  const dec = new TextDecoder();
  const out: Collected = {
    complete: false,
    run: null,
    decisions: [],
    joints: new Map(),
    jointNames: null,
    chunks: [],
    frames: new Map(),
    cameras: new Set(),
    episodeStarts: new Map(),
  };
  const parse = (topic: string, data: Uint8Array): unknown => {
    try {
      return JSON.parse(dec.decode(data)) as unknown;
    } catch (e) {
      throw bad(file, `a ${topic} message is not JSON (${(e as Error).message})`, { topic });
    }
  };
  let offset = 0;
  try {
    for await (const piece of createReadStream(file, { highWaterMark: 1 << 20 })) {
      reader.append(piece as Buffer);
      offset += (piece as Buffer).byteLength;
      for (let rec = reader.nextRecord(); rec !== undefined; rec = reader.nextRecord()) {
        if (rec.type === 'Channel') topics.set(rec.id, rec.topic);
        else if (rec.type === 'Metadata' && rec.name === 'openpi_edge.run') out.run = rec.metadata;
        else if (rec.type === 'Message') {
          const topic = topics.get(rec.channelId);
          if (topic === undefined) continue;
          if (topic === '/safety/decision') {
            out.decisions.push({ at: rec.logTime, m: parse(topic, rec.data) as DecisionMsg });
          } else if (topic === '/joint_states') {
            const m = parse(topic, rec.data) as JointStatesMsg;
            out.jointNames ??= m.joints.map((j) => j.name);
            out.joints.set(rec.logTime, f64(m.joints.map((j) => j.position)));
          } else if (topic === '/policy/chunk') {
            out.chunks.push(parse(topic, rec.data) as ChunkMsg);
          } else if (topic === '/loop/events') {
            const m = parse(topic, rec.data) as LoopEventMsg;
            if (m.event === 'episode-start') out.episodeStarts.set(m.episode, rec.logTime);
          } else if (topic.startsWith('/camera/')) {
            const name = topic.slice('/camera/'.length);
            out.cameras.add(name);
            const m = parse(topic, rec.data) as { timestamp: Time; data: string; format: string };
            if (m.format !== 'jpeg') continue;
            const set = out.frames.get(rec.logTime) ?? {};
            set[name] = {
              stampMs: Number(ns(m.timestamp) / 1000n) / 1000,
              seq: out.frames.size,
              encoding: 'jpeg',
              width: 0,
              height: 0,
              step: 0,
              data: new Uint8Array(Buffer.from(m.data, 'base64')),
            };
            out.frames.set(rec.logTime, set);
          }
        }
      }
    }
  } catch (e) {
    if (e instanceof OpenpiEdgeError) throw e;
    throw bad(file, `not a readable MCAP file: ${(e as Error).message} (near byte ${offset})`, {
      reason: 'corrupt',
      offset,
    });
  }
  out.complete = reader.done();
  return out;
}

/** Greatest key <= `at` in ascending `keys`, or undefined (binary search). */
function atOrBefore(keys: readonly bigint[], at: bigint): bigint | undefined {
  let lo = 0;
  let hi = keys.length - 1;
  let found: bigint | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = keys[mid] as bigint;
    if (k <= at) {
      found = k;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

const msBetween = (a: bigint, b: bigint): number => Number(a - b) / 1e6;

function chunkOf(m: ChunkMsg): RecordedChunk | null {
  if (m.actions === null || m.shape === null || m.shape.length !== 2) return null;
  const [h, d] = m.shape as [number, number];
  const data = new Float64Array(h * d).fill(Number.NaN);
  m.actions.forEach((row, r) => {
    row.forEach((v, c) => {
      if (r < h && c < d && v !== null) data[r * d + c] = v;
    });
  });
  return { shape: [h, d], data };
}

/** An opened MCAP recording; everything is read at {@link openMcapRecording}. */
export class McapRecording implements RecordingSource {
  readonly description: string;
  readonly robot: string | null;
  readonly prompt: string | null;
  /** False when the file has no footer (the recording process was killed): the completed chunks were read. */
  readonly complete: boolean;
  /** Recorded control rate (Hz): the run metadata's `control_hz`, else estimated from the step times. */
  readonly fps: number;
  readonly joints: readonly string[];
  readonly cameras: readonly string[];
  readonly #episodes: readonly RecordedEpisode[];
  /** Inferences in the file (each episode's and those that belong to none). */
  readonly inferenceCount: number;

  private constructor(parts: {
    file: string;
    c: Collected;
    joints: readonly string[];
    fps: number;
    episodes: RecordedEpisode[];
  }) {
    const { c } = parts;
    this.complete = c.complete;
    this.robot = c.run?.get('robot') ?? null;
    this.prompt = c.run?.get('prompt') ?? null;
    this.fps = parts.fps;
    this.joints = parts.joints;
    this.cameras = [...c.cameras];
    this.#episodes = parts.episodes;
    this.inferenceCount = c.chunks.length;
    this.description =
      `mcap ${parts.file} (${c.complete ? 'complete' : 'incomplete: no footer'}; robot ${this.robot ?? 'unknown'}, ` +
      `${parts.episodes.length} episode(s), ${c.decisions.length} steps, ${c.chunks.length} inferences, ${this.fps} Hz)`;
  }

  /**
   * Reads `file`. BAD_ARGUMENT naming the file when it is missing, not an MCAP file, corrupt, or has no control
   * steps (`/safety/decision`) and no inferences (`/policy/chunk`): not a recording of `start --record-mcap`.
   */
  static async open(file: string): Promise<McapRecording> {
    const c = await collect(file);
    if (c.decisions.length === 0 && c.chunks.length === 0) {
      throw bad(
        file,
        'has no /safety/decision or /policy/chunk messages: not a recording of `edge-agent start --record-mcap`',
        { reason: 'no openpi-edge topics' },
      );
    }
    const joints = c.run?.get('joints')?.split(',') ?? c.jointNames ?? [];
    const hz = Number(c.run?.get('control_hz'));
    // Steps by episode, in step order.
    const byEpisode = new Map<number, { at: bigint; m: DecisionMsg }[]>();
    for (const d of c.decisions) {
      if (d.m.episode < 0) continue;
      const list = byEpisode.get(d.m.episode) ?? [];
      list.push(d);
      byEpisode.set(d.m.episode, list);
    }
    const order = [...byEpisode.keys()].sort((a, b) => a - b);
    let fps = hz;
    if (!(Number.isFinite(hz) && hz > 0)) {
      const first = byEpisode.get(order[0] ?? -1) ?? [];
      const a = first[0];
      const b = first.at(-1);
      fps =
        a !== undefined && b !== undefined && first.length > 1
          ? ((first.length - 1) * 1e3) / msBetween(b.at, a.at)
          : 50;
    }
    const jointKeys = [...c.joints.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const starts = order.map((e) => {
      const list = byEpisode.get(e) ?? [];
      list.sort((a, b) => a.m.step - b.m.step);
      return { e, at: c.episodeStarts.get(e) ?? list[0]?.at ?? 0n, first: list[0]?.at ?? 0n };
    });
    const inferencesOf = new Map<number, RecordedInference[]>(order.map((e) => [e, []]));
    for (const m of [...c.chunks].sort((a, b) => a.index - b.index)) {
      const requested = ns(m.requested_at);
      // An inference asked before any step of an episode (-1) belongs to the next episode to start.
      const episode = m.episode >= 0 ? m.episode : starts.find((s) => s.first >= requested)?.e;
      const start = starts.find((s) => s.e === episode);
      if (episode === undefined || start === undefined) continue;
      let state: Float64Array | undefined;
      let gap = 0;
      if (Array.isArray(m.state)) state = f64(m.state);
      else {
        const key =
          m.step >= 0 ? atOrBefore(jointKeys, requested) : (byEpisode.get(episode)?.[0]?.at ?? undefined);
        const found = key === undefined ? undefined : c.joints.get(key);
        if (key !== undefined && found !== undefined) {
          state = found;
          gap = Math.abs(msBetween(key, requested));
        }
      }
      if (state === undefined) continue;
      inferencesOf.get(episode)?.push({
        index: m.index,
        t: msBetween(requested, start.first) / 1000,
        state,
        stateGapMs: gap,
        frames: c.frames.get(requested) ?? {},
        chunk: chunkOf(m),
        error: m.error,
      });
    }
    const episodes: RecordedEpisode[] = starts.map(({ e, first }) => {
      const steps: RecordedStep[] = (byEpisode.get(e) ?? []).map(({ at, m }) => ({
        t: msBetween(at, first) / 1000,
        state: c.joints.get(at) ?? null,
        action: m.sent && m.command !== null ? f64(m.command) : null,
      }));
      return {
        index: e,
        task: c.run?.get('prompt') ?? '',
        fps,
        joints,
        cameras: [...c.cameras],
        steps,
        inferences: inferencesOf.get(e) ?? [],
      };
    });
    return new McapRecording({ file, c, joints, fps, episodes });
  }

  async *episodes(): AsyncIterable<RecordedEpisode> {
    yield* this.#episodes;
  }

  /** Nothing stays open: the file was read at `open`. */
  async close(): Promise<void> {}
}

/** Opens an MCAP recording (see {@link McapRecording.open}). */
export function openMcapRecording(file: string): Promise<McapRecording> {
  return McapRecording.open(file);
}
