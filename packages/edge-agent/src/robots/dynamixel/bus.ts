/**
 * Dynamixel Protocol 2.0 bus driver (master side): one request at a time over a {@link ByteTransport}, status
 * packets matched by servo ID, per-attempt timeouts on an injectable timer, retries on lost or corrupt replies.
 *
 * Retried (up to `retries` extra attempts): no status in time, a corrupt reply (dropped by the framer, so it shows
 * as a timeout), and a status reporting CRC_ERROR (the servo saw a corrupt instruction). Not retried: any other
 * error number (range, limit, access...), which throws a {@link DynamixelError} at once.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { decodeLE, encodeLE, u16le } from './bytes.js';
import { type Register, XRegister } from './control-table.js';
import { DynamixelError } from './errors.js';
import { DynamixelFramer } from './framer.js';
import {
  ALERT_BIT,
  BROADCAST_ID,
  buildPacket,
  Instruction,
  MAX_ID,
  StatusError,
  type StatusPacket,
} from './packet.js';
import type { ByteTransport } from './transport.js';

/** Waits; structurally compatible with `Clock` of @openpi-edge/client (pass a manual clock in tests). */
export interface DynamixelTimer {
  /** Resolves after `ms`; rejects when `signal` aborts (the timer is then cleared). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface DynamixelBusOptions {
  /**
   * How long one attempt waits for its status packet(s) (all replies of a Sync Read together). Default 50 (ms):
   * the SDK's budget of 2 × 16 ms USB latency + 2 ms, plus margin. Lower the adapter's latency_timer for speed.
   */
  timeoutMs?: number;
  /** Extra attempts after a timeout, a corrupt reply or a CRC_ERROR status. Default 2 (so 3 attempts). */
  retries?: number;
  /** Timer for timeouts. Default: `setTimeout`. */
  timer?: DynamixelTimer;
  /**
   * A status with the hardware alert bit (and no error number): `'throw'` a {@link DynamixelError}
   * (`HARDWARE_ALERT`, with the Hardware Error Status bits read from address 70) or `'ignore'` it. Ping and
   * Reboot never throw for the alert bit. Default `'throw'`.
   */
  alerts?: 'throw' | 'ignore';
}

export interface PingResult {
  id: number;
  /** Model Number, e.g. 1120 for XM540-W270. */
  modelNumber: number;
  firmwareVersion: number;
  /** The alert bit was set: the servo has a hardware error (Hardware Error Status, address 70). */
  alert: boolean;
}

export interface SyncWriteEntry {
  id: number;
  /** Exactly `length` bytes for the Sync Write. */
  data: Uint8Array;
}

export interface BusStats {
  /** Instruction packets written. */
  sent: number;
  /** Attempts that ended without every expected status. */
  timeouts: number;
  /** Attempts repeated (timeouts or CRC_ERROR statuses). */
  retries: number;
}

const realTimer: DynamixelTimer = {
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new OpenpiEdgeError('ABORTED', 'timer aborted'));
        return;
      }
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(t);
        reject(new OpenpiEdgeError('ABORTED', 'timer aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

const INSTRUCTION_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Instruction).map(([name, code]) => [code, name]),
);

interface Pending {
  expect: Set<number>;
  got: Map<number, StatusPacket>;
  done: () => void;
}

function checkId(id: number, allowBroadcast = false): void {
  if (!Number.isInteger(id) || id < 0 || (id > MAX_ID && !(allowBroadcast && id === BROADCAST_ID))) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `Dynamixel id must be an integer 0..${MAX_ID}, got ${id}`, {
      id,
    });
  }
}

function checkAddress(address: number, length: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffff) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `control table address must be 0..65535, got ${address}`, {
      address,
    });
  }
  if (!Number.isInteger(length) || length < 1 || length > 0xffff) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `length must be 1..65535 bytes, got ${length}`, { length });
  }
}

/** Encodes `value` for `register`, rejecting non-integers and values outside its width. */
export function encodeRegister(register: Register, value: number): Uint8Array {
  const bits = 8 * register.size;
  const min = register.signed ? -(2 ** (bits - 1)) : 0;
  const max = register.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `${register.name} (${register.address}, ${register.size} B) takes an integer ${min}..${max}, got ${value}`,
      { register: register.name, address: register.address, value },
    );
  }
  return encodeLE(value, register.size);
}

