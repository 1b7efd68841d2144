/**
 * One emulated X-series servo: its control table (real addresses, sizes, defaults), write rules (EEPROM lock
 * while torque is on, read-only items, ranges and limits) and a motion model: with torque on in a position mode
 * the shaft follows a velocity-profile trajectory toward Goal Position (Profile Velocity / Acceleration, 0 =
 * unlimited → the model's no-load speed capped by Velocity Limit); torque off means no motion.
 *
 * Time comes from an injected `now()` (ms); state is advanced lazily whenever the servo is accessed, so no timers
 * run. [inferred] Enabling torque sets Goal Position to the present position (the servo holds where it is).
 */
import { decodeLE, encodeLE } from '../bytes.js';
import { DriveModeBit, OperatingMode, type Register, X_TABLE_END, XRegister } from '../control-table.js';
import { StatusError } from '../packet.js';
import type { ServoModel } from './models.js';

/** Initial EEPROM values of one servo (what was configured and saved on it), by {@link XRegister} key. */
export type ServoSettings = Partial<Record<keyof typeof XRegister, number>>;

export interface EmulatedServoOptions {
  id: number;
  model: ServoModel;
  /** EEPROM (and RAM) values that differ from the model's factory defaults. */
  settings?: ServoSettings;
  /** Shaft position at power-on, in counts. Default 2048 (centre). */
  initialPosition?: number;
  /** Present Input Voltage (0.1 V). Default 120 (12.0 V). */
  inputVoltage?: number;
  /** Present Temperature (°C). Default 35. */
  temperature?: number;
}

/** rpm unit of Velocity items: 0.229 rev/min per count → encoder counts per second. */
const VELOCITY_UNIT_COUNTS_PER_S = (0.229 * 4096) / 60;
/** Profile Acceleration unit 214.577 rev/min² → counts per second². */
const ACCEL_UNIT_COUNTS_PER_S2 = (214.577 * 4096) / 3600;
/** Integration step of the motion model (ms). */
const STEP_MS = 1;
const REGISTERS: readonly Register[] = Object.values(XRegister);
const BY_ADDRESS = new Map<number, Register>(REGISTERS.map((r) => [r.address, r]));
const OPERATING_MODES = new Set<number>(Object.values(OperatingMode));

function factoryDefaults(model: ServoModel, id: number): ServoSettings {
  return {
    ModelNumber: model.modelNumber,
    FirmwareVersion: model.firmwareVersion,
    Id: id,
    BaudRate: 1,
    ReturnDelayTime: 250,
    DriveMode: 0,
    OperatingMode: OperatingMode.Position,
    SecondaryId: 255,
    ProtocolType: 2,
    HomingOffset: 0,
    MovingThreshold: 10,
    TemperatureLimit: 80,
    MaxVoltageLimit: 160,
    MinVoltageLimit: 95,
    PwmLimit: 885,
    CurrentLimit: model.currentLimitMax,
    VelocityLimit: model.velocityLimit,
    MaxPositionLimit: 4095,
    MinPositionLimit: 0,
    StartupConfiguration: 0,
    Shutdown: 52,
  };
}

const RAM_DEFAULTS: ServoSettings = {
  TorqueEnable: 0,
  Led: 0,
  StatusReturnLevel: 2,
  RegisteredInstruction: 0,
  HardwareErrorStatus: 0,
  VelocityIGain: 1920,
  VelocityPGain: 100,
  PositionDGain: 0,
  PositionIGain: 0,
  PositionPGain: 800,
  Feedforward2ndGain: 0,
  Feedforward1stGain: 0,
  BusWatchdog: 0,
  ProfileAcceleration: 0,
  ProfileVelocity: 0,
};

export class EmulatedServo {
  readonly model: ServoModel;
  private readonly mem = new Uint8Array(X_TABLE_END);
  private readonly initialEeprom: Uint8Array;
  private position: number;
  private velocity = 0;
  private lastMs: number | undefined;
  private readonly inputVoltage: number;
  private readonly temperature: number;

  constructor(options: EmulatedServoOptions) {
    this.model = options.model;
    this.position = options.initialPosition ?? 2048;
    this.inputVoltage = options.inputVoltage ?? 120;
    this.temperature = options.temperature ?? 35;
    this.apply({ ...factoryDefaults(options.model, options.id), ...options.settings });
    this.initialEeprom = this.mem.slice(0, 64);
    this.powerOnRam();
    this.apply(
      Object.fromEntries(
        Object.entries(options.settings ?? {}).filter(
          ([k]) => XRegister[k as keyof typeof XRegister].area === 'ram',
        ),
      ),
    );
  }

