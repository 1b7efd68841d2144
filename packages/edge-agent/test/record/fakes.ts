/** Synthetic step telemetry, gate decisions and frames for the recorder's unit tests. */
import type { StepTelemetry } from '@openpi-edge/runtime';
import type { CameraFrame } from '../../src/io/cameras/camera-source.js';
import { patternRecipe } from '../../src/io/cameras/generated-camera.js';
import type { GateDecision } from '../../src/safety/gate.js';

export function fakeStep(i: number): StepTelemetry {
  return {
    episode: 0,
    step: i,
    tick: i,
    scheduledAt: 1000 + i * 20,
    startedAt: 1000 + i * 20 + 0.1,
    observeMs: 0.2,
    actMs: 0.1,
    applyMs: 0.3,
    stepMs: 0.7,
    periodMs: i === 0 ? Number.NaN : 20,
    jitterMs: 0.1,
  };
}

/** Even ticks hold on a stale camera, odd ones move with a position clamp on joint 1. */
export function fakeDecision(i: number): GateDecision {
  if (i % 2 === 0) {
    return {
      kind: 'hold',
      command: null,
      safe: null,
      faults: [{ code: 'CAMERA_STALE', message: 'camera cam: 600 ms old', atMs: i, name: 'cam', value: 600 }],
    };
  }
  return {
    kind: 'move',
    command: Float64Array.from([i, -i]),
    safe: null as never,
    limited: [{ kind: 'position', index: 1, name: 'b', requested: 9, applied: 1, limit: 1 }],
  };
}

/** A generated-camera frame (the 12-byte recipe; the recorder's worker draws and encodes it). */
export function patternFrame(k: number, width = 640, height = 480): CameraFrame {
  return {
    stampMs: 1000 + k,
    seq: k,
    encoding: 'pattern',
    width,
    height,
    step: 0,
    data: patternRecipe(k, 7),
  };
}
