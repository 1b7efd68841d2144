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

describe('config defaults', () => {
  it('runs the emulated ALOHA with the demo bundle, 1 x 500 steps at 50 Hz, async broker, horizon 25', () => {
    const c = resolveConfig();
    expect(c).toMatchObject({
      robot: 'aloha',
      transport: 'emulator',
      controlHz: 50,
      actionHorizon: 25,
      broker: 'async',
      episodes: 1,
      maxSteps: 500,
      reset: true,
      cameras: { source: 'generated', width: 640, height: 480, fps: 30 },
      serial: {
        portLeft: '/dev/ttyDXL_puppet_left',
        portRight: '/dev/ttyDXL_puppet_right',
        baudRate: 1_000_000,
      },
    });
    expect(c.model).toEqual({ kind: 'bundle', dir: DEMO_BUNDLE_DIR, providers: ['tensorrt', 'cuda', 'cpu'] });
    expect(c.prompt).toBeUndefined();
  });

  it('ros2 transport defaults its cameras to ros2 topics', () => {
    expect(resolveConfig({ transport: 'ros2' }).cameras.source).toBe('ros2');
  });
});

describe('merge: flags over file over defaults', () => {
  it('takes flags first, then the file, key by key in nested sections', () => {
    const file = parseConfigFile({
      transport: 'serial',
      serial: { portLeft: '/dev/a', baudRate: 57600 },
      controlHz: 30,
      broker: 'sync',
      safety: { maxJointVelocity: 1, watchdog: { jointStaleMs: 200 } },
    });
    const flags = parseConfigFile({
      serial: { portLeft: '/dev/b' },
      broker: 'async',
      safety: { watchdog: { cameraStaleMs: 900 } },
    });
    const c = resolveConfig(file, flags);
    expect(c.transport).toBe('serial');
    expect(c.serial).toEqual({
      portLeft: '/dev/b',
      portRight: AGENT_DEFAULTS.serial.portRight,
      baudRate: 57600,
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
    const e = badArgument(() => parseConfigFile({ serial: { baudRate: 'fast' } }));
    expect(e.context.key).toBe('serial.baudRate');
    expect(badArgument(() => parseConfigFile({ transport: 'can' })).context.key).toBe('transport');
    expect(badArgument(() => parseConfigFile({ remote: { url: 'http://x' } })).context.key).toBe(
      'remote.url',
    );
    expect(badArgument(() => parseConfigFile({ actionHorizon: 0 })).context.key).toBe('actionHorizon');
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
    expect(await loadConfigFile(good)).toEqual({ maxSteps: 100, prompt: 'fold' });
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
        hz: '25',
        horizon: '10',
        broker: 'sync',
        episodes: '2',
        'max-steps': '0',
        'policy-timeout': '300',
        prompt: 'stack the cups',
        'no-reset': true,
        'status-interval': '0',
        bundle: '/m',
        providers: 'cuda, cpu',
        threads: '1',
        seed: '7',
      }),
    ).toEqual({
      transport: 'serial',
      serial: { portLeft: '/dev/l', portRight: '/dev/r', baudRate: 1_000_000 },
      controlHz: 25,
      actionHorizon: 10,
      broker: 'sync',
      episodes: 2,
      maxSteps: 0,
      policyTimeoutMs: 300,
      prompt: 'stack the cups',
      reset: false,
      statusIntervalMs: 0,
      bundle: { dir: '/m', providers: ['cuda', 'cpu'], threads: 1, seed: 7 },
    });
    expect(flags({ policy: 'ws://127.0.0.1:8000', 'api-key': 'k' })).toEqual({
      remote: { url: 'ws://127.0.0.1:8000', apiKey: 'k' },
    });
  });

  it('rejects bad numbers naming the flag, and conflicting model flags', () => {
    expect(badArgument(() => flags({ hz: 'fast' })).context.option).toBe('hz');
    expect(badArgument(() => flags({ 'max-steps': '-1' })).context.option).toBe('max-steps');
    expect(badArgument(() => flags({ horizon: '2.5' })).context.option).toBe('horizon');
    expect(badArgument(() => flags({ bundle: '/m', policy: 'ws://h:1' })).message).toMatch(
      /either --bundle or --policy/,
    );
    expect(badArgument(() => flags({ policy: 'ws://h:1', threads: '2' })).message).toMatch(/local bundle/);
    expect(badArgument(() => flags({ broker: 'eager' })).context.key).toBe('broker');
  });
});

describe('servo limits', () => {
  it('tightens the URDF ranges to one count inside the ViperX position limits, so clamped goals are accepted', async () => {
    const { withServoLimits } = await import('../../src/robots/aloha/servo-limits.js');
    const { safetyConfigFor } = await import('../../src/safety/config.js');
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
