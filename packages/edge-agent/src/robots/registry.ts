/**
 * The robot plugins `edge-agent start --robot <name>` knows. A user's own robot is a plugin passed to the agent
 * (`EdgeAgent.create(config, { plugins: [myRobot] })`), see docs/robots.md.
 */
import { OpenpiEdgeError } from '@openpi-edge/client';
import { alohaPlugin } from './aloha/plugin.js';
import type { AnyRobotPlugin } from './interface.js';
import { ur5Plugin } from './ur5/plugin.js';

/** Built-in plugins, by name. */
export const BUILTIN_ROBOTS: readonly AnyRobotPlugin[] = [alohaPlugin, ur5Plugin];

/** The plugin named `name` among `plugins` (BAD_ARGUMENT listing the known ones otherwise). */
export function findRobot(name: string, plugins: readonly AnyRobotPlugin[] = BUILTIN_ROBOTS): AnyRobotPlugin {
  const p = plugins.find((x) => x.name === name);
  if (p === undefined) {
    throw new OpenpiEdgeError(
      'BAD_ARGUMENT',
      `unknown robot '${name}' (known: ${plugins.map((x) => x.name).join(', ')})`,
      {
        robot: name,
        known: plugins.map((x) => x.name),
      },
    );
  }
  return p;
}
