/**
 * The UR5's gripper as the plugin sees it: a normalised value (openpi's UR5 convention, 0 open .. 1 closed), a
 * cached reading that `read()` returns without waiting on the serial line, and faults. `RobotiqLink` polls a
 * Robotiq 2F-85 (robotiq/gripper.ts) in the background (serial I/O is asynchronous; the loop never waits on it)
 * and sends a new goal only when the commanded value changes by at least one Robotiq step (1/255).
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { RobotFault } from '../interface.js';
import type { RobotiqGripper, RobotiqStatus } from '../robotiq/gripper.js';

export interface Ur5GripperLink {
  readonly description: string;
  /** Newest position (0 open .. 1 closed). */
  position(): number;
  /** Goal (0 open .. 1 closed), already gated. */
  command(value: number): Promise<void>;
  stop(): Promise<void>;
  faults(atMs: number): RobotFault[];
  /** Re-activates after a fault (the user's resume). */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** No gripper: position 0 (open), commands ignored. */
export class NoGripper implements Ur5GripperLink {
  readonly description = 'none';
  position(): number {
    return 0;
  }
  async command(_value: number): Promise<void> {}
  async stop(): Promise<void> {}
  faults(): RobotFault[] {
    return [];
  }
  async resume(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface RobotiqLinkOptions {
  /** Status poll period (ms). Default 20. */
  readonly pollMs?: number;
  /** Robotiq speed / force bytes (0–255). Defaults 255 / 150. */
  readonly speed?: number;
  readonly force?: number;
  /** Activation timeout (ms). Default 10000 (a real gripper strokes fully open and closed). */
  readonly activateTimeoutMs?: number;
  /** Dry run: read the status only (no activation, no goal, no stop: activating strokes the fingers). */
  readonly readOnly?: boolean;
  readonly warn?: (m: string) => void;
}

export class RobotiqLink implements Ur5GripperLink {
  readonly description: string;
  readonly #g: RobotiqGripper;
  readonly #o: RobotiqLinkOptions;
  #status: RobotiqStatus | null = null;
  #linkError: OpenpiEdgeError | null = null;
  #lastSent = -1;
  #timer: NodeJS.Timeout | null = null;
  #polling = false;
  #closed = false;

  private constructor(g: RobotiqGripper, o: RobotiqLinkOptions) {
    this.#g = g;
    this.#o = o;
    this.description = g.description;
  }

  /** Activates the gripper (GRIPPER_FAULT naming what failed; read-only: reads it) and starts polling. */
  static async start(g: RobotiqGripper, o: RobotiqLinkOptions = {}): Promise<RobotiqLink> {
    const link = new RobotiqLink(g, o);
    link.#status =
      o.readOnly === true ? await g.status() : await g.activate({ timeoutMs: o.activateTimeoutMs ?? 10_000 });
    link.#timer = setInterval(() => void link.#poll(), o.pollMs ?? 20);
    return link;
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      this.#status = await this.#g.status();
      this.#linkError = null;
    } catch (e) {
      if (this.#closed) return; // a poll in flight when close() closed the line: not a fault
      if (this.#linkError === null) this.#o.warn?.(`gripper: ${(e as Error).message}`);
      this.#linkError =
        e instanceof OpenpiEdgeError ? e : new OpenpiEdgeError('GRIPPER_FAULT', String(e), {});
    } finally {
      this.#polling = false;
    }
  }

  /** The newest status (null before activation completed). */
  get status(): RobotiqStatus | null {
    return this.#status;
  }

  position(): number {
    return this.#status === null ? 0 : this.#status.position / 255;
  }

  async command(value: number): Promise<void> {
    const pos = Math.round(Math.min(1, Math.max(0, value)) * 255);
    if (pos === this.#lastSent || this.#closed || this.#o.readOnly === true) return;
    await this.#g.move({
      position: pos,
      ...(this.#o.speed === undefined ? {} : { speed: this.#o.speed }),
      ...(this.#o.force === undefined ? {} : { force: this.#o.force }),
    });
    this.#lastSent = pos;
  }

  async stop(): Promise<void> {
    if (this.#closed || this.#o.readOnly === true) return;
    this.#lastSent = -1;
    await this.#g.stop();
  }

  faults(atMs: number): RobotFault[] {
    const out: RobotFault[] = [];
    if (this.#linkError !== null) {
      out.push({ code: 'GRIPPER_LINK', message: `Robotiq gripper: ${this.#linkError.message}`, atMs });
    }
    const f = this.#status?.fault;
    if (f !== null && f !== undefined) {
      out.push({
        code: 'GRIPPER_FAULT',
        message: `Robotiq gripper fault 0x${f.code.toString(16)} ${f.name}: ${f.message}`,
        atMs,
      });
    } else if (this.#status !== null && this.#status.activation !== 'complete' && this.#o.readOnly !== true) {
      out.push({ code: 'GRIPPER_NOT_ACTIVE', message: 'Robotiq gripper is not activated', atMs });
    }
    return out;
  }

  async resume(): Promise<void> {
    if (this.faults(0).length === 0 || this.#o.readOnly === true) return;
    this.#status = await this.#g.activate({ timeoutMs: this.#o.activateTimeoutMs ?? 10_000 });
    this.#lastSent = -1;
    this.#linkError = null;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#g.close();
  }
}
