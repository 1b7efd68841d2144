/**
 * Modbus RTU master over a {@link ByteTransport} (a serial port, a pty, an in-memory link): one request in flight
 * at a time, each attempt with a timeout, retries on a lost or corrupt reply.
 *
 * Errors (all `OpenpiEdgeError`; this master serves the gripper, so device failures carry `GRIPPER_FAULT` with
 * `context.fault` telling which):
 * - `GRIPPER_FAULT`, fault `NO_REPLY`: no valid reply in any attempt; `CORRUPT_REPLY`: the same, and at least one
 *   reply failed its CRC (noise on the line); fault = the exception name (e.g. `ILLEGAL_DATA_ADDRESS`): the slave
 *   answered with a Modbus exception (not retried). Context: port, slaveId, function, address, and for timeouts
 *   timeoutMs, attempts, crcErrors, discardedBytes.
 * - `NOT_CONNECTED`: writing to the transport failed (port closed under us, device unplugged).
 * - `CLOSED`: the master was closed (requests queued or in flight reject with it).
 * - `BAD_ARGUMENT`: an id, address, count or value out of range.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { ByteTransport } from '../dynamixel/transport.js';
import {
  BROADCAST_ID,
  EXCEPTION_BIT,
  encodeFrame,
  exceptionName,
  functionName,
  MAX_READ_REGISTERS,
  MAX_WRITE_REGISTERS,
  ModbusFunction,
  type RtuFrame,
  RtuFramer,
  readRegistersRequest,
  readReplyValues,
  readU16,
  writeMultipleRequest,
  writeSingleRequest,
} from './modbus-rtu.js';

export interface ModbusRtuMasterOptions {
  /** How long one attempt waits for its reply. Default 100 (ms): a 2F-85 answers in a few ms at 115200. */
  timeoutMs?: number;
  /** Extra attempts after a lost or corrupt reply. Default 1 (so 2 attempts). */
  retries?: number;
  /** Line rate, for the inter-frame silence kept before each request. Default 115200 (bit/s). */
  baudRate?: number;
  /** Name of the device in error context (`gripper`). Default: the transport's description. */
  device?: string;
}

export interface ModbusMasterStats {
  /** Request frames written (attempts). */
  sent: number;
  /** Attempts that got no valid reply in time. */
  timeouts: number;
  /** Attempts repeated. */
  retries: number;
  /** Exception replies received. */
  exceptions: number;
  /** Valid frames that were not the awaited reply (late replies, other slaves, wrong shape). */
  unexpectedFrames: number;
}

/** t3.5 of the Modbus serial line spec: 3.5 characters of 11 bits, fixed at 1.75 ms above 19200 bit/s. */
export function interFrameSilenceMs(baudRate: number): number {
  return baudRate > 19_200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}

interface Pending {
  accept(frame: RtuFrame): boolean;
  resolve(frame: RtuFrame | undefined): void;
  reject(error: unknown): void;
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `${name} must be an integer ${min}..${max}, got ${value}`, {
      [name]: value,
      min,
      max,
    });
  }
}

export class ModbusRtuMaster {
  private readonly framer = new RtuFramer('master');
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly silenceMs: number;
  private readonly device: string;
  private readonly unsubscribe: () => void;
  private pending: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private lastRxMs = Number.NEGATIVE_INFINITY;
  readonly stats: ModbusMasterStats = {
    sent: 0,
    timeouts: 0,
    retries: 0,
    exceptions: 0,
    unexpectedFrames: 0,
  };

