/**
 * Reads and validates the config file, merges it with the CLI flags and fills in the defaults.
 * Precedence: flags > file > defaults. Nested sections (the robot's section, `bundle`, `remote`, `safety`) merge key
 * by key; a model given by the flags (`bundle` or `remote`) replaces the file's model of the other kind.
 */
import { readFile } from 'node:fs/promises';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { z } from 'zod';
import type { AnyRobotPlugin } from '../robots/interface.js';
import { defined } from '../robots/merge-section.js';
import { BUILTIN_ROBOTS, findRobot } from '../robots/registry.js';
import { DEMO_BUNDLE_DIR } from './demo-bundles.js';
import { type AgentConfig, type AgentConfigFile, agentConfigFileSchema } from './schema.js';

type Plugins = readonly AnyRobotPlugin[];

export { DEMO_BUNDLE_DIR, DEMO_BUNDLE_UR5 } from './demo-bundles.js';

/** Every default of {@link AgentConfig}, in one place (documented in docs/agent.md). */
export const AGENT_DEFAULTS = {
  robot: 'aloha',
  providers: ['tensorrt', 'cuda', 'cpu'],
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  controlHz: 50,
  actionHorizon: 25,
  broker: 'async',
  rtc: { mode: 'off', schedule: 'exp', maxGuidance: 5 },
  episodes: 1,
  maxSteps: 500,
  policyTimeoutMs: 1_000,
  firstChunkTimeoutMs: 60_000,
  reset: true,
  resetSpeed: 0.5,
  statusIntervalMs: 250,
  ros2: { nodeName: 'openpi_edge_agent', statusTopic: '/openpi_edge/status', statusHz: 2 },
} as const;

function zodFail(where: string, error: z.ZodError, context: Record<string, unknown>): never {
  const issues = error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  throw new OpenpiEdgeError('BAD_ARGUMENT', `${where}${first ? `: '${first.path}': ${first.message}` : ''}`, {
    ...context,
    key: first?.path,
    issues,
  });
}

/** Validates a config object (from a file, or flags shaped like one). BAD_ARGUMENT naming the key. */
export function parseConfigFile(
  input: unknown,
  where = 'config',
  plugins: Plugins = BUILTIN_ROBOTS,
): AgentConfigFile {
  if (typeof input === 'object' && input !== null && 'robot' in input) {
    findRobot(String((input as { robot: unknown }).robot), plugins);
  }
  const r = agentConfigFileSchema(plugins).safeParse(input);
  if (!r.success) zodFail(`invalid ${where}`, r.error, { source: where });
  return r.data as AgentConfigFile;
}

/** Reads a JSON config file. BAD_ARGUMENT naming the file (unreadable, not JSON, or invalid at a key). */
export async function loadConfigFile(
  path: string,
  plugins: Plugins = BUILTIN_ROBOTS,
): Promise<AgentConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `cannot read config file ${path}: ${(e as Error).message}`, {
      file: path,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `config file ${path} is not JSON: ${(e as Error).message}`, {
      file: path,
    });
  }
  return parseConfigFile(json, `config file ${path}`, plugins);
}

/**
 * Merges `flags` over `file` (both validated, either may be partial) and fills the defaults. The robot is the
 * flags', else the file's, else `aloha`; the file's robot section applies only when it names the same robot.
 */