  private apply(settings: ServoSettings): void {
    for (const [key, value] of Object.entries(settings)) {
      if (value !== undefined) this.set(XRegister[key as keyof typeof XRegister], value);
    }
  }

  private powerOnRam(): void {
    this.mem.fill(0, 64);
    this.apply(RAM_DEFAULTS);
    this.resetGoals();
    this.set(XRegister.GoalPosition, Math.round(this.position));
    this.velocity = 0;
  }

  private resetGoals(): void {
    this.set(XRegister.GoalPwm, this.get(XRegister.PwmLimit));
    this.set(XRegister.GoalCurrent, this.get(XRegister.CurrentLimit));
    this.set(XRegister.GoalVelocity, 0);
  }

  /** Raw item value (no time advance). */
  get(register: Register): number {
    return decodeLE(this.mem, register.address, register.size, register.signed);
  }

  private set(register: Register, value: number): void {
    this.mem.set(encodeLE(value, register.size), register.address);
  }

  get id(): number {
    return this.get(XRegister.Id);
  }
  get secondaryId(): number {
    return this.get(XRegister.SecondaryId);
  }
  get torqueEnabled(): boolean {
    return this.get(XRegister.TorqueEnable) === 1;
  }
  /** Present shaft position (counts, fractional) after advancing to `nowMs`. */
  positionAt(nowMs: number): number {
    this.advance(nowMs);
    return this.position;
  }

  /** Sets Hardware Error Status bits; bits in Shutdown (63) drop torque until a reboot. */
  injectHardwareError(bits: number, nowMs: number): void {
    this.advance(nowMs);
    this.set(XRegister.HardwareErrorStatus, this.get(XRegister.HardwareErrorStatus) | bits);
    if (bits & this.get(XRegister.Shutdown)) {
      this.set(XRegister.TorqueEnable, 0);
      this.velocity = 0;
    }
  }

  /** ERR byte for status packets: alert bit while Hardware Error Status is non-zero. */
  get alert(): number {
    return this.get(XRegister.HardwareErrorStatus) !== 0 ? 0x80 : 0;
  }

  /** Reboot: EEPROM kept, RAM to power-on values, hardware errors cleared, torque off. */
  reboot(nowMs: number): void {
    this.advance(nowMs);
    this.powerOnRam();
  }

  /** Factory Reset: 0xFF all, 0x01 all but ID, 0x02 all but ID and Baud Rate. Returns an error number. */
  factoryReset(option: number, nowMs: number): number {
    if (option !== 0xff && option !== 0x01 && option !== 0x02) return StatusError.DataRangeError;
    if (this.torqueEnabled) return StatusError.AccessError;
    const id = this.get(XRegister.Id);
    const baud = this.get(XRegister.BaudRate);
    this.apply(factoryDefaults(this.model, option === 0xff ? 1 : id));
    if (option === 0x02) this.set(XRegister.BaudRate, baud);
    this.reboot(nowMs);
    return StatusError.None;
  }

  /** Read: returns the bytes or an error number. Unused gaps read as 0; beyond the table is ACCESS_ERROR. */
  read(address: number, length: number, nowMs: number): { error: number; data: Uint8Array } {
    if (length < 1 || address + length > X_TABLE_END)
      return { error: StatusError.AccessError, data: new Uint8Array() };
    this.advance(nowMs);
    this.refreshPresent(nowMs);
    return { error: StatusError.None, data: this.mem.slice(address, address + length) };
  }