  constructor(
    private readonly transport: ByteTransport,
    options: ModbusRtuMasterOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 100;
    this.retries = options.retries ?? 1;
    this.silenceMs = interFrameSilenceMs(options.baudRate ?? 115_200);
    this.device = options.device ?? transport.description;
    if (!(this.timeoutMs > 0) || !Number.isFinite(this.timeoutMs)) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `timeoutMs must be a finite number > 0, got ${this.timeoutMs}`,
        {
          timeoutMs: this.timeoutMs,
        },
      );
    }
    checkInt('retries', this.retries, 0, 100);
    this.unsubscribe = transport.onData((bytes) => this.onBytes(bytes));
  }

  /** Where this master talks (the transport's description, e.g. the port path). */
  get port(): string {
    return this.transport.description;
  }

  /** Receive-side counters: frames, CRC errors, bytes discarded while resynchronising. */
  get framerStats(): RtuFramer['stats'] {
    return this.framer.stats;
  }

  /** Function 0x03. */
  readHoldingRegisters(slaveId: number, address: number, count: number): Promise<number[]> {
    return this.read(ModbusFunction.READ_HOLDING_REGISTERS, slaveId, address, count);
  }

  /** Function 0x04. */
  readInputRegisters(slaveId: number, address: number, count: number): Promise<number[]> {
    return this.read(ModbusFunction.READ_INPUT_REGISTERS, slaveId, address, count);
  }

  /** Function 0x10. To slave 0 (broadcast) it resolves once written: no slave answers a broadcast. */
  writeMultipleRegisters(slaveId: number, address: number, values: readonly number[]): Promise<void> {
    return this.enqueue(async () => {
      checkInt('slaveId', slaveId, 0, 247);
      checkInt('address', address, 0, 0xffff);
      checkInt('count', values.length, 1, MAX_WRITE_REGISTERS);
      checkInt('address + count', address + values.length, 1, 0x10000);
      for (const v of values) checkInt('value', v, 0, 0xffff);
      const request = writeMultipleRequest(slaveId, address, values);
      await this.transact(
        request,
        8,
        address,
        (d) => readU16(d, 0) === address && readU16(d, 2) === values.length,
      );
    });
  }

  /** Function 0x06 (the reply echoes the request). */
  writeSingleRegister(slaveId: number, address: number, value: number): Promise<void> {
    return this.enqueue(async () => {
      checkInt('slaveId', slaveId, 0, 247);
      checkInt('address', address, 0, 0xffff);
      checkInt('value', value, 0, 0xffff);
      const request = writeSingleRequest(slaveId, address, value);
      await this.transact(request, 8, address, (d) => readU16(d, 0) === address && readU16(d, 2) === value);
    });
  }

  /**
   * Any request: sends `request` and resolves with the reply of the same slave and function, `replyLength` bytes
   * long (CRC included), or rejects on an exception reply or timeout like the typed calls. For diagnostics and
   * functions without a typed call (e.g. 0x2B read device identification).
   */
  rawRequest(request: RtuFrame, replyLength: number): Promise<RtuFrame> {
    return this.enqueue(async () => {
      checkInt('slaveId', request.slaveId, 0, 247);
      checkInt('fn', request.fn, 1, 0x7f);
      checkInt('replyLength', replyLength, 4, 256);
      return this.transact(request, replyLength, undefined, () => true);
    });
  }

  /** Stops listening and closes the transport; queued and in-flight requests reject with `CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending?.reject(
      new OpenpiEdgeError('CLOSED', `Modbus master on ${this.port} was closed during a request`, {
        port: this.port,
      }),
    );
    this.pending = undefined;
    this.unsubscribe();
    await this.transport.close();
  }

  private read(fn: number, slaveId: number, address: number, count: number): Promise<number[]> {
    return this.enqueue(async () => {
      checkInt('slaveId', slaveId, 1, 247);
      checkInt('address', address, 0, 0xffff);
      checkInt('count', count, 1, MAX_READ_REGISTERS);
      checkInt('address + count', address + count, 1, 0x10000);
      const request = readRegistersRequest(slaveId, fn, address, count);
      const reply = await this.transact(
        request,
        5 + 2 * count,
        address,
        (d) => readReplyValues(d, count) !== undefined,
      );
      return readReplyValues(reply.data, count)!;
    });
  }

  private onBytes(bytes: Uint8Array): void {
    this.lastRxMs = performance.now();
    for (const frame of this.framer.push(bytes)) {
      const p = this.pending;
      if (p?.accept(frame)) {
        this.pending = undefined;
        p.resolve(frame);
      } else {
        this.stats.unexpectedFrames++;
      }
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.closedError());
    const run = this.chain.then(() => (this.closed ? Promise.reject(this.closedError()) : fn()));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private closedError(): OpenpiEdgeError {
    return new OpenpiEdgeError('CLOSED', `Modbus master on ${this.port} is closed`, { port: this.port });
  }

  /**
   * Sends `request` and waits for its reply: a frame from the same slave with the same function whose data passes
   * `valid`, or an exception reply. Retries lost or corrupt replies; throws as documented at the top.
   */
  private async transact(
    request: RtuFrame,
    replyLength: number,
    address: number | undefined,
    valid: (data: Uint8Array) => boolean,
  ): Promise<RtuFrame> {
    const context = {
      gripper: this.device,
      port: this.port,
      slaveId: request.slaveId,
      function: functionName(request.fn),
      address,
    };
    const where = `${functionName(request.fn)} to slave ${request.slaveId} on ${this.port}`;
    const bytes = encodeFrame(request);
    let crcBefore = 0;
    let discardedBefore = 0;
    const attempts = this.retries + 1;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) this.stats.retries++;
      await this.keepSilence();
      if (this.closed) throw this.closedError();
      this.framer.reset();
      if (attempt === 0) {
        crcBefore = this.framer.stats.crcErrors;
        discardedBefore = this.framer.stats.discardedBytes;
      }
      const broadcast = request.slaveId === BROADCAST_ID;
      this.framer.expect({ slaveId: request.slaveId, fn: request.fn, length: replyLength });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reply = broadcast
        ? Promise.resolve(undefined)
        : new Promise<RtuFrame | undefined>((resolve, reject) => {
            this.pending = {
              accept: (f) =>
                f.slaveId === request.slaveId &&
                (f.fn === (request.fn | EXCEPTION_BIT) || (f.fn === request.fn && valid(f.data))),
              resolve,
              reject,
            };
            timer = setTimeout(() => {
              this.pending = undefined;
              resolve(undefined);
            }, this.timeoutMs);
          });
      // close() may reject `reply` while the write below is still in progress and the write then fails: mark it
      // handled here so that rejection is never reported as unhandled (the error thrown below is the one).
      reply.catch(() => undefined);
      this.stats.sent++;
      try {
        await this.transport.write(bytes);
      } catch (e) {
        clearTimeout(timer);
        this.pending = undefined;
        throw new OpenpiEdgeError(
          'NOT_CONNECTED',
          `${where} failed: the link is down (${String(e)})`,
          context,
          {
            cause: e,
          },
        );
      }
      let frame: RtuFrame | undefined;
      try {
        frame = await reply;
      } finally {
        clearTimeout(timer);
      }
      if (broadcast) return { slaveId: 0, fn: request.fn, data: new Uint8Array(0) };
      if (frame === undefined) {
        this.stats.timeouts++;
        continue;
      }
      if (frame.fn & EXCEPTION_BIT) {
        this.stats.exceptions++;
        const code = frame.data[0] ?? 0;
        const name = exceptionName(code);
        throw new OpenpiEdgeError(
          'GRIPPER_FAULT',
          `${where}: slave answered Modbus exception ${code} ${name}`,
          { ...context, fault: name, exceptionCode: code },
        );
      }
      return frame;
    }
    const crcErrors = this.framer.stats.crcErrors - crcBefore;
    const discardedBytes = this.framer.stats.discardedBytes - discardedBefore;
    const fault = crcErrors > 0 ? 'CORRUPT_REPLY' : 'NO_REPLY';
    const why =
      crcErrors > 0
        ? `only corrupt replies (${crcErrors} failed CRC, ${discardedBytes} bytes discarded)`
        : `no reply within ${this.timeoutMs} ms`;
    throw new OpenpiEdgeError('GRIPPER_FAULT', `${where}: ${why} in ${attempts} attempt(s)`, {
      ...context,
      fault,
      timeoutMs: this.timeoutMs,
      attempts,
      crcErrors,
      discardedBytes,
    });
  }

  /** Waits until t3.5 has passed since the last byte received, so the slave sees a frame boundary. */
  private async keepSilence(): Promise<void> {
    const wait = this.lastRxMs + this.silenceMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
  }
}
