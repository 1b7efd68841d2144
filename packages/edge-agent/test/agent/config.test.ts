import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenpiEdgeError } from '../../../client/src/errors.js';
import { flagsToConfig } from '../../src/cli/start.js';
import {
  AGENT_DEFAULTS,
  DEMO_BUNDLE_DIR,
  loadConfigFile,
  parseConfigFile,
  resolveConfig,
} from '../../src/config/load.js';
import { ALOHA_CONFIG_DEFAULTS, type AlohaConfig } from '../../src/robots/aloha/config.js';
import { resolveAlohaCameras } from '../../src/robots/aloha/plugin.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function badArgument(fn: () => unknown): OpenpiEdgeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OpenpiEdgeError);
    expect((e as OpenpiEdgeError).code).toBe('BAD_ARGUMENT');
    return e as OpenpiEdgeError;
  }
  throw new Error('expected BAD_ARGUMENT');
}

const REQUIRED = ['cam_high', 'cam_left_wrist', 'cam_right_wrist'];

describe('config defaults', () => {
  it('runs the emulated ALOHA with the demo bundle, 1 x 500 steps at 50 Hz, async broker, horizon 25', () => {
    const c = resolveConfig();
    expect(c).toMatchObject({
      robot: 'aloha',
      controlHz: 50,
      actionHorizon: 25,
      broker: 'async',
      episodes: 1,
      maxSteps: 500,
      reset: true,
      resetSpeed: 0.5,
      firstChunkTimeoutMs: 60_000,
      policyTimeoutMs: 1000,
      statusIntervalMs: 250,
    });
    // The robot's own keys sit in its section, with the plugin's defaults filled in.
    expect(c.robotConfig).toEqual({
      transport: 'emulator',
      generatedCameras: { width: 640, height: 480, fps: 30 },
      serial: {
        portLeft: '/dev/ttyDXL_puppet_left',
        portRight: '/dev/ttyDXL_puppet_right',
        baudRate: 1_000_000,
      },
    });
    expect(c.model).toEqual({ kind: 'bundle', dir: DEMO_BUNDLE_DIR, providers: ['tensorrt', 'cuda', 'cpu'] });
    expect(c.prompt).toBeUndefined();
    // The emulator's cameras default to generated frames (640x480 @ 30 Hz).
    const cams = resolveAlohaCameras(c.robotConfig as AlohaConfig, REQUIRED);
    expect(cams.cam_high).toEqual({ kind: 'generated', width: 640, height: 480, fps: 30 });
  });

  it('ros2 transport defaults its cameras to ros2 topics', () => {
    const c = resolveConfig({ aloha: { transport: 'ros2' } });
    expect(c.robotConfig.transport).toBe('ros2');
    const cams = resolveAlohaCameras(c.robotConfig as AlohaConfig, REQUIRED);
    expect(Object.values(cams)).toEqual(Array(4).fill({ kind: 'ros2' }));
  });
});

describe('merge: flags over file over defaults', () => {
  it('takes flags first, then the file, key by key in nested sections', () => {
    const file = parseConfigFile({
      aloha: {
        transport: 'serial',
        serial: { portLeft: '/dev/a', baudRate: 57600 },
        cameras: {
          cam_high: { kind: 'v4l2', device: '/dev/video0' },
          cam_left_wrist: { kind: 'v4l2', device: '/dev/video2' },
        },
      },
      controlHz: 30,
      broker: 'sync',
      safety: { maxJointVelocity: 1, watchdog: { jointStaleMs: 200 } },
    });
    const flags = parseConfigFile({
      aloha: { serial: { portLeft: '/dev/b' }, cameras: { cam_high: { kind: 'testsrc' } } },
      broker: 'async',
      safety: { watchdog: { cameraStaleMs: 900 } },
    });
    const c = resolveConfig(file, flags);
    expect(c.robotConfig.transport).toBe('serial');
    expect(c.robotConfig.serial).toEqual({
      portLeft: '/dev/b',
      portRight: ALOHA_CONFIG_DEFAULTS.serial.portRight,
      baudRate: 57600,
    });
    expect(c.robotConfig.cameras).toEqual({
      cam_high: { kind: 'testsrc' },
      cam_left_wrist: { kind: 'v4l2', device: '/dev/video2' },
    });
    expect(c.controlHz).toBe(30);
    expect(c.broker).toBe('async');
    expect(c.safety).toEqual({ maxJointVelocity: 1, watchdog: { jointStaleMs: 200, cameraStaleMs: 900 } });
  });

  it('a remote policy given by the flags replaces the bundle of the file, and the reverse', () => {
    const file = parseConfigFile({ bundle: { dir: '/models/a', numSteps: 5 } });
    const remote = resolveConfig(file, parseConfigFile({ remote: { url: 'ws://10.0.0.2:8000' } }));
    expect(remote.model).toEqual({
      kind: 'remote',
      url: 'ws://10.0.0.2:8000',
      connectTimeoutMs: AGENT_DEFAULTS.connectTimeoutMs,
      requestTimeoutMs: AGENT_DEFAULTS.requestTimeoutMs,
    });
    const back = resolveConfig(
      parseConfigFile({ remote: { url: 'ws://h:1' } }),
      parseConfigFile({ bundle: { dir: '/b' } }),
    );
    expect(back.model).toMatchObject({ kind: 'bundle', dir: '/b' });
    expect(resolveConfig(file).model).toMatchObject({ kind: 'bundle', dir: '/models/a', numSteps: 5 });
  });
});