  /**
   * Write `data` at `address`, all or nothing. `viaSecondary`: reached through the Secondary ID, where EEPROM
   * items are ignored. Returns an error number (0 = done).
   */
  write(address: number, data: Uint8Array, nowMs: number, viaSecondary = false): number {
    this.advance(nowMs);
    const items: Array<[Register, number]> = [];
    for (let a = address; a < address + data.length; ) {
      const r = BY_ADDRESS.get(a);
      if (!r) return StatusError.AccessError;
      if (a + r.size > address + data.length) return StatusError.DataLengthError;
      items.push([r, decodeLE(data, a - address, r.size, r.signed)]);
      a += r.size;
    }
    const torqueAfter =
      items.find(([r]) => r === XRegister.TorqueEnable)?.[1] ?? this.get(XRegister.TorqueEnable);
    for (const [r, v] of items) {
      if (r.access === 'R') return StatusError.AccessError;
      if (r.area === 'eeprom' && viaSecondary) continue;
      if (r.area === 'eeprom' && this.torqueEnabled) return StatusError.AccessError;
      const err = this.check(r, v, items);
      if (err) return err;
    }
    if (
      torqueAfter === 1 &&
      !this.torqueEnabled &&
      this.get(XRegister.HardwareErrorStatus) & this.get(XRegister.Shutdown)
    ) {
      return StatusError.ResultFail;
    }
    for (const [r, v] of items) {
      if (r.area === 'eeprom' && viaSecondary) continue;
      const before = this.get(r);
      if (r === XRegister.TorqueEnable && v === 1 && before === 0) {
        this.set(XRegister.GoalPosition, Math.round(this.position));
      }
      if (r === XRegister.TorqueEnable && v === 0) this.velocity = 0;
      this.set(r, v);
      if (r === XRegister.OperatingMode && v !== before) {
        this.set(XRegister.ProfileVelocity, 0);
        this.set(XRegister.ProfileAcceleration, 0);
        this.resetGoals();
      }
    }
    return StatusError.None;
  }

  /** Range (DATA_RANGE_ERROR) and limit (DATA_LIMIT_ERROR) rules of one item. */
  private check(r: Register, v: number, items: ReadonlyArray<[Register, number]>): number {
    const pending = (reg: Register): number => items.find(([x]) => x === reg)?.[1] ?? this.get(reg);
    const range = (lo: number, hi: number): number => (v < lo || v > hi ? StatusError.DataRangeError : 0);
    const limit = (lo: number, hi: number): number => (v < lo || v > hi ? StatusError.DataLimitError : 0);
    switch (r) {
      case XRegister.Id:
        return range(0, 252);
      case XRegister.BaudRate:
        return range(0, 7);
      case XRegister.ReturnDelayTime:
        return range(0, 254);
      case XRegister.DriveMode:
        return range(
          0,
          DriveModeBit.Reverse |
            DriveModeBit.Slave |
            DriveModeBit.TimeBasedProfile |
            DriveModeBit.TorqueOnByGoalUpdate,
        );
      case XRegister.OperatingMode:
        return OPERATING_MODES.has(v) ? 0 : StatusError.DataRangeError;
      case XRegister.ProtocolType:
        return range(1, 2);
      case XRegister.HomingOffset:
        return range(-1044479, 1044479);
      case XRegister.MovingThreshold:
      case XRegister.VelocityLimit:
        return range(0, 1023);
      case XRegister.TemperatureLimit:
        return range(0, 100);
      case XRegister.MaxVoltageLimit:
      case XRegister.MinVoltageLimit:
        return range(95, 160);
      case XRegister.PwmLimit:
        return range(0, 885);
      case XRegister.CurrentLimit:
        return range(0, this.model.currentLimitMax);
      case XRegister.MaxPositionLimit:
      case XRegister.MinPositionLimit:
        return range(0, 4095);
      case XRegister.TorqueEnable:
      case XRegister.Led:
        return range(0, 1);
      case XRegister.StatusReturnLevel:
        return range(0, 2);
      case XRegister.VelocityIGain:
      case XRegister.VelocityPGain:
      case XRegister.PositionDGain:
      case XRegister.PositionIGain:
      case XRegister.PositionPGain:
      case XRegister.Feedforward1stGain:
      case XRegister.Feedforward2ndGain:
        return range(0, 16383);
      case XRegister.BusWatchdog:
        return range(0, 127);
      case XRegister.GoalPwm: {
        const lim = this.get(XRegister.PwmLimit);
        return limit(-lim, lim);
      }
      case XRegister.GoalCurrent: {
        const lim = this.get(XRegister.CurrentLimit);
        return limit(-lim, lim);
      }
      case XRegister.GoalVelocity: {
        const lim = this.get(XRegister.VelocityLimit);
        return limit(-lim, lim);
      }
      case XRegister.ProfileAcceleration:
      case XRegister.ProfileVelocity:
        return range(0, 32767);
      case XRegister.GoalPosition: {
        if (pending(XRegister.OperatingMode) === OperatingMode.Position) {
          return limit(this.get(XRegister.MinPositionLimit), this.get(XRegister.MaxPositionLimit));
        }
        return range(-1048575, 1048575);
      }
      default:
        return 0;
    }
  }

