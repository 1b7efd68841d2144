/**
 * Driver of a Robotiq 2F-85 (or 2F-140, same registers) on a Modbus RTU serial line: activation, position
 * commands, status reads. Register layout and protocol summary: ./registers.ts.
 *
 * Contract:
 * - Requests are serialized (one in flight); each attempt has `timeoutMs`, lost or corrupt replies are retried
 *   `retries` times (./rtu-master.ts).
 * - Errors are `OpenpiEdgeError`s: `BAD_ARGUMENT` for an invalid position/speed/force/option (naming the value);
 *   `GRIPPER_FAULT` when the gripper does not answer (`context.fault` `NO_REPLY`, or `CORRUPT_REPLY` when replies
 *   failed their CRC), answers a Modbus exception (`context.fault` the exception name), reports a fault during
 *   activation (`context.fault` the fault name, e.g. `ACTIVATION_FAULT`) or does not finish activating in time
 *   (`ACTIVATION_TIMEOUT`); `NOT_CONNECTED` when the port cannot be opened or the link is gone; `CLOSED` after
 *   {@link RobotiqGripper.close}. Context always names the gripper (`gripper`), port and slave id.
 * - Positions, speeds and forces are the gripper's raw bytes 0..255 (position 0 fully open, 255 fully closed).
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { openSerialTransport } from '../dynamixel/serial-transport.js';
import type { ByteTransport } from '../dynamixel/transport.js';
import {
  Action,
  decodeStatus,
  encodeCommand,
  INPUT_REGISTER_BASE,
  OUTPUT_REGISTER_BASE,
  REGISTER_COUNT,
  ROBOTIQ_BAUD_RATE,
  ROBOTIQ_SLAVE_ID,
  type RobotiqStatus,
} from './registers.js';
import { ModbusRtuMaster } from './rtu-master.js';

export type { RobotiqFault, RobotiqStatus } from './registers.js';

export interface RobotiqGripperOptions {
  /** Serial device, e.g. `/dev/ttyUSB0` (a USB/RS-485 adapter) or a pty link. */
  path: string;
  /** Default 115200 (bit/s). */
  baudRate?: number;
  /** Modbus slave id. Default 9. */
  slaveId?: number;
  /** Per request attempt. Default 100 (ms). */
  timeoutMs?: number;
  /** Extra attempts after a lost or corrupt reply. Default 1. */
  retries?: number;
  /** Stamps statuses (`stampMs`). Default `performance` (ms since process start). */
  clock?: { now(): number };
  /** Speed byte used when a move gives none. Default 255 (150 mm/s on a 2F-85). */
  defaultSpeed?: number;
  /** Force byte used when a move gives none. Default 128 (about half of the maximum grip force). */
  defaultForce?: number;
}

export interface ActivateOptions {
  /** How long to wait for gSTA=3. Default 10000 (ms): a real activation strokes the fingers, a few seconds. */
  timeoutMs?: number;
  /** Pause between status polls. Default 50 (ms). */
  pollMs?: number;
}

export interface MoveTarget {
  /** 0 fully open .. 255 fully closed (integer). */
  position: number;
  /** 0..255 (integer). Default: the gripper's `defaultSpeed`. */
  speed?: number;
  /** 0..255 (integer). Default: the gripper's `defaultForce`. */
  force?: number;
}