export function resolveConfig(
  file: Partial<AgentConfigFile> = {},
  flags: Partial<AgentConfigFile> = {},
  plugins: Plugins = BUILTIN_ROBOTS,
): AgentConfig {
  const f = defined(file) as Partial<AgentConfigFile>;
  const c = defined(flags) as Partial<AgentConfigFile>;
  const pick = <K extends keyof AgentConfigFile>(k: K): AgentConfigFile[K] | undefined => c[k] ?? f[k];
  // A model kind named by the flags replaces the file's model of the other kind.
  const flagsModel = c.remote !== undefined ? 'remote' : c.bundle !== undefined ? 'bundle' : undefined;
  const fileBundle = flagsModel === 'remote' ? undefined : f.bundle;
  const fileRemote = flagsModel === 'bundle' ? undefined : f.remote;
  const remote =
    c.remote !== undefined || fileRemote !== undefined
      ? { ...defined(fileRemote), ...defined(c.remote) }
      : undefined;
  const bundle = { ...defined(fileBundle), ...defined(c.bundle) };
  const robot = c.robot ?? f.robot ?? AGENT_DEFAULTS.robot;
  const plugin = findRobot(robot, plugins);
  const sectionOf = (x: Partial<AgentConfigFile>): Record<string, unknown> =>
    (x.robot === undefined || x.robot === robot
      ? (x[robot] as Record<string, unknown> | undefined)
      : undefined) ?? {};
  const merged = plugin.mergeConfig(sectionOf(f), sectionOf(c));
  const parsed = plugin.configSchema.safeParse(merged);
  if (!parsed.success) zodFail(`invalid ${robot} section`, parsed.error, { robot });
  const robotConfig = plugin.resolveConfig(parsed.data) as Record<string, unknown>;
  const prompt = pick('prompt');
  const recordMcap = pick('recordMcap');
  const record = pick('record');
  const foxglove =
    c.foxglove === undefined && f.foxglove === undefined
      ? undefined
      : { ...defined(f.foxglove), ...defined(c.foxglove) };
  const statusPage =
    c.statusPage === undefined && f.statusPage === undefined
      ? undefined
      : { ...defined(f.statusPage), ...defined(c.statusPage) };
  const ros2 = { ...AGENT_DEFAULTS.ros2, ...defined(f.ros2), ...defined(c.ros2) };
  const rtcMode = c.rtc?.mode ?? f.rtc?.mode ?? AGENT_DEFAULTS.rtc.mode;
  if (rtcMode !== 'off' && (pick('broker') ?? AGENT_DEFAULTS.broker) === 'sync') {
    // The sync broker waits for each chunk with the robot still: there is no executing chunk to continue.
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `real-time chunking (rtc ${rtcMode}) needs the async broker, not sync`,
      {
        key: 'rtc.mode',
        broker: 'sync',
      },
    );
  }
  const model: AgentConfig['model'] =
    remote?.url !== undefined
      ? {
          kind: 'remote',
          url: remote.url,
          ...(remote.apiKey === undefined ? {} : { apiKey: remote.apiKey }),
          connectTimeoutMs: remote.connectTimeoutMs ?? AGENT_DEFAULTS.connectTimeoutMs,
          requestTimeoutMs: remote.requestTimeoutMs ?? AGENT_DEFAULTS.requestTimeoutMs,
        }
      : {
          kind: 'bundle',
          dir: bundle.dir ?? plugin.defaultBundle ?? DEMO_BUNDLE_DIR,
          providers: bundle.providers ?? AGENT_DEFAULTS.providers,
          ...(bundle.ortPath === undefined ? {} : { ortPath: bundle.ortPath }),
          ...(bundle.numSteps === undefined ? {} : { numSteps: bundle.numSteps }),
          ...(bundle.seed === undefined ? {} : { seed: bundle.seed }),
          ...(bundle.threads === undefined ? {} : { threads: bundle.threads }),
        };
  return {
    robot,
    robotConfig,
    model,
    ros2,
    ...(prompt === undefined ? {} : { prompt }),
    controlHz: pick('controlHz') ?? AGENT_DEFAULTS.controlHz,
    actionHorizon: pick('actionHorizon') ?? AGENT_DEFAULTS.actionHorizon,
    broker: pick('broker') ?? AGENT_DEFAULTS.broker,
    rtc: {
      mode: rtcMode,
      schedule: c.rtc?.schedule ?? f.rtc?.schedule ?? AGENT_DEFAULTS.rtc.schedule,
      maxGuidance: c.rtc?.maxGuidance ?? f.rtc?.maxGuidance ?? AGENT_DEFAULTS.rtc.maxGuidance,
    },
    episodes: pick('episodes') ?? AGENT_DEFAULTS.episodes,
    maxSteps: pick('maxSteps') ?? AGENT_DEFAULTS.maxSteps,
    policyTimeoutMs: pick('policyTimeoutMs') ?? AGENT_DEFAULTS.policyTimeoutMs,
    firstChunkTimeoutMs: pick('firstChunkTimeoutMs') ?? AGENT_DEFAULTS.firstChunkTimeoutMs,
    reset: pick('reset') ?? AGENT_DEFAULTS.reset,
    resetSpeed: pick('resetSpeed') ?? AGENT_DEFAULTS.resetSpeed,
    safety: {
      ...defined(f.safety),
      ...defined(c.safety),
      ...(f.safety?.watchdog !== undefined || c.safety?.watchdog !== undefined
        ? { watchdog: { ...defined(f.safety?.watchdog), ...defined(c.safety?.watchdog) } }
        : {}),
      ...(f.safety?.joints !== undefined || c.safety?.joints !== undefined
        ? { joints: { ...f.safety?.joints, ...c.safety?.joints } }
        : {}),
    },
    statusIntervalMs: pick('statusIntervalMs') ?? AGENT_DEFAULTS.statusIntervalMs,
    ...(recordMcap === undefined ? {} : { recordMcap }),
    ...(record === undefined ? {} : { record }),
    ...(foxglove?.port === undefined
      ? {}
      : { foxglove: { host: foxglove.host ?? '127.0.0.1', port: foxglove.port } }),
    ...(statusPage?.port === undefined
      ? {}
      : { statusPage: { host: statusPage.host ?? '127.0.0.1', port: statusPage.port } }),
  };
}
