/**
 * ROS 2 message type names and validators for the messages received here. Wire data is never cast: each field is
 * checked and a BAD_MESSAGE error names the topic and the field. Layouts: the ROS 2 message definitions.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';

export const ROS2_TYPES = {
  jointState: 'sensor_msgs/msg/JointState',
  image: 'sensor_msgs/msg/Image',
  compressedImage: 'sensor_msgs/msg/CompressedImage',
  jointGroupCommand: 'interbotix_xs_msgs/msg/JointGroupCommand',
  jointSingleCommand: 'interbotix_xs_msgs/msg/JointSingleCommand',
  torqueEnable: 'interbotix_xs_msgs/srv/TorqueEnable',
  reboot: 'interbotix_xs_msgs/srv/Reboot',
  operatingModes: 'interbotix_xs_msgs/srv/OperatingModes',
} as const;

/** `builtin_interfaces/Time` as milliseconds (NaN when absent or malformed). */
export interface StampedMessage {
  /** Header stamp in ms since the epoch of the publisher's clock (not comparable to a local monotonic clock). */
  headerStampMs: number;
}

export interface JointStateMessage extends StampedMessage {
  name: readonly string[];
  position: Float64Array;
  velocity: Float64Array;
  effort: Float64Array;
}

export interface ImageMessage extends StampedMessage {
  height: number;
  width: number;
  encoding: string;
  step: number;
  data: Uint8Array;
}

export interface CompressedImageMessage extends StampedMessage {
  format: string;
  data: Uint8Array;
}

function bad(
  topic: string,
  field: string,
  why: string,
  extra: Record<string, unknown> = {},
): OpenpiEdgeError {
  return new OpenpiEdgeError('BAD_MESSAGE', `${topic}: field ${field} ${why}`, { topic, field, ...extra });
}

function record(msg: unknown, topic: string): Record<string, unknown> {
  if (typeof msg !== 'object' || msg === null)
    throw bad(topic, '(message)', `is not an object (${typeof msg})`);
  return msg as Record<string, unknown>;
}

function stampMs(m: Record<string, unknown>): number {
  const header = m.header as { stamp?: { sec?: unknown; nanosec?: unknown } } | undefined;
  const sec = header?.stamp?.sec;
  const nanosec = header?.stamp?.nanosec;
  if (typeof sec !== 'number' || typeof nanosec !== 'number') return Number.NaN;
  return sec * 1000 + nanosec / 1e6;
}

function numbers(value: unknown, topic: string, field: string, optional: boolean): Float64Array {
  if (value === undefined && optional) return new Float64Array(0);
  if (!(ArrayBuffer.isView(value) || Array.isArray(value))) {
    throw bad(topic, field, 'is not a numeric array');
  }
  const src = value as ArrayLike<unknown>;
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (typeof v !== 'number') throw bad(topic, `${field}[${i}]`, `is not a number (${typeof v})`);
    out[i] = v;
  }
  return out;
}

function bytes(value: unknown, topic: string, field: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
    return Uint8Array.from(value as number[]);
  }
  throw bad(topic, field, 'is not a uint8 array');
}

function uint(m: Record<string, unknown>, topic: string, field: string): number {
  const v = m[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw bad(topic, field, `must be a uint32, got ${String(v)}`);
  return v;
}

/** Validates a `sensor_msgs/msg/JointState`. `position` is required; velocity and effort may be empty. */
export function parseJointState(msg: unknown, topic: string): JointStateMessage {
  const m = record(msg, topic);
  const name = m.name;
  if (!Array.isArray(name) || !name.every((n) => typeof n === 'string')) {
    throw bad(topic, 'name', 'is not a string array');
  }
  return {
    headerStampMs: stampMs(m),
    name: name as string[],
    position: numbers(m.position, topic, 'position', false),
    velocity: numbers(m.velocity, topic, 'velocity', true),
    effort: numbers(m.effort, topic, 'effort', true),
  };
}

/** Validates a `sensor_msgs/msg/Image`; data must hold `step · height` bytes with `step >= width · channels`. */
export function parseImage(msg: unknown, topic: string): ImageMessage {
  const m = record(msg, topic);
  const height = uint(m, topic, 'height');
  const width = uint(m, topic, 'width');
  const step = uint(m, topic, 'step');
  if (typeof m.encoding !== 'string') throw bad(topic, 'encoding', 'is not a string');
  const data = bytes(m.data, topic, 'data');
  if (data.length < step * height) {
    throw bad(
      topic,
      'data',
      `has ${data.length} bytes, step ${step} x height ${height} needs ${step * height}`,
      {
        byteCount: data.length,
        height,
        width,
        step,
      },
    );
  }
  return { headerStampMs: stampMs(m), height, width, step, encoding: m.encoding, data };
}

/** Validates a `sensor_msgs/msg/CompressedImage`. */
export function parseCompressedImage(msg: unknown, topic: string): CompressedImageMessage {
  const m = record(msg, topic);
  if (typeof m.format !== 'string') throw bad(topic, 'format', 'is not a string');
  return { headerStampMs: stampMs(m), format: m.format, data: bytes(m.data, topic, 'data') };
}