describe('validation names the key', () => {
  it('rejects unknown keys, wrong types, bad enums and both models at once', () => {
    expect(badArgument(() => parseConfigFile({ hz: 50 })).message).toMatch(/unrecognized key.*hz|hz/i);
    const e = badArgument(() => parseConfigFile({ aloha: { serial: { baudRate: 'fast' } } }));
    expect(e.context.key).toBe('aloha.serial.baudRate');
    expect(badArgument(() => parseConfigFile({ aloha: { transport: 'can' } })).context.key).toBe(
      'aloha.transport',
    );
    expect(
      badArgument(() => parseConfigFile({ aloha: { cameras: { cam_high: { kind: 'v4l2' } } } })).context.key,
    ).toBe('aloha.cameras.cam_high.device');
    // The robot's keys moved into its section: at the top level they are unknown keys.
    expect(badArgument(() => parseConfigFile({ transport: 'serial' })).message).toMatch(/transport/);
    expect(badArgument(() => parseConfigFile({ serial: { portLeft: '/dev/a' } })).message).toMatch(/serial/);
    // An unknown robot names the known ones.
    expect(badArgument(() => parseConfigFile({ robot: 'ur6' })).context).toMatchObject({
      robot: 'ur6',
      known: ['aloha', 'ur5'],
    });
    expect(badArgument(() => parseConfigFile({ remote: { url: 'http://x' } })).context.key).toBe(
      'remote.url',
    );
    expect(badArgument(() => parseConfigFile({ actionHorizon: 0 })).context.key).toBe('actionHorizon');
    expect(badArgument(() => parseConfigFile({ resetSpeed: 1.5 })).context.key).toBe('resetSpeed');
    expect(badArgument(() => parseConfigFile({ bundle: {}, remote: { url: 'ws://h:1' } })).message).toMatch(
      /either bundle or remote/,
    );
    expect(badArgument(() => parseConfigFile({ safety: { maxJointVelocity: -1 } })).context.key).toBe(
      'safety.maxJointVelocity',
    );
  });

  it('reads JSON files and reports unreadable, non-JSON and invalid ones with the file name', async () => {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ maxSteps: 100, prompt: 'fold' }));
    expect(await loadConfigFile(good)).toEqual({ robot: 'aloha', maxSteps: 100, prompt: 'fold' });
    const notJson = join(dir, 'bad.json');
    await writeFile(notJson, '{ maxSteps: 100 ');
    await expect(loadConfigFile(notJson)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { file: notJson },
    });
    await expect(loadConfigFile(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    const invalid = join(dir, 'invalid.json');
    await writeFile(invalid, JSON.stringify({ episodes: 1.5 }));
    await expect(loadConfigFile(invalid)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      context: { key: 'episodes' },
    });
  });
});