function checkByte(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `Robotiq ${name} must be an integer 0..255, got ${String(value)}`,
      {
        [name]: value,
        min: 0,
        max: 255,
      },
    );
  }
  return value;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RobotiqGripper {
  /** `Robotiq 2F-85 (slave 9) on /dev/ttyUSB0`. */
  readonly description: string;
  readonly slaveId: number;
  private readonly master: ModbusRtuMaster;
  private readonly clock: { now(): number };
  private readonly defaultSpeed: number;
  private readonly defaultForce: number;
  private closed: Promise<void> | undefined;

  /** Opens the serial port; rejects with `NOT_CONNECTED` naming the path when it cannot. */
  static async open(options: RobotiqGripperOptions): Promise<RobotiqGripper> {
    RobotiqGripper.checkOptions(options);
    const transport = await openSerialTransport({
      path: options.path,
      baudRate: options.baudRate ?? ROBOTIQ_BAUD_RATE,
    });
    return new RobotiqGripper(transport, options);
  }

  /** Over an already open byte stream (an in-memory link in tests); `options.path` names it in errors. */
  static overTransport(transport: ByteTransport, options: RobotiqGripperOptions): RobotiqGripper {
    RobotiqGripper.checkOptions(options);
    return new RobotiqGripper(transport, options);
  }

  private static checkOptions(options: RobotiqGripperOptions): void {
    const slaveId = options.slaveId ?? ROBOTIQ_SLAVE_ID;
    if (!Number.isInteger(slaveId) || slaveId < 1 || slaveId > 247) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', `Robotiq slaveId must be an integer 1..247, got ${slaveId}`, {
        slaveId,
      });
    }
    checkByte('defaultSpeed', options.defaultSpeed ?? 0);
    checkByte('defaultForce', options.defaultForce ?? 0);
  }

  private constructor(transport: ByteTransport, options: RobotiqGripperOptions) {
    this.slaveId = options.slaveId ?? ROBOTIQ_SLAVE_ID;
    this.description = `Robotiq 2F-85 (slave ${this.slaveId}) on ${options.path}`;
    this.clock = options.clock ?? performance;
    this.defaultSpeed = options.defaultSpeed ?? 255;
    this.defaultForce = options.defaultForce ?? 128;
    this.master = new ModbusRtuMaster(transport, {
      timeoutMs: options.timeoutMs ?? 100,
      retries: options.retries ?? 1,
      baudRate: options.baudRate ?? ROBOTIQ_BAUD_RATE,
      device: this.description,
    });
  }

  /** The Modbus master underneath (stats, raw register access for diagnostics). */
  get modbus(): ModbusRtuMaster {
    return this.master;
  }

  /**
   * Resets (rACT=0) and activates (rACT=1), then polls until activation completes and returns that status. Rejects
   * with `GRIPPER_FAULT` when the gripper reports a fault other than "action delayed" while activating (fault name
   * in context) or when `timeoutMs` passes first (`ACTIVATION_TIMEOUT`, last status in context).
   */
  async activate(opts: ActivateOptions = {}): Promise<RobotiqStatus> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const pollMs = opts.pollMs ?? 50;
    if (!(timeoutMs > 0) || !(pollMs >= 0)) {
      throw new OpenpiEdgeError('BAD_ARGUMENT', 'activate: timeoutMs must be > 0 and pollMs >= 0', {
        timeoutMs,
        pollMs,
      });
    }
    await this.writeCommand(0, 0, 0, 0);
    await this.writeCommand(Action.ACTIVATE, 0, 0, 0);
    const started = performance.now();
    for (;;) {
      const s = await this.status();
      if (s.fault && s.fault.code !== 0x05) {
        throw new OpenpiEdgeError(
          'GRIPPER_FAULT',
          `${this.description}: activation failed: ${s.fault.message}`,
          {
            ...this.context(),
            fault: s.fault.name,
            faultCode: s.fault.code,
            status: s,
          },
        );
      }
      if (s.activation === 'complete') return s;
      if (performance.now() - started > timeoutMs) {
        throw new OpenpiEdgeError(
          'GRIPPER_FAULT',
          `${this.description}: activation did not complete within ${timeoutMs} ms (status ${s.activation})`,
          { ...this.context(), fault: 'ACTIVATION_TIMEOUT', timeoutMs, status: s },
        );
      }
      await sleep(pollMs);
    }
  }

  /** One command write (rACT=1, rGTO=1); resolves once the gripper acknowledged it, not when it arrives. */
  async move(target: MoveTarget): Promise<void> {
    if (typeof target !== 'object' || target === null) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `Robotiq move target must be an object, got ${String(target)}`,
        {
          target,
        },
      );
    }
    const position = checkByte('position', target.position);
    const speed = checkByte('speed', target.speed ?? this.defaultSpeed);
    const force = checkByte('force', target.force ?? this.defaultForce);
    await this.writeCommand(Action.ACTIVATE | Action.GO_TO, position, speed, force);
  }

  /** {@link move} to `round(v * 255)`: 0 fully open .. 1 fully closed. */
  moveNormalized(v: number, opts: { speed?: number; force?: number } = {}): Promise<void> {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      return Promise.reject(
        new OpenpiEdgeError(
          'BAD_ARGUMENT',
          `Robotiq normalized position must be within 0..1, got ${String(v)}`,
          {
            value: v,
            min: 0,
            max: 1,
          },
        ),
      );
    }
    return this.move({ position: Math.round(v * 255), ...opts });
  }

  /** Reads the 3 status registers (function 0x04 at 0x07D0). */
  async status(): Promise<RobotiqStatus> {
    const regs = await this.master.readInputRegisters(this.slaveId, INPUT_REGISTER_BASE, REGISTER_COUNT);
    return decodeStatus(regs, this.clock.now());
  }

  /** rGTO=0 (rACT stays 1): the fingers stop where they are. Writes the action register only. */
  async stop(): Promise<void> {
    await this.master.writeMultipleRegisters(this.slaveId, OUTPUT_REGISTER_BASE, [Action.ACTIVATE << 8]);
  }

  /** Closes the port; later calls reject with `CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.master.close();
    return this.closed;
  }

  private context(): Record<string, unknown> {
    return { gripper: this.description, port: this.master.port, slaveId: this.slaveId };
  }

  private async writeCommand(action: number, position: number, speed: number, force: number): Promise<void> {
    await this.master.writeMultipleRegisters(
      this.slaveId,
      OUTPUT_REGISTER_BASE,
      encodeCommand({ action, position, speed, force }),
    );
  }
}
