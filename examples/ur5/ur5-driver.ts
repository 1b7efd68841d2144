/**
 * The app's side of the UR5 example: the small driver interface YOUR code implements for your arm, and a simulated
 * driver (the UR5 plugin's emulator) so the example runs without one. The plugin (ur5-plugin.ts) wraps whichever
 * driver its config section selects. A UR RTDE driver is not part of the packages yet (a later issue builds one
 * into `@openpi-edge/edge-agent`); a real one implements {@link Ur5Driver} over RTDE: joint positions from the
 * output recipe's `actual_q`, the protective stop from `safety_status_bits` (bit 2), targets through `servoJ` in an
 * RTDE-controlled URScript program (or ur_rtde's `servoJ`), `stop` as `servoStop` / `stopJ`, plus your gripper's
 * own link.
 */

/** Joint positions of the 6 arm joints (rad, base -> wrist 3), when they were read, and the controller's safety state. */
export interface Ur5JointState {
  readonly positions: readonly number[];
  /** When read (ms, on the clock given to the driver). */
  readonly stampMs: number;
  /**
   * The controller is in a protective stop (RTDE `safety_status_bits` bit 2): it ignores motion targets until the
   * stop is cleared (teach pendant or dashboard `unlock protective stop`). Absent = false.
   */
  readonly protectiveStopped?: boolean;
}

/** Parameters of one servo target (UR's `servoJ(q, a, v, t, lookahead_time, gain)`). */
export interface ServoOptions {
  /** Time the controller takes to reach the target (s). The plugin passes one control period. */
  readonly timeS: number;
  /** Smoothing lookahead (s), UR range 0.03-0.2. Default 0.1. */
  readonly lookaheadS?: number;
  /** Proportional gain, UR range 100-2000. Default 300. */
  readonly gain?: number;
}

/**
 * What the example needs from a UR5e. Calls are awaited one at a time; none overlaps another.
 * After `close()` no other method is called.
 */
export interface Ur5Driver {
  /** Opens the links (RTDE, gripper), starts the servo program. Resolves once `readJoints` has data. */
  connect(): Promise<void>;
  /** The latest measured joint positions (and the protective-stop state). */
  readJoints(): Promise<Ur5JointState>;
  /** Streams one joint target (6 rad), servoJ-like: non-blocking, call once per control tick. */
  moveJoints(target: readonly number[], options: ServoOptions): Promise<void>;
  /** The gripper position, normalised: 0 open .. 1 closed (openpi's UR5 convention). */
  readGripper(): Promise<number>;
  /** Commands the gripper (normalised 0 open .. 1 closed). Non-blocking. */
  gripper(position: number): Promise<void>;
  /** Stops where the arm is now (servoStop / stopJ): the arm and the gripper hold their measured position. */
  stop(): Promise<void>;
  /** Stops servoing (the arm holds where it is) and closes the links. */
  close(): Promise<void>;
}

/** A common UR "home": [0, -π/2, π/2, -π/2, -π/2, 0] rounded to 0.01 rad. */
export const UR5_HOME_POSE: readonly number[] = Object.freeze([0, -1.57, 1.57, -1.57, -1.57, 0]);

export interface SimulatedUr5DriverOptions {
  /** Clock (ms) for the joint stamps and the motion model. Required: the plugin's clock. */
  clock: { now(): number };
  /** Start pose (6 rad). Default {@link UR5_HOME_POSE}. */
  initial?: readonly number[];
  /** Fastest joint speed of the motion model (rad/s). Default π (UR5e's base joints). */
  maxJointSpeed?: number;
  /** Gripper speed (normalised /s). Default 2. */
  gripperSpeed?: number;
}

/**
 * A UR5e in memory: each joint moves toward its last target at most `maxJointSpeed`, the gripper likewise.
 * Records every accepted command so tests can check what reached the "robot". {@link protectiveStop} simulates a
 * protective stop: the arm stops where it is, and targets are ignored (counted in `ignoredCommands`) until
 * {@link clearProtectiveStop}.
 */
