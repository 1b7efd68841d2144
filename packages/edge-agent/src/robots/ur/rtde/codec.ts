/**
 * RTDE framing and payloads (protocol v2), both directions: the client (rtde-client.ts) and the controller
 * emulator use the same functions.
 *
 * Package = uint16 size (big-endian, includes the 3 header bytes) + uint8 type + payload. Protocol v2 data packages
 * (`U`) start with the recipe id; setup replies (`O`, `I`) are the recipe id + comma-separated type names
 * (`NOT_FOUND` for an unknown variable, `IN_USE` for an input another client owns). Test vectors:
 * packages/edge-agent/test/ur/rtde-codec.test.ts.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { isRtdeType, RTDE_TYPE_SIZES, type RtdeType, type RtdeValue } from './types.js';

/** Package types (the ASCII letter of each). */
export const RTDE_PACKAGE = {
  REQUEST_PROTOCOL_VERSION: 86, // 'V'
  GET_URCONTROL_VERSION: 118, // 'v'
  TEXT_MESSAGE: 77, // 'M'
  DATA_PACKAGE: 85, // 'U'
  SETUP_OUTPUTS: 79, // 'O'
  SETUP_INPUTS: 73, // 'I'
  START: 83, // 'S'
  PAUSE: 80, // 'P'
} as const;

export type RtdePackageType = (typeof RTDE_PACKAGE)[keyof typeof RTDE_PACKAGE];

/** The letter of a package type, for messages. */
export function packageLetter(type: number): string {
  return type >= 32 && type < 127 ? String.fromCharCode(type) : `0x${type.toString(16)}`;
}

/** Largest package: the size field is a uint16. */
export const RTDE_MAX_PACKAGE = 0xffff;

export interface RtdePackage {
  readonly type: number;
  readonly payload: Buffer;
}

/** One package on the wire. BAD_ARGUMENT if it would not fit the uint16 size. */
export function encodePackage(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const size = 3 + payload.length;
  if (size > RTDE_MAX_PACKAGE) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `RTDE package ${packageLetter(type)} of ${size} bytes exceeds 65535`,
      {
        type,
        size,
      },
    );
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(size, 0);
  out.writeUInt8(type, 2);
  out.set(payload, 3);
  return out;
}

/**
 * Splits a TCP byte stream into packages. A size below 3 cannot be resynchronised (there is no start marker):
 * `push` throws RTDE_ERROR and the connection must be dropped.
 */
export class RtdeFramer {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RtdePackage[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: RtdePackage[] = [];
    let off = 0;
    while (this.#buf.length - off >= 3) {
      const size = this.#buf.readUInt16BE(off);
      if (size < 3) {
        this.#buf = Buffer.alloc(0);
        throw new OpenpiEdgeError(
          'RTDE_ERROR',
          `RTDE stream corrupt: package size ${size} (< 3 header bytes)`,
          {
            stage: 'framing',
            size,
          },
        );
      }
      if (this.#buf.length - off < size) break;
      out.push({ type: this.#buf.readUInt8(off + 2), payload: this.#buf.subarray(off + 3, off + size) });
      off += size;
    }
    // Copy the remainder so the payloads handed out never alias a buffer that is reused.
    this.#buf = off === 0 ? this.#buf : Buffer.from(this.#buf.subarray(off));
    return out;
  }

  /** Bytes waiting for the rest of their package. */
  get pending(): number {
    return this.#buf.length;
  }
}

/** Parses `DOUBLE,VECTOR6D,...` of a setup reply; names other than types are kept (NOT_FOUND, IN_USE). */
export function parseTypeList(text: string): string[] {
  return text.length === 0 ? [] : text.split(',');
}

/** Bytes of a recipe's values. BAD_ARGUMENT on an unknown type. */
export function recipeSize(types: readonly RtdeType[]): number {
  let n = 0;
  for (const t of types) n += RTDE_TYPE_SIZES[t];
  return n;
}

function expectVector(v: RtdeValue, n: number, type: RtdeType): readonly number[] {
  if (!Array.isArray(v) || v.length !== n) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `RTDE ${type} needs ${n} numbers, got ${String(v)}`, { type });
  }
  return v as readonly number[];
}

function expectNumber(v: RtdeValue, type: RtdeType): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number') {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `RTDE ${type} needs a number, got ${String(v)}`, { type });
  }
  return v;
}

