import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  // Vitest runs tests in Vite's SSR environment, which takes its own resolve conditions.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Real DDS: vitest.ros2.config.ts, run by scripts/test-ros2.sh in a private network namespace.
    exclude: ['**/node_modules/**', '**/*.ros2.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
