import { OpenpiEdgeError } from '@openpi-edge/client';
import { describe, expect, it } from 'vitest';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { SafetyGate } from '../../src/safety/gate.js';
import { Watchdog } from '../../src/safety/watchdog.js';

/** A clock that moves only when told to. */
class StepClock {
  t = 0;
  now(): number {
    return this.t;
  }
}

const wd = new Watchdog({
  jointStaleMs: 100,
  cameraStaleMs: 500,
  policyStallMs: 250,
  requiredCameras: ['cam_high'],
});
const codes = (input: Parameters<Watchdog['check']>[0], now: number): string[] =>
  wd.check(input, now).map((f) => f.code);
const cams = { cam_high: 0 };

describe('Watchdog', () => {
  it('is quiet when everything is fresh', () => {
    expect(
      wd.check({ jointStampMs: 1000, cameras: { cam_high: 990 }, policy: { stallMs: 0 } }, 1000),
    ).toEqual([]);
  });

  it('joint state: fresh up to the limit, stale 1 ms past it', () => {
    expect(codes({ jointStampMs: 0, cameras: cams }, 100)).toEqual([]);
    const [f] = wd.check({ jointStampMs: 0, cameras: cams }, 101);
    expect(f).toEqual({
      code: 'JOINT_STATE_STALE',
      message: 'joint state is 101 ms old (limit 100 ms)',
      atMs: 101,
      value: 101,
      limit: 100,
    });
  });

  it('joint state: missing, NaN-stamped, or stamped too far in the future', () => {
    expect(codes({ jointStampMs: null, cameras: cams }, 0)).toEqual(['JOINT_STATE_MISSING']);
    expect(codes({ cameras: cams }, 0)).toEqual(['JOINT_STATE_MISSING']);
    expect(codes({ jointStampMs: Number.NaN, cameras: cams }, 0)).toEqual(['JOINT_STATE_STALE']);
    expect(codes({ jointStampMs: 100, cameras: cams }, 0)).toEqual([]);
    expect(codes({ jointStampMs: 101, cameras: cams }, 0)).toEqual(['JOINT_STATE_STALE']);
  });

  it('cameras: a required one missing, any one stale, an optional one absent is fine', () => {
    expect(wd.check({ jointStampMs: 0, cameras: {} }, 0)).toEqual([
      { code: 'CAMERA_MISSING', message: "camera 'cam_high' has no frame", atMs: 0, name: 'cam_high' },
    ]);
    expect(codes({ jointStampMs: 0 }, 0)).toEqual(['CAMERA_MISSING']);
    expect(codes({ jointStampMs: 600, cameras: { cam_high: 100, cam_low: 600 } }, 600)).toEqual([]);
    expect(
      wd.check({ jointStampMs: 601, cameras: { cam_high: 100, cam_low: 50, cam_x: null } }, 601),
    ).toMatchObject([
      { code: 'CAMERA_STALE', name: 'cam_high', value: 501, limit: 500 },
      { code: 'CAMERA_STALE', name: 'cam_low', value: 551, limit: 500 },
    ]);
  });

  it('policy: a stall longer than the limit, or an error, is a fault', () => {
    expect(codes({ jointStampMs: 0, cameras: cams, policy: { stallMs: 250 } }, 0)).toEqual([]);
    expect(wd.check({ jointStampMs: 0, cameras: cams, policy: { stallMs: 251 } }, 0)).toEqual([
      {
        code: 'POLICY_STALL',
        message: 'policy stalled for 251 ms (limit 250 ms)',
        atMs: 0,
        value: 251,
        limit: 250,
      },
    ]);
    expect(codes({ jointStampMs: 0, cameras: cams, policy: { stallMs: Number.NaN } }, 0)).toEqual([
      'POLICY_STALL',
    ]);
    const error = new OpenpiEdgeError('CONNECTION_CLOSED', 'socket closed while waiting for infer', {});
    expect(wd.check({ jointStampMs: 0, cameras: cams, policy: { error } }, 0)).toEqual([
      {
        code: 'POLICY_ERROR',
        message: 'policy failed: CONNECTION_CLOSED: socket closed while waiting for infer',
        atMs: 0,
      },
    ]);
    expect(codes({ jointStampMs: 0, cameras: cams, policy: { error: 'boom', stallMs: 900 } }, 0)).toEqual([
      'POLICY_ERROR',
      'POLICY_STALL',
    ]);
  });
});

describe('Watchdog inside the gate, driven by a manual clock', () => {
  it('holds while joints or cameras go stale and resumes when they are fresh again', () => {
    const clock = new StepClock();
    const gate = new SafetyGate(safetyConfigFor('aloha', { watchdog: { requiredCameras: ['cam_high'] } }), {
      clock,
    });
    const action = new Float64Array(14);
    const joints = (stampMs: number) => ({ positions: new Float64Array(14), stampMs });
    expect(gate.step({ action, joints: joints(0), cameras: { cam_high: 0 } }).kind).toBe('move');

    clock.t = 150; // joint state from t=0 is now 150 ms old
    const held = gate.step({ action, joints: joints(0), cameras: { cam_high: 100 } });
    expect(held).toMatchObject({
      kind: 'hold',
      faults: [{ code: 'JOINT_STATE_STALE', value: 150, limit: 100 }],
    });
    expect(held.command && Array.from(held.command)).toEqual(Array.from(new Float64Array(14)));

    expect(gate.step({ action, joints: joints(140), cameras: { cam_high: 100 } }).kind).toBe('move');

    clock.t = 700;
    expect(gate.step({ action, joints: joints(700), cameras: { cam_high: 100 } })).toMatchObject({
      kind: 'hold',
      faults: [{ code: 'CAMERA_STALE', name: 'cam_high', value: 600 }],
    });
    expect(gate.step({ action, joints: joints(700), cameras: { cam_high: 690 } }).kind).toBe('move');
    expect(gate.counters()).toMatchObject({ ticks: 5, moves: 3, holds: 2 });
    expect(gate.counters().faults).toMatchObject({ JOINT_STATE_STALE: 1, CAMERA_STALE: 1 });
  });
});