describe('CLI flags', () => {
  const flags = (o: Record<string, unknown>) => flagsToConfig(o as Parameters<typeof flagsToConfig>[0]);

  it('maps every flag to its config key', () => {
    expect(
      flags({
        transport: 'serial',
        'port-left': '/dev/l',
        'port-right': '/dev/r',
        baud: '1000000',
        camera: ['cam_high=/dev/video0', 'cam_left_wrist=testsrc', 'cam_right_wrist=v4l2:/dev/video4'],
        hz: '25',
        horizon: '10',
        broker: 'sync',
        episodes: '2',
        'max-steps': '0',
        'policy-timeout': '300',
        'first-chunk-timeout': '90000',
        prompt: 'stack the cups',
        'no-reset': true,
        'reset-speed': '0.25',
        'status-interval': '0',
        bundle: '/m',
        providers: 'cuda, cpu',
        threads: '1',
        seed: '7',
      }),
    ).toEqual({
      robot: 'aloha',
      aloha: {
        transport: 'serial',
        serial: { portLeft: '/dev/l', portRight: '/dev/r', baudRate: 1_000_000 },
        cameras: {
          cam_high: { kind: 'v4l2', device: '/dev/video0' },
          cam_left_wrist: { kind: 'testsrc' },
          cam_right_wrist: { kind: 'v4l2', device: '/dev/video4' },
        },
      },
      controlHz: 25,
      actionHorizon: 10,
      broker: 'sync',
      episodes: 2,
      maxSteps: 0,
      policyTimeoutMs: 300,
      firstChunkTimeoutMs: 90_000,
      prompt: 'stack the cups',
      reset: false,
      resetSpeed: 0.25,
      statusIntervalMs: 0,
      bundle: { dir: '/m', providers: ['cuda', 'cpu'], threads: 1, seed: 7 },
    });
    expect(flags({ policy: 'ws://127.0.0.1:8000', 'api-key': 'k' })).toEqual({
      robot: 'aloha',
      remote: { url: 'ws://127.0.0.1:8000', apiKey: 'k' },
    });
    // --cameras sets all four; a --camera given as well overrides its one.
    expect(flags({ transport: 'ros2', cameras: 'ros2', camera: ['cam_low=none'] }).aloha).toEqual({
      transport: 'ros2',
      cameras: {
        cam_high: { kind: 'ros2' },
        cam_low: { kind: 'none' },
        cam_left_wrist: { kind: 'ros2' },
        cam_right_wrist: { kind: 'ros2' },
      },
    });
  });

  it('rejects bad numbers naming the flag, and conflicting model flags', () => {
    expect(badArgument(() => flags({ hz: 'fast' })).context.option).toBe('hz');
    expect(badArgument(() => flags({ 'max-steps': '-1' })).context.option).toBe('max-steps');
    expect(badArgument(() => flags({ horizon: '2.5' })).context.option).toBe('horizon');
    expect(badArgument(() => flags({ baud: 'fast' })).context.option).toBe('baud');
    expect(badArgument(() => flags({ 'reset-speed': '0' })).context.option).toBe('reset-speed');
    expect(badArgument(() => flags({ 'first-chunk-timeout': '0' })).context.option).toBe(
      'first-chunk-timeout',
    );
    expect(badArgument(() => flags({ camera: ['cam_top=/dev/video0'] })).context.option).toBe('camera');
    expect(badArgument(() => flags({ camera: ['cam_high=rtsp://x'] })).context.option).toBe('camera');
    expect(badArgument(() => flags({ cameras: 'webcam' })).context.option).toBe('cameras');
    expect(badArgument(() => flags({ bundle: '/m', policy: 'ws://h:1' })).message).toMatch(
      /either --bundle or --policy/,
    );
    expect(badArgument(() => flags({ policy: 'ws://h:1', threads: '2' })).message).toMatch(/local bundle/);
    expect(badArgument(() => flags({ broker: 'eager' })).context.key).toBe('broker');
    expect(badArgument(() => flags({ transport: 'can' })).context.key).toBe('aloha.transport');
  });
});

describe('servo limits', () => {
  it('tightens the URDF ranges to one count inside the ViperX position limits, so clamped goals are accepted', async () => {
    const { withServoLimits } = await import('../../src/robots/aloha/servo-limits.js');
    const { safetyConfigFor } = await import('../../src/robots/safety-defaults.js');
    const { radiansToCounts, VIPERX_SERVOS } = await import('../../src/robots/dynamixel/viperx.js');
    const base = safetyConfigFor('aloha');
    const tight = withServoLimits(base);
    expect(tight.joints.map((j) => j.name)).toEqual(base.joints.map((j) => j.name));
    for (const j of tight.joints) {
      const b = base.joints.find((x) => x.name === j.name);
      expect(j.min).toBeGreaterThanOrEqual(b?.min as number);
      expect(j.max).toBeLessThanOrEqual(b?.max as number);
      if (j.kind === 'gripper') {
        expect([j.min, j.max]).toEqual([0, 1]);
        continue;
      }
      const servo = VIPERX_SERVOS.find((s) => s.name === j.name.replace(/^(left|right)_/, ''));
      expect(radiansToCounts(j.min)).toBeGreaterThanOrEqual(servo?.minPosition as number);
      expect(radiansToCounts(j.max)).toBeLessThanOrEqual(servo?.maxPosition as number);
    }
    // The defaults themselves do not fit (the reason for this function): +π is 4096 counts.
    expect(radiansToCounts(base.joints.find((j) => j.name === 'left_forearm_roll')?.max as number)).toBe(
      4096,
    );
  });
});
