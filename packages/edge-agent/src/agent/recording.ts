/**
 * The agent's taps for `--record-mcap` (record/mcap-recorder.ts): what the loop thread does per event is hand a
 * reference or a few numbers to the recorder, which packs and posts them to its worker thread.
 * - every step (runtime `steps$`, after `applyAction`): the step's timing, the gate's decision of that step (from
 *   RobotEnvironment's `decisionTap`) and the measured joints, as one packed message;
 * - every inference (ImagesOnDemandPolicy's `tap`): the frames the policy was given, then the chunk or the error;
 * - reset-move decisions, overruns, episode start / end, e-stop events.
 */
import { type Clock, isNDArray, type Obs } from '@openpi-edge/client';
import type { Runtime } from '@openpi-edge/runtime';
import type { Subscription } from 'rxjs';
import type { McapRecorder } from '../record/mcap-recorder.js';
import type { GateDecision, SafetyGate } from '../safety/gate.js';
import type { ImagesOnDemandPolicy } from './images-on-demand.js';
import type { RobotEnvironment } from './robot-environment.js';

/** `actions` of a policy result as a numeric [H, D] array, or null. */
function actionsOf(result: Obs | null): { shape: readonly number[]; data: ArrayLike<number> } | null {
  const a = result?.actions;
  if (!isNDArray(a) || a.dtype === 'unicode' || a.dtype === 'bool' || a.shape.length !== 2) return null;
  const d = a.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    return { shape: a.shape, data: Float64Array.from(d, Number) };
  }
  return { shape: a.shape, data: d as ArrayLike<number> };
}

function text(e: unknown): string {
  if (e instanceof Error) return 'code' in e ? `${String(e.code)}: ${e.message}` : e.message;
  return String(e);
}

/**
 * Connects `recorder` to the agent's parts: the policy, the gate and the environment at once (the start-up
 * inference is recorded too), the loop's telemetry with `runtime()` once the runtime exists. `detach()` removes the
 * taps and ends the subscriptions.
 */
export function tapRecorder(
  recorder: McapRecorder,
  parts: {
    environment: RobotEnvironment;
    policy: ImagesOnDemandPolicy;
    gate: SafetyGate;
    clock: Clock;
  },
): { runtime(runtime: Runtime): void; detach(): void } {
  const { environment, policy, gate, clock } = parts;
  let last: GateDecision | null = null;
  environment.decisionTap = (d, phase) => {
    if (phase === 'step') last = d;
    else recorder.resetDecision(d, clock.now());
  };
  policy.tap = {
    frames: (index, at, raw) => recorder.frames(index, at, raw),
    result: (index, requestedAt, at, result, error) =>
      recorder.chunk(
        index,
        requestedAt,
        at,
        at - requestedAt,
        actionsOf(result),
        error === undefined ? null : text(error),
      ),
  };
  const subs: Subscription[] = [gate.estop.events$.subscribe((e) => recorder.estop(e))];
  return {
    runtime(runtime) {
      const t = runtime.telemetry;
      subs.push(
        t.steps$.subscribe((s) => {
          recorder.tick(s, last, environment.measured);
          last = null;
        }),
        t.overruns$.subscribe((o) =>
          recorder.loopEvent('overrun', o.episode, {
            step: o.step,
            late_ms: o.lateMs,
            skipped_ticks: o.skippedTicks,
          }),
        ),
        t.episodes$.subscribe((e) =>
          e.type === 'start'
            ? recorder.loopEvent('episode-start', e.episode, {}, e.at)
            : recorder.loopEvent('episode-end', e.episode, { steps: e.steps, reason: e.reason }, e.at),
        ),
      );
    },
    detach() {
      for (const s of subs) s.unsubscribe();
      environment.decisionTap = undefined;
      policy.tap = undefined;
    },
  };
}
