/**
 * The emulated arm's joint motion, stepped once per controller cycle (2 ms e-Series, 8 ms CB3). Units: rad, rad/s,
 * rad/s², seconds.
 *
 * Modes:
 * - `servo`: servoj-like tracking of a target with a first-order lag (time constant = the lookahead time), each
 *   joint limited to maxJointSpeed;
 * - `move`: movej-like synchronised trapezoid — the joint with the longest way runs at the requested speed and
 *   acceleration, the others scale so all arrive together; `arrived` turns true at the end;
 * - `stop`: decelerate every joint to rest at a given rate (stopj, servoStop, a program ending, hold);
 * - `frozen`: a safety stop — velocity zero at once (a real arm brakes within a few cycles).
 * target_q reports the commanded position: the servo target, the profile's current point, or q when stopping.
 */

export type MotionKind = 'servo' | 'move' | 'stop' | 'frozen';

interface Trapezoid {
  readonly start: number[];
  readonly goal: number[];
  /** Way of the leading joint (rad). */
  readonly distance: number;
  readonly accel: number;
  readonly vPeak: number;
  /** Acceleration phase and total duration (s). */
  readonly tAccel: number;
  readonly tTotal: number;
  elapsed: number;
}

function trapezoid(
  start: readonly number[],
  goal: readonly number[],
  speed: number,
  accel: number,
): Trapezoid {
  let distance = 0;
  for (let i = 0; i < 6; i++) distance = Math.max(distance, Math.abs((goal[i] ?? 0) - (start[i] ?? 0)));
  let tAccel = speed / accel;
  let vPeak = speed;
  let tTotal: number;
  if (distance >= speed * tAccel) {
    tTotal = distance / speed + tAccel;
  } else {
    // Too short to reach the speed: triangle profile.
    tAccel = Math.sqrt(distance / accel);
    vPeak = accel * tAccel;
    tTotal = 2 * tAccel;
  }
  return { start: [...start], goal: [...goal], distance, accel, vPeak, tAccel, tTotal, elapsed: 0 };
}

/** Way of the leading joint after `t` seconds. */
function trapezoidWay(p: Trapezoid, t: number): number {
  if (t <= 0) return 0;
  if (t >= p.tTotal) return p.distance;
  if (t < p.tAccel) return 0.5 * p.accel * t * t;
  const cruiseEnd = p.tTotal - p.tAccel;
  const accelWay = 0.5 * p.accel * p.tAccel * p.tAccel;
  if (t <= cruiseEnd) return accelWay + p.vPeak * (t - p.tAccel);
  const td = p.tTotal - t;
  return p.distance - 0.5 * p.accel * td * td;
}

export class JointMotion {
  readonly q: number[];
  readonly qd: number[] = [0, 0, 0, 0, 0, 0];
  readonly targetQ: number[];
  readonly maxJointSpeed: number;
  #kind: MotionKind = 'stop';
  #servoTarget: number[] = [];
  #tau = 0.1;
  #move: Trapezoid | undefined;
  #decel = 10;

  constructor(initialQ: readonly number[], maxJointSpeed: number) {
    this.q = [...initialQ];
    this.targetQ = [...initialQ];
    this.maxJointSpeed = maxJointSpeed;
  }

  get kind(): MotionKind {
    return this.#kind;
  }

  /** Whether every joint is at rest. */
  get still(): boolean {
    return this.qd.every((v) => v === 0);
  }

  /** A movej has reached its goal (false while moving or in another mode). */
  get arrived(): boolean {
    return this.#kind === 'move' && this.#move !== undefined && this.#move.elapsed >= this.#move.tTotal;
  }

  /** Tracks `target` with a first-order lag of time constant `lookahead` (clamped to [0.03, 0.2] s like servoj). */
  servo(target: readonly number[], lookahead: number): void {
    this.#kind = 'servo';
    this.#servoTarget = [...target];
    this.#tau = Math.min(0.2, Math.max(0.03, Number.isFinite(lookahead) ? lookahead : 0.1));
  }

  /** Starts a movej to `goal` at `speed` rad/s (capped to maxJointSpeed) and `accel` rad/s². */
  moveTo(goal: readonly number[], speed: number, accel: number): void {
    const v = Math.min(this.maxJointSpeed, speed > 0 && Number.isFinite(speed) ? speed : 1.05);
    const a = accel > 0 && Number.isFinite(accel) ? accel : 1.4;
    this.#kind = 'move';
    this.#move = trapezoid(this.q, goal, v, a);
  }

  /** Decelerates to rest at `decel` rad/s². */
  stop(decel = 10): void {
    if (this.#kind === 'frozen') return;
    this.#kind = 'stop';
    this.#decel = decel > 0 && Number.isFinite(decel) ? decel : 10;
  }

  /** Safety stop: zero velocity now; stays frozen until another mode is commanded. */
  freeze(): void {
    this.#kind = 'frozen';
    this.qd.fill(0);
    for (let i = 0; i < 6; i++) this.targetQ[i] = this.q[i] as number;
  }

  /** Leaves `frozen` (brakes released / safety stop cleared): at rest, ready for commands. */
  release(): void {
    if (this.#kind === 'frozen') this.#kind = 'stop';
  }

  step(dt: number): void {
    const prev = [...this.q];
    switch (this.#kind) {
      case 'servo': {
        const alpha = 1 - Math.exp(-dt / this.#tau);
        const maxStep = this.maxJointSpeed * dt;
        for (let i = 0; i < 6; i++) {
          const target = this.#servoTarget[i] ?? (this.q[i] as number);
          const want = (target - (this.q[i] as number)) * alpha;
          this.q[i] = (this.q[i] as number) + Math.max(-maxStep, Math.min(maxStep, want));
          this.targetQ[i] = target;
        }
        break;
      }
      case 'move': {
        const p = this.#move as Trapezoid;
        p.elapsed = Math.min(p.tTotal, p.elapsed + dt);
        const s = p.distance === 0 ? 1 : trapezoidWay(p, p.elapsed) / p.distance;
        for (let i = 0; i < 6; i++) {
          const v = (p.start[i] as number) + ((p.goal[i] as number) - (p.start[i] as number)) * s;
          this.q[i] = v;
          this.targetQ[i] = v;
        }
        break;
      }
      case 'stop': {
        const dv = this.#decel * dt;
        for (let i = 0; i < 6; i++) {
          const v = this.qd[i] as number;
          const slower = Math.abs(v) <= dv ? 0 : v - Math.sign(v) * dv;
          this.q[i] = (this.q[i] as number) + slower * dt;
          this.targetQ[i] = this.q[i] as number;
        }
        break;
      }
      case 'frozen':
        break;
    }
    for (let i = 0; i < 6; i++) {
      const v = ((this.q[i] as number) - (prev[i] as number)) / dt;
      this.qd[i] = Math.abs(v) < 1e-12 ? 0 : v;
    }
  }
}