export class SimulatedUr5Driver implements Ur5Driver {
  readonly #clock: { now(): number };
  readonly #maxSpeed: number;
  readonly #gripperSpeed: number;
  #q: number[];
  #target: number[];
  #g = 0;
  #gTarget = 0;
  #t: number;
  #connected = false;
  #stopped = false;
  /** Every accepted `moveJoints` target, in order. */
  readonly commands: number[][] = [];
  /** Every accepted `gripper` command, in order. */
  readonly gripperCommands: number[] = [];
  /** `moveJoints` and `gripper` calls ignored during a protective stop. */
  ignoredCommands = 0;
  /** `stop` calls. */
  stops = 0;

  constructor(options: SimulatedUr5DriverOptions) {
    this.#clock = options.clock;
    this.#q = [...(options.initial ?? UR5_HOME_POSE)];
    if (this.#q.length !== 6 || !this.#q.every(Number.isFinite)) {
      throw new RangeError(
        `SimulatedUr5Driver: initial needs 6 finite angles (rad), got [${this.#q.join(', ')}]`,
      );
    }
    this.#target = [...this.#q];
    this.#maxSpeed = options.maxJointSpeed ?? Math.PI;
    this.#gripperSpeed = options.gripperSpeed ?? 2;
    this.#t = this.#clock.now();
  }

  /** True while a simulated protective stop is active. */
  get protectiveStopped(): boolean {
    return this.#stopped;
  }

  /** Simulates a protective stop: the arm and gripper stop where they are; targets are ignored until cleared. */
  protectiveStop(): void {
    this.#advance();
    this.#stopped = true;
    this.#target = [...this.#q];
    this.#gTarget = this.#g;
  }

  /** Clears the protective stop (the pendant's "unlock"): the arm stays where it stopped until the next target. */
  clearProtectiveStop(): void {
    this.#advance();
    this.#stopped = false;
  }

  async connect(): Promise<void> {
    this.#connected = true;
    this.#t = this.#clock.now();
  }

  #advance(): number {
    const now = this.#clock.now();
    const dt = Math.max(0, now - this.#t) / 1000;
    this.#t = now;
    const toward = (x: number, goal: number, speed: number) =>
      x + Math.max(-speed * dt, Math.min(speed * dt, goal - x));
    this.#q = this.#q.map((x, i) => toward(x, this.#target[i] ?? x, this.#maxSpeed));
    this.#g = toward(this.#g, this.#gTarget, this.#gripperSpeed);
    return now;
  }

  #check(): void {
    if (!this.#connected) throw new Error('SimulatedUr5Driver: not connected');
  }

  async readJoints(): Promise<Ur5JointState> {
    this.#check();
    const stampMs = this.#advance();
    return { positions: [...this.#q], stampMs, protectiveStopped: this.#stopped };
  }

  async moveJoints(target: readonly number[], _options: ServoOptions): Promise<void> {
    this.#check();
    if (target.length !== 6 || !target.every(Number.isFinite)) {
      throw new RangeError(`moveJoints needs 6 finite angles (rad), got [${target.join(', ')}]`);
    }
    this.#advance();
    if (this.#stopped) {
      this.ignoredCommands += 1;
      return;
    }
    this.#target = [...target];
    this.commands.push([...target]);
  }

  async readGripper(): Promise<number> {
    this.#check();
    this.#advance();
    return this.#g;
  }

  async gripper(position: number): Promise<void> {
    this.#check();
    this.#advance();
    if (this.#stopped) {
      this.ignoredCommands += 1;
      return;
    }
    this.#gTarget = Math.max(0, Math.min(1, position));
    this.gripperCommands.push(position);
  }

  async stop(): Promise<void> {
    this.#check();
    this.#advance();
    this.stops += 1;
    this.#target = [...this.#q];
    this.#gTarget = this.#g;
  }

  async close(): Promise<void> {
    this.#connected = false;
  }
}
