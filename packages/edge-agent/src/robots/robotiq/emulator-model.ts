/**
 * Behaviour model of a Robotiq 2F-85, driven by the command registers and read through the status registers
 * (layout in ./registers.ts). State advances lazily on a clock: each register access first integrates the motion
 * up to `clock.now()`, so a manual clock makes it deterministic and the real one makes it run in real time.
 *
 * Model (positions in register units, 0 open .. 255 closed, i.e. 85 mm / 255 = 1/3 mm per unit):
 * - rACT 0: reset. gACT, gGTO, gSTA and gOBJ read 0, motion stops, faults clear. rGTO=1 while reset: fault 0x07.
 * - rACT 0 → 1 (or 1 written while reset): activation. gACT=1, gSTA=1 for `activationMs` while the fingers sweep
 *   closed and back open, then gSTA=3 at position 0. A go-to written meanwhile raises fault 0x05 and runs once
 *   activation completes.
 * - rACT 1, rGTO 1 after activation: the fingers move toward rPR at the speed rSP maps to (20..150 mm/s, linear in
 *   0..255). gOBJ 0 while moving, 3 on arrival; an injected object stops them at its position: gOBJ 2 if they were
 *   closing, 1 if opening. rGTO 0 stops them where they are (gGTO 0, gOBJ 0).
 * - rATR 1: automatic release, a slow move (20 mm/s) fully open (rARD 1) or closed (rARD 0) with fault 0x0B, then
 *   fault 0x0F; both are major.
 * - Injected faults: every fault stops motion; major ones (0x0A and up) stall an activation in progress and
 *   ignore commands until a reset, minor ones until {@link Robotiq2F85Model.clearFault}.
 * - Motor current (units of 10 mA): 0 at rest, 20 (200 mA) while moving, and 30 + rFR / 4 (up to 920 mA) while
 *   gripping an object. Only a plausible shape, not calibrated.
 */
import {
  Action,
  decodeCommand,
  encodeStatus,
  FIRST_MAJOR_FAULT,
  type RawStatus,
  type RobotiqCommand,
  STROKE_MM,
} from './registers.js';

export interface GripperModelOptions {
  /** How long an activation takes. Default 1500 (ms); tests use less. */
  activationMs?: number;
  /** Time source (ms). Default `performance.now`. */
  clock?: { now(): number };
}

/** Where an injected object stops the fingers, and from which side it is gripped. */
export interface InjectedObject {
  /** Finger position (0..255) at which contact happens. */
  position: number;
  /** `closing`: the fingers close onto it (external grip); `opening`: they open into it (internal grip). */
  direction: 'closing' | 'opening';
}

const UNITS_PER_MM = 255 / STROKE_MM;
const MIN_SPEED_MM_S = 20;
const MAX_SPEED_MM_S = 150;

/** Finger speed for the speed byte, in position units per ms. */
export function speedUnitsPerMs(speedByte: number): number {
  const mmPerS = MIN_SPEED_MM_S + ((MAX_SPEED_MM_S - MIN_SPEED_MM_S) * speedByte) / 255;
  return (mmPerS * UNITS_PER_MM) / 1000;
}

export class Robotiq2F85Model {
  readonly activationMs: number;
  private readonly clock: { now(): number };
  private readonly output = [0, 0, 0];
  private command: RobotiqCommand = { action: 0, position: 0, speed: 0, force: 0 };
  private gACT = false;
  private gGTO = false;
  private gSTA = 0;
  private gOBJ = 0;
  private gFLT = 0;
  /** Continuous finger position (0..255). */
  private pos = 0;
  private target = 0;
  private unitsPerMs = 0;
  private moving = false;
  private activationStart = 0;
  private releasing = false;
  private object: InjectedObject | undefined;
  private lastMs: number;

  constructor(options: GripperModelOptions = {}) {
    this.activationMs = options.activationMs ?? 1500;
    this.clock = options.clock ?? performance;
    this.lastMs = this.clock.now();
  }

  /** Robot output registers `[offset, offset + count)` as last written (function 0x03). */
  readOutput(offset: number, count: number): number[] {
    return this.output.slice(offset, offset + count);
  }

  /** Writes robot output registers starting at `offset` and applies the resulting command. */
  writeOutput(offset: number, values: readonly number[]): void {
    this.advance();
    values.forEach((v, i) => {
      this.output[offset + i] = v & 0xffff;
    });
    this.apply(decodeCommand(this.output));
  }

  /** Robot input registers `[offset, offset + count)` now (function 0x04). */
  readInput(offset: number, count: number): number[] {
    return encodeStatus(this.raw()).slice(offset, offset + count);
  }

  /** The status bytes now (advances the model first). */
  raw(): RawStatus {
    this.advance();
    let current = 0;
    if (this.moving) current = 20;
    else if (this.gGTO && (this.gOBJ === 1 || this.gOBJ === 2)) current = 30 + (this.command.force >> 2);
    return {
      gACT: this.gACT,
      gGTO: this.gGTO,
      gSTA: this.gSTA,
      gOBJ: this.gOBJ,
      gFLT: this.gFLT,
      positionRequest: this.command.position,
      position: Math.round(this.pos),
      current,
    };
  }

  /** Puts an object between the fingers (`undefined` removes it). Takes effect on the next motion through it. */
  injectObject(object: InjectedObject | undefined): void {
    this.advance();
    this.object = object;
  }

