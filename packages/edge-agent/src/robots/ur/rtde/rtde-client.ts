/**
 * RTDE client (protocol v2) over TCP: handshake, version check, output and input recipes, the streamed data
 * packages and the controller's text messages. It runs on whichever thread owns it (the servo worker, see
 * ur/servo-worker-entry.ts); nothing here blocks.
 *
 * Sequence: connect (TCP_NODELAY) → `V` 2 (refused → RTDE_ERROR naming the version) → `v` (major ≥ 5 e-Series:
 * outputs up to 500 Hz, else CB3: 125 Hz) → `O` (frequency + names) → `I` per input recipe → `S` → `U` packages
 * both ways → `P` / close. Every refusal is an RTDE_ERROR naming the stage and, for recipes, the variable as the
 * controller reported it (`NOT_FOUND`, `IN_USE`).
 */
import { Socket } from 'node:net';
import { OpenpiEdgeError } from '@openpi-edge/client';
import {
  type ControllerVersion,
  checkRecipe,
  decodeData,
  decodeSetupReply,
  decodeTextMessage,
  decodeVersion,
  encodeData,
  encodePackage,
  encodeSetupOutputs,
  maxOutputHz,
  packageLetter,
  RTDE_PACKAGE,
  RtdeFramer,
  type RtdePackage,
  type TextMessage,
} from './codec.js';
import type { RtdeType, RtdeValue } from './types.js';

export interface RtdeClientOptions {
  readonly host: string;
  /** Default 30004. */
  readonly port?: number;
  /** TCP connect + protocol version handshake (ms). Default 2000. */
  readonly connectTimeoutMs?: number;
  /** Each setup / start / pause reply (ms). Default 2000. */
  readonly replyTimeoutMs?: number;
}

/** A negotiated recipe: its id, variable names and their types (same order as the values). */
export interface RtdeRecipe {
  readonly id: number;
  readonly names: readonly string[];
  readonly types: readonly RtdeType[];
  /** Position of a variable in the values, -1 if absent. */
  index(name: string): number;
}

export type RtdeDataListener = (values: readonly RtdeValue[], recipe: RtdeRecipe) => void;
export type RtdeTextListener = (message: TextMessage) => void;
/** Called once when the connection ends; `error` is null after `close()`. */
export type RtdeCloseListener = (error: OpenpiEdgeError | null) => void;

interface Pending {
  readonly type: number;
  readonly stage: string;
  readonly resolve: (p: RtdePackage) => void;
  readonly reject: (e: OpenpiEdgeError) => void;
  readonly timer: NodeJS.Timeout;
}

function makeRecipe(id: number, names: readonly string[], types: readonly RtdeType[]): RtdeRecipe {
  const at = new Map(names.map((n, i) => [n, i]));
  return { id, names: [...names], types: [...types], index: (n) => at.get(n) ?? -1 };
}

export class RtdeClient {
  readonly host: string;
  readonly port: number;
  readonly #socket: Socket;
  readonly #framer = new RtdeFramer();
  readonly #replyTimeoutMs: number;
  #pending: Pending | null = null;
  #version: ControllerVersion | null = null;
  readonly #outputs = new Map<number, RtdeRecipe>();
  #started = false;
  #closed = false;
  #dataListeners: RtdeDataListener[] = [];
  #textListeners: RtdeTextListener[] = [];
  #closeListeners: RtdeCloseListener[] = [];
  /** Data packages received (all output recipes). */
  received = 0;
  /** Input data packages sent. */
  sent = 0;