/** Writes one value at `off`; returns the next offset. Integers are range-checked (BAD_ARGUMENT). */
export function writeValue(buf: Buffer, off: number, type: RtdeType, v: RtdeValue): number {
  switch (type) {
    case 'BOOL':
      buf.writeUInt8(v === true || v === 1 ? 1 : 0, off);
      return off + 1;
    case 'UINT8':
      buf.writeUInt8(expectNumber(v, type), off);
      return off + 1;
    case 'UINT32':
      buf.writeUInt32BE(expectNumber(v, type), off);
      return off + 4;
    case 'INT32':
      buf.writeInt32BE(expectNumber(v, type), off);
      return off + 4;
    case 'UINT64':
      buf.writeBigUInt64BE(typeof v === 'bigint' ? v : BigInt(expectNumber(v, type)), off);
      return off + 8;
    case 'DOUBLE':
      buf.writeDoubleBE(expectNumber(v, type), off);
      return off + 8;
    case 'VECTOR3D':
    case 'VECTOR6D': {
      const xs = expectVector(v, type === 'VECTOR3D' ? 3 : 6, type);
      for (const x of xs) {
        buf.writeDoubleBE(x, off);
        off += 8;
      }
      return off;
    }
    case 'VECTOR6INT32':
    case 'VECTOR6UINT32': {
      const xs = expectVector(v, 6, type);
      for (const x of xs) {
        if (type === 'VECTOR6INT32') buf.writeInt32BE(x, off);
        else buf.writeUInt32BE(x, off);
        off += 4;
      }
      return off;
    }
  }
}

/** Reads one value at `off`. */
export function readValue(buf: Buffer, off: number, type: RtdeType): RtdeValue {
  switch (type) {
    case 'BOOL':
      return buf.readUInt8(off) !== 0;
    case 'UINT8':
      return buf.readUInt8(off);
    case 'UINT32':
      return buf.readUInt32BE(off);
    case 'INT32':
      return buf.readInt32BE(off);
    case 'UINT64':
      return buf.readBigUInt64BE(off);
    case 'DOUBLE':
      return buf.readDoubleBE(off);
    case 'VECTOR3D':
    case 'VECTOR6D': {
      const n = type === 'VECTOR3D' ? 3 : 6;
      const xs: number[] = [];
      for (let i = 0; i < n; i++) xs.push(buf.readDoubleBE(off + 8 * i));
      return xs;
    }
    case 'VECTOR6INT32':
    case 'VECTOR6UINT32': {
      const xs: number[] = [];
      for (let i = 0; i < 6; i++) {
        xs.push(type === 'VECTOR6INT32' ? buf.readInt32BE(off + 4 * i) : buf.readUInt32BE(off + 4 * i));
      }
      return xs;
    }
  }
}

/** A `U` payload (v2): recipe id + values in recipe order. */
export function encodeData(
  recipeId: number,
  types: readonly RtdeType[],
  values: readonly RtdeValue[],
): Buffer {
  if (values.length !== types.length) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `RTDE recipe ${recipeId} has ${types.length} variables, got ${values.length} values`,
      { recipeId },
    );
  }
  const buf = Buffer.allocUnsafe(1 + recipeSize(types));
  buf.writeUInt8(recipeId, 0);
  let off = 1;
  for (let i = 0; i < types.length; i++)
    off = writeValue(buf, off, types[i] as RtdeType, values[i] as RtdeValue);
  return buf;
}

/** Values of a `U` payload (after the recipe id byte). RTDE_ERROR when the length does not match the recipe. */
export function decodeData(payload: Buffer, types: readonly RtdeType[]): RtdeValue[] {
  const want = 1 + recipeSize(types);
  if (payload.length !== want) {
    throw new OpenpiEdgeError(
      'RTDE_ERROR',
      `RTDE data package for recipe ${payload[0]} has ${payload.length} bytes, its recipe needs ${want}`,
      { stage: 'data', recipeId: payload[0], got: payload.length, expected: want },
    );
  }
  const out: RtdeValue[] = [];
  let off = 1;
  for (const t of types) {
    out.push(readValue(payload, off, t));
    off += RTDE_TYPE_SIZES[t];
  }
  return out;
}

/** `O` request payload (v2): double frequency (Hz) + comma-separated names. */
export function encodeSetupOutputs(frequencyHz: number, names: readonly string[]): Buffer {
  const text = Buffer.from(names.join(','), 'ascii');
  const buf = Buffer.allocUnsafe(8 + text.length);
  buf.writeDoubleBE(frequencyHz, 0);
  buf.set(text, 8);
  return buf;
}

/**
 * Parses an `O` request (v2). Empty names are dropped: some clients (ur_rtde) end the list with a comma.
 */
