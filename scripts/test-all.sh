#!/usr/bin/env bash
# The whole suite: lint, type-check, TypeScript tests (which drive the Python peers: openpi-client, dynamixel-sdk,
# and trainer/ for bundle regeneration), the real-DDS ROS 2 tests (scripts/test-ros2.sh: builds the ROS 2
# environment on first use, then runs in a private network namespace: needs root or user namespaces), then
# trainer/'s pytest suite. scripts/lerobot-env.sh: PyPI lerobot 0.3.3 for the dataset checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh
bash scripts/trainer-env.sh
bash scripts/lerobot-env.sh
bash scripts/sim-env.sh
bash scripts/ort-gpu.sh
pnpm run lint
pnpm run typecheck
pnpm run test:ts
pnpm run test:ros2
pnpm run test:py
