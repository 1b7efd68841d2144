/**
 * Reads and validates the config file, merges it with the CLI flags and fills in the defaults.
 * Precedence: flags > file > defaults. Nested sections (`serial`, `cameras`, `bundle`, `remote`, `safety`) merge key
 * by key; a model given by the flags (`bundle` or `remote`) replaces the file's model of the other kind.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OpenpiEdgeError } from '@openpi-edge/client';
import type { z } from 'zod';
import { type AgentConfig, type AgentConfigFile, AgentConfigFileSchema } from './schema.js';

/** The committed demo bundle (tiny random-weight π0 for ALOHA): the default model. */
export const DEMO_BUNDLE_DIR = fileURLToPath(new URL('../../assets/demo-bundle-pi0', import.meta.url));

/** Every default of {@link AgentConfig}, in one place (documented in docs/agent.md). */
export const AGENT_DEFAULTS = {
  robot: 'aloha',
  transport: 'emulator',
  serial: { portLeft: '/dev/ttyDXL_puppet_left', portRight: '/dev/ttyDXL_puppet_right', baudRate: 1_000_000 },
  cameras: { width: 640, height: 480, fps: 30 },
  providers: ['tensorrt', 'cuda', 'cpu'],
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  controlHz: 50,
  actionHorizon: 25,
  broker: 'async',
  episodes: 1,
  maxSteps: 500,
  policyTimeoutMs: 1_000,
  reset: true,
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
export function parseConfigFile(input: unknown, where = 'config'): AgentConfigFile {
  const r = AgentConfigFileSchema.safeParse(input);
  if (!r.success) zodFail(`invalid ${where}`, r.error, { source: where });
  return r.data;
}

/** Reads a JSON config file. BAD_ARGUMENT naming the file (unreadable, not JSON, or invalid at a key). */
export async function loadConfigFile(path: string): Promise<AgentConfigFile> {
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
  return parseConfigFile(json, `config file ${path}`);
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  if (o === undefined) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Merges `flags` over `file` (both validated) and fills the defaults. */
export function resolveConfig(file: AgentConfigFile = {}, flags: AgentConfigFile = {}): AgentConfig {
  const f = defined(file);
  const c = defined(flags);
  const pick = <K extends keyof AgentConfigFile>(k: K): AgentConfigFile[K] => c[k] ?? f[k];
  // A model kind named by the flags replaces the file's model of the other kind.
  const flagsModel = c.remote !== undefined ? 'remote' : c.bundle !== undefined ? 'bundle' : undefined;
  const fileBundle = flagsModel === 'remote' ? undefined : f.bundle;
  const fileRemote = flagsModel === 'bundle' ? undefined : f.remote;
  const remote =
    c.remote !== undefined || fileRemote !== undefined
      ? { ...defined(fileRemote), ...defined(c.remote) }
      : undefined;
  const bundle = { ...defined(fileBundle), ...defined(c.bundle) };
  const serial = { ...AGENT_DEFAULTS.serial, ...defined(f.serial), ...defined(c.serial) };
  const transport = pick('transport') ?? AGENT_DEFAULTS.transport;
  const cams = { ...defined(f.cameras), ...defined(c.cameras) };
  const prompt = pick('prompt');
  const ros2 = { ...AGENT_DEFAULTS.ros2, ...defined(f.ros2), ...defined(c.ros2) };
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
          dir: bundle.dir ?? DEMO_BUNDLE_DIR,
          providers: bundle.providers ?? AGENT_DEFAULTS.providers,
          ...(bundle.ortPath === undefined ? {} : { ortPath: bundle.ortPath }),
          ...(bundle.numSteps === undefined ? {} : { numSteps: bundle.numSteps }),
          ...(bundle.seed === undefined ? {} : { seed: bundle.seed }),
          ...(bundle.threads === undefined ? {} : { threads: bundle.threads }),
        };
  return {
    robot: pick('robot') ?? AGENT_DEFAULTS.robot,
    transport,
    serial,
    cameras: {
      source: cams.source ?? (transport === 'ros2' ? 'ros2' : 'generated'),
      width: cams.width ?? AGENT_DEFAULTS.cameras.width,
      height: cams.height ?? AGENT_DEFAULTS.cameras.height,
      fps: cams.fps ?? AGENT_DEFAULTS.cameras.fps,
    },
    model,
    ros2,
    ...(prompt === undefined ? {} : { prompt }),
    controlHz: pick('controlHz') ?? AGENT_DEFAULTS.controlHz,
    actionHorizon: pick('actionHorizon') ?? AGENT_DEFAULTS.actionHorizon,
    broker: pick('broker') ?? AGENT_DEFAULTS.broker,
    episodes: pick('episodes') ?? AGENT_DEFAULTS.episodes,
    maxSteps: pick('maxSteps') ?? AGENT_DEFAULTS.maxSteps,
    policyTimeoutMs: pick('policyTimeoutMs') ?? AGENT_DEFAULTS.policyTimeoutMs,
    reset: pick('reset') ?? AGENT_DEFAULTS.reset,
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
  };
}