export function decodeSetupOutputs(payload: Buffer): { frequencyHz: number; names: string[] } {
  if (payload.length < 8) {
    throw new OpenpiEdgeError('RTDE_ERROR', `RTDE setup-outputs request of ${payload.length} bytes (< 8)`, {
      stage: 'setup_outputs',
    });
  }
  return {
    frequencyHz: payload.readDoubleBE(0),
    names: payload
      .subarray(8)
      .toString('ascii')
      .split(',')
      .filter((n) => n.length > 0),
  };
}

/** A setup reply: recipe id + comma-separated types. */
export function encodeSetupReply(recipeId: number, types: readonly string[]): Buffer {
  const text = Buffer.from(types.join(','), 'ascii');
  const buf = Buffer.allocUnsafe(1 + text.length);
  buf.writeUInt8(recipeId, 0);
  buf.set(text, 1);
  return buf;
}

export function decodeSetupReply(payload: Buffer): { recipeId: number; types: string[] } {
  if (payload.length < 1) {
    throw new OpenpiEdgeError('RTDE_ERROR', 'RTDE setup reply is empty', { stage: 'setup' });
  }
  return { recipeId: payload.readUInt8(0), types: parseTypeList(payload.subarray(1).toString('ascii')) };
}

/** Recipe types of a setup reply, or the first variable the controller refused (`NOT_FOUND`, `IN_USE`). */
export function checkRecipe(
  names: readonly string[],
  types: readonly string[],
): { ok: true; types: RtdeType[] } | { ok: false; variable: string; reason: string } {
  if (types.length !== names.length) {
    return {
      ok: false,
      variable: names.join(','),
      reason: `${types.length} types for ${names.length} variables`,
    };
  }
  const out: RtdeType[] = [];
  for (let i = 0; i < names.length; i++) {
    const t = types[i] as string;
    if (!isRtdeType(t)) return { ok: false, variable: names[i] as string, reason: t };
    out.push(t);
  }
  return { ok: true, types: out };
}

export type TextLevel = 'exception' | 'error' | 'warning' | 'info';
const LEVELS: readonly TextLevel[] = ['exception', 'error', 'warning', 'info'];

export interface TextMessage {
  readonly message: string;
  readonly source: string;
  readonly level: TextLevel;
}

/** `M` payload (v2): uint8 length + message, uint8 length + source, uint8 level (0 exception … 3 info). */
export function encodeTextMessage(m: TextMessage): Buffer {
  const msg = Buffer.from(m.message, 'utf8').subarray(0, 255);
  const src = Buffer.from(m.source, 'utf8').subarray(0, 255);
  return Buffer.concat([
    Buffer.of(msg.length),
    msg,
    Buffer.of(src.length),
    src,
    Buffer.of(Math.max(0, LEVELS.indexOf(m.level))),
  ]);
}

export function decodeTextMessage(payload: Buffer): TextMessage {
  const ml = payload[0] ?? 0;
  const message = payload.subarray(1, 1 + ml).toString('utf8');
  const sl = payload[1 + ml] ?? 0;
  const source = payload.subarray(2 + ml, 2 + ml + sl).toString('utf8');
  const level = LEVELS[payload[2 + ml + sl] ?? 3] ?? 'info';
  return { message, source, level };
}

/** `v` reply: 4 × uint32 major, minor, bugfix, build. */
export interface ControllerVersion {
  readonly major: number;
  readonly minor: number;
  readonly bugfix: number;
  readonly build: number;
}

export function encodeVersion(v: ControllerVersion): Buffer {
  const buf = Buffer.allocUnsafe(16);
  buf.writeUInt32BE(v.major, 0);
  buf.writeUInt32BE(v.minor, 4);
  buf.writeUInt32BE(v.bugfix, 8);
  buf.writeUInt32BE(v.build, 12);
  return buf;
}

export function decodeVersion(payload: Buffer): ControllerVersion {
  if (payload.length < 16) {
    throw new OpenpiEdgeError(
      'RTDE_ERROR',
      `RTDE controller version reply of ${payload.length} bytes (< 16)`,
      {
        stage: 'version',
      },
    );
  }
  return {
    major: payload.readUInt32BE(0),
    minor: payload.readUInt32BE(4),
    bugfix: payload.readUInt32BE(8),
    build: payload.readUInt32BE(12),
  };
}

/** e-Series (software 5+) streams outputs at up to 500 Hz, CB3 at 125 Hz. */
export function maxOutputHz(v: ControllerVersion): number {
  return v.major >= 5 ? 500 : 125;
}
