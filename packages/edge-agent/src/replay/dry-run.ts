/**
 * `edge-agent replay <recording> --dry-run --robot <name>`: the recorded commands, at the recorded control rate,
 * through the SafetyGate into the robot's emulator (the robot `start` drives by default), with the tracking error
 * between the emulator's measured joints and the recorded ones.
 *
 * Every motion passes the gate: each step goes through RobotEnvironment.applyAction (gate.step with the measured
 * joints, the emulator's camera stamps and faults; a move writes the gate's SafeCommand, a hold re-sends the last
 * safe one), and the moves before an episode (the robot's reset plan, then a planned move to the episode's first
 * recorded pose) go through gate.motionStep. A step without a recorded command (a recorded hold) is given to the
 * gate as no action (it holds with ACTION_MISSING); a non-finite or out-of-range recorded command makes it hold
 * with ACTION_NON_FINITE / ACTION_OUT_OF_RANGE, and the replay goes on with the next step. The e-stop is checked
 * by the gate on every tick: once latched (a signal, a test, a latching fault) the next tick holds and the replay
 * stops after it, the robot holding where it is.
 *
 * Tracking error: at step i, the joints the emulator measured at the start of the step (before the step's command)
 * against the joints recorded at the start of step i (same semantics as /joint_states).
 */
import { type Clock, ndarray, OpenpiEdgeError, realClock } from '@openpi-edge/client';
import { RobotEnvironment } from '../agent/robot-environment.js';
import type { AnyRobotPlugin, Robot } from '../robots/interface.js';
import type { EStopCause } from '../safety/estop.js';
import type { FaultCode } from '../safety/faults.js';
import { type GateDecision, SafetyGate } from '../safety/gate.js';
import { planMove } from '../safety/move-plan.js';
import { DifferenceStats, type DifferenceSummary } from './compare.js';
import type { RecordedEpisode, RecordingSource } from './recorded-episode.js';

export interface DryRunOptions {
  /** The robot plugin; connected with its default config section, which must be an emulator. */
  plugin: AnyRobotPlugin;
  clock?: Clock;
  warn?: (message: string) => void;
  /** Before each episode: the robot's reset plan, then a planned move to the episode's first recorded pose.
   *  Default true; false starts from wherever the emulator is. */
  moveToStart?: boolean;
  /** Fraction of each joint's maxVelocity the pre-episode moves use. Default 0.5. */
  speedFraction?: number;
  /** Control rate (Hz). Default the recording's. */
  hz?: number;
  /** Called once the robot and the gate exist (the CLI attaches its e-stop inputs; tests trigger the e-stop). */
  onReady?: (parts: { robot: Robot; gate: SafetyGate }) => void;
  /** After every replayed step with its gate decision. */
  onStep?: (episode: number, step: number, decision: GateDecision) => void;
}

export interface DryRunSummary {
  readonly recording: string;
  readonly robot: string;
  readonly robotDescription: string;
  readonly hz: number;
  readonly episodes: number;
  /** Recorded steps given to the gate. */
  readonly steps: number;
  /** Of those, recorded steps without a command (given as no action). */
  readonly recordedHolds: number;
  readonly moves: number;
  readonly holds: number;
  /** Held ticks per fault code (a tick with two faults counts for both). */
  readonly holdsByFault: Readonly<Partial<Record<FaultCode, number>>>;
  /** Clamps applied to moves: per kind, and per joint (`position` + `rate`). */
  readonly clamps: {
    readonly position: number;
    readonly rate: number;
    readonly byJoint: Readonly<Record<string, number>>;
  };
  /** Moves of the pre-episode positioning (reset plan + move to the first pose). */
  readonly positioningMoves: number;
  readonly tracking: DifferenceSummary;
  /** The e-stop's cause when it stopped the replay, else null. */
  readonly estop: EStopCause | null;
  readonly stoppedEarly: boolean;
  /** Mean lateness of the ticks against the recorded rate (ms). */
  readonly meanLateMs: number;
}

function mismatch(message: string, context: Record<string, unknown>): OpenpiEdgeError {
  return new OpenpiEdgeError('CONFIG_MISMATCH', message, context);
}

/** CONFIG_MISMATCH unless the recording's robot and joints are the robot's. */
export function checkRobotFits(source: RecordingSource, joints: readonly string[], robot: Robot): void {
  if (source.robot !== null && source.robot !== robot.name) {
    throw mismatch(
      `${source.description} was recorded on robot '${source.robot}', --robot is '${robot.name}'`,
      { what: 'robot', expected: source.robot, got: robot.name },
    );
  }
  const want = robot.layout.joints;
  if (joints.length !== want.length || joints.some((j, i) => j !== want[i])) {
    throw mismatch(
      `the recording's joints (${joints.length}: ${joints.join(', ')}) are not the ${robot.name} robot's ` +
        `(${want.length}: ${want.join(', ')})`,
      { what: 'joints', expected: [...want], got: [...joints] },
    );
  }
}