  private constructor(socket: Socket, host: string, port: number, replyTimeoutMs: number) {
    this.#socket = socket;
    this.host = host;
    this.port = port;
    this.#replyTimeoutMs = replyTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onBytes(chunk));
    socket.on('error', (e) => this.#end(this.#lost(`socket error: ${e.message}`)));
    socket.on('close', () => this.#end(this.#lost('the controller closed the connection')));
  }

  /** Connects and negotiates protocol v2 and the controller version. */
  static async connect(options: RtdeClientOptions): Promise<RtdeClient> {
    const port = options.port ?? 30004;
    const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = new Socket();
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new OpenpiEdgeError(
            'RTDE_ERROR',
            `RTDE: no connection to ${options.host}:${port} within ${connectTimeoutMs} ms`,
            { stage: 'connect', host: options.host, port },
          ),
        );
      }, connectTimeoutMs);
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(
          new OpenpiEdgeError('RTDE_ERROR', `RTDE: cannot connect to ${options.host}:${port}: ${e.message}`, {
            stage: 'connect',
            host: options.host,
            port,
          }),
        );
      });
      s.connect({ host: options.host, port, noDelay: true }, () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
    });
    const client = new RtdeClient(socket, options.host, port, options.replyTimeoutMs ?? 2000);
    try {
      const v = await client.#request(
        RTDE_PACKAGE.REQUEST_PROTOCOL_VERSION,
        Buffer.from([0, 2]),
        'protocol_version',
      );
      if (v.payload[0] !== 1) {
        throw new OpenpiEdgeError(
          'RTDE_ERROR',
          `RTDE: the controller at ${options.host}:${port} refused protocol version 2 (software older than 3.5 / 5.0?)`,
          { stage: 'protocol_version', version: 2 },
        );
      }
      const ver = await client.#request(
        RTDE_PACKAGE.GET_URCONTROL_VERSION,
        Buffer.alloc(0),
        'controller_version',
      );
      client.#version = decodeVersion(ver.payload);
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** The controller's software version. */
  get version(): ControllerVersion {
    return this.#version as ControllerVersion;
  }

  /** Fastest output frequency the controller streams (500 Hz e-Series, 125 Hz CB3). */
  get maxFrequencyHz(): number {
    return maxOutputHz(this.version);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Asks for `names` at `frequencyHz` (default: the controller's maximum). RTDE_ERROR naming the first variable
   * the controller does not know, or a frequency above what it streams.
   */
  async setupOutputs(names: readonly string[], frequencyHz = this.maxFrequencyHz): Promise<RtdeRecipe> {
    if (!(frequencyHz > 0 && frequencyHz <= this.maxFrequencyHz)) {
      throw new OpenpiEdgeError(
        'RTDE_ERROR',
        `RTDE: output frequency ${frequencyHz} Hz outside (0, ${this.maxFrequencyHz}] for controller ${this.#versionText()}`,
        { stage: 'setup_outputs', frequencyHz, max: this.maxFrequencyHz },
      );
    }
    const reply = await this.#request(
      RTDE_PACKAGE.SETUP_OUTPUTS,
      encodeSetupOutputs(frequencyHz, names),
      'setup_outputs',
    );
    const { recipeId, types } = decodeSetupReply(reply.payload);
    const recipe = this.#recipeOf('setup_outputs', names, types, recipeId);
    this.#outputs.set(recipe.id, recipe);
    return recipe;
  }

  /** Registers one input recipe. RTDE_ERROR naming a variable the controller reports NOT_FOUND or IN_USE. */
  async setupInputs(names: readonly string[]): Promise<RtdeRecipe> {
    const reply = await this.#request(
      RTDE_PACKAGE.SETUP_INPUTS,
      Buffer.from(names.join(','), 'ascii'),
      'setup_inputs',
    );
    const { recipeId, types } = decodeSetupReply(reply.payload);
    return this.#recipeOf('setup_inputs', names, types, recipeId);
  }

  /** Starts the output stream (and allows input packages). */
  async start(): Promise<void> {
    const r = await this.#request(RTDE_PACKAGE.START, Buffer.alloc(0), 'start');
    if (r.payload[0] !== 1) {
      throw new OpenpiEdgeError('RTDE_ERROR', 'RTDE: the controller refused to start the data stream', {
        stage: 'start',
      });
    }
    this.#started = true;
  }

  /** Pauses the output stream. */
  async pause(): Promise<void> {
    const r = await this.#request(RTDE_PACKAGE.PAUSE, Buffer.alloc(0), 'pause');
    if (r.payload[0] !== 1) {
      throw new OpenpiEdgeError('RTDE_ERROR', 'RTDE: the controller refused to pause the data stream', {
        stage: 'pause',
      });
    }
    this.#started = false;
  }

  /**
   * Sends one input package (values in recipe order). Synchronous: the bytes are handed to the socket now.
   * NOT_CONNECTED after the link ended; RTDE_ERROR before `start()` (the controller ignores inputs then).
   */
  send(recipe: RtdeRecipe, values: readonly RtdeValue[]): void {
    if (this.#closed) {
      throw new OpenpiEdgeError('NOT_CONNECTED', `RTDE: link to ${this.host}:${this.port} is closed`, {
        stage: 'send',
      });
    }
    if (!this.#started) {
      throw new OpenpiEdgeError('RTDE_ERROR', 'RTDE: inputs can only be sent after start()', {
        stage: 'send',
      });
    }
    this.#socket.write(encodePackage(RTDE_PACKAGE.DATA_PACKAGE, encodeData(recipe.id, recipe.types, values)));
    this.sent++;
  }

  /** Every data package, decoded, with its output recipe. Returns the unsubscribe function. */
  onData(listener: RtdeDataListener): () => void {
    this.#dataListeners.push(listener);
    return () => {
      this.#dataListeners = this.#dataListeners.filter((l) => l !== listener);
    };
  }

  /** The controller's text messages (exceptions, errors, warnings, info). */
  onText(listener: RtdeTextListener): () => void {
    this.#textListeners.push(listener);
    return () => {
      this.#textListeners = this.#textListeners.filter((l) => l !== listener);
    };
  }

  /** Called once when the link ends (with the reason), or at once if it already has. */
  onClose(listener: RtdeCloseListener): void {
    if (this.#closed) listener(null);
    else this.#closeListeners.push(listener);
  }

  /** Closes the socket (no pause first: closing ends the session). Idempotent. */
  close(): void {
    this.#end(null);
  }

  #versionText(): string {
    const v = this.#version;
    return v === null ? 'unknown' : `${v.major}.${v.minor}.${v.bugfix}.${v.build}`;
  }

  #recipeOf(stage: string, names: readonly string[], types: readonly string[], id: number): RtdeRecipe {
    const checked = checkRecipe(names, types);
    if (!checked.ok) {
      throw new OpenpiEdgeError(
        'RTDE_ERROR',
        `RTDE ${stage}: the controller (${this.#versionText()}) reported '${checked.variable}' as ${checked.reason}`,
        { stage, variable: checked.variable, reason: checked.reason },
      );
    }
    return makeRecipe(id, names, checked.types);
  }

  #lost(reason: string): OpenpiEdgeError {
    return new OpenpiEdgeError('RTDE_ERROR', `RTDE link to ${this.host}:${this.port} lost: ${reason}`, {
      stage: 'link',
      host: this.host,
      port: this.port,
    });
  }

  #request(type: number, payload: Buffer, stage: string): Promise<RtdePackage> {
    if (this.#closed) return Promise.reject(this.#lost('closed'));
    if (this.#pending !== null) {
      return Promise.reject(
        new OpenpiEdgeError(
          'RTDE_ERROR',
          `RTDE ${stage}: another request (${this.#pending.stage}) is in flight`,
          {
            stage,
          },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = null;
        reject(
          new OpenpiEdgeError(
            'RTDE_ERROR',
            `RTDE ${stage}: no '${packageLetter(type)}' reply from ${this.host}:${this.port} within ${this.#replyTimeoutMs} ms`,
            { stage, timeoutMs: this.#replyTimeoutMs },
          ),
        );
      }, this.#replyTimeoutMs);
      this.#pending = { type, stage, resolve, reject, timer };
      this.#socket.write(encodePackage(type, payload));
    });
  }

  #onBytes(chunk: Buffer): void {
    let packages: RtdePackage[];
    try {
      packages = this.#framer.push(chunk);
    } catch (e) {
      this.#end(e as OpenpiEdgeError);
      return;
    }
    for (const p of packages) {
      if (p.type === RTDE_PACKAGE.DATA_PACKAGE) {
        const recipe = this.#outputs.get(p.payload[0] ?? -1);
        if (recipe === undefined) continue; // a recipe of another session on this socket: not ours to decode
        let values: RtdeValue[];
        try {
          values = decodeData(p.payload, recipe.types);
        } catch (e) {
          this.#end(e as OpenpiEdgeError);
          return;
        }
        this.received++;
        for (const l of this.#dataListeners) l(values, recipe);
      } else if (p.type === RTDE_PACKAGE.TEXT_MESSAGE) {
        const m = decodeTextMessage(p.payload);
        for (const l of this.#textListeners) l(m);
      } else if (this.#pending !== null && this.#pending.type === p.type) {
        const pending = this.#pending;
        this.#pending = null;
        clearTimeout(pending.timer);
        pending.resolve(p);
      }
      // Anything else (a reply nobody waits for) is dropped.
    }
  }

  #end(error: OpenpiEdgeError | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#started = false;
    this.#socket.destroy();
    const pending = this.#pending;
    this.#pending = null;
    if (pending !== null) {
      clearTimeout(pending.timer);
      pending.reject(error ?? this.#lost('closed by the client'));
    }
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const l of listeners) l(error);
  }
}
