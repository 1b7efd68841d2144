import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The real-DDS tests, run by scripts/test-ros2.sh inside a private network namespace with the ROS 2 environment
 * sourced. One file at a time: all of them share the namespace's one DDS domain, and their agents' default topic
 * names would otherwise meet.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'packages/*/test/**/*.ros2.test.ts',
      'test/**/*.ros2.test.ts',
      // The Ros2Context contract: the fake and real rclnodejs, side by side.
      'packages/edge-agent/test/ros2/contract.test.ts',
    ],
    exclude: ['**/node_modules/**'],
    fileParallelism: false,
    testTimeout: 120_000,
  },
});
