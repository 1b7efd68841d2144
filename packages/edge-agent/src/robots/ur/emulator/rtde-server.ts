/**
 * The emulator's RTDE server (protocol v2, port 30004): each connection has its own output and input recipes
 * (ids 1, 2, 3, ... counted separately for outputs and inputs, per connection, as ur_rtde expects: it hard-codes
 * its input recipe ids). After `S` every output recipe streams as `U` packages at its frequency, decimated from the
 * controller cycle; client `U` packages write the register file. Input variables belong to the first connection
 * that names them (others get `IN_USE`) until it disconnects.
 *
 * Bad input never throws out of here: a package the server cannot use gets an `M` text message (level error), a
 * corrupt stream (size < 3) or a client that cannot keep up with the stream is dropped.
 */
import type { Socket } from 'node:net';
import {
  decodeData,
  decodeSetupOutputs,
  encodeData,
  encodePackage,
  encodeSetupReply,
  encodeTextMessage,
  encodeVersion,
  packageLetter,
  RTDE_PACKAGE,
  RtdeFramer,
  type RtdePackage,
  type TextLevel,
} from '../rtde/codec.js';
import { RTDE_INPUT_TYPES, RTDE_OUTPUT_TYPES, type RtdeType } from '../rtde/types.js';
import { type ControllerModel, SERIES } from './controller.js';

/** A client more than this many bytes behind on the stream is dropped (a real controller drops slow readers). */
export const MAX_BACKLOG_BYTES = 4 << 20;

interface OutputRecipe {
  readonly id: number;
  readonly names: readonly string[];
  readonly types: readonly RtdeType[];
  readonly frequencyHz: number;
  /** Decimation accumulator: += frequency / controller rate each cycle; a package goes out when it reaches 1. */
  phase: number;
}

interface InputRecipe {
  readonly id: number;
  readonly names: readonly string[];
  readonly types: readonly RtdeType[];
}

interface Session {
  readonly id: number;
  readonly socket: Socket;
  readonly framer: RtdeFramer;
  readonly outputs: OutputRecipe[];
  readonly inputs: InputRecipe[];
  started: boolean;
  /** Error texts already sent for refused packages: each is sent once (a 500 Hz writer would flood otherwise). */
  readonly reported: Set<string>;
  /** Output packages streamed to this session. */
  sent: number;
}

export class RtdeServer {
  readonly #model: ControllerModel;
  readonly #sessions = new Map<number, Session>();
  #nextSession = 1;
  /** Output packages streamed, all sessions. */
  packagesSent = 0;

  constructor(model: ControllerModel) {
    this.#model = model;
  }

  get clients(): number {
    return this.#sessions.size;
  }

  accept(socket: Socket): void {
    const s: Session = {
      id: this.#nextSession++,
      socket,
      framer: new RtdeFramer(),
      outputs: [],
      inputs: [],
      started: false,
      reported: new Set(),
      sent: 0,
    };
    this.#sessions.set(s.id, s);
    socket.on('data', (chunk: Buffer) => this.#onData(s, chunk));
    socket.once('close', () => {
      this.#sessions.delete(s.id);
      this.#model.registers.releaseAll(s.id);
    });
  }

  /** Sends a text message to every connected client. */
  broadcastText(level: TextLevel, message: string, source: string): void {
    const pkg = encodePackage(RTDE_PACKAGE.TEXT_MESSAGE, encodeTextMessage({ message, source, level }));
    for (const s of this.#sessions.values()) this.#write(s, pkg);
  }

  /** One controller cycle: every started session's due output recipes. */
  tick(): void {
    const rate = this.#model.rateHz;
    for (const s of this.#sessions.values()) {
      if (!s.started) continue;
      for (const r of s.outputs) {
        r.phase += r.frequencyHz / rate;
        if (r.phase + 1e-9 < 1) continue;
        r.phase -= 1;
        const values = r.names.map((n, i) => this.#model.output(n, r.types[i] as RtdeType));
        this.#write(s, encodePackage(RTDE_PACKAGE.DATA_PACKAGE, encodeData(r.id, r.types, values)));
        s.sent++;
        this.packagesSent++;
      }
    }
  }

  #write(s: Session, pkg: Buffer): void {
    if (s.socket.destroyed) return;
    if (s.socket.writableLength > MAX_BACKLOG_BYTES) {
      s.socket.destroy();
      return;
    }
    s.socket.write(pkg);
  }

  #text(s: Session, level: TextLevel, message: string): void {
    this.#write(
      s,
      encodePackage(RTDE_PACKAGE.TEXT_MESSAGE, encodeTextMessage({ message, source: 'RTDE', level })),
    );
  }

