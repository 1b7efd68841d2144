/**
 * The UR5 plugin against the shared robot contract: always on its emulator (the UR controller emulator on a worker
 * thread, driven through RTDE, the dashboard and the servo program; a Robotiq emulator on a socat pty; generated
 * cameras), with a protective stop as the injected fault; on a real arm when `OPENPI_EDGE_TEST_UR5_HOST` names the
 * controller (remote-control mode; cameras from `OPENPI_EDGE_TEST_UR5_CAMERAS`, e.g.
 * `base_rgb=/dev/video0,wrist_rgb=/dev/video2`; gripper port from `OPENPI_EDGE_TEST_UR5_GRIPPER`, none if unset).
 */
import { realClock } from '@openpi-edge/client';
import { parseCameraFlag } from '../../src/robots/aloha/config.js';
import { type Ur5Robot, ur5Plugin } from '../../src/robots/ur5/plugin.js';
import { describeRobotContract } from './contract.js';

const base = { clock: realClock, controlHz: 50, safetyOverrides: {}, warn: () => {} };

describeRobotContract('ur5 (emulator over RTDE)', async () => {
  const robot: Ur5Robot = await ur5Plugin
    .with({ gripperActivationMs: 50 })
    .connect({ ...base, config: { transport: 'emulator', homeMs: 300 } });
  return {
    robot,
    injectFault: async () => {
      await robot.emulated?.controller.injectProtectiveStop('contract test');
    },
  };
});

const host = process.env.OPENPI_EDGE_TEST_UR5_HOST;
if (host !== undefined) {
  const cameras = Object.fromEntries(
    (process.env.OPENPI_EDGE_TEST_UR5_CAMERAS ?? '')
      .split(',')
      .filter(Boolean)
      .map((item) => {
        const eq = item.indexOf('=');
        return [item.slice(0, eq), parseCameraFlag(`cam_high=${item.slice(eq + 1)}`)[1]];
      }),
  );
  const gripperPort = process.env.OPENPI_EDGE_TEST_UR5_GRIPPER;
  describeRobotContract('ur5 (real arm over RTDE)', async () => ({
    robot: await ur5Plugin.connect({
      ...base,
      config: {
        transport: 'rtde',
        host,
        cameras,
        gripper: gripperPort === undefined ? 'none' : 'robotiq',
        ...(gripperPort === undefined ? {} : { robotiq: { port: gripperPort } }),
      },
    }),
  }));
}
