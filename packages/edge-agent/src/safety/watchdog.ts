/**
 * Watchdog: finds stale or missing joint states and camera frames and a late or failed policy. Pure: the caller
 * passes the timestamps it has and `now`, all in ms on one clock (the gate's). A timestamp more than the threshold
 * in the future counts as stale too: it means two clocks are being mixed, and ages are then meaningless.
 */
import type { WatchdogConfig } from './config.js';
import type { SafetyFault } from './faults.js';

/** What the chunk broker reports about the policy this tick. */
export interface PolicyHealth {
  /** How long (ms) the broker has been without an action to hand out; 0 or absent when it has one. */
  readonly stallMs?: number;
  /** The broker's last error (inference failed, connection lost); absent when healthy. */
  readonly error?: unknown;
}

export interface WatchdogInput {
  /** Timestamp (ms) of the joint state in use; null/undefined before the first one. */
  readonly jointStampMs?: number | null;
  /** Timestamp (ms) of each camera's latest frame, by camera name; null/undefined = no frame yet. */
  readonly cameras?: Readonly<Record<string, number | null | undefined>>;
  readonly policy?: PolicyHealth;
  /** False: no camera checks at all (a scripted move: homing, reset). Default true. */
  readonly checkCameras?: boolean;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** True when `stampMs` is within `limitMs` of `now` (either side). NaN stamps are never fresh. */
function fresh(stampMs: number, now: number, limitMs: number): boolean {
  const age = now - stampMs;
  return age <= limitMs && age >= -limitMs;
}

export class Watchdog {
  readonly config: WatchdogConfig;

  constructor(config: WatchdogConfig) {
    this.config = { ...config, requiredCameras: [...config.requiredCameras] };
  }

  /** Faults for this tick, in check order: joints, cameras (required first, then others), policy. */
  check(input: WatchdogInput, now: number): SafetyFault[] {
    const { jointStaleMs, cameraStaleMs, policyStallMs, requiredCameras } = this.config;
    const faults: SafetyFault[] = [];
    const js = input.jointStampMs;
    if (js === null || js === undefined) {
      faults.push({ code: 'JOINT_STATE_MISSING', message: 'no joint state received yet', atMs: now });
    } else if (!fresh(js, now, jointStaleMs)) {
      faults.push({
        code: 'JOINT_STATE_STALE',
        message: `joint state is ${now - js} ms old (limit ${jointStaleMs} ms)`,
        atMs: now,
        value: now - js,
        limit: jointStaleMs,
      });
    }
    const cameras = input.cameras ?? {};
    const names =
      input.checkCameras === false
        ? []
        : [...requiredCameras, ...Object.keys(cameras).filter((n) => !requiredCameras.includes(n))];
    for (const name of names) {
      const stamp = Object.hasOwn(cameras, name) ? cameras[name] : undefined;
      if (stamp === null || stamp === undefined) {
        if (requiredCameras.includes(name)) {
          faults.push({ code: 'CAMERA_MISSING', message: `camera '${name}' has no frame`, atMs: now, name });
        }
      } else if (!fresh(stamp, now, cameraStaleMs)) {
        faults.push({
          code: 'CAMERA_STALE',
          message: `camera '${name}' frame is ${now - stamp} ms old (limit ${cameraStaleMs} ms)`,
          atMs: now,
          name,
          value: now - stamp,
          limit: cameraStaleMs,
        });
      }
    }
    const policy = input.policy;
    if (policy?.error !== undefined) {
      faults.push({ code: 'POLICY_ERROR', message: `policy failed: ${errorText(policy.error)}`, atMs: now });
    }
    const stall = policy?.stallMs;
    if (stall !== undefined && !(stall <= policyStallMs)) {
      faults.push({
        code: 'POLICY_STALL',
        message: `policy stalled for ${stall} ms (limit ${policyStallMs} ms)`,
        atMs: now,
        value: stall,
        limit: policyStallMs,
      });
    }
    return faults;
  }
}