  #onData(s: Session, chunk: Buffer): void {
    let packages: RtdePackage[];
    try {
      packages = s.framer.push(chunk);
    } catch (e) {
      this.#text(s, 'error', `${(e as Error).message}: closing the connection`);
      s.socket.end();
      s.socket.destroySoon();
      return;
    }
    for (const p of packages) {
      try {
        this.#handle(s, p);
      } catch (e) {
        const message = `RTDE ${packageLetter(p.type)} package refused: ${(e as Error).message}`;
        if (s.reported.has(message) || s.reported.size >= 64) continue;
        s.reported.add(message);
        this.#text(s, 'error', message);
      }
    }
  }

  #reply(s: Session, type: number, payload: Buffer): void {
    this.#write(s, encodePackage(type, payload));
  }

  #handle(s: Session, p: RtdePackage): void {
    if (p.type !== RTDE_PACKAGE.DATA_PACKAGE) {
      this.#model.trace(`rtde #${s.id}: ${packageLetter(p.type)} ${p.payload.length} bytes`);
    }
    switch (p.type) {
      case RTDE_PACKAGE.REQUEST_PROTOCOL_VERSION: {
        const v = p.payload.length >= 2 ? p.payload.readUInt16BE(0) : -1;
        this.#reply(s, p.type, Buffer.of(v === 2 ? 1 : 0));
        if (v !== 2) this.#text(s, 'error', `RTDE protocol version ${v} requested; this controller speaks 2`);
        return;
      }
      case RTDE_PACKAGE.GET_URCONTROL_VERSION:
        this.#reply(s, p.type, encodeVersion(SERIES[this.#model.options.series].version));
        return;
      case RTDE_PACKAGE.SETUP_OUTPUTS:
        this.#setupOutputs(s, p.payload);
        return;
      case RTDE_PACKAGE.SETUP_INPUTS:
        this.#setupInputs(s, p.payload);
        return;
      case RTDE_PACKAGE.START:
        if (s.outputs.length === 0 && s.inputs.length === 0) {
          this.#text(s, 'error', 'RTDE start refused: no recipe set up');
          this.#reply(s, p.type, Buffer.of(0));
          return;
        }
        s.started = true;
        // The first package goes out on the next cycle.
        for (const r of s.outputs) r.phase = 1 - r.frequencyHz / this.#model.rateHz;
        this.#reply(s, p.type, Buffer.of(1));
        return;
      case RTDE_PACKAGE.PAUSE:
        s.started = false;
        this.#reply(s, p.type, Buffer.of(1));
        return;
      case RTDE_PACKAGE.DATA_PACKAGE:
        this.#input(s, p.payload);
        return;
      case RTDE_PACKAGE.TEXT_MESSAGE:
        // A client's log message: a real controller writes it to its log; nothing to answer.
        return;
      default:
        this.#text(s, 'error', `unknown RTDE package type ${packageLetter(p.type)} (${p.type}) ignored`);
    }
  }

  #setupOutputs(s: Session, payload: Buffer): void {
    const { frequencyHz, names } = decodeSetupOutputs(payload);
    const types = names.map((n) => RTDE_OUTPUT_TYPES[n] ?? 'NOT_FOUND');
    const rate = this.#model.rateHz;
    const missing = names.filter((_, i) => types[i] === 'NOT_FOUND');
    let ok = missing.length === 0 && names.length > 0;
    if (missing.length > 0)
      this.#text(s, 'error', `RTDE output variable(s) not found: ${missing.join(', ')}`);
    if (names.length === 0) this.#text(s, 'error', 'RTDE output setup names no variables');
    if (!(frequencyHz > 0) || !Number.isFinite(frequencyHz)) {
      this.#text(s, 'error', `RTDE output frequency ${frequencyHz} Hz refused (valid: 0 < f <= ${rate})`);
      ok = false;
    }
    let hz = frequencyHz;
    if (ok && hz > rate) {
      this.#text(
        s,
        'warning',
        `RTDE output frequency ${frequencyHz} Hz above the controller's ${rate} Hz: ${rate} Hz`,
      );
      hz = rate;
    }
    if (!ok) {
      this.#model.trace(`rtde #${s.id}: output setup refused: ${names.join(',')}`);
      this.#reply(s, RTDE_PACKAGE.SETUP_OUTPUTS, encodeSetupReply(0, types));
      return;
    }
    const id = s.outputs.length + 1;
    s.outputs.push({ id, names, types: types as RtdeType[], frequencyHz: hz, phase: 0 });
    this.#model.trace(`rtde #${s.id}: output recipe ${id} at ${hz} Hz: ${names.join(',')}`);
    this.#reply(s, RTDE_PACKAGE.SETUP_OUTPUTS, encodeSetupReply(id, types));
  }

  #setupInputs(s: Session, payload: Buffer): void {
    const names = payload
      .toString('ascii')
      .split(',')
      .filter((n) => n.length > 0);
    const regs = this.#model.registers;
    const types = names.map((n) => {
      const t = RTDE_INPUT_TYPES[n];
      if (t === undefined) return 'NOT_FOUND';
      const owner = regs.ownerOf(n);
      return owner !== undefined && owner !== s.id ? 'IN_USE' : t;
    });
    const bad = names.filter((_, i) => types[i] === 'NOT_FOUND' || types[i] === 'IN_USE');
    if (bad.length > 0 || names.length === 0) {
      const detail = names
        .map((n, i) => `${n}: ${types[i]}`)
        .filter((_, i) => bad.includes(names[i] as string));
      this.#text(
        s,
        'error',
        `RTDE input setup refused: ${names.length === 0 ? 'no variables' : detail.join(', ')}`,
      );
      this.#reply(s, RTDE_PACKAGE.SETUP_INPUTS, encodeSetupReply(0, types));
      return;
    }
    for (const n of names) regs.claim(n, s.id);
    const id = s.inputs.length + 1;
    s.inputs.push({ id, names, types: types as RtdeType[] });
    this.#model.trace(`rtde #${s.id}: input recipe ${id}: ${names.join(',')}`);
    this.#reply(s, RTDE_PACKAGE.SETUP_INPUTS, encodeSetupReply(id, types));
  }

  #input(s: Session, payload: Buffer): void {
    if (payload.length < 1) throw new Error('empty data package');
    const id = payload.readUInt8(0);
    const recipe = s.inputs.find((r) => r.id === id);
    if (recipe === undefined) throw new Error(`no input recipe ${id} on this connection`);
    if (!s.started) throw new Error(`data for input recipe ${id} before start (S): ignored`);
    const values = decodeData(payload, recipe.types);
    this.#model.registers.applyInputs(recipe.names, values);
  }

  /** Resets every RTDE connection (RST), for link-loss tests. */
  dropAll(): void {
    for (const s of this.#sessions.values()) s.socket.resetAndDestroy();
  }
}
