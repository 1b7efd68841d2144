/**
 * The ALOHA plugin against the shared robot contract: always on its emulator (in-memory ViperX buses, generated
 * cameras) and on the `sim` transport (gym-aloha in MuJoCo, rendered cameras; needs `bash scripts/sim-env.sh`); on hardware when `OPENPI_EDGE_TEST_ALOHA_PORTS=<left>,<right>` names the follower ports (cameras from
 * `OPENPI_EDGE_TEST_ALOHA_CAMERAS`, e.g. `cam_high=/dev/video0,cam_left_wrist=/dev/video2,cam_right_wrist=/dev/video4`).
 */
import { realClock } from '@openpi-edge/client';
import { parseCameraFlag } from '../../src/robots/aloha/config.js';
import type { EmulatedAlohaArms } from '../../src/robots/aloha/dynamixel-transport.js';
import type { AlohaEnvironment } from '../../src/robots/aloha/environment.js';
import { alohaPlugin } from '../../src/robots/aloha/plugin.js';
import type { SimAlohaArms } from '../../src/robots/aloha/sim-transport.js';
import { describeRobotContract } from './contract.js';

const base = { clock: realClock, controlHz: 50, safetyOverrides: {}, warn: () => {} };

describeRobotContract('aloha (emulator)', async () => {
  const robot = await alohaPlugin
    .with({ resetTiming: { armMs: 400, gripperCloseMs: 200, gripperOpenMs: 200 } })
    .connect({ ...base, config: { transport: 'emulator' } });
  const env = (robot as unknown as { environment: AlohaEnvironment }).environment;
  return {
    robot,
    injectFault: () => {
      const arms = env.transport as EmulatedAlohaArms;
      // Overload error on the left shoulder: the servo's status packets carry the hardware-alert bit from now on.
      arms.emulators.left.servo(2)?.injectHardwareError(0x20, performance.now());
    },
  };
});

// gym-aloha in MuJoCo through the bridge process (needs `bash scripts/sim-env.sh`); the fault is the bridge dying.
describeRobotContract('aloha (sim: gym-aloha, MuJoCo)', async () => {
  const robot = await alohaPlugin
    .with({ resetTiming: { armMs: 400, gripperCloseMs: 200, gripperOpenMs: 200 } })
    .connect({ ...base, config: { transport: 'sim' } });
  const env = (robot as unknown as { environment: AlohaEnvironment }).environment;
  return {
    robot,
    injectFault: () => {
      process.kill((env.transport as SimAlohaArms).pid as number, 'SIGKILL');
    },
  };
});

const ports = process.env.OPENPI_EDGE_TEST_ALOHA_PORTS;
if (ports !== undefined) {
  const [left, right] = ports.split(',');
  const cameras = Object.fromEntries(
    (process.env.OPENPI_EDGE_TEST_ALOHA_CAMERAS ?? '').split(',').filter(Boolean).map(parseCameraFlag),
  );
  describeRobotContract('aloha (serial hardware)', async () => ({
    robot: await alohaPlugin.connect({
      ...base,
      config: {
        transport: 'serial',
        serial: { portLeft: left as string, portRight: right as string },
        cameras,
      },
    }),
  }));
}