  /** Raises fault `code` (gFLT) and stops the fingers. */
  injectFault(code: number): void {
    this.advance();
    this.gFLT = code & 0xff;
    this.halt();
  }

  /** Clears a minor fault (a major one needs a reset through rACT). */
  clearFault(): void {
    this.advance();
    if (this.gFLT < FIRST_MAJOR_FAULT) this.gFLT = 0;
  }

  /** Integrates activation and motion up to `clock.now()`. */
  advance(): void {
    const now = this.clock.now();
    const dt = Math.max(0, now - this.lastMs);
    this.lastMs = now;
    if (this.gSTA === 1) {
      if (this.gFLT >= FIRST_MAJOR_FAULT) return; // activation stalls on a major fault until a reset
      const t = (now - this.activationStart) / this.activationMs;
      if (t < 1) {
        this.pos = 255 * (t < 0.5 ? 2 * t : 2 - 2 * t);
        return;
      }
      this.gSTA = 3;
      this.pos = 0;
      this.target = 0;
      if (this.gFLT === 0x05) this.gFLT = 0;
      this.applyGoTo(); // a go-to written during activation runs now
      return;
    }
    if (!this.moving) return;
    const step = this.unitsPerMs * dt;
    const dir = Math.sign(this.target - this.pos);
    let next = Math.abs(this.target - this.pos) <= step ? this.target : this.pos + dir * step;
    const obj = this.object;
    let contact = false;
    if (obj && !this.releasing) {
      if (obj.direction === 'closing' && dir > 0 && this.pos <= obj.position && next >= obj.position) {
        contact = next > obj.position || this.target > obj.position;
      } else if (obj.direction === 'opening' && dir < 0 && this.pos >= obj.position && next <= obj.position) {
        contact = next < obj.position || this.target < obj.position;
      }
      if (contact) next = obj.position;
    }
    this.pos = next;
    if (contact) {
      this.moving = false;
      this.gOBJ = dir > 0 ? 2 : 1;
    } else if (this.pos === this.target) {
      this.moving = false;
      if (this.releasing) {
        this.releasing = false;
        this.gFLT = 0x0f;
      } else {
        this.gOBJ = 3;
      }
    }
  }

  private apply(cmd: RobotiqCommand): void {
    this.command = cmd;
    const act = (cmd.action & Action.ACTIVATE) !== 0;
    const gto = (cmd.action & Action.GO_TO) !== 0;
    if (!act) {
      this.gACT = false;
      this.gGTO = false;
      this.gSTA = 0;
      this.gOBJ = 0;
      this.gFLT = gto ? 0x07 : 0;
      this.releasing = false;
      this.halt();
      return;
    }
    if (this.gSTA === 0) {
      // activation: rACT written 1 while reset (after 0, or at power-up)
      this.gACT = true;
      this.gGTO = false;
      this.gSTA = 1;
      this.gOBJ = 0;
      this.gFLT = gto ? 0x05 : 0;
      this.releasing = false;
      this.moving = false;
      this.activationStart = this.clock.now();
      return;
    }
    if (this.gSTA === 1) {
      if (gto) this.gFLT = 0x05;
      else if (this.gFLT === 0x05) this.gFLT = 0;
      return;
    }
    if (this.gFLT >= FIRST_MAJOR_FAULT) return; // needs a reset
    if (this.gFLT === 0x07) this.gFLT = 0;
    if (this.gFLT !== 0) return; // minor fault: wait for clearFault
    if ((cmd.action & Action.AUTO_RELEASE) !== 0) {
      this.releasing = true;
      this.gFLT = 0x0b;
      this.gGTO = false;
      this.gOBJ = 0;
      this.target = (cmd.action & Action.RELEASE_OPEN) !== 0 ? 0 : 255;
      this.unitsPerMs = speedUnitsPerMs(0);
      this.moving = this.pos !== this.target;
      if (!this.moving) {
        this.releasing = false;
        this.gFLT = 0x0f;
      }
      return;
    }
    this.applyGoTo();
  }

  /** Starts (rGTO 1) or stops (rGTO 0) a move per the current command; activation is complete. */
  private applyGoTo(): void {
    const cmd = this.command;
    if ((cmd.action & Action.GO_TO) === 0) {
      this.gGTO = false;
      this.gOBJ = 0;
      this.halt();
      return;
    }
    this.gGTO = true;
    this.target = cmd.position;
    this.unitsPerMs = speedUnitsPerMs(cmd.speed);
    this.gOBJ = 0;
    this.moving = true;
    this.advanceNoTime();
  }

  /** Settles a move that needs no time (already at the target, or already touching the object). */
  private advanceNoTime(): void {
    const saved = this.unitsPerMs;
    this.unitsPerMs = 0;
    this.lastMs = this.clock.now();
    this.advance();
    this.unitsPerMs = saved;
  }

  private halt(): void {
    this.moving = false;
    this.target = this.pos;
  }

  /** Read-only view for tests and logs. */
  get state(): {
    activated: boolean;
    activationStatus: number;
    position: number;
    target: number;
    moving: boolean;
    fault: number;
    object: InjectedObject | undefined;
  } {
    this.advance();
    return {
      activated: this.gACT,
      activationStatus: this.gSTA,
      position: this.pos,
      target: this.target,
      moving: this.moving,
      fault: this.gFLT,
      object: this.object,
    };
  }
}