  /** Moves the shaft from the last update to `nowMs` in {@link STEP_MS} steps. */
  advance(nowMs: number): void {
    if (this.lastMs === undefined || nowMs < this.lastMs) {
      this.lastMs = nowMs;
      return;
    }
    let remaining = nowMs - this.lastMs;
    this.lastMs = nowMs;
    if (!this.torqueEnabled) {
      this.velocity = 0;
      return;
    }
    const mode = this.get(XRegister.OperatingMode);
    const positionMode =
      mode === OperatingMode.Position ||
      mode === OperatingMode.ExtendedPosition ||
      mode === OperatingMode.CurrentBasedPosition;
    if (!positionMode && mode !== OperatingMode.Velocity) {
      this.velocity = 0;
      return;
    }
    const velLimit = this.get(XRegister.VelocityLimit) * VELOCITY_UNIT_COUNTS_PER_S;
    const noLoad = (this.model.noLoadRpm * 4096) / 60;
    const profileVel = this.get(XRegister.ProfileVelocity) * VELOCITY_UNIT_COUNTS_PER_S;
    const vmax = Math.min(profileVel > 0 ? profileVel : noLoad, velLimit > 0 ? velLimit : noLoad, noLoad);
    const accRaw = this.get(XRegister.ProfileAcceleration);
    const amax = accRaw > 0 ? accRaw * ACCEL_UNIT_COUNTS_PER_S2 : Number.POSITIVE_INFINITY;
    const goal = this.get(XRegister.GoalPosition);
    const goalVel = this.get(XRegister.GoalVelocity) * VELOCITY_UNIT_COUNTS_PER_S;
    // Bound the work: after 60 s of idle time a position servo has long reached its goal.
    if (remaining > 60_000 && positionMode) {
      this.position = goal;
      this.velocity = 0;
      return;
    }
    while (remaining > 0) {
      const dt = Math.min(STEP_MS, remaining) / 1000;
      remaining -= STEP_MS;
      let target: number;
      if (positionMode) {
        const err = goal - this.position;
        if (err === 0 && this.velocity === 0) break;
        target = Math.sign(err) * Math.min(vmax, Math.sqrt(2 * amax * Math.abs(err)));
      } else {
        target = Math.max(-velLimit, Math.min(velLimit, goalVel));
      }
      const dv = target - this.velocity;
      const maxDv = amax * dt;
      this.velocity += Math.abs(dv) > maxDv ? Math.sign(dv) * maxDv : dv;
      const before = this.position;
      this.position += this.velocity * dt;
      if (positionMode && (goal - before) * (goal - this.position) <= 0) {
        this.position = goal;
        this.velocity = 0;
      }
    }
  }

  private refreshPresent(nowMs: number): void {
    const rpmUnits = this.velocity / VELOCITY_UNIT_COUNTS_PER_S;
    const pos = Math.round(this.position);
    this.set(XRegister.PresentPosition, pos);
    this.set(XRegister.PresentVelocity, Math.round(rpmUnits));
    this.set(XRegister.PositionTrajectory, this.get(XRegister.GoalPosition));
    this.set(XRegister.VelocityTrajectory, Math.round(rpmUnits));
    const moving =
      Math.abs(rpmUnits) > this.get(XRegister.MovingThreshold) || (this.torqueEnabled && this.velocity !== 0);
    this.set(XRegister.Moving, moving ? 1 : 0);
    this.set(XRegister.MovingStatus, moving ? 0x02 : 0x01);
    // Holding torque model: current grows with position error (P gain 800 → 1 unit per count), capped.
    const lim = this.get(XRegister.CurrentLimit);
    const err = this.torqueEnabled ? this.get(XRegister.GoalPosition) - pos : 0;
    const current = Math.max(
      -lim,
      Math.min(lim, Math.round((err * this.get(XRegister.PositionPGain)) / 800)),
    );
    this.set(XRegister.PresentCurrent, this.model.currentLimitMax > 0 ? current : 0);
    this.set(XRegister.PresentPwm, this.torqueEnabled ? Math.max(-885, Math.min(885, current)) : 0);
    this.set(XRegister.RealtimeTick, Math.floor(nowMs) % 32768);
    this.set(XRegister.PresentInputVoltage, this.inputVoltage);
    this.set(XRegister.PresentTemperature, this.temperature);
  }

  /** EEPROM as configured at construction (for tests that check persistence). */
  get configuredEeprom(): Uint8Array {
    return this.initialEeprom.slice();
  }
}
