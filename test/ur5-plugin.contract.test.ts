/**
 * The UR5 example's plugin (examples/ur5/ur5-plugin.ts, an app's own robot) against the shared robot contract that
 * every built-in plugin passes: on its simulated driver and generated cameras, with a protective stop as the
 * injected fault.
 */
import { realClock } from '@openpi-edge/client';
import type { SimulatedUr5Driver } from '../examples/ur5/ur5-driver.js';
import { ur5Plugin } from '../examples/ur5/ur5-plugin.js';
import { describeRobotContract } from '../packages/edge-agent/test/robots/contract.js';

describeRobotContract('ur5 example (simulated)', async () => {
  const robot = await ur5Plugin.connect({
    config: { driver: 'simulated' },
    clock: realClock,
    controlHz: 20,
    safetyOverrides: {},
    warn: () => {},
  });
  return {
    robot,
    injectFault: () => (robot.driver as SimulatedUr5Driver).protectiveStop(),
  };
});
