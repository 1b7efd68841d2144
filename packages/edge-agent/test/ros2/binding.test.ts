/** The rclnodejs guard: ROS 2 not sourced → a clear ROS2_UNAVAILABLE before any import is attempted. */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadRclnodejs, rosEnvironmentProblem } from '../../src/ros2/rclnodejs-binding.js';

function rclnodejsInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('rclnodejs');
    return true;
  } catch {
    return false;
  }
}

describe('rclnodejs guard', () => {
  it('names the missing variables and how to source ROS 2', async () => {
    expect(
      rosEnvironmentProblem({ ROS_DISTRO: 'jazzy', AMENT_PREFIX_PATH: '/opt/ros/jazzy' }),
    ).toBeUndefined();
    const problem = rosEnvironmentProblem({ ROS_DISTRO: 'jazzy' });
    expect(problem).toContain('AMENT_PREFIX_PATH');
    expect(problem).toContain('source /opt/ros');
    const err = await loadRclnodejs({}).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ROS2_UNAVAILABLE',
      context: { missing: ['ROS_DISTRO', 'AMENT_PREFIX_PATH'] },
    });
  });

  // Only where the package is absent: an installed rclnodejs without a binary would try to compile on import.
  const absentCases = rclnodejsInstalled() ? [] : ['sourced-looking environment, package not installed'];
  for (const name of absentCases) {
    it(`${name}: ROS2_UNAVAILABLE naming rclnodejs and the install command`, async () => {
      const err = await loadRclnodejs({ ROS_DISTRO: 'jazzy', AMENT_PREFIX_PATH: '/nonexistent' }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({
        code: 'ROS2_UNAVAILABLE',
        context: { module: 'rclnodejs', distro: 'jazzy' },
      });
      expect((err as Error).message).toContain('pnpm --filter @openpi-edge/edge-agent add -O rclnodejs');
    });
  }
});
