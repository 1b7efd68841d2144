/**
 * Helpers for the ALOHA tests: the ALOHA plugin brought up on its in-memory emulator (the robot the agent drives,
 * with its AlohaEnvironment and the two emulated buses), and gate-issued commands for tests of the drivers' writes.
 */
import type { Clock } from '@openpi-edge/client';
import { RobotEnvironment, type RobotEnvironmentOptions } from '../../src/agent/robot-environment.js';
import type { AlohaConfig } from '../../src/robots/aloha/config.js';
import type { EmulatedAlohaArms } from '../../src/robots/aloha/dynamixel-transport.js';
import type { AlohaEnvironment } from '../../src/robots/aloha/environment.js';
import { type AlohaPluginExtras, alohaPlugin } from '../../src/robots/aloha/plugin.js';
import { withServoLimits } from '../../src/robots/aloha/servo-limits.js';
import type { Robot } from '../../src/robots/interface.js';
import { safetyConfigFor } from '../../src/robots/safety-defaults.js';
import { type MeasuredJoints, type SafeCommand, SafetyGate } from '../../src/safety/gate.js';

/** The ALOHA plugin's Robot: its AlohaEnvironment is `environment` (not part of the Robot contract). */
export type AlohaRobot = Robot & { readonly environment: AlohaEnvironment };

export interface EmulatedAlohaRobot {
  robot: AlohaRobot;
  /** The robot's AlohaEnvironment (observation, hold, send). */
  aloha: AlohaEnvironment;
  /** The emulator transport: `arms.emulators.left/right` are the two bus emulators. */
  arms: EmulatedAlohaArms;
}

/**
 * `alohaPlugin.with(extras).connect(...)` on the emulator transport. Cameras are small generated ones (64 x 48)
 * unless `config` says otherwise. Close with `robot.close()`.
 */
export async function connectEmulatedAloha(
  clock: Clock,
  extras: AlohaPluginExtras = {},
  options: { config?: AlohaConfig; safety?: unknown; controlHz?: number } = {},
): Promise<EmulatedAlohaRobot> {
  const robot = (await alohaPlugin.with(extras).connect({
    config: { transport: 'emulator', generatedCameras: { width: 64, height: 48 }, ...options.config },
    clock,
    controlHz: options.controlHz ?? 50,
    safetyOverrides: options.safety ?? {},
    warn: () => {},
  })) as AlohaRobot;
  const aloha = robot.environment;
  return { robot, aloha, arms: aloha.transport as EmulatedAlohaArms };
}

/** A RobotEnvironment with a SafetyGate built from the robot's own safety config, on `clock`. */
export function gatedEnvironment(
  robot: Robot,
  clock: Clock,
  options: Omit<RobotEnvironmentOptions, 'clock'> = {},
): RobotEnvironment {
  return new RobotEnvironment(robot, new SafetyGate(robot.safety, { clock }), { clock, ...options });
}

/**
 * A SafeCommand for `target` (14, action units) from a SafetyGate with ALOHA's limits (URDF ∩ servo limits) whose
 * velocity limits let any in-range target through in one tick, rate-limited from `measured`: tests of what a
 * driver writes for a command still hand it only what a gate issued. Throws when the gate holds or changes the
 * target (the test would not check what it means to).
 */
export function gateCommand(target: readonly number[], measured: MeasuredJoints, clock: Clock): SafeCommand {
  const gate = new SafetyGate(
    withServoLimits(
      safetyConfigFor('aloha', {
        maxJointVelocity: 1000,
        maxGripperVelocity: 1000,
        watchdog: { jointStaleMs: 1e9 },
      }),
    ),
    { clock },
  );
  const d = gate.motionStep({ target: Float64Array.from(target), joints: measured });
  if (d.kind !== 'move') throw new Error(`the gate held: ${d.faults.map((f) => f.message).join('; ')}`);
  if (d.limited.length > 0) throw new Error(`the gate limited the target: ${JSON.stringify(d.limited)}`);
  gate.close();
  return d.safe;
}