export class DynamixelBus {
  private readonly framer = new DynamixelFramer();
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly timer: DynamixelTimer;
  private readonly alerts: 'throw' | 'ignore';
  private readonly unsubscribe: () => void;
  private pending: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly stats: BusStats = { sent: 0, timeouts: 0, retries: 0 };

  constructor(
    private readonly transport: ByteTransport,
    options: DynamixelBusOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 50;
    this.retries = options.retries ?? 2;
    this.timer = options.timer ?? realTimer;
    this.alerts = options.alerts ?? 'throw';
    if (!(this.timeoutMs > 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `timeoutMs must be > 0, got ${this.timeoutMs}`, {
        timeoutMs: this.timeoutMs,
      });
    }
    if (!Number.isInteger(this.retries) || this.retries < 0) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `retries must be an integer >= 0, got ${this.retries}`, {
        retries: this.retries,
      });
    }
    this.unsubscribe = transport.onData((bytes) => this.onBytes(bytes));
  }

  /** Framer counters (bytes discarded, CRC errors) of the receive side. */
  get framerStats(): DynamixelFramer['stats'] {
    return this.framer.stats;
  }

  private onBytes(bytes: Uint8Array): void {
    for (const packet of this.framer.push(bytes)) {
      const p = this.pending;
      if (packet.kind !== 'status' || !p || !p.expect.has(packet.id) || p.got.has(packet.id)) continue;
      p.got.set(packet.id, packet);
      if (p.got.size === p.expect.size) p.done();
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new OpenpiEdgeError('CLOSED', 'Dynamixel bus is closed', { port: this.transport.description }),
      );
    }
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Writes `packet` and waits for a status from every id in `expectIds` (in any order), retrying as documented. */
  private async transact(
    packet: Uint8Array,
    expectIds: readonly number[],
    context: Record<string, unknown>,
  ): Promise<Map<number, StatusPacket>> {
    for (let attempt = 0; ; attempt++) {
      this.framer.reset();
      const ac = new AbortController();
      const pending: Pending = { expect: new Set(expectIds), got: new Map(), done: () => ac.abort() };
      this.pending = pending;
      let timedOut = false;
      try {
        this.stats.sent += 1;
        await this.transport.write(packet);
        if (expectIds.length === 0) return pending.got;
        if (pending.got.size < pending.expect.size) {
          await this.timer.sleep(this.timeoutMs, ac.signal).then(
            () => {
              timedOut = true;
            },
            () => undefined,
          );
        }
      } finally {
        this.pending = undefined;
        ac.abort();
      }
      const crcRejected = [...pending.got.values()].some((s) => (s.error & 0x7f) === StatusError.CrcError);
      if (!timedOut && !crcRejected) return pending.got;
      if (timedOut) this.stats.timeouts += 1;
      if (attempt < this.retries) {
        this.stats.retries += 1;
        continue;
      }
      if (timedOut) {
        const missing = expectIds.filter((id) => !pending.got.has(id));
        throw new OpenpiEdgeError(
          'SERVO_TIMEOUT',
          `no status from Dynamixel id ${missing.join(', ')} within ${this.timeoutMs} ms (${attempt + 1} attempts) on ${this.transport.description}`,
          {
            ...context,
            port: this.transport.description,
            missingIds: missing,
            timeoutMs: this.timeoutMs,
            attempts: attempt + 1,
          },
        );
      }
      return pending.got;
    }
  }

  /** Throws a DynamixelError for an error number, or for the alert bit when `alerts` is 'throw'. */
  private async checkStatus(
    status: StatusPacket,
    context: Record<string, unknown>,
    alertsThrow = true,
  ): Promise<void> {
    if (status.error & 0x7f) throw new DynamixelError(status.id, status.error, context);
    if (status.error & ALERT_BIT && alertsThrow && this.alerts === 'throw') {
      let hw: number | undefined;
      try {
        const reply = await this.transact(
          buildPacket(status.id, Instruction.Read, [
            ...u16le(XRegister.HardwareErrorStatus.address),
            ...u16le(1),
          ]),
          [status.id],
          context,
        );
        const s = reply.get(status.id);
        if (s && s.params.length === 1) hw = s.params[0];
      } catch {
        // the alert is reported either way; the detail read is best effort
      }
      throw new DynamixelError(status.id, status.error, context, hw);
    }
  }

  private async single(
    id: number,
    instruction: number,
    params: number[],
    alertsThrow = true,
  ): Promise<StatusPacket> {
    const context = { instruction: INSTRUCTION_NAMES[instruction], id };
    const reply = await this.transact(buildPacket(id, instruction, params), [id], context);
    const status = reply.get(id)!;
    await this.checkStatus(status, context, alertsThrow);
    return status;
  }

  /** Ping: model number and firmware of servo `id`. Throws `SERVO_TIMEOUT` when absent. */
  ping(id: number): Promise<PingResult> {
    checkId(id);
    return this.enqueue(async () => {
      const s = await this.single(id, Instruction.Ping, [], false);
      if (s.params.length !== 3) {
        throw new OpenpiEdgeError(
          'BAD_MESSAGE',
          `ping reply from id ${id} has ${s.params.length} params, expected 3`,
          {
            id,
            byteCount: s.params.length,
          },
        );
      }
      return {
        id,
        modelNumber: decodeLE(s.params, 0, 2),
        firmwareVersion: s.params[2]!,
        alert: (s.error & ALERT_BIT) !== 0,
      };
    });
  }

  /**
   * Broadcast ping: every servo answers in turn. Collects replies for one `timeoutMs` window (no retries, no
   * timeout error) and returns them sorted by id.
   */
  scan(): Promise<PingResult[]> {
    return this.enqueue(async () => {
      const found: PingResult[] = [];
      this.framer.reset();
      const ac = new AbortController();
      const expect = new Set(Array.from({ length: MAX_ID + 1 }, (_, i) => i));
      const got = new Map<number, StatusPacket>();
      this.pending = { expect, got, done: () => ac.abort() };
      try {
        this.stats.sent += 1;
        await this.transport.write(buildPacket(BROADCAST_ID, Instruction.Ping));
        await this.timer.sleep(this.timeoutMs, ac.signal).catch(() => undefined);
      } finally {
        this.pending = undefined;
      }
      for (const s of got.values()) {
        if (s.params.length !== 3) continue;
        found.push({
          id: s.id,
          modelNumber: decodeLE(s.params, 0, 2),
          firmwareVersion: s.params[2]!,
          alert: (s.error & ALERT_BIT) !== 0,
        });
      }
      return found.sort((a, b) => a.id - b.id);
    });
  }

  /** Reads `length` bytes at `address` of servo `id`. */
  read(id: number, address: number, length: number): Promise<Uint8Array> {
    checkId(id);
    checkAddress(address, length);
    return this.enqueue(async () => {
      const s = await this.single(id, Instruction.Read, [...u16le(address), ...u16le(length)]);
      if (s.params.length !== length) {
        throw new OpenpiEdgeError(
          'BAD_MESSAGE',
          `read reply from id ${id} carries ${s.params.length} bytes, expected ${length}`,
          { id, address, length, byteCount: s.params.length },
        );
      }
      return s.params;
    });
  }

  /** Writes `data` at `address` of servo `id` and waits for its status. Broadcast id 254: no status, no wait. */
  write(id: number, address: number, data: Uint8Array): Promise<void> {
    checkId(id, true);
    checkAddress(address, data.length);
    return this.enqueue(async () => {
      const params = [...u16le(address), ...data];
      if (id === BROADCAST_ID) {
        await this.transact(buildPacket(id, Instruction.Write, params), [], { instruction: 'Write', id });
        return;
      }
      await this.single(id, Instruction.Write, params);
    });
  }

  /** Reads one control-table item and decodes it (signed items as two's complement). */
  async readRegister(id: number, register: Register): Promise<number> {
    const data = await this.read(id, register.address, register.size);
    return decodeLE(data, 0, register.size, register.signed);
  }

  /** Writes one control-table item. Throws `BAD_ARGUMENT` for values outside the item's width. */
  writeRegister(id: number, register: Register, value: number): Promise<void> {
    return this.write(id, register.address, encodeRegister(register, value));
  }

  /**
   * Sync Read: `length` bytes at `address` from each of `ids` (one instruction, one status per servo, in order).
   * Returns the data by id. Any servo reporting an error number throws a {@link DynamixelError}; missing servos
   * after all retries throw `SERVO_TIMEOUT` listing `missingIds`.
   */
  syncRead(address: number, length: number, ids: readonly number[]): Promise<Map<number, Uint8Array>> {
    checkAddress(address, length);
    for (const id of ids) checkId(id);
    if (ids.length === 0 || new Set(ids).size !== ids.length) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'syncRead needs a non-empty list of distinct ids', {
        ids: [...ids],
      });
    }
    return this.enqueue(async () => {
      const context = { instruction: 'SyncRead', address, length, ids: [...ids] };
      const packet = buildPacket(BROADCAST_ID, Instruction.SyncRead, [
        ...u16le(address),
        ...u16le(length),
        ...ids,
      ]);
      const replies = await this.transact(packet, ids, context);
      const out = new Map<number, Uint8Array>();
      for (const id of ids) {
        const s = replies.get(id)!;
        await this.checkStatus(s, { ...context, id });
        if (s.params.length !== length) {
          throw new OpenpiEdgeError(
            'BAD_MESSAGE',
            `sync read reply from id ${id} carries ${s.params.length} bytes, expected ${length}`,
            { ...context, id, byteCount: s.params.length },
          );
        }
        out.set(id, s.params);
      }
      return out;
    });
  }

  /** Sync Read of one item from several servos, decoded. */
  async syncReadRegister(register: Register, ids: readonly number[]): Promise<Map<number, number>> {
    const data = await this.syncRead(register.address, register.size, ids);
    const out = new Map<number, number>();
    for (const [id, bytes] of data) out.set(id, decodeLE(bytes, 0, register.size, register.signed));
    return out;
  }

  /** Sync Write: the same `length` bytes at `address` of each servo, in one broadcast packet (no status, no retry). */
  syncWrite(address: number, length: number, entries: readonly SyncWriteEntry[]): Promise<void> {
    checkAddress(address, length);
    const params = [...u16le(address), ...u16le(length)];
    for (const { id, data } of entries) {
      checkId(id);
      if (data.length !== length) {
        throw new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `sync write data for id ${id} has ${data.length} bytes, expected ${length}`,
          {
            id,
            address,
            length,
            byteCount: data.length,
          },
        );
      }
      params.push(id, ...data);
    }
    return this.enqueue(async () => {
      await this.transact(buildPacket(BROADCAST_ID, Instruction.SyncWrite, params), [], {
        instruction: 'SyncWrite',
      });
    });
  }

  /** Sync Write of one item to several servos. */
  syncWriteRegister(register: Register, values: Iterable<readonly [number, number]>): Promise<void> {
    const entries: SyncWriteEntry[] = [];
    for (const [id, value] of values) entries.push({ id, data: encodeRegister(register, value) });
    return this.syncWrite(register.address, register.size, entries);
  }

  /**
   * Reboot: the servo acknowledges, then restarts (RAM back to defaults, Torque Enable 0, hardware error cleared).
   * The only way out of a hardware-error shutdown.
   */
  reboot(id: number): Promise<void> {
    checkId(id);
    return this.enqueue(async () => {
      await this.single(id, Instruction.Reboot, [], false);
    });
  }

  /** Torque Enable (64). EEPROM items (addresses < 64) can only be written with torque off. */
  setTorque(id: number, enabled: boolean): Promise<void> {
    return this.writeRegister(id, XRegister.TorqueEnable, enabled ? 1 : 0);
  }

  /** Operating Mode (11), an EEPROM item: the servo refuses it (ACCESS_ERROR) while torque is on. */
  setOperatingMode(id: number, mode: number): Promise<void> {
    return this.writeRegister(id, XRegister.OperatingMode, mode);
  }

  /** Stops listening and closes the transport; queued requests after this reject with `CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    this.unsubscribe();
    await this.transport.close();
  }
}