/** Replays the recorded commands of every episode into the emulator (see the module comment). */
export async function dryRun(source: RecordingSource, options: DryRunOptions): Promise<DryRunSummary> {
  const clock = options.clock ?? realClock;
  const warn = options.warn ?? ((s: string) => console.warn(s));
  const plugin = options.plugin;
  // Recorded on another robot: say so before bringing anything up.
  if (source.robot !== null && source.robot !== plugin.name) {
    throw mismatch(
      `${source.description} was recorded on robot '${source.robot}', --robot is '${plugin.name}'`,
      {
        what: 'robot',
        expected: source.robot,
        got: plugin.name,
      },
    );
  }
  const episodes: RecordedEpisode[] = [];
  for await (const ep of source.episodes()) episodes.push(ep);
  const first = episodes[0];
  if (first === undefined || episodes.every((e) => e.steps.length === 0)) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `${source.description}: no recorded control steps to replay`, {
      what: 'steps',
    });
  }
  const hz = options.hz ?? first.fps;
  const section = plugin.configSchema.parse({}) as Record<string, unknown>;
  if (!plugin.isEmulated(section)) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `--dry-run needs an emulated ${plugin.name} (its default config is not)`,
      {
        robot: plugin.name,
      },
    );
  }
  const robot = await plugin.connect({
    config: section,
    clock,
    controlHz: hz,
    safetyOverrides: undefined,
    warn,
  });
  const gate = new SafetyGate(robot.safety, { clock });
  let environment: RobotEnvironment | null = null;
  try {
    for (const ep of episodes) checkRobotFits(source, ep.joints, robot);
    environment = new RobotEnvironment(robot, gate, { clock, resetMove: options.moveToStart ?? true });
    const env = environment;
    // The gate's camera watchdog: wait for each emulated camera's first frame, as `start` does.
    await Promise.all(
      robot.layout.cameras.map((c) => robot.cameras[c.name]?.nextFrame(10_000, true).catch(() => undefined)),
    );
    options.onReady?.({ robot, gate });
    const tracking = new DifferenceStats(first.joints);
    const holdsByFault: Partial<Record<FaultCode, number>> = {};
    const byJoint: Record<string, number> = {};
    let steps = 0;
    let recordedHolds = 0;
    let moves = 0;
    let holds = 0;
    let position = 0;
    let rate = 0;
    let positioningMoves = 0;
    let lateSum = 0;
    let stoppedEarly = false;
    const period = 1000 / hz;
    const last: { d: GateDecision | null } = { d: null };
    env.onDecision = (d, phase) => {
      if (phase === 'reset') {
        if (d.kind === 'move') positioningMoves += 1;
        return;
      }
      if (d.kind === 'move') {
        moves += 1;
        for (const l of d.limited) {
          if (l.kind === 'position') position += 1;
          else rate += 1;
          byJoint[l.name] = (byJoint[l.name] ?? 0) + 1;
        }
      } else {
        holds += 1;
        for (const code of new Set(d.faults.map((f) => f.code)))
          holdsByFault[code] = (holdsByFault[code] ?? 0) + 1;
      }
      last.d = d;
    };
    replay: for (const ep of episodes) {
      if (gate.estop.latched) break;
      if (options.moveToStart ?? true) {
        await env.reset();
        const start = ep.steps.find((s) => s.state !== null)?.state;
        if (start !== undefined && start !== null && !gate.estop.latched) {
          positioningMoves += await moveTo(
            robot,
            gate,
            Float64Array.from(start),
            clock,
            hz,
            options.speedFraction ?? 0.5,
          );
        }
      } else {
        await robot.hold();
      }
      const t0 = clock.now();
      for (const [i, s] of ep.steps.entries()) {
        const due = t0 + i * period;
        const now = clock.now();
        if (now < due) await clock.sleepUntil(due);
        else lateSum += now - due;
        await env.getObservation();
        const measured = env.measured;
        if (measured !== null && s.state !== null) tracking.add(measured.positions, s.state);
        if (s.action === null) recordedHolds += 1;
        last.d = null;
        await env.applyAction(
          s.action === null
            ? {}
            : { actions: ndarray('float64', [s.action.length], Float64Array.from(s.action)) },
        );
        steps += 1;
        const decided = last.d;
        if (decided !== null) options.onStep?.(ep.index, i, decided);
        if (gate.estop.latched) {
          // This tick already held on E_STOP (the gate checks the latch every tick); stop here.
          stoppedEarly = i < ep.steps.length - 1 || ep !== episodes.at(-1);
          await robot.hold();
          break replay;
        }
      }
    }
    return {
      recording: source.description,
      robot: robot.name,
      robotDescription: robot.description,
      hz,
      episodes: episodes.length,
      steps,
      recordedHolds,
      moves,
      holds,
      holdsByFault,
      clamps: { position, rate, byJoint },
      positioningMoves,
      tracking: tracking.summary(),
      estop: gate.estop.cause,
      stoppedEarly,
      meanLateMs: steps === 0 ? 0 : lateSum / steps,
    };
  } finally {
    environment?.close();
    await robot.close();
    gate.close();
  }
}

/** A planned move (gate.motionStep per tick) from where the robot is to `target`; returns the moves made. Stops
 *  (holding) at the first hold: an e-stop, a fault, a stale joint state. */
async function moveTo(
  robot: Robot,
  gate: SafetyGate,
  target: Float64Array,
  clock: Clock,
  hz: number,
  speedFraction: number,
): Promise<number> {
  const from = (await robot.read()).positions;
  gate.forgetLast();
  // A measured pose may sit a hair outside the limits (a gripper at 1.00001); the move goes to the nearest pose
  // inside them (planMove refuses targets outside).
  const inside = target.map((v, i) => {
    const j = gate.config.joints[i];
    return j === undefined ? v : Math.min(j.max, Math.max(j.min, v));
  });
  const plan = planMove(gate.config, from, inside, { speedFraction, what: "the recording's first pose" });
  const start = clock.now();
  let moves = 0;
  for (const [i, waypoint] of plan.waypoints.entries()) {
    const j = await robot.read();
    const d = gate.motionStep({
      target: waypoint,
      joints: { positions: j.positions, stampMs: j.stampMs },
      robotFaults: robot.faults(),
    });
    if (d.kind === 'hold') {
      await robot.hold();
      gate.forgetLast();
      return moves;
    }
    await robot.write(d.safe);
    moves += 1;
    await clock.sleepUntil(start + (i + 1) * (1000 / hz));
  }
  return moves;
}
